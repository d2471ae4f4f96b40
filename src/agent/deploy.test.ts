import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { upstream } from '../../test/support/upstream.js';
import { createGit } from '../sys/git.js';
import type { Systemd } from '../sys/systemd.js';
import { ageDevice, secretFileText } from '../../test/support/secrets.js';
import { deployOnce, recover, rollback, type DeployDeps } from './deploy.js';
import { releaseConfigOnDisk } from './release.js';
import { writeSecretEnv } from './secrets.js';
import { loadState } from './state.js';

/**
 * systemd as the agent sees it, in memory: a unit whose command contains "crash" keeps
 * restarting; anything else is active. Time is simulated, so health gates take no time.
 */
function fakeSystemd(clock: { now: number }) {
  const files: Record<string, string> = {};
  const live = new Map<string, { since: number; restarts: number; pid: number }>();
  const enabled = new Set<string>();
  const runs: string[] = [];
  let pids = 100;
  let failOn: string | undefined;
  const started = (unit: string) => {
    if (failOn && unit.includes(failOn)) throw new Error(`power cut while starting ${unit}`);
    live.set(unit, { since: clock.now, restarts: 0, pid: pids++ });
  };
  const systemd: Systemd = {
    installedUnits: (prefix) =>
      Promise.resolve(
        Object.fromEntries(Object.entries(files).filter(([name]) => name.startsWith(prefix))),
      ),
    writeUnit: (unit, content) => Promise.resolve(void (files[unit] = content)),
    removeUnit: (unit) => Promise.resolve(void delete files[unit]),
    daemonReload: () => Promise.resolve(),
    enable: (unit) => Promise.resolve(void enabled.add(unit)),
    disable: (unit) => Promise.resolve(void enabled.delete(unit)),
    start: (unit) => Promise.resolve(live.has(unit) ? undefined : started(unit)),
    restart: (unit) => Promise.resolve(started(unit)),
    stop: (unit) => Promise.resolve(void live.delete(unit)),
    status: (unit) =>
      Promise.resolve({
        active: live.has(unit) ? 'active' : 'inactive',
        pid: live.get(unit)?.pid ?? 0,
      }),
    probe(unit) {
      const state = live.get(unit);
      if (!state) return Promise.resolve({ active: 'inactive', restarts: 0, activeForMs: 0 });
      if (files[unit]?.includes('crash')) {
        state.restarts += 1;
        return Promise.resolve({ active: 'activating', restarts: state.restarts, activeForMs: 0 });
      }
      return Promise.resolve({
        active: 'active',
        restarts: 0,
        activeForMs: clock.now - state.since,
      });
    },
    isEnabled: (unit) => Promise.resolve(enabled.has(unit)),
    logTail: (unit) => Promise.resolve(`${unit}: Segmentation fault\n`),
    // A oneshot job fails when its command mentions "fail".
    runOnce: (unit) => {
      runs.push(unit);
      return Promise.resolve(!/ExecStart=.*fail/.test(files[unit] ?? ''));
    },
  };
  return {
    systemd,
    files,
    live,
    enabled,
    runs,
    failOn: (text: string | undefined) => void (failOn = text),
  };
}

const spec = (web: string, extra = '') => `version: 1
app: demo
services:
  web:
    run: ${web}
  worker:
    run: node worker.js
deploy:
  health_timeout: 20s
${extra}`;

function setup() {
  const up = upstream();
  const work = mkdtempSync(join(tmpdir(), 'piot-deploy-'));
  const clock = { now: 0 };
  const fake = fakeSystemd(clock);
  const logs: string[] = [];
  const deps: DeployDeps = {
    git: createGit({ url: up.dir, mirror: join(work, 'repo.git') }),
    systemd: fake.systemd,
    device: 'kitchen',
    follow: { branch: 'main' },
    root: work,
    statePath: join(work, 'state.json'),
    log: (m) => logs.push(m),
    health: {
      now: () => clock.now,
      sleep: (ms) => Promise.resolve(void (clock.now += ms)),
      check: () => Promise.resolve(undefined),
    },
    sync: () => Promise.resolve(),
  };
  const current = () => readlinkSync(join(work, 'opt/piot/apps/demo/current'));
  return { up, work, fake, deps, logs, current, state: () => loadState(deps.statePath) };
}

