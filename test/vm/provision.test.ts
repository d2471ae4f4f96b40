import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { readBootFiles } from '../../src/vm/boot-files.js';
import { VirtualPi } from '../../src/vm/machine.js';
import { run } from '../../src/sys/process.js';
import { ssh } from '../../src/sys/ssh.js';
import { BOOT_TIMEOUT_MS, image } from './harness.js';
import { startHostServices, type HostServices } from './host-services.js';

const PASSWORD = 'ada-Pa55word-7';
const LAB = { ssid: 'PioT-Lab', psk: 'correct-horse-battery' };
const HIDDEN = { ssid: 'Hidden Net', psk: 'never-seen-passphrase' };
const APP = {
  '.piot.yaml': 'version: 1\napp: hello\nservices:\n  web:\n    run: node server.js\n',
  'server.js': `require('http').createServer((q, s) => s.end('configured ' + require('os').hostname())).listen(8080, '127.0.0.1');\n`,
};

let host: HostServices;
let dir: string;
const hostLog: string[] = [];

beforeAll(async () => {
  host = await startHostServices((line) => hostLog.push(line));
  await host.commit(APP, 'hello');
  dir = await mkdtemp(join(tmpdir(), 'piot-provision-'));
  for (const key of ['key1', 'key2']) {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', key, '-f', join(dir, key)]);
  }
});
afterAll(async () => {
  await host?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (args: string[], input?: string) =>
  run(process.execPath, [join(import.meta.dirname, '../../dist/piot.js'), ...args], {
    input,
    cwd: dir,
  });

/** Logs in with a password only (no keys), through OpenSSH's askpass hook. */
async function passwordLogin(port: number, user: string, password: string): Promise<string> {
  const askpass = join(dir, 'askpass.sh');
  await writeFile(askpass, `#!/bin/sh\necho '${password}'\n`);
  await chmod(askpass, 0o700);
  const result = await run(
    'ssh',
    [
      ...['-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password'],
      ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
      ...['-o', 'LogLevel=ERROR', '-o', 'NumberOfPasswordPrompts=1', '-p', String(port)],
      `${user}@127.0.0.1`,
      'id -un',
    ],
    { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' } },
  );
  return result.code === 0 ? result.stdout.trim() : `failed: ${result.stderr.trim()}`;
}

describe.each([
  { release: 'bookworm', variant: 'bookworm-amd64-full', powerCut: true },
  { release: 'trixie', variant: 'trixie-amd64-full', powerCut: false },
])('a configured $release image', ({ release, variant, powerCut }) => {
  it(`boots to its name, user, keys, Wi-Fi and app${powerCut ? ', after a power cut during first boot' : ''}`, async () => {
    onTestFailed(() => console.log(`host services:\n${hostLog.slice(-20).join('\n')}`));
    const base = await image(variant);
    const img = join(dir, `${release}.img`);
    await run('cp', ['--sparse=always', base, img]);
    const originalCmdline = (await readBootFiles(base)).cmdline;
    const configured = await cli(
      [
        ...['image', 'configure', img, '--device', `kitchen-${release}`, '--user', 'ada'],
        ...[
          '--password-stdin',
          '--ssh-key',
          join(dir, 'key1.pub'),
          '--ssh-key',
          join(dir, 'key2.pub'),
        ],
        ...['--wifi', `${LAB.ssid}:${LAB.psk}`, '--hidden-wifi', `${HIDDEN.ssid}:${HIDDEN.psk}`],
        ...['--wifi-country', 'GB', '--ip', 'wlan0=192.168.77.2/24', '--repo', host.repoUrl],
        ...['--timezone', 'Europe/London', '--json'],
      ],
      `${PASSWORD}\n`,
    );
    expect(configured.stderr).toBe('');
    expect(configured.code).toBe(0);
    const result = JSON.parse(configured.stdout) as { release: string; age: string };
    expect(result.release).toBe(release);

    const started = Date.now();
    const vm = await VirtualPi.start({
      image: img,
      accel: 'tcg',
      console: 'file',
      sshKey: join(dir, 'key1'),
      sshUser: 'ada',
      guestForwards: host.guestForwards,
    });
    try {
      if (powerCut) {
        // Cut the power while first boot is changing the user (after the files are installed).
        await vm.waitForConsole(/piot-firstboot: step 3\/9/, BOOT_TIMEOUT_MS);
        await vm.powerCut();
        console.log(
          `${release}: power cut during first boot, ${((Date.now() - started) / 1000).toFixed(0)} s`,
        );
      }
      await vm.waitForSsh(BOOT_TIMEOUT_MS * 2);
      console.log(
        `${release}: SSH as ada ${((Date.now() - started) / 1000).toFixed(0)} s after power on`,
      );

      expect(await vm.sh('hostname; id -un; id -nG')).toMatch(
        new RegExp(`^kitchen-${release}\\nada\\nada .*\\bsudo\\b`),
      );
      // The second key and the password log in too.
      const second = await ssh({ port: vm.sshPort, user: 'ada', key: join(dir, 'key2') }, 'id -un');
      expect(second.stdout.trim()).toBe('ada');
      expect(await passwordLogin(vm.sshPort, 'ada', PASSWORD)).toBe('ada');
      expect(await passwordLogin(vm.sshPort, 'ada', 'wrong-password')).toMatch(/^failed/);
      expect((await vm.ssh('test -d /home/pi')).code).not.toBe(0);

      // Keyfiles: root-only, the right SSIDs, priorities and hidden flag; no passphrase in them.
      const keyfiles = await vm.sh(
        'sudo stat -c "%a %U %n" /etc/NetworkManager/system-connections/piot-*.nmconnection',
      );
      expect(keyfiles).toBe(
        [
          '600 root /etc/NetworkManager/system-connections/piot-wifi-hidden-net.nmconnection',
          '600 root /etc/NetworkManager/system-connections/piot-wifi-piot-lab.nmconnection',
          '',
        ].join('\n'),
      );
      const connections = await vm.sh(
        'for c in piot-wifi-piot-lab piot-wifi-hidden-net; do nmcli -g 802-11-wireless.ssid,connection.autoconnect-priority,802-11-wireless.hidden,ipv4.method connection show $c | paste -sd:; done',
      );
      expect(connections).toBe(`${LAB.ssid}:100:no:manual\n${HIDDEN.ssid}:90:yes:manual\n`);
      expect(
        await vm.sh(
          'sudo grep -rhc -F -e correct-horse -e never-seen /etc/NetworkManager/ || true',
        ),
      ).toMatch(/^(0\n)*$/);

      // The simulated access point's network is joined.
      const ap = await readFile(join(import.meta.dirname, 'wifi-ap.sh'), 'utf8');
      await vm.sh(`sudo bash -s '${LAB.ssid}' '${LAB.psk}'`, { input: ap });
      await vm.waitFor(
        'wlan0 joins PioT-Lab',
        async () =>
          /^wlan0:connected:piot-wifi-piot-lab$/m.test(
            await vm.sh('nmcli -t -f DEVICE,STATE,CONNECTION device'),
          ),
        120_000,
      );
      expect(await vm.sh('ip -4 -o addr show wlan0')).toContain('192.168.77.2/24');

      // The boot partition is as before, with no secret left on it, even in freed clusters.
      expect((await vm.sh('cat /boot/firmware/cmdline.txt')).trim()).toBe(originalCmdline);
      expect(await vm.sh('ls /boot/firmware')).not.toMatch(/piot/);
      const identity = await vm.sh(
        'sudo cat /etc/piot/identity/age.key /etc/piot/identity/signing.key',
      );
      const ageKey = /AGE-SECRET-KEY-1[0-9A-Z]+/.exec(identity)![0];
      const pemBody = identity.split('\n').find((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))!;
      const hash = (await vm.sh('sudo getent shadow ada | cut -d: -f2')).trim();
      const pskHash = (
        await vm.sh(
          'sudo sed -n s/^psk=//p /etc/NetworkManager/system-connections/piot-wifi-piot-lab.nmconnection',
        )
      ).trim();
      expect(hash).toMatch(/^\$6\$/);
      expect(pskHash).toMatch(/^[0-9a-f]{64}$/);
      const secrets = [LAB.psk, HIDDEN.psk, PASSWORD, hash, ageKey, pemBody, pskHash];
      const found = await vm.ssh(
        `sudo grep -a -c -F ${secrets.map((s) => `-e '${s}'`).join(' ')} /dev/vda1`,
      );
      expect(found.stdout.trim()).toBe('0');

      // /etc/piot is root's alone; the device file is as configured.
      expect(
        await vm.sh(
          'sudo stat -c "%a %U" /etc/piot /etc/piot/identity /etc/piot/identity/age.key /etc/piot/device.yaml',
        ),
      ).toBe('700 root\n700 root\n600 root\n600 root\n');
      expect((await vm.ssh('cat /etc/piot/device.yaml')).code).not.toBe(0);
      expect(await vm.sh('sudo cat /etc/piot/device.yaml')).toContain(`repo: ${host.repoUrl}`);
      expect(await vm.sh('readlink /etc/localtime')).toBe('/usr/share/zoneinfo/Europe/London\n');
      expect(
        await vm.sh(
          'sudo journalctl -o cat -t piot-firstboot --no-pager | grep -c "step 1/9" || true',
        ),
      ).not.toBe('0\n');

      // First boot handed over to the bootstrap: the agent runs the app from the repository.
      await vm.waitFor(
        'the app answers',
        async () => (await vm.sh('curl -s 127.0.0.1:8080')) === `configured kitchen-${release}`,
        240_000,
      );
      console.log(
        `${release}: app answering ${((Date.now() - started) / 1000).toFixed(0)} s after power on`,
      );
    } finally {
      await vm.stop();
      await rm(img, { force: true });
    }
  });
});
