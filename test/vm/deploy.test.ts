import { expect, it } from 'vitest';
import { withVm } from './harness.js';
import { deviceState, deviceStatus, guestRepo, installAgent } from './device.js';

/** A web service that serves version.txt and a health endpoint that says what `HEALTH` says. */
const SERVER = `const fs = require('fs');
require('http').createServer((q, s) => {
  if (q.url === '/health') { s.statusCode = Number(process.env.HEALTH || 200); return s.end(); }
  s.end(fs.readFileSync('version.txt', 'utf8').trim());
}).listen(8080, '127.0.0.1');
`;
const spec = (health = 200) => `version: 1
app: demo
services:
  web:
    run: node server.js
    env: {HEALTH: "${health}"}
    health: {http: "http://127.0.0.1:8080/health", timeout: 15s}
  worker:
    run: sleep infinity
  sensor:
    run: sleep infinity
    devices: [tag:sensors]
  display:
    run: sleep infinity
    devices: [tag:screens]
`;
const FLEET = 'version: 1\ndevices:\n  kitchen: {tags: [sensors]}\n  hall: {tags: [screens]}\n';
const device = (name: string) => `version: 1\nname: ${name}\nrepo: /srv/app\npoll: 1h\n`;

it(
  'the agent service deploys on demand, rolls back an unhealthy commit, rolls back by request, and targets by tag',
  async () => {
    await withVm('bookworm-amd64-full', async (vm) => {
      const commit = await guestRepo(vm);
      await installAgent(vm, device('kitchen'));
      const v1 = await commit({
        '.piot.yaml': spec(),
        '.piot/fleet.yaml': FLEET,
        'server.js': SERVER,
        'version.txt': 'v1',
      });
      await vm.sh('sudo systemctl enable --now piot-agent.service');
      await vm.waitFor('v1 deployed', async () => (await deviceState(vm)).current === v1, 180_000);
      await vm.waitFor(
        'v1 serves',
        async () => (await vm.ssh('curl -s 127.0.0.1:8080')).stdout === 'v1',
        30_000,
      );
      const units = (await deviceStatus(vm)).services.map((s) => s.unit);
      expect(units.sort()).toEqual([
        'piot-demo-sensor.service',
        'piot-demo-web.service',
        'piot-demo-worker.service',
      ]);

      // A commit whose health check fails: rolled back, v1 serves, the commit is marked bad.
      const web = (await deviceStatus(vm)).services.find((s) => s.unit === 'piot-demo-web.service');
      const bad = await commit({ '.piot.yaml': spec(503), 'version.txt': 'v2' });
      const tried = await vm.ssh('sudo piot deploy --now');
      expect(tried.code).toBe(1);
      expect(tried.stdout).toMatch(
        new RegExp(`commit ${bad.slice(0, 12)} rolled back to ${v1.slice(0, 12)}: service web`),
      );
      expect(await vm.sh('curl -s 127.0.0.1:8080')).toBe('v1');
      let status = await deviceStatus(vm);
      expect(status.current).toBe(v1);
      expect(status.badCommits).toEqual([bad]);
      expect(status.lastDeploy?.reason).toMatch(
        /health check http:\/\/127\.0\.0\.1:8080\/health answered 503/,
      );
      expect(status.services.find((s) => s.unit === web?.unit)?.pid).not.toBe(web?.pid);
      expect((await vm.ssh('sudo piot deploy --now')).stdout).toMatch(
        /failed before and is not retried/,
      );

      // The next good commit deploys; `piot rollback` returns to v1 and marks it bad.
      const v3 = await commit({ '.piot.yaml': spec(), 'version.txt': 'v3' });
      expect(await vm.sh('sudo piot deploy --now')).toMatch(
        new RegExp(`deployed ${v3.slice(0, 12)} \\(\\d+ steps, healthy in`),
      );
      expect(await vm.sh('curl -s 127.0.0.1:8080')).toBe('v3');
      expect(await vm.sh('sudo piot rollback')).toMatch(/rolled back to/);
      await vm.waitFor(
        'v1 serves again',
        async () => (await vm.sh('curl -s 127.0.0.1:8080')) === 'v1',
        30_000,
      );
      status = await deviceStatus(vm);
      expect(status.current).toBe(v1);
      expect(status.badCommits).toEqual([bad, v3]);

      // Logs of one service come from the journal.
      expect(await vm.sh('sudo piot logs web --lines 100')).toMatch(
        /Started piot-demo-web\.service/,
      );

      // The same repository on a device with other tags runs another set of services.
      const v4 = await commit({ '.piot.yaml': spec(), 'version.txt': 'v4' });
      await vm.sh('sudo tee /etc/piot/device.yaml >/dev/null', { input: device('hall') });
      await vm.sh('sudo systemctl restart piot-agent.service');
      await vm.waitFor('hall runs v4', async () => (await deviceState(vm)).current === v4, 180_000);
      expect((await deviceStatus(vm)).services.map((s) => s.unit).sort()).toEqual([
        'piot-demo-display.service',
        'piot-demo-web.service',
        'piot-demo-worker.service',
      ]);
      expect(await vm.sh('systemctl is-active piot-demo-display.service')).toBe('active\n');
      expect((await vm.ssh('systemctl cat piot-demo-sensor.service')).code).not.toBe(0);
    });
  },
  30 * 60_000,
);