describe('deploy cycle (real git, simulated systemd)', () => {
  it('deploys, then rolls back a commit whose service keeps crashing and never retries it', async () => {
    const t = setup();
    const good = t.up.commit({ '.piot.yaml': spec('node web.js'), 'web.js': '1' });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: good });
    expect(t.current()).toBe(`releases/${good}`);
    const goodUnits = { ...t.fake.files };
    expect(Object.keys(goodUnits).sort()).toEqual([
      'piot-demo-web.service',
      'piot-demo-worker.service',
    ]);

    const crash = t.up.commit({ '.piot.yaml': spec('node crash.js') });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'rolled-back', commit: crash, to: good });
    if (outcome.result !== 'rolled-back') throw new Error('unreachable');
    expect(outcome.reason).toMatch(/service web is activating after 20 s \(restarted \d+ times\)/);
    expect(outcome.reason).toMatch(/Segmentation fault/);
    expect(t.fake.files).toEqual(goodUnits);
    expect(t.current()).toBe(`releases/${good}`);
    const state = await t.state();
    expect(state).toMatchObject({ current: good, badCommits: [crash] });
    expect(state.pending).toBeUndefined();
    expect(state.events.map((e) => e.kind)).toEqual([
      'started',
      'succeeded',
      'started',
      'failed',
      'rolled-back',
    ]);

    // The bad commit is not tried again; the next commit is.
    expect(await deployOnce(t.deps)).toEqual({ result: 'bad', commit: crash });
    const fixed = t.up.commit({ '.piot.yaml': spec('node web.js --fixed') });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: fixed });
    expect((await t.state()).history).toEqual([good, fixed]);
  });

  it('syncs the disk before the gate after enable/disable and after setup commands, not otherwise', async () => {
    const t = setup();
    let syncs = 0;
    t.deps.sync = () => Promise.resolve(void (syncs += 1));
    t.up.commit({ '.piot.yaml': spec('node web.js'), 'web.js': '1' });
    await deployOnce(t.deps);
    expect(syncs).toBe(1); // units enabled
    t.up.commit({ 'web.js': '2' });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed' });
    expect(syncs).toBe(1); // restarts only: units and `current` are durable as written
    t.up.commit({ '.piot.yaml': spec('node web.js', 'setup:\n  run: [touch built.txt]\n') });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed' });
    expect(syncs).toBe(2); // what setup wrote in the release directory
  });

  it('stops the app when its first release is unhealthy (nothing to return to)', async () => {
    const t = setup();
    t.up.commit({ '.piot.yaml': spec('node crash.js') });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'rolled-back', to: undefined });
    expect(t.fake.files).toEqual({});
    expect(t.fake.live.size).toBe(0);
    expect(existsSync(join(t.work, 'opt/piot/apps/demo/current'))).toBe(false);
  });

  it('returns to the last good release after a deploy interrupted half way, then deploys again', async () => {
    const t = setup();
    const good = t.up.commit({ '.piot.yaml': spec('node web.js'), 'web.js': '1' });
    await deployOnce(t.deps);
    const goodUnits = { ...t.fake.files };
    const next = t.up.commit({ '.piot.yaml': spec('node web.js --v2'), 'web.js': '2' });
    t.fake.failOn('worker');
    await expect(deployOnce(t.deps)).rejects.toThrow(/power cut/);
    expect((await t.state()).pending).toMatchObject({ commit: next, from: good });
    expect(t.current()).toBe(`releases/${next}`);

    t.fake.failOn(undefined);
    const recovered = await recover(t.deps);
    expect(recovered.pending).toBeUndefined();
    expect(recovered.current).toBe(good);
    expect(recovered.lastDeploy).toMatchObject({ kind: 'interrupted', commit: next });
    expect(t.fake.files).toEqual(goodUnits);
    expect(t.current()).toBe(`releases/${good}`);
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: next });
  });

  it('does not blame a release whose services stop with the device during its health gate', async () => {
    const t = setup();
    const good = t.up.commit({ '.piot.yaml': spec('node web.js'), 'web.js': '1' });
    await deployOnce(t.deps);
    const next = t.up.commit({ '.piot.yaml': spec('node web.js --v2'), 'web.js': '2' });
    // The device shuts down while the gate waits: the agent is asked to stop, and systemd
    // stops the services.
    let stopping = false;
    t.deps.stopping = () => stopping;
    const sleep = t.deps.health!.sleep!;
    t.deps.health!.sleep = (ms) => {
      stopping = true;
      t.fake.live.clear();
      return sleep(ms);
    };
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'interrupted', commit: next });
    const state = await t.state();
    expect(state.badCommits).toEqual([]);
    expect(state.pending).toMatchObject({ commit: next, from: good });
    expect(state.events.map((e) => e.kind)).toEqual(['started', 'succeeded', 'started']);

    // The next start undoes the deploy, and the cycle after it deploys the commit again.
    t.deps.health!.sleep = sleep;
    t.deps.stopping = () => false;
    expect((await recover(t.deps)).current).toBe(good);
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: next });
  });

  it('re-enables units whose enablement a power cut lost', async () => {
    const t = setup();
    t.up.commit({ '.piot.yaml': spec('node web.js') });
    await deployOnce(t.deps);
    t.fake.enabled.delete('piot-demo-web.service');
    await recover(t.deps);
    expect(t.fake.enabled.has('piot-demo-web.service')).toBe(true);
  });

  it('rolls back on request and marks the running commit bad', async () => {
    const t = setup();
    const first = t.up.commit({ '.piot.yaml': spec('node web.js') });
    await deployOnce(t.deps);
    const second = t.up.commit({ '.piot.yaml': spec('node web.js --two') });
    await deployOnce(t.deps);
    expect(await rollback(t.deps)).toMatchObject({
      result: 'rolled-back',
      commit: second,
      to: first,
    });
    expect(t.fake.files['piot-demo-web.service']).not.toMatch(/--two/);
    expect(await t.state()).toMatchObject({ current: first, badCommits: [second] });
    expect(await deployOnce(t.deps)).toEqual({ result: 'bad', commit: second });
    await expect(rollback(t.deps)).rejects.toThrow(/no release before/);
  });

  it('keeps the running release when setup fails, and only keep_releases releases on disk', async () => {
    const t = setup();
    const good = t.up.commit({
      '.piot.yaml': spec('node web.js', 'setup:\n  run: [echo ok > built]\n'),
    });
    await deployOnce(t.deps);
    expect(existsSync(join(t.work, 'opt/piot/apps/demo/releases', good, 'built'))).toBe(true);
    const broken = t.up.commit({
      '.piot.yaml': spec('node web.js', 'setup:\n  run: ["echo nope >&2; exit 3"]\n'),
    });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'failed', commit: broken });
    if (outcome.result !== 'failed') throw new Error('unreachable');
    expect(outcome.reason).toMatch(/setup: "echo nope >&2; exit 3" failed \(exit 3\):\nnope/);
    expect(t.current()).toBe(`releases/${good}`);
    expect((await t.state()).pending).toBeUndefined();

    const keep = (n: number) => `deploy:\n  health_timeout: 20s\n  keep_releases: ${n}\n`;
    let last = '';
    for (let i = 0; i < 4; i++) {
      last = t.up.commit({
        '.piot.yaml': spec(`node web.js ${i}`).replace(/deploy:\n.*\n/, keep(2)),
      });
      expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed' });
    }
    const releases = readdirSync(join(t.work, 'opt/piot/apps/demo/releases'));
    expect(releases).toHaveLength(2);
    expect(releases).toContain(last);
  });

  it('follows the newest tag matching a pattern instead of a branch', async () => {
    const t = setup();
    const v1 = t.up.commit({ '.piot.yaml': spec('node web.js') });
    t.up.git('tag', 'v1.2.0');
    t.up.commit({ '.piot.yaml': spec('node web.js --unreleased') });
    t.deps.follow = { tags: 'v*' };
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: v1 });
    const v10 = t.up.commit({ '.piot.yaml': spec('node web.js --ten') });
    t.up.git('tag', 'v1.10.0');
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: v10 });
  });

  it('renders the same commit again for another device name, with its own services', async () => {
    const t = setup();
    const commit = t.up.commit({
      '.piot/fleet.yaml':
        'version: 1\ndevices:\n  kitchen: {tags: [sensors]}\n  hall: {tags: [screens]}\n',
      '.piot.yaml': `version: 1
app: demo
services:
  sensor: {run: ./sensor, devices: [tag:sensors]}
  display: {run: ./display, devices: [tag:screens]}
`,
    });
    await deployOnce(t.deps);
    expect(Object.keys(t.fake.files)).toEqual(['piot-demo-sensor.service']);
    expect(await deployOnce(t.deps)).toEqual({ result: 'up-to-date', commit });
    t.deps.device = 'hall';
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit });
    expect(Object.keys(t.fake.files)).toEqual(['piot-demo-display.service']);
  });
});

