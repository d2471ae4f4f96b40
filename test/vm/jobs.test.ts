import { expect, it } from 'vitest';
import { CronExpressionParser } from 'cron-parser';
import { onCalendar } from '../../src/spec/schedule.js';
import type { VirtualPi } from '../../src/vm/machine.js';
import { withVm } from './harness.js';
import { deviceReport, deviceState, deviceStatus, guestRepo, installAgent } from './device.js';

/** A script that fails until it has run `n` times (counting in the app's state directory). */
const FLAKY = `#!/bin/sh
f="$STATE_DIRECTORY/$1.count"
n=$(( $(cat "$f" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$f"
echo "run $n of $1"
[ "$n" -ge "$2" ]
`;
const SPEC = (migrate = 'true') => `version: 1
app: demo
services:
  web:
    run: sleep infinity
jobs:
  tick:
    run: date +%s >> "$STATE_DIRECTORY/ticks"
    schedule: "* * * * *"
  flaky-ok:
    run: sh flaky.sh ok 3
    once: device
    retries: 3
  flaky-bad:
    run: sh flaky.sh bad 99
    schedule: "0 0 1 1 *"
    retries: 1
  slow:
    run: sleep 30
    schedule: "0 0 1 1 *"
    timeout: 3s
  seed:
    run: sh seed.sh
    once: device
  migrate:
    run: "${migrate}"
    once: release
`;
/** Seeds once; the first time it is slow, long enough to cut the power in the middle. */
const SEED = `#!/bin/sh
echo seeding >> "$STATE_DIRECTORY/seed.log"; sync
if [ ! -e "$STATE_DIRECTORY/seed.slow" ]; then touch "$STATE_DIRECTORY/seed.slow"; sync; sleep 300; fi
echo done >> "$STATE_DIRECTORY/seed.log"
`;

