import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { VirtualPi } from '../../src/vm/machine.js';
import { deviceReport, deviceState, deviceStatus, installAgent } from './device.js';
import { BOOT_TIMEOUT_MS, withVm } from './harness.js';
import { GIT_HOST, startHostRepo } from './host-services.js';

const spec = (network: string) => `version: 1
app: netdemo
services:
  idle:
    run: sleep infinity
network:
  check_timeout: 30s
  wifi:
    - {ssid: PioT-Lab, psk: correct-horse-battery, ipv4: {address: 192.168.77.2/24}}
${network}`;

const reachable = async (vm: VirtualPi) =>
  (await vm.ssh('true', { timeoutMs: 5_000 }).catch(() => ({ code: 1 }))).code === 0;

/**
 * Waits until the agent has begun a network trial: its trial record seen while the device
 * still answers, or the device gone for two probes in a row (one slow SSH login on a busy
 * host is not a cut).
 */
async function trialStarted(vm: VirtualPi): Promise<void> {
  let failures = 0;
  await vm.waitFor(
    'the network trial to start',
    async () => {
      const probe = await vm
        .ssh('sudo test -e /var/lib/piot/network/trial.json', { timeoutMs: 5_000 })
        .catch(() => ({ code: 255 }));
      if (probe.code === 0) return true;
      failures = probe.code === 1 ? 0 : failures + 1;
      return failures >= 2;
    },
    180_000,
  );
}

/** Asks the running agent for a cycle (the SSH session may not survive it). */
const poke = (vm: VirtualPi) =>
  vm.sh('sudo systemctl kill -s SIGUSR1 --kill-whom=main piot-agent.service');

