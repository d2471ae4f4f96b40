import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { ageDevice, secretFileText } from '../support/secrets.js';
import { withVm } from './harness.js';
import { deviceReport, deviceState, deviceStatus, guestRepo, installAgent } from './device.js';

/** Serves its API_TOKEN, so the test can see what the service was given. */
const READER = `require('http').createServer((q, s) => s.end(process.env.API_TOKEN || '(none)'))
  .listen(8081, '127.0.0.1');
`;
const SPEC = `version: 1
app: demo
secrets: [API_TOKEN]
services:
  reader:
    run: node reader.js
    devices: [tag:sensors]
  other:
    run: sleep infinity
    secrets: []
`;
const device = (name: string) => `version: 1\nname: ${name}\nrepo: /srv/app\npoll: 1h\n`;

it(
  'a secret for tag:sensors reaches the service there and nowhere else, is never on disk, and a new value restarts only its service',
  async () => {
    const kitchen = await ageDevice('kitchen');
    const hall = await ageDevice('hall');
    const fleet = `version: 1\ndevices:\n  kitchen: {tags: [sensors], age: ${kitchen.recipient}}\n  hall: {tags: [screens], age: ${hall.recipient}}\n`;
    const first = `tok-${randomBytes(12).toString('hex')}`;
    const second = `tok-${randomBytes(12).toString('hex')}`;

    await withVm('bookworm-amd64-full', async (vm) => {
      const commit = await guestRepo(vm);
      await installAgent(vm, device('kitchen'));
      const setKey = (key: string) =>
        vm.sh(
          'sudo install -d -m 0700 /etc/piot/identity && sudo install -m 0600 /dev/stdin /etc/piot/identity/age.key',
          { input: `${key}\n` },
        );
      await setKey(kitchen.key);
      const v1 = await commit({
        '.piot.yaml': SPEC,
        '.piot/fleet.yaml': fleet,
        '.piot/secrets/API_TOKEN.yaml': await secretFileText(first, [kitchen], ['tag:sensors']),
        'reader.js': READER,
      });
      await vm.sh('sudo systemctl enable --now piot-agent.service');
      await vm
        .waitFor('v1 deployed', async () => (await deviceState(vm)).current === v1, 180_000)
        .catch(async (error: Error) => {
          throw new Error(`${error.message.split('\n')[0]}\n${await deviceReport(vm)}`);
        });
      // The reader has no health check: the release is current once its unit is active, a
      // moment before Node listens.
      await vm.waitFor(
        'the reader serves the secret',
        async () => (await vm.ssh('curl -s 127.0.0.1:8081')).stdout === first,
        30_000,
      );

      // Not in unit files, the journal, any process's arguments, or anywhere on disk.
      expect(await vm.sh('sudo cat /etc/systemd/system/piot-demo-*')).not.toContain(first);
      const cmdlines = await vm.sh(
        'sudo sh -c \'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " <$f; echo; done\'',
      );
      expect(cmdlines).toMatch(/node reader\.js/);
      expect(cmdlines).not.toContain(first);
      expect(await vm.sh('sudo journalctl -o export --no-pager -b | wc -l')).not.toBe('0\n');
      expect(await vm.sh('sudo journalctl -o export --no-pager -b')).not.toContain(first);
      const onDisk = await vm.ssh(
        'sudo grep -rlaF -f /dev/stdin /etc /var /opt /srv /home /root /usr/lib/piot',
        { input: first },
      );
      expect(onDisk.stdout).toBe('');
      expect(onDisk.code).toBe(1);

      // Root-only on tmpfs: not even the app's own user reads the file.
      const envFile = '/run/piot/demo/secrets/reader.env';
      expect(await vm.sh(`sudo findmnt -n -o FSTYPE -T ${envFile}`)).toBe('tmpfs\n');
      expect(await vm.sh(`sudo stat -c '%a %U' ${envFile} /run/piot/demo/secrets`)).toBe(
        '400 root\n700 root\n',
      );
      for (const user of ['nobody', 'piot-demo']) {
        const read = await vm.ssh(`sudo -u ${user} cat ${envFile}`);
        expect(read.code, user).not.toBe(0);
        expect(read.stdout).toBe('');
      }
      const pid = await vm.sh('systemctl show -p MainPID --value piot-demo-reader.service');
      expect((await vm.ssh(`sudo -u nobody cat /proc/${pid.trim()}/environ`)).code).not.toBe(0);

      // After a reboot the file is gone until the unit's start writes it again.
      await vm.reboot();
      await vm.waitFor(
        'the reader serves again',
        async () => (await vm.ssh('curl -s 127.0.0.1:8081')).stdout === first,
        120_000,
      );
      expect(
        await vm.sh(
          'sudo journalctl -b -u piot-demo-reader.service -o cat --no-pager | grep -c "Started"',
        ),
      ).toBe('1\n');

      // A new value: the reader restarts with it, the other service keeps its process.
      const pids = async () => {
        const services = (await deviceStatus(vm)).services;
        return Object.fromEntries(services.map((s) => [s.unit, s.pid]));
      };
      const before = await pids();
      const v2 = await commit({
        '.piot/secrets/API_TOKEN.yaml': await secretFileText(second, [kitchen], ['tag:sensors']),
      });
      expect(await vm.sh('sudo piot deploy --now')).toMatch(
        new RegExp(`deployed ${v2.slice(0, 12)}`),
      );
      await vm.waitFor(
        'the reader serves the new value',
        async () => (await vm.ssh('curl -s 127.0.0.1:8081')).stdout === second,
        30_000,
      );
      const after = await pids();
      expect(after['piot-demo-reader.service']).not.toBe(before['piot-demo-reader.service']);
      expect(after['piot-demo-other.service']).toBe(before['piot-demo-other.service']);

      // The agent's /metrics (loopback): deploy state, services, memory; never a secret.
      const metrics = await vm.sh('curl -sf 127.0.0.1:9101/metrics');
      expect(metrics).toContain(`piot_deploy_info{app="demo",commit="${v2}"} 1`);
      expect(metrics).toMatch(/^node_memory_MemAvailable_bytes \d+/m);
      expect(metrics).toMatch(
        /^node_systemd_unit_state\{name="piot-demo-reader\.service",state="active",type="service"\} 1$/m,
      );
      expect(metrics).not.toContain(second);

      // The same repository on a device without the tag: no reader, no secret.
      await vm.sh('sudo tee /etc/piot/device.yaml >/dev/null', { input: device('hall') });
      await setKey(hall.key);
      await vm.sh('sudo systemctl restart piot-agent.service');
      await vm.waitFor(
        'hall runs v2',
        async () => {
          if ((await deviceState(vm)).current !== v2) return false;
          return !(await deviceStatus(vm)).services.some((x) => x.unit.includes('reader'));
        },
        120_000,
      );
      expect(await vm.sh('sudo ls -A /run/piot/demo/secrets')).toBe('');
      expect((await vm.ssh('curl -s 127.0.0.1:8081')).stdout).toBe('');
    });
  },
  30 * 60_000,
);