interface Jobs {
  jobs: {
    name: string;
    next: string | null;
    last: { status: string; attempts: number; exitCode?: number; log: string[] } | null;
  }[];
}
/** When the minutely job ran (Unix seconds), oldest first. */
const tickTimes = async (vm: { sh(c: string): Promise<string> }) =>
  (await vm.sh('sudo cat /var/lib/piot/demo/ticks 2>/dev/null || true'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map(Number);
const jobsOf = async (vm: { sh(c: string): Promise<string> }) =>
  JSON.parse(await vm.sh('sudo piot jobs --json')) as Jobs;

it('jobs: a minutely timer runs, retries end succeeded or failed, a timeout is recorded, once: device runs once, once: release failing keeps the release', async () => {
  await withVm('bookworm-amd64-full', async (vm) => {
    try {
      await scenario(vm);
    } catch (error) {
      console.log(await deviceReport(vm).catch(String));
      const jobs =
        'sudo piot jobs --json; sudo journalctl -b -t demo-seed -t demo-migrate --no-pager';
      console.log(await vm.sh(`${jobs} | tail -40`).catch(String));
      throw error;
    }
  });
});

async function scenario(vm: VirtualPi): Promise<void> {
  const commit = await guestRepo(vm);
  await installAgent(vm, 'version: 1\nname: kitchen\nrepo: /srv/app\npoll: 1h\n');
  const v1 = await commit({
    '.piot.yaml': SPEC(),
    'flaky.sh': FLAKY,
    'seed.sh': SEED,
  });
  await vm.sh('sudo systemctl enable --now piot-agent.service');
  await vm.waitFor(
    'release deployed',
    async () => (await deviceState(vm)).lastDeploy?.kind === 'succeeded',
    120_000,
  );

  // once: device: the power goes while seed runs; at the next boot it runs again and completes.
  await vm.waitFor(
    'seed running',
    async () => (await vm.ssh('sudo test -e /var/lib/piot/demo/seed.slow')).code === 0,
    120_000,
  );
  // seed is now in its slow part; what it wrote before is on disk, as the script synced it.
  await vm.sh('sync');
  await vm.powerCut();
  await vm.waitForSsh();
  await vm.waitFor(
    'once: device jobs done',
    async () => {
      const state = await vm.sh('sudo cat /var/lib/piot/state.json');
      return /"demo\/seed"/.test(state) && /"demo\/flaky-ok"/.test(state);
    },
    240_000,
  );
  expect(await vm.sh('sudo cat /var/lib/piot/demo/seed.log')).toBe('seeding\nseeding\ndone\n');
  let jobs = await jobsOf(vm);
  const byName = (name: string) => jobs.jobs.find((j) => j.name === name)!;
  expect(byName('flaky-ok').last).toMatchObject({ status: 'succeeded', attempts: 3 });
  expect(byName('flaky-ok').last!.log).toContain('run 3 of ok');

  // retries: 1 → two attempts, recorded as failed; piot run exits 1.
  const bad = await vm.ssh('sudo piot run flaky-bad');
  expect(bad.code).toBe(1);
  expect(bad.stdout).toMatch(/^flaky-bad: failed \(exit 1\) at .*, 2 attempts/);
  // A run past its timeout is killed and recorded as timed out.
  const slow = await vm.ssh('sudo piot run slow --json');
  expect(slow.code).toBe(1);
  expect(JSON.parse(slow.stdout)).toMatchObject({ status: 'timed-out', exitCode: 124 });
  expect((JSON.parse(slow.stdout) as { seconds: number }).seconds).toBeLessThan(15);

  // The minutely job runs every minute: two more runs from now (the run Persistent=true made
  // up at boot for the minute missed while off is behind us), on consecutive minutes. They
  // are counted from here, and waited for after the calendar check below.
  const seen = (await tickTimes(vm)).length;

  // The conversion of cron to OnCalendar= agrees with systemd's own calendar over a year.
  for (const cron of ['0 3 * * *', '*/20 9-17 * * 1-5', '30 4 1,15 * *', '0 0 * * 0', '@monthly']) {
    const expressions = onCalendar(cron);
    const base = '2027-01-01 00:00:30 UTC';
    const systemd = new Set<string>();
    for (const expression of expressions) {
      const out = await vm.sh(
        `TZ=UTC systemd-analyze calendar --iterations=400 --base-time='${base}' '${expression}'`,
      );
      for (const m of out.matchAll(/(?:Next elapse|Iter\. #\d+): \w{3} (\S+ \S+) UTC/g))
        systemd.add(m[1]!);
    }
    const expected: string[] = [];
    const it = CronExpressionParser.parse(cron, {
      currentDate: new Date('2027-01-01T00:00:30Z'),
      tz: 'UTC',
    });
    while (expected.length < 400)
      expected.push(it.next().toISOString()!.replace('T', ' ').slice(0, 19));
    const merged = [...systemd].sort().slice(0, 400);
    expect(merged, `${cron} → ${expressions.join(' + ')}`).toEqual(expected);
  }

  await vm.waitFor(
    'two more runs of the minutely job',
    async () => (await tickTimes(vm)).length >= seen + 2,
    240_000,
  );
  const ticks = (await tickTimes(vm)).slice(seen, seen + 2);
  expect(Math.floor(ticks[1]! / 60) - Math.floor(ticks[0]! / 60)).toBe(1);
  expect(ticks.map((t) => t % 60 < 20)).toEqual([true, true]);
  // While a run is under way its timer has no next time (systemd computes it when the run
  // ends), and the second run may have just begun.
  await vm.waitFor(
    'the minutely job scheduled again after its run',
    async () => {
      jobs = await jobsOf(vm);
      return byName('tick').next != null;
    },
    60_000,
  );
  expect(byName('tick').last).toMatchObject({ status: 'succeeded' });
  expect(Date.parse(byName('tick').next!)).toBeGreaterThan(Date.now() - 120_000);

  // Completed once: the next boot does not run it again.
  await vm.reboot();
  await vm.waitForSsh();
  await vm.waitFor(
    'agent running',
    async () => (await vm.ssh('systemctl is-active piot-agent')).stdout.trim() === 'active',
    60_000,
  );
  await new Promise((r) => setTimeout(r, 5000));
  expect(await vm.sh('sudo cat /var/lib/piot/demo/seed.log')).toBe('seeding\nseeding\ndone\n');

  // A failing once: release job fails the deploy; the running release stays.
  const web = await vm.sh('systemctl show -p MainPID --value piot-demo-web');
  const v2 = await commit({ '.piot.yaml': SPEC('exit 3') });
  const tried = await vm.ssh('sudo piot deploy --now');
  expect(tried.code).toBe(1);
  const status = await deviceStatus(vm);
  expect(status.current).toBe(v1);
  expect(status.badCommits).toContain(v2);
  expect(status.lastDeploy).toMatchObject({ kind: 'failed', commit: v2 });
  expect(status.lastDeploy!.reason).toMatch(/job migrate \(once: release\) failed/);
  expect(await vm.sh('systemctl show -p MainPID --value piot-demo-web')).toBe(web);
}
