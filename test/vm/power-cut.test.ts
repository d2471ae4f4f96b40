import { expect, it } from 'vitest';
import { withVm } from './harness.js';
import { deviceReport, deviceState, deviceStatus, guestRepo, installAgent } from './device.js';

// Each cut is a boot under emulation, about 2 minutes on a 2-core machine: 2 keep the whole
// CI run within its time budget (the moments are random, so runs differ); the acceptance
// run uses PIOT_POWER_CUTS=20.
const CUTS = Number(process.env.PIOT_POWER_CUTS ?? 2);

const SERVER = `const fs = require('fs');
require('http').createServer((q, s) => s.end(fs.readFileSync('version.txt', 'utf8').trim()))
  .listen(8080, '127.0.0.1');
`;
const SPEC = `version: 1
app: demo
setup:
  run: [cp version.txt built.txt]
services:
  web:
    run: node server.js
    health: {http: "http://127.0.0.1:8080/", timeout: 30s}
  worker:
    run: sh -c 'cat built.txt; exec sleep infinity'
jobs:
  tick:
    run: date
    schedule: "*:0/5"
`;

it(
  `ends every boot on one consistent release after ${CUTS} power cuts during deploys`,
  async () => {
    await withVm('bookworm-amd64-full', async (vm) => {
      const commit = await guestRepo(vm);
      await installAgent(vm, 'version: 1\nname: kitchen\nrepo: /srv/app\npoll: 2s\n');
      let latest = await commit({ '.piot.yaml': SPEC, 'server.js': SERVER, 'version.txt': 'v0' });
      await vm.sh('sudo systemctl enable --now piot-agent.service');
      const settled = async (want: string, version: string) => {
        await vm
          .waitFor(
            `release ${version} running`,
            async () => {
              const state = await deviceState(vm);
              return state.current === want && state.agent !== null && !state.pending;
            },
            180_000,
          )
          .catch(async (error: Error) => {
            throw new Error(`${error.message}\n${await deviceReport(vm)}`);
          });
        const status = await deviceStatus(vm);
        // One release, everywhere: state, `current`, the files, the units and what serves.
        expect(await vm.sh('sudo readlink /opt/piot/apps/demo/current')).toBe(`releases/${want}\n`);
        expect(await vm.sh(`sudo cat /opt/piot/apps/demo/releases/${want}/built.txt`)).toBe(
          version,
        );
        // (The job's own service may be running: its timer is Persistent and catches up at boot.)
        const running = status.services.filter((s) => s.unit !== 'piot-demo-tick.service');
        expect(running.map((s) => `${s.unit} ${s.active}`).sort()).toEqual([
          'piot-demo-tick.timer active',
          'piot-demo-web.service active',
          'piot-demo-worker.service active',
        ]);
        await vm.waitFor(
          `web serves ${version}`,
          async () => (await vm.sh('curl -s 127.0.0.1:8080')) === version,
          30_000,
        );
        expect(await vm.sh('sudo ls /var/lib/piot')).not.toMatch(/corrupt/);
      };
      await settled(latest, 'v0');

      const moments: string[] = [];
      for (let cut = 1; cut <= CUTS; cut++) {
        latest = await commit({ 'version.txt': `v${cut}` });
        const delayMs = Math.round(Math.random() * 9000);
        moments.push(`${delayMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        await vm.powerCut();
        await vm.waitForSsh(240_000);
        await settled(latest, `v${cut}`);
      }
      const status = await deviceStatus(vm);
      const state = JSON.parse(await vm.sh('sudo cat /var/lib/piot/state.json')) as {
        events: { kind: string }[];
      };
      const undone = state.events.filter((e) => e.kind === 'interrupted').length;
      console.log(
        `power cuts after a commit: ${moments.join(', ')}; interrupted deploys undone: ${undone}`,
      );
      expect(status.badCommits).toEqual([]);
    });
  },
  60 * 60_000,
);
