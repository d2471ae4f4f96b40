import { basename } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFailed } from 'vitest';
import { devicePayload, FIRST_BOOT_UNITS } from '../../src/device/payload.js';
import type { VirtualPi } from '../../src/vm/machine.js';
import { withVm } from './harness.js';
import { startHostServices, type HostServices } from './host-services.js';

// The release passes its health gate only once the system is shutting down (a root check:
// systemctl answers it then without D-Bus): the reboot below comes in the middle of the gate.
const APP = {
  '.piot.yaml': [
    'version: 1',
    'app: hello',
    'services:',
    '  web:',
    '    run: node server.js',
    '    user: root',
    '    health:',
    '      command: test "$(systemctl is-system-running)" = stopping && sleep 2',
    '      timeout: 5m',
    '',
  ].join('\n'),
  'server.js': `require('http').createServer((q, s) => s.end('hello from a bare pi')).listen(8080, '127.0.0.1');\n`,
};

let host: HostServices;
const hostLog: string[] = [];

beforeAll(async () => {
  host = await startHostServices((line) => hostLog.push(line));
});
afterAll(() => host?.close());

/** Installs PioT's device payload as first boot does, and points apt at the host's mirror. */
async function installFirstBoot(vm: VirtualPi, deviceFile: string): Promise<void> {
  const payload = devicePayload();
  for (const f of payload) await vm.copyTo(f.source, `/tmp/${basename(f.path)}`);
  await vm.sh(
    [
      ...payload.map(
        (f) => `sudo install -D -m ${f.mode.toString(8)} /tmp/${basename(f.path)} ${f.path}`,
      ),
      'sudo install -d -m 0755 /etc/piot',
      'sudo tee /etc/piot/device.yaml >/dev/null',
      'sudo systemctl daemon-reload',
      `sudo systemctl enable ${FIRST_BOOT_UNITS.join(' ')}`,
      'sync',
    ].join(' && '),
    { input: deviceFile },
  );
  // The guest has no internet: its Debian archive is the host's caching mirror.
  await vm.sh(
    'sudo rm -f /etc/apt/sources.list.d/debian.sources && sudo tee /etc/apt/sources.list >/dev/null',
    { input: host.sources('bookworm') },
  );
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(0)} s`;
const bootstrapLog = async (vm: VirtualPi) =>
  vm.sh('sudo journalctl -b -u piot-bootstrap -o cat --no-pager');
const bootstrapped = async (vm: VirtualPi) =>
  (await vm.ssh('test -e /var/lib/piot/bootstrapped')).code === 0;

it('a bare Pi bootstraps on first boot (nodejs and git from apt, repo cloned, agent runs the app), survives a power cut during the apt install, and does not bootstrap again', async () => {
  onTestFailed(() =>
    console.log(`host services, last requests:\n${hostLog.slice(-30).join('\n')}`),
  );
  const commit = await host.commit(APP, 'hello');
  await withVm(
    'bookworm-amd64-bare',
    async (vm, bootSeconds) => {
      console.log(`bare VM: SSH after ${bootSeconds.toFixed(0)} s`);
      expect((await vm.ssh('command -v node || command -v git')).code).not.toBe(0);
      await installFirstBoot(vm, `version: 1\nname: kitchen\nrepo: ${host.repoUrl}\npoll: 10s\n`);

      // First boot: wait until dpkg is installing the packages, then cut the power.
      let started = Date.now();
      await vm.reboot();
      await vm.waitForSsh();
      await vm.waitFor(
        'dpkg unpacking packages',
        async () => {
          if (await bootstrapped(vm))
            throw new Error('bootstrap finished before the power cut; cut earlier');
          // apt's own dpkg unpacking packages (not the script's quick dpkg --configure -a).
          return (await vm.ssh("pgrep -f -- '^[^ ]*dpkg .*--unpack'")).code === 0;
        },
        600_000,
      );
      console.log(`first boot: dpkg unpacking ${seconds(started)} after the reboot; power cut`);
      // The boot counts as finished only once the bootstrap is (docs/device.md says so).
      expect((await vm.ssh('systemctl is-system-running')).stdout.trim()).toBe('starting');
      await new Promise((r) => setTimeout(r, 3000));
      await vm.powerCut();

      // The boot after the power cut finishes the job.
      started = Date.now();
      await vm.waitForSsh();
      await vm
        .waitFor('bootstrap done', () => bootstrapped(vm), 600_000)
        .catch(async (error) => {
          // What the bootstrap did meanwhile says why it is not done.
          const log = await vm
            .sh(
              'sudo journalctl -b -o short-monotonic --no-pager -u piot-bootstrap | tail -n 60; ps -eo pid,etimes,args --sort=start_time | tail -n 15',
            )
            .catch((why: unknown) => `(no log: ${String(why)})`);
          throw new Error(`${(error as Error).message}\n--- piot-bootstrap this boot ---\n${log}`);
        });
      console.log(`boot after the power cut: bootstrap done ${seconds(started)} after power on`);

      console.log(
        await vm.sh(
          "sudo journalctl -b -u piot-bootstrap -o short-monotonic --no-pager | grep -E 'piot-bootstrap: |Started|Finished'",
        ),
      );
      const log = await bootstrapLog(vm);
      const steps = log.split('\n').filter((l) => /^piot-bootstrap: (step|done)/.test(l));
      expect(steps).toEqual([
        'piot-bootstrap: step 1/5 apt-get update',
        'piot-bootstrap: step 2/5 apt-get upgrade: skipped (upgrade: false)',
        expect.stringMatching(
          /^piot-bootstrap: step 3\/5 install( nodejs| git| ca-certificates)+$/,
        ),
        'piot-bootstrap: step 4/5 fetch the app repository',
        'piot-bootstrap: step 5/5 start the agent',
        expect.stringMatching(/^piot-bootstrap: done: \d{4}-\d\d-\d\dT/),
      ]);
      expect(await vm.sh('systemctl show -p Result --value piot-bootstrap')).toBe('success\n');
      expect(
        (await vm.ssh('timeout 120 systemctl is-system-running --wait')).stdout.trim(),
      ).toMatch(/^(running|degraded)$/);
      // Installed from the host's mirror, and dpkg is whole again after the cut.
      expect(
        await vm.sh("dpkg-query -W -f='${Package} ${Status}\\n' nodejs git ca-certificates | sort"),
      ).toBe(
        'ca-certificates install ok installed\ngit install ok installed\nnodejs install ok installed\n',
      );
      expect(await vm.sh('sudo dpkg --audit')).toBe('');
      expect(await vm.sh('apt-cache policy nodejs')).toContain(`http://10.0.2.101/debian`);
      expect(await vm.sh('node --version')).toMatch(/^v18\./);
      expect(host.mirror.stats.cached + host.mirror.stats.upstream).toBeGreaterThan(0);
      // The repository is cloned and the agent runs the app from it.
      expect(await vm.sh('sudo git --git-dir /var/lib/piot/repo.git rev-parse main')).toBe(
        `${commit}\n`,
      );
      expect(await vm.sh('systemctl is-enabled piot-agent; systemctl is-active piot-agent')).toBe(
        'enabled\nactive\n',
      );
      await vm.waitFor(
        'the app answers',
        async () => (await vm.sh('curl -s 127.0.0.1:8080')) === 'hello from a bare pi',
        180_000,
      );
      console.log(`app answering ${seconds(started)} after power on`);
      const state = async () =>
        JSON.parse(await vm.sh('sudo cat /var/lib/piot/state.json')) as {
          pending?: { commit: string };
          current?: string;
          badCommits: string[];
          events: { kind: string }[];
        };
      // The deploy is in its health gate: a reboot now lets it finish before the app stops.
      expect((await state()).pending?.commit).toBe(commit);

      // A later boot: bootstrap's condition keeps it from running; the agent and app come back.
      started = Date.now();
      await vm.reboot();
      await vm.waitForSsh();
      expect(await vm.sh('systemctl show -p ConditionResult --value piot-bootstrap')).toBe('no\n');
      expect(await bootstrapLog(vm)).not.toMatch(/piot-bootstrap: step/);
      await vm
        .waitFor(
          'the app answers after a reboot',
          async () => (await vm.sh('curl -s 127.0.0.1:8080')) === 'hello from a bare pi',
          180_000,
        )
        .catch(async (error) => {
          // What the agent did in this boot and the one before says why the app is not back.
          const log = await vm
            .sh(
              "for b in -1 0; do echo \"--- boot $b\"; sudo journalctl -b $b -o short-monotonic --no-pager -u piot-agent -u 'piot-hello-*' | tail -n 40; done; systemctl list-units --all --no-pager 'piot-*'",
            )
            .catch((why: unknown) => `(no log: ${String(why)})`);
          throw new Error(`${(error as Error).message}\n--- the agent and the app ---\n${log}`);
        });
      console.log(`second boot: app answering ${seconds(started)} after the reboot`);
      const after = await state();
      expect(after).toMatchObject({ current: commit, badCommits: [] });
      expect(after.pending).toBeUndefined();
      // Finished before the shutdown, not undone and deployed again after it.
      expect(after.events.map((e) => e.kind).slice(-2)).toEqual(['started', 'succeeded']);
      // The app ran until the agent had finished: systemd stopped the agent first.
      const shutdown = await vm.sh(
        "sudo journalctl -b -1 -o cat --no-pager -u piot-agent -u piot-hello-web | grep -E '^Stopp|is healthy'",
      );
      console.log(`the deploy during the reboot:\n${shutdown}`);
      expect(shutdown.split('\n').filter((l) => /^Stopped|is healthy/.test(l))).toEqual([
        expect.stringMatching(/^[0-9a-f]{12} is healthy after/),
        expect.stringMatching(/^Stopped piot-agent\.service/),
        expect.stringMatching(/^Stopped piot-hello-web\.service/),
      ]);
    },
    { guestForwards: host.guestForwards },
  );
});
