import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GuestKernelPanic } from '../../src/vm/machine.js';
import { BOOT_TIMEOUT_MS, withVm } from './harness.js';

const root = join(import.meta.dirname, '..', '..');

async function checkPiShape(vm: Parameters<Parameters<typeof withVm>[1]>[0]): Promise<void> {
  // Laid out like Raspberry Pi OS: FAT bootfs at /boot/firmware, ext4 rootfs, user pi.
  const mounts = await vm.sh(
    'findmnt -n -o SOURCE,FSTYPE,TARGET /; findmnt -n -o SOURCE,FSTYPE,TARGET /boot/firmware',
  );
  expect(mounts).toMatch(/\/dev\/vda2\s+ext4\s+\/\n/);
  expect(mounts).toMatch(/\/dev\/vda1\s+vfat\s+\/boot\/firmware/);
  expect(await vm.sh('sudo blkid -s LABEL -o value /dev/vda1 /dev/vda2')).toBe('bootfs\nrootfs\n');
  expect((await vm.sh('id -u pi')).trim()).toBe('1000');
  expect(await vm.sh('cat /boot/firmware/cmdline.txt')).toContain('root=PARTUUID=5049f700-02');
  // NetworkManager owns the wired interface.
  const devices = await vm.sh('nmcli -t -f DEVICE,TYPE,STATE device');
  expect(devices).toMatch(/^eth0:ethernet:connected$/m);
  const state = (await vm.ssh('systemctl is-system-running')).stdout.trim();
  const failed = await vm.sh('systemctl --failed --no-legend --plain');
  expect(['running', 'degraded'], `failed units:\n${failed}`).toContain(state);
  if (state === 'degraded')
    expect(failed.trim(), 'degraded must name its failed units').not.toBe('');
}

/** Commands soon share one SSH connection (the same client port), on every boot. */
async function sharesOneConnection(vm: Parameters<Parameters<typeof withVm>[1]>[0]): Promise<void> {
  const client = async () => (await vm.sh('echo $SSH_CONNECTION')).split(' ')[1];
  await vm.waitFor(
    'commands sharing one SSH connection',
    async () => (await client()) === (await client()),
    30_000,
  );
}

