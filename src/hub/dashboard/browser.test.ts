// The dashboard in a real browser: headless Chromium against the hub on a real socket, with
// a simulated device (enrolled, signed heartbeats, long-polling for commands).
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHROMIUM, launchChromium } from '../../../test/support/chromium.js';
import { signingPublicKey } from '../../image/identity.js';
import type { Heartbeat } from '../heartbeat.js';
import { hashPassword, hashToken } from '../secrets.js';
import { startHub } from '../serve.js';
import { signRequest } from '../signing.js';
import { openStore } from '../store/open.js';
import type { CommandRecord } from '../store/store.js';

/** A device talking to the hub as the agent will: signed requests with its key. */
function simulatedDevice(url: string, name: string) {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const request = async (method: string, path: string, body?: unknown, signal?: AbortSignal) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = signRequest({
      device: name,
      privateKey,
      method,
      path,
      body: text,
    });
    const response = await fetch(url + path, { method, headers, body: text, signal });
    if (!response.ok)
      throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.json() as Promise<Record<string, unknown>>;
  };
  return {
    async enrol(token: string) {
      const response = await fetch(`${url}/api/v1/enrol`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: JSON.stringify({ name, signing: signingPublicKey(pem) }),
      });
      expect(response.status).toBe(201);
    },
    heartbeat: (beat: Heartbeat) => request('POST', `/api/v1/devices/${name}/heartbeat`, beat),
    /** Takes commands until stopped; answers run-job as the agent would. */
    async serve(signal: AbortSignal, handle: (command: CommandRecord) => Promise<void>) {
      while (!signal.aborted) {
        const path = `/api/v1/devices/${name}/commands?wait=2`;
        const answer = await request('GET', path, undefined, signal).catch((error: Error) => {
          if (signal.aborted) return { commands: [] };
          throw error;
        });
        for (const command of answer.commands as CommandRecord[]) await handle(command);
      }
    },
    result: (id: string, result: { ok: boolean; message?: string }) =>
      request('POST', `/api/v1/devices/${name}/commands/${id}/result`, result),
  };
}

const services: Heartbeat['services'] = [
  { app: 'weather', name: 'web', kind: 'service', state: 'active', sub: 'running', restarts: 0 },
  { app: 'weather', name: 'upload', kind: 'job', state: 'inactive', sub: 'dead' },
];

const haveChromium = existsSync(CHROMIUM);
const run = haveChromium || process.env.CI ? describe : describe.skip;

run(
  `dashboard in headless Chromium${haveChromium ? '' : ` (skipped: no ${CHROMIUM}; apt-get install chromium)`}`,
  () => {
    it('logs in, shows the device online with its charts, runs a job and shows the run', async () => {
      const data = await mkdtemp(join(tmpdir(), 'piot-hub-browser-'));
      const store = await openStore({ data });
      await store.setUser('ada', await hashPassword('correct horse'), Date.now());
      await store.addEnrolmentToken(hashToken('enrol-1'), { now: Date.now() });
      const hub = await startHub({ store }, { hostname: '127.0.0.1', port: 0 });
      const stop = new AbortController();
      const browser = await launchChromium();
      let serving: Promise<void> | undefined;
      try {
        const device = simulatedDevice(hub.url, 'kitchen');
        await device.enrol('enrol-1');
        // An hour of history, a sample a minute, then the current heartbeat.
        const now = Date.now();
        const history = Array.from({ length: 60 }, (_, i) => ({
          at: now - (60 - i) * 60_000,
          metrics: {
            temperature: 50 + 10 * Math.sin(i / 6),
            cpu: 0.2 + (i % 10) / 50,
            memory: 0.4,
            disk: 0.3 + i / 1000,
            wifiSignal: -55 - (i % 7),
            throttled: i >= 20 && i < 25 ? 0x50005 : 0,
          },
        }));
        const beat: Heartbeat = {
          agent: { version: '0.1.0', uptime: 7200 },
          metrics: {
            temperature: 55,
            cpu: 0.3,
            memory: 0.4,
            disk: 0.36,
            wifiSignal: -58,
            throttled: 0x50000,
          },
          deploy: { app: 'weather', current: '0123456789abcdef0123456789abcdef01234567' },
          services,
          history,
        };
        await device.heartbeat(beat);
        serving = device.serve(stop.signal, async (command) => {
          if (command.kind !== 'run-job')
            return device
              .result(command.id, { ok: false, message: 'not simulated' })
              .then(() => undefined);
          const start = new Date().toISOString();
          // The job takes a moment, so the page shows the command pending before the answer.
          await sleep(1500);
          // The agent sends its whole state with each heartbeat; the run rides along.
          await device.heartbeat({
            ...beat,
            history: undefined,
            jobRuns: [
              {
                app: 'weather',
                job: String(command.args?.job),
                start,
                end: new Date().toISOString(),
                seconds: 0.4,
                status: 'succeeded',
                exitCode: 0,
                attempts: 1,
                log: ['uploaded 3 rows'],
              },
            ],
          });
          await device.result(command.id, { ok: true, message: 'upload succeeded in 0.4 s' });
        });

        const page = await browser.newPage();
        await page.goto(`${hub.url}/`);
        expect(new URL(page.url()).pathname).toBe('/login');
        await page.fill('input[name=name]', 'ada');
        await page.fill('input[name=password]', 'correct horse');
        await Promise.all([page.waitForURL(`${hub.url}/`), page.click('button[type=submit]')]);
        const row = page.locator('tr[data-device="kitchen"]');
        await expect(row.locator('[data-online]').getAttribute('data-online')).resolves.toBe(
          'true',
        );
        expect(await row.textContent()).toContain('01234567');

        await Promise.all([
          page.waitForURL(`${hub.url}/devices/kitchen`),
          row.locator('a').click(),
        ]);
        await page.waitForSelector('#charts[data-drawn="5"]', { timeout: 10_000 });
        const canvases = await page.$$eval('#charts canvas', (all) =>
          all.map((c) => {
            const canvas = c as unknown as { width: number; height: number };
            return { width: canvas.width, height: canvas.height };
          }),
        );
        expect(canvases).toHaveLength(5);
        for (const size of canvases) expect(size.width * size.height).toBeGreaterThan(0);
        expect(await page.locator('#throttle-strip .under').count()).toBeGreaterThan(0);
        expect(await page.locator('#job-runs').count()).toBe(0);

        await page.click('tr[data-unit="upload"] button:has-text("Run job")');
        // The page polls the command and reloads once the device has answered.
        const run = page.locator('#job-runs tr[data-job="upload"]');
        await run.waitFor({ timeout: 20_000 });
        expect(await run.textContent()).toContain('succeeded');
        expect(await page.locator('#summary').textContent()).toContain('01234567');
        expect(await page.locator('#commands tr[data-status="done"]').textContent()).toContain(
          'upload succeeded in 0.4 s',
        );
      } finally {
        stop.abort();
        await serving?.catch(() => undefined);
        await browser.close();
        await hub.close();
        await store.close();
        await rm(data, { recursive: true, force: true });
      }
    }, 90_000);
  },
);