it('applies .piot.yaml networks on trial: joins Wi-Fi, reverts a change that cuts the device off, also across a reboot mid-trial', async () => {
  const repo = await startHostRepo();
  try {
    await withVm(
      'bookworm-amd64-full',
      async (vm) => {
        const script = readFileSync(join(import.meta.dirname, 'wifi-ap.sh'), 'utf8');
        await vm.sh('sudo bash -s PioT-Lab correct-horse-battery', { input: script });
        const wired = /^([^:]+):ethernet:connected:(.+)$/m.exec(
          await vm.sh('nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device'),
        );
        if (!wired) throw new Error('the guest has no connected wired link');
        const [, iface, wiredConnection] = wired as unknown as [string, string, string];
        console.log(`wired link ${iface} on "${wiredConnection}"`);
        const connected = async (device: string, connection: string) =>
          (await vm.sh('nmcli -t -f DEVICE,STATE,CONNECTION device')).includes(
            `${device}:connected:${connection}\n`,
          );

        // (a) A commit adding the access point's network: wlan0 joins it, status says applied.
        const c1 = await repo.commit({ '.piot.yaml': spec('') });
        await installAgent(
          vm,
          `version: 1\nname: kitchen\nrepo: http://${GIT_HOST}/app.git\npoll: 1h\n`,
        );
        // The agent's log goes to the console too, for a failure's report while SSH is cut off.
        await vm.sh(
          'sudo install -D -m 644 /dev/stdin /etc/systemd/system/piot-agent.service.d/console.conf && sudo systemctl daemon-reload',
          { input: '[Service]\nStandardOutput=journal+console\nStandardError=journal+console\n' },
        );
        let started = Date.now();
        await vm.sh('sudo systemctl enable --now piot-agent.service');
        await vm
          .waitFor(
            'c1 deployed with its network applied',
            async () => {
              const s = await deviceState(vm);
              return s.current === c1 && s.network?.result === 'applied';
            },
            240_000,
          )
          .catch(async (error: Error) => {
            throw new Error(`${error.message}\n${await deviceReport(vm)}`);
          });
        await vm.waitFor(
          'wlan0 on piot-app-wifi-piot-lab',
          () => connected('wlan0', 'piot-app-wifi-piot-lab'),
          60_000,
        );
        console.log(`(a) Wi-Fi applied in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        const keyfile =
          '/etc/NetworkManager/system-connections/piot-app-wifi-piot-lab.nmconnection';
        expect(await vm.sh(`sudo stat -c %a ${keyfile}`)).toBe('600\n');
        const report = JSON.parse(await vm.sh('sudo piot network --json')) as {
          connections: { name: string; active: boolean; piot: string | false; device: string }[];
          wifi: { inUse: boolean; ssid: string; signal: number }[];
        };
        expect(report.connections).toContainEqual(
          expect.objectContaining({
            name: 'piot-app-wifi-piot-lab',
            active: true,
            device: 'wlan0',
            piot: 'app',
          }),
        );
        expect(report.connections).toContainEqual(
          expect.objectContaining({ name: wiredConnection, piot: false, active: true }),
        );
        expect(report.wifi.find((w) => w.inUse)?.ssid).toBe('PioT-Lab');
        expect(await vm.sh('sudo piot status')).toMatch(/network\s+applied/);

        // (b) A wrong static address on the only wired link: unreachable, then reverted.
        const broken = (address: string) =>
          spec(`  ethernet:\n    - {interface: ${iface}, ipv4: {address: ${address}}}\n`);
        const c2 = await repo.commit({ '.piot.yaml': broken('192.168.99.5/24') });
        started = Date.now();
        await poke(vm);
        await trialStarted(vm);
        const cut = Date.now();
        await vm.waitFor('the device is reachable again', () => reachable(vm), 180_000);
        const back = Date.now();
        console.log(
          `(b) trial started ${((cut - started) / 1000).toFixed(1)} s after the trigger, reachable again ${((back - cut) / 1000).toFixed(1)} s later`,
        );
        expect(back - cut).toBeLessThan(120_000);
        await vm.waitFor(
          'the revert recorded',
          async () => (await deviceState(vm)).network?.commit === c2,
          120_000,
        );
        let s = await deviceStatus(vm);
        expect(s.current).toBe(c2);
        expect(s.network?.result).toBe('reverted');
        expect(s.network?.reason).toMatch(/repository was not reachable within 30 s/);
        expect(await vm.sh('sudo piot status')).toMatch(/network\s+reverted/);
        expect(await vm.sh('sudo ls /etc/NetworkManager/system-connections')).not.toContain(
          `piot-app-${iface}`,
        );
        await vm.waitFor(
          `${iface} back on "${wiredConnection}"`,
          () => connected(iface, wiredConnection),
          60_000,
        );
        expect(await connected('wlan0', 'piot-app-wifi-piot-lab')).toBe(true);

        // (c) Broken again, and the power goes in the middle of the trial.
        const c3 = await repo.commit({ '.piot.yaml': broken('192.168.99.6/24') });
        await poke(vm);
        await trialStarted(vm);
        started = Date.now();
        await vm.powerCut();
        await vm.waitForSsh(BOOT_TIMEOUT_MS + 120_000);
        console.log(
          `(c) reachable ${((Date.now() - started) / 1000).toFixed(1)} s after the power cut`,
        );
        await vm.waitFor(
          'the interrupted trial recorded',
          async () => (await deviceState(vm)).network?.commit === c3,
          60_000,
        );
        s = await deviceStatus(vm);
        expect(s.network?.result).toBe('reverted');
        expect(s.network?.reason).toMatch(/restarted during the network trial/);
        expect(s.current).toBe(c3);
        expect(await vm.sh('sudo ls /var/lib/piot/network/')).toBe('');
        expect(await vm.sh(`sudo ls /etc/NetworkManager/system-connections`)).not.toContain(
          `piot-app-${iface}`,
        );
        await vm.waitFor(
          `${iface} back on a connection not PioT's`,
          async () => {
            // NetworkManager's own "Wired connection 1" lives in /run: after the power cut it is
            // made again (or the agent asks the device to connect, which makes one).
            const line = new RegExp(`^${iface}:connected:(.+)$`, 'm').exec(
              await vm.sh('nmcli -t -f DEVICE,STATE,CONNECTION device'),
            );
            return line !== null && !line[1]!.startsWith('piot-app-');
          },
          60_000,
        );
      },
      {
        guestForwards: [
          { guestAddress: GIT_HOST, guestPort: 80, hostPort: repo.git.port, connections: 'many' },
        ],
      },
    );
  } finally {
    await repo.close();
  }
});