describe('the virtual Pi (amd64)', () => {
  it('bookworm: boots (auto accel, KVM fallback), logs in, is Pi-shaped; takes a cmdline.txt edit at reboot; survives a power cut', async () => {
    await withVm(
      'bookworm-amd64-full',
      async (vm, seconds) => {
        console.log(`bookworm-amd64-full: SSH after ${seconds.toFixed(1)} s (${vm.accel})`);
        expect(vm.accel).toMatch(/^(kvm|tcg)$/);
        await sharesOneConnection(vm);
        await checkPiShape(vm);
        expect(await vm.sh('node --version; git --version')).toMatch(/^v18\..*\ngit version/);
        // The device bundle runs on the Node 18 that Debian Bookworm (Raspberry Pi OS) ships.
        await vm.copyTo(join(root, 'dist/piot-agent.mjs'), '/tmp/piot-agent.mjs');
        await vm.copyTo(join(root, 'examples/sensor/.piot.yaml'), '/tmp/.piot.yaml');
        expect(await vm.sh('cd /tmp && node piot-agent.mjs validate .')).toMatch(
          /app sensor is valid/,
        );

        // An edit to cmdline.txt takes effect at the next boot, as on a Pi.
        await vm.sh("sudo sed -i 's/$/ piot.marker=42/' /boot/firmware/cmdline.txt && sync");
        await vm.reboot();
        await vm.waitForSsh();
        expect(await vm.sh('cat /proc/cmdline')).toContain('piot.marker=42');

        // Cut the power in the middle of writes; the synced file must survive and the
        // root file system must come back clean (journal recovery, no errors).
        await vm.sh('echo precious > /home/pi/synced && sync');
        await vm.sh(
          'nohup sh -c "dd if=/dev/urandom of=/home/pi/big bs=1M count=300" >/dev/null 2>&1 &',
        );
        await new Promise((r) => setTimeout(r, 3000));
        await vm.powerCut();
        await vm.waitForSsh();
        expect((await vm.sh('cat /home/pi/synced')).trim()).toBe('precious');
        await sharesOneConnection(vm);
        const kernel = await vm.sh('sudo dmesg');
        expect(kernel).not.toMatch(/EXT4-fs error|EXT4-fs \(vda2\): .*corrupt/i);
        expect(
          await vm.sh('sudo dumpe2fs -h /dev/vda2 2>/dev/null | grep "^Filesystem state"'),
        ).toMatch(/clean/);
        expect(await vm.sh('sudo journalctl -b -u systemd-fsck-root --no-pager')).toMatch(
          /rootfs: clean/,
        );
      },
      { accel: 'auto', tryKvm: true, kvmProbeSeconds: 10 },
    );
  });

  it('trixie: boots, logs in, is Pi-shaped', async () => {
    await withVm('trixie-amd64-full', async (vm, seconds) => {
      console.log(`trixie-amd64-full: SSH after ${seconds.toFixed(1)} s`);
      await checkPiShape(vm);
      expect(await vm.sh('. /etc/os-release; echo $VERSION_CODENAME')).toBe('trixie\n');
      expect(await vm.sh('node --version')).toMatch(/^v20\./);
    });
  });

  it('bookworm bare: no nodejs or git; reaches host services only through forwards; console waits', async () => {
    const server = createServer((_req, res) => res.end('hello from the host'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const hostPort = (server.address() as AddressInfo).port;
    try {
      await withVm(
        'bookworm-amd64-bare',
        async (vm) => {
          expect(await vm.sh('curl -sS --max-time 10 http://10.0.2.100/')).toBe(
            'hello from the host',
          );
          // restrict=on: the host itself (10.0.2.2) is not reachable, only the forward.
          expect(
            (await vm.ssh(`curl -sS --max-time 5 http://10.0.2.2:${hostPort}/`)).code,
          ).not.toBe(0);
          expect(await vm.waitForConsole(/raspberrypi login:/, 60_000)).toBe('raspberrypi login:');
          await expect(vm.waitForConsole(/never printed/, 1500)).rejects.toThrow(
            /no \/never printed\/ on the console after 1\.5 s\n--- last console lines ---\n[\s\S]*login:/,
          );
          expect((await vm.ssh('command -v node')).code).not.toBe(0);
          expect((await vm.ssh('command -v git')).code).not.toBe(0);
          expect(await vm.sh('nmcli -t -f DEVICE,STATE device')).toMatch(/^eth0:connected$/m);

          // A guest kernel panic ends the wait at once, and waitForSsh cycles the power.
          const bootId = await vm.sh('cat /proc/sys/kernel/random/boot_id');
          await vm.ssh('sudo sh -c "echo c > /proc/sysrq-trigger"', { timeoutMs: 10_000 });
          const waited = Date.now();
          const stuck = await vm.waitForSsh(120_000, { panicRetries: 0 }).catch((e: Error) => e);
          expect(stuck).toBeInstanceOf(GuestKernelPanic);
          expect((stuck as GuestKernelPanic).panic).toMatch(
            /^Kernel panic - not syncing: sysrq triggered crash/,
          );
          expect(Date.now() - waited).toBeLessThan(60_000);
          expect(vm.panicsRecovered).toBe(0);
          await vm.waitForSsh(BOOT_TIMEOUT_MS);
          expect(vm.panicsRecovered).toBe(1);
          expect(await vm.sh('cat /proc/sys/kernel/random/boot_id')).not.toBe(bootId);
        },
        { guestForwards: [{ guestAddress: '10.0.2.100', guestPort: 80, hostPort }] },
      );
    } finally {
      server.close();
    }
  });
});
