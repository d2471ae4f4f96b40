import { expect, it } from 'vitest';
import { launchChromium } from '../support/chromium.js';
import { setUserPassword } from '../../src/hub/admin.js';
import { createAlerts, type Alerts } from '../../src/hub/alerts/engine.js';
import { receiver } from '../../src/hub/alerts/test-receiver.js';
import { parseWebhook } from '../../src/hub/alerts/webhooks.js';
import type { DeviceRecord } from '../../src/hub/store/store.js';
import { withVm } from './harness.js';
import { HUB_HOST, installHubIdentity, startTestHub } from './hub-host.js';
import { deviceReport, deviceState, guestRepo, installAgent } from './device.js';

const SPEC = `version: 1
app: demo
services:
  reader:
    run: node -e "require('http').createServer((q, s) => s.end('ok')).listen(8081, '127.0.0.1')"
jobs:
  upload:
    run: echo uploaded 3 rows
    schedule: '0 3 * * *'
`;

// The VM has no thermal zone: one like a Pi's, on a tmpfs over /sys/class/thermal, set up at
// every boot before the agent starts (the agent reads the kernel's usual path).
const THERMAL_UNIT = `[Unit]
Description=A Raspberry Pi-like thermal zone for the test
Before=piot-agent.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'mount -t tmpfs thermal /sys/class/thermal && mkdir /sys/class/thermal/thermal_zone0 && echo cpu-thermal >/sys/class/thermal/thermal_zone0/type && echo 47234 >/sys/class/thermal/thermal_zone0/temp'
[Install]
WantedBy=multi-user.target
`;