describe('an idle poll', () => {
  it('reads the local head once and asks the remote once, and fetches nothing', async () => {
    const t = setup();
    const commit = t.up.commit({ '.piot.yaml': spec('node web.js'), 'web.js': '1' });
    await deployOnce(t.deps);
    const calls: string[] = [];
    const git = t.deps.git;
    t.deps.git = Object.fromEntries(
      Object.entries(git).map(([name, method]) => [
        name,
        (...args: unknown[]) => {
          calls.push(name);
          return (method as (...a: unknown[]) => unknown).apply(git, args);
        },
      ]),
    ) as unknown as typeof git;
    expect(await deployOnce(t.deps)).toEqual({ result: 'up-to-date', commit });
    expect(calls).toEqual(['branchHead', 'remoteHead']);
    const next = t.up.commit({ 'web.js': '2' });
    calls.length = 0;
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: next });
    expect(calls.slice(0, 4)).toEqual(['branchHead', 'remoteHead', 'fetch', 'branchHead']);
    // A cycle someone asked for fetches at once, without asking the remote first.
    const asked = t.up.commit({ 'web.js': '3' });
    calls.length = 0;
    expect(await deployOnce(t.deps, { fetch: true })).toMatchObject({ commit: asked });
    expect(calls.slice(0, 2)).toEqual(['fetch', 'branchHead']);
    expect(calls).not.toContain('remoteHead');
  });
});

