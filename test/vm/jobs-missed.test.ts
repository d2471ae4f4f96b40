import { expect, it } from 'vitest';
import { withVm } from './harness.js';
import { deviceState, guestRepo, installAgent } from './device.js';

const SPEC = `version: 1
app: demo
services:
  web:
    run: sleep infinity
jobs:
  nightly:
    run: date -u +%H:%M >> "$STATE_DIRECTORY/nightly"
    schedule: "0 3 * * *"
`;

it('a daily job whose time passed while the Pi was off runs right after it boots', async () => {
  await withVm(
    'bookworm-amd64-full',
    async (vm) => {
      const commit = await guestRepo(vm);
      await installAgent(vm, 'version: 1\nname: kitchen\nrepo: /srv/app\npoll: 1h\n');
      await commit({ '.piot.yaml': SPEC });
      await vm.sh('sudo systemctl enable --now piot-agent.service');
      await vm.waitFor(
        'release deployed',
        async () => (await deviceState(vm)).lastDeploy?.kind === 'succeeded',
        120_000,
      );
      const before = await vm.sh(
        'date -u +%H:%M; systemctl show -p NextElapseUSecRealtime --value piot-demo-nightly.timer',
      );
      expect(before).toMatch(/^02:\d\d\n.* 03:00:00 UTC\n$/);
      await vm.sh('sync');
      // Off from before 03:00 until 04:30: the 03:00 run was missed.
      await vm.powerCut({ clock: '2027-03-01T04:30:00Z' });
      await vm.waitForSsh();
      expect(await vm.sh('date -u +%Y-%m-%dT%H')).toBe('2027-03-01T04\n');
      type Jobs = { jobs: { name: string; next: string; last: { status: string } | null }[] };
      const nightlyJob = async () =>
        (JSON.parse(await vm.sh('sudo piot jobs --json')) as Jobs).jobs.find(
          (j) => j.name === 'nightly',
        );
      // The run is recorded once its command has ended, a moment after it wrote its line.
      await vm.waitFor(
        'the missed run, recorded',
        async () => !!(await nightlyJob())?.last,
        120_000,
      );
      expect(await vm.sh('sudo cat /var/lib/piot/demo/nightly')).toMatch(/^04:3\d\n$/);
      const nightly = (await nightlyJob())!;
      expect(nightly.last?.status).toBe('succeeded');
      expect(nightly.next).toBe('2027-03-02T03:00:00.000Z');
    },
    { clock: '2027-02-28T02:40:00Z' },
  );
});