it(
  'the virtual Pi reports to the hub within 60 s of boot with temperature, memory, disk and services; the dashboard runs its job; a killed service and a power-off fire alerts that resolve',
  async () => {
    const webhook = await receiver();
    let alerts: Alerts | undefined;
    const testHub = await startTestHub((store) => {
      alerts = createAlerts({ store, webhooks: [parseWebhook(webhook.url)], log: console.error });
      return { alerts };
    });
    const { store, hub } = testHub;
    const stopAlerts = alerts!.start();
    /** The webhook's messages so far, as the generic JSON body has them. */
    const messages = () =>
      webhook.got.map((g) => JSON.parse(g.body) as { status: string; device: string; key: string });
    const message = (status: string, key: string) =>
      messages().find((m) => m.status === status && m.key === key && m.device === 'kitchen');
    await setUserPassword(store, 'ada', 'correct horse', Date.now());
    const device = () => store.getDevice('kitchen');
    const heartbeatAfter = async (since: number): Promise<DeviceRecord | undefined> => {
      const d = await device();
      return d?.lastHeartbeat && d.lastHeartbeat.receivedAt > since ? d : undefined;
    };
    try {
      await withVm(
        'bookworm-amd64-full',
        async (vm) => {
          const commit = await guestRepo(vm);
          await installAgent(
            vm,
            `version: 1\nname: kitchen\nrepo: /srv/app\npoll: 1h\nhub:\n  url: http://${HUB_HOST}\n`,
          );
          await installHubIdentity(vm, testHub);
          await vm.sh(
            'sudo tee /etc/systemd/system/test-thermal.service >/dev/null && sudo systemctl daemon-reload && sudo systemctl enable --now test-thermal.service',
            { input: THERMAL_UNIT },
          );
          const v1 = await commit({ '.piot.yaml': SPEC });
          await vm.sh('sudo systemctl enable --now piot-agent.service');
          await vm
            .waitFor('v1 deployed', async () => (await deviceState(vm)).current === v1, 180_000)
            .catch(async (error: Error) => {
              throw new Error(`${error.message.split('\n')[0]}\n${await deviceReport(vm)}`);
            });
          await vm.waitFor(
            'the hub sees the release',
            async () => (await device())?.lastHeartbeat?.deploy?.current === v1,
            90_000,
          );
          // The agent opened a device session (with its Ed25519 key) and signs with its key.
          const session = (await store.deviceKey('kitchen'))?.session;
          expect(session?.id).toMatch(/^[A-Za-z0-9_-]{22}$/);

          // From a reboot to the hub hearing from the device again.
          const rebooted = Date.now();
          await vm.reboot();
          const bootedAt = Date.now();
          let seen: DeviceRecord | undefined;
          await vm.waitFor(
            'a heartbeat after the reboot',
            async () => (seen = await heartbeatAfter(rebooted)) !== undefined,
            120_000,
          );
          // The agent that started with the boot opened a session of its own.
          expect((await store.deviceKey('kitchen'))?.session?.id).not.toBe(session!.id);
          // "Within 60 s of boot": from power-on (QEMU started again), not from the shutdown.
          const seconds = (seen!.lastHeartbeat!.receivedAt - bootedAt) / 1000;
          console.log(
            [
              `first heartbeat ${seconds.toFixed(1)} s after power-on (the shutdown before it took ${((bootedAt - rebooted) / 1000).toFixed(1)} s)`,
              await vm.sh('systemd-analyze || true'),
              await vm.sh(
                'sudo journalctl -b -o short-monotonic --no-pager -u piot-agent | head -n 8',
              ),
            ].join('\n'),
          );
          expect(seconds).toBeLessThan(60);
          const beat = seen!.lastHeartbeat!;
          expect(beat.metrics?.temperature).toBe(47.2);
          expect(beat.metrics?.memory).toBeGreaterThan(0);
          expect(beat.metrics?.memory).toBeLessThan(1);
          expect(beat.metrics?.disk).toBeGreaterThan(0);
          expect(beat.health?.readOnlyRoot).toBe(false);
          expect(beat.deploy?.current).toBe(v1);
          expect(beat.services?.map((s) => [s.name, s.kind])).toEqual([
            ['reader', 'service'],
            ['upload', 'job'],
          ]);
          expect(beat.services?.find((s) => s.name === 'reader')?.state).toBe('active');
          expect((await store.deployEvents('kitchen', 10)).map((e) => e.kind)).toContain(
            'succeeded',
          );

          // In the dashboard: log in, the Pi online with its charts, "Run job", the run appears.
          const browser = await launchChromium();
          try {
            const page = await browser.newPage();
            await page.goto(`${hub.url}/`);
            await page.fill('input[name=name]', 'ada');
            await page.fill('input[name=password]', 'correct horse');
            await Promise.all([page.waitForURL(`${hub.url}/`), page.click('button[type=submit]')]);
            const row = page.locator('tr[data-device="kitchen"]');
            expect(await row.locator('[data-online]').getAttribute('data-online')).toBe('true');
            expect(await row.textContent()).toContain(v1.slice(0, 8));
            await Promise.all([
              page.waitForURL(`${hub.url}/devices/kitchen`),
              row.locator('a').click(),
            ]);
            await page.waitForSelector('#charts[data-drawn="5"]', { timeout: 20_000 });
            expect(await page.locator('#job-runs tr[data-job="upload"]').count()).toBe(0);
            await page.click('tr[data-unit="upload"] button:has-text("Run job")');
            const run = page.locator('#job-runs tr[data-job="upload"]');
            await run.waitFor({ timeout: 90_000 });
            expect(await run.textContent()).toContain('succeeded');
            expect(await page.locator('#commands tr[data-status="done"]').textContent()).toMatch(
              /upload: succeeded/,
            );
          } finally {
            await browser.close();
          }
          const runs = await store.jobRuns('kitchen', 5);
          expect(runs[0]?.log).toContain('uploaded 3 rows');

          // A killed service: systemd restarts it, and its alert fires, then resolves.
          const killed = Date.now();
          await vm.sh('sudo systemctl kill -s KILL piot-demo-reader.service');
          await vm.waitFor(
            'the killed service alert',
            () => Promise.resolve(message('firing', 'service:demo/reader') !== undefined),
            90_000,
          );
          const firedAfter = (Date.now() - killed) / 1000;
          await vm.waitFor(
            'the killed service alert resolved',
            () => Promise.resolve(message('resolved', 'service:demo/reader') !== undefined),
            120_000,
          );
          console.log(`killed service: alert after ${firedAfter.toFixed(0)} s, then resolved`);

          // Power off: the offline alert within 2 minutes; back on: resolved.
          let offlineAfter = 0;
          await vm.powerCut({
            whileOff: async () => {
              const cut = Date.now();
              await vm.waitFor(
                'the offline alert',
                () => Promise.resolve(message('firing', 'offline') !== undefined),
                150_000,
              );
              offlineAfter = (Date.now() - cut) / 1000;
            },
          });
          console.log(`offline alert ${offlineAfter.toFixed(0)} s after the power went off`);
          expect(offlineAfter).toBeLessThan(120);
          await vm.waitFor(
            'the offline alert resolved',
            () => Promise.resolve(message('resolved', 'offline') !== undefined),
            180_000,
          );
          // Each alert was sent once, and resolved once.
          const keys = messages().map((m) => `${m.status} ${m.key}`);
          for (const key of ['service:demo/reader', 'offline']) {
            expect(keys.filter((k) => k === `firing ${key}`)).toHaveLength(1);
            expect(keys.filter((k) => k === `resolved ${key}`)).toHaveLength(1);
          }
        },
        {
          guestForwards: [
            {
              guestAddress: HUB_HOST,
              guestPort: 80,
              hostPort: Number(new URL(hub.url).port),
              connections: 'many',
            },
          ],
        },
      );
    } finally {
      stopAlerts();
      await hub.close();
      await alerts!.idle();
      await testHub.close();
      await webhook.close();
    }
  },
  20 * 60_000,
);