describe('one-off jobs in a deploy', () => {
  const jobs = (migrate: string) => `jobs:
  migrate:
    run: ${migrate}
    once: release
  seed:
    run: ./seed.sh
    once: device
`;

  it('runs once: release in the new release before the switch; a failure keeps the running release and marks the commit bad', async () => {
    const t = setup();
    const first = t.up.commit({ '.piot.yaml': spec('node web.js', jobs('./migrate.sh 1')) });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: first });
    expect(t.fake.runs).toEqual(['piot-demo-migrate.service', 'piot-demo-seed.service']);
    // The migration ran in its own release's directory, not in `current`.
    expect(t.fake.files['piot-demo-migrate.service']).toContain(
      `WorkingDirectory=${t.work}/opt/piot/apps/demo/releases/${first}\n`,
    );
    const before = { ...t.fake.files };
    const pids = [...t.fake.live.entries()].map(([unit, s]) => [unit, s.pid]);

    const failing = t.up.commit({ '.piot.yaml': spec('node web2.js', jobs('./migrate.sh fail')) });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'failed', commit: failing });
    if (outcome.result !== 'failed') throw new Error('unreachable');
    expect(outcome.reason).toMatch(
      /^job migrate \(once: release\) failed\npiot-demo-migrate.service: Segmentation fault/,
    );
    expect(t.fake.files).toEqual(before);
    expect([...t.fake.live.entries()].map(([unit, s]) => [unit, s.pid])).toEqual(pids);
    expect(t.current()).toBe(`releases/${first}`);
    expect(await t.state()).toMatchObject({ current: first, badCommits: [failing] });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'bad', commit: failing });
  });

  it('runs once: device jobs until one succeeds, then never again (also not at the next start)', async () => {
    const t = setup();
    t.up.commit({
      '.piot.yaml': spec(
        'node web.js',
        'jobs:\n  seed:\n    run: ./seed.sh fail\n    once: device\n',
      ),
    });
    await deployOnce(t.deps);
    expect(t.fake.runs).toEqual(['piot-demo-seed.service']);
    expect((await t.state()).onceDone).toEqual({});
    // Not completed: the next start tries again, and it succeeds this time.
    t.fake.files['piot-demo-seed.service'] = t.fake.files['piot-demo-seed.service']!.replace(
      ' fail',
      '',
    );
    await recover(t.deps);
    expect(t.fake.runs).toEqual(['piot-demo-seed.service', 'piot-demo-seed.service']);
    expect(Object.keys((await t.state()).onceDone)).toEqual(['demo/seed']);
    await recover(t.deps);
    t.up.commit({
      '.piot.yaml': spec('node web.js', 'jobs:\n  seed:\n    run: ./seed.sh\n    once: device\n'),
      x: '2',
    });
    await deployOnce(t.deps);
    expect(t.fake.runs).toHaveLength(2);
  });

  it('restarts only the services whose secrets changed; a secret not for this device keeps the release', async () => {
    const t = setup();
    const kitchen = await ageDevice('kitchen');
    const garage = await ageDevice('garage');
    t.deps.ageKeyFile = join(t.work, 'age.key');
    writeFileSync(t.deps.ageKeyFile, `${kitchen.key}\n`);
    const withSecret = spec('node web.js', 'secrets: [API_TOKEN]\n').replace(
      '    run: node worker.js\n',
      '    run: node worker.js\n    secrets: []\n',
    );
    const secretsDir = join(t.work, 'run/piot/demo/secrets');
    // What each unit's ExecStartPre= does when the (simulated) systemd starts it.
    const started = async (name: string) => {
      const dir = join(t.work, 'opt/piot/apps/demo/current');
      const config = await releaseConfigOnDisk(dir);
      if (!config.ok) throw new Error(config.problems.join('\n'));
      await writeSecretEnv(
        { dir, spec: config.spec, name },
        { name: 'kitchen', ageKeyFile: t.deps.ageKeyFile! },
        secretsDir,
      );
    };
    const pid = (unit: string) => t.fake.live.get(`piot-demo-${unit}.service`)?.pid;

    t.up.commit({
      '.piot.yaml': withSecret,
      '.piot/secrets/API_TOKEN.yaml': await secretFileText('one', [kitchen]),
    });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed' });
    expect(t.fake.files['piot-demo-web.service']).toMatch(
      /^ExecStartPre=\+\/usr\/bin\/node \/usr\/lib\/piot\/piot-agent.mjs secrets-env demo web .*\/opt\/piot\/apps\/demo\/current$/m,
    );
    expect(t.fake.files['piot-demo-worker.service']).not.toMatch(/secrets-env|EnvironmentFile/);
    expect(Object.values(t.fake.files).join('\n')).not.toContain('one');
    await started('web');
    expect(readFileSync(join(secretsDir, 'web.env'), 'utf8')).toBe('API_TOKEN="one"\n');
    const before = { web: pid('web'), worker: pid('worker') };

    const changed = t.up.commit({
      '.piot/secrets/API_TOKEN.yaml': await secretFileText('two', [kitchen]),
    });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed', commit: changed });
    expect(pid('web')).not.toBe(before.web);
    expect(pid('worker')).toBe(before.worker);
    await started('web');
    expect(readFileSync(join(secretsDir, 'web.env'), 'utf8')).toBe('API_TOKEN="two"\n');

    // Encrypted for another device only: the deploy fails, naming the secret; nothing changes.
    const units = { ...t.fake.files };
    const running = { web: pid('web'), worker: pid('worker') };
    const notForUs = t.up.commit({
      '.piot/secrets/API_TOKEN.yaml': await secretFileText('three', [garage], ['garage']),
      'web.js': '2',
    });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'failed', commit: notForUs });
    if (outcome.result !== 'failed') throw new Error('unreachable');
    expect(outcome.reason).toMatch(/secret API_TOKEN is not encrypted for device kitchen/);
    expect(t.fake.files).toEqual(units);
    expect({ web: pid('web'), worker: pid('worker') }).toEqual(running);
    expect(t.current()).toBe(`releases/${changed}`);
    expect((await t.state()).badCommits).toEqual([notForUs]);

    // A release without secrets leaves none behind in /run.
    t.up.commit({ '.piot.yaml': spec('node web.js') });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed' });
    expect(t.fake.files['piot-demo-web.service']).not.toMatch(/secrets-env/);
    expect(readdirSync(secretsDir)).toEqual([]);
  });
});
