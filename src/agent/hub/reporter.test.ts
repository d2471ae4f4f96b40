import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signingPublicKey } from '../../image/identity.js';
import { createApiToken, createEnrolmentToken, setUserPassword } from '../../hub/admin.js';
import { startHub, type RunningHub } from '../../hub/serve.js';
import { openStore } from '../../hub/store/open.js';
import type { Store } from '../../hub/store/store.js';
import { emptyState, type AgentState } from '../state.js';
import { hubClient } from './client.js';
import type { CommandHost, RunningRelease } from './commands.js';
import { sampleQueue } from './queue.js';
import { startReporter, type Reporter } from './reporter.js';

const pem = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the agent reporting to a hub', () => {
  let dir: string;
  let store: Store;
  let hub: RunningHub;
  let port: number;
  let api: string;
  let reporter: Reporter | undefined;
  let token: string;
  let state: AgentState;
  let temperature: number;
  const ran: string[] = [];
  const logs: string[] = [];
  const release: RunningRelease = {
    app: 'sensor',
    services: new Set(['reader']),
    jobs: new Set(['upload']),
  };
  const runs: { app: string; job: string; start: string; end: string }[] = [];

  const host: CommandHost = {
    release: () => Promise.resolve(release),
    deployNow: () => Promise.resolve({ ok: true, message: 'up to date at abc' }),
    runJob(app, job) {
      ran.push(`${app}/${job}`);
      const end = new Date().toISOString();
      runs.push({ app, job, start: end, end });
      return Promise.resolve({ ok: true, message: `${job}: succeeded`, output: ['sent 3 rows'] });
    },
    restartService: (app, service) => Promise.resolve(void ran.push(`restart ${service}`)),
    journal: (units, lines) => Promise.resolve([`${units.join(',')} ${lines}`]),
    reboot: () => Promise.resolve(),
  };

  let snapshots = 0;
  const freshness: boolean[] = [];
  const start = (url = hub.url, intervalMs = 200) =>
    startReporter({
      client: hubClient({ url, device: 'kitchen', privateKey: pem, timeoutMs: 2000 }),
      url,
      device: 'kitchen',
      signing: signingPublicKey(pem),
      token: () => Promise.resolve(token),
      snapshot: (_release, _cpu, { fresh }) =>
        Promise.resolve((snapshots = freshness.push(fresh))).then(() => ({
          metrics: { temperature, memory: 0.5 },
          health: { readOnlyRoot: false, failedUnits: [] },
          services: [
            { app: 'sensor', name: 'reader', kind: 'service' as const, state: 'active' },
            { app: 'sensor', name: 'upload', kind: 'job' as const, state: 'inactive' },
          ],
        })),
      state: () => Promise.resolve(state),
      jobRuns: () =>
        Promise.resolve(
          runs.map((r) => ({
            ...r,
            seconds: 0.1,
            status: 'succeeded' as const,
            attempts: 1,
            log: ['sent 3 rows'],
          })),
        ),
      host,
      queue: sampleQueue(join(dir, 'queue.jsonl')),
      dir,
      intervalMs,
      pollWaitS: 1,
      version: '9.9.9',
      log: (message) => logs.push(message),
    });

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'piot-reporter-'));
    store = await openStore({ data: join(dir, 'hub') });
    hub = await startHub({ store }, { hostname: '127.0.0.1', port: 0 });
    port = Number(new URL(hub.url).port);
    token = (await createEnrolmentToken(store, { now: Date.now() })).token;
    await setUserPassword(store, 'ada', 'long enough', Date.now());
    api = await createApiToken(store, 'ada', { label: 'test', now: Date.now() });
    state = {
      ...emptyState(),
      app: 'sensor',
      current: 'a'.repeat(40),
      events: [{ at: '2027-01-01T00:00:00.000Z', commit: 'a'.repeat(40), kind: 'succeeded' }],
    };
    temperature = 48;
    snapshots = 0;
    freshness.length = 0;
    host.deployNow = () => Promise.resolve({ ok: true, message: 'up to date at abc' });
    ran.length = 0;
    runs.length = 0;
    logs.length = 0;
  });
  afterEach(async () => {
    await reporter?.stop();
    reporter = undefined;
    await hub.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const person = async (path: string, body?: unknown) => {
    const response = await fetch(`${hub.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${api}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return (await response.json()) as Record<string, unknown>;
  };

  it('enrols once, then sends heartbeats with metrics, services, deploys and job runs', async () => {
    reporter = start();
    const device = await until('a heartbeat', async () => {
      const d = await store.getDevice('kitchen');
      return d?.lastHeartbeat ? d : undefined;
    });
    expect(device.lastHeartbeat).toMatchObject({
      agent: { version: '9.9.9' },
      metrics: { temperature: 48, memory: 0.5 },
      services: [
        { name: 'reader', state: 'active' },
        { name: 'upload', kind: 'job' },
      ],
      deploy: { app: 'sensor', current: 'a'.repeat(40) },
      health: { readOnlyRoot: false },
    });
    expect(await store.deployEvents('kitchen', 10)).toEqual(state.events);
    expect(JSON.parse(await readFile(join(dir, 'enrolled.json'), 'utf8'))).toMatchObject({
      device: 'kitchen',
      url: hub.url,
    });
    // Restarted, the agent does not enrol again: the token is used up, and not needed.
    await reporter.stop();
    token = 'piote_spent';
    const seen = (await store.getDevice('kitchen'))!.lastSeen!;
    reporter = start();
    await until('another heartbeat', async () =>
      (await store.getDevice('kitchen'))!.lastSeen! > seen ? true : undefined,
    );
    expect(logs.filter((l) => /enrol/.test(l))).toEqual([
      `hub: enrolled with ${hub.url} as kitchen`,
    ]);
  });

  it('keeps samples on disk while the hub is away and sends them in order when it is back', async () => {
    reporter = start();
    await until('enrolment', async () => (await store.getDevice('kitchen'))?.lastSeen);
    temperature = 60;
    await hub.close();
    const queued = () => readFile(join(dir, 'queue.jsonl'), 'utf8').catch(() => '');
    // The lines the agent has finished writing (it may be appending the next one now).
    const complete = async () => (await queued()).split('\n').slice(0, -1);
    await until('three queued samples', async () =>
      (await complete()).length >= 3 ? true : undefined,
    );
    const lines = (await complete()).map(
      (l) => JSON.parse(l) as { at: number; metrics: { temperature: number } },
    );
    expect(lines.every((l) => l.metrics.temperature === 60)).toBe(true);
    expect(lines.map((l) => l.at)).toEqual([...lines.map((l) => l.at)].sort());
    expect(logs.some((l) => /did not answer.*keeping samples/.test(l))).toBe(true);

    temperature = 70;
    hub = await startHub({ store }, { hostname: '127.0.0.1', port });
    await until('the queue drained', async () => ((await queued()) === '' ? true : undefined));
    const samples = await store.samples('kitchen', { from: 0, to: Date.now() + 1000 });
    const at = samples.map((s) => s.at);
    for (const line of lines) expect(at).toContain(line.at);
    expect(samples.filter((s) => s.temperature === 60).length).toBeGreaterThanOrEqual(3);
    expect(samples.at(-1)?.temperature).toBe(70);
    expect(logs.some((l) => /reachable again; sent \d+ queued samples/.test(l))).toBe(true);
  });

  it('carries out the hub commands and answers them', async () => {
    reporter = start();
    await until('enrolment', async () => (await store.getDevice('kitchen'))?.lastSeen);
    const ask = async (body: unknown) => {
      const { command } = (await person('/api/v1/devices/kitchen/commands', body)) as {
        command: { id: string };
      };
      return until(`the answer to ${JSON.stringify(body)}`, async () => {
        const got = (await person(`/api/v1/devices/kitchen/commands/${command.id}`)) as {
          command: { result?: { ok: boolean; message?: string; output?: string[] } };
        };
        return got.command.result;
      });
    };
    expect(await ask({ kind: 'run-job', job: 'upload' })).toEqual({
      ok: true,
      message: 'upload: succeeded',
      output: ['sent 3 rows'],
    });
    // The heartbeat carrying the run went before the answer: whoever waits for the answer
    // finds the run on the hub.
    expect((await store.jobRuns('kitchen', 5)).map((r) => r.job)).toEqual(['upload']);
    expect(await ask({ kind: 'run-job', job: 'nope' })).toEqual({
      ok: false,
      message: 'sensor has no job "nope" on this device (jobs: upload)',
    });
    expect(await ask({ kind: 'restart-service', service: 'reader' })).toMatchObject({ ok: true });
    expect(await ask({ kind: 'logs', service: 'reader', lines: 5 })).toMatchObject({
      ok: true,
      output: ['piot-sensor-reader.service 5'],
    });
    expect(await ask({ kind: 'logs' })).toMatchObject({ output: ['piot-agent.service 100'] });
    expect(await ask({ kind: 'deploy' })).toEqual({ ok: true, message: 'up to date at abc' });
    expect(ran).toEqual(['sensor/upload', 'restart reader']);
  });

  it('sends one heartbeat between a deploy command and its answer', async () => {
    // The cycle a deploy command runs nudges the reporter at its end, as the agent's cycle
    // bus does; the command's own heartbeat covers it.
    host.deployNow = () => {
      reporter!.nudge();
      return Promise.resolve({ ok: true, message: 'deployed b0b (healthy in 1.0 s)' });
    };
    reporter = start(hub.url, 60_000);
    await until('enrolment', async () => (await store.getDevice('kitchen'))?.lastSeen);
    await until('the first heartbeat', () => Promise.resolve(snapshots === 1 ? true : undefined));
    const { command } = (await person('/api/v1/devices/kitchen/commands', { kind: 'deploy' })) as {
      command: { id: string };
    };
    await until('the answer', async () => {
      const got = (await person(`/api/v1/devices/kitchen/commands/${command.id}`)) as {
        command: { result?: object };
      };
      return got.command.result;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(snapshots).toBe(2);
    // Outside a command a nudge still sends one at once. A heartbeat after a change takes a
    // new look at the device; a periodic one may reuse a recent look.
    reporter.nudge();
    await until('the nudged heartbeat', () => Promise.resolve(snapshots === 3 ? true : undefined));
    expect(freshness).toEqual([false, true, true]);
  });

  it('says once that the token was refused, and keeps trying', async () => {
    token = 'piote_wrong';
    reporter = start();
    await until('the refusal', () =>
      Promise.resolve(
        logs.some((l) => /enrolment failed: the hub answered 401/.test(l)) ? true : undefined,
      ),
    );
    expect(await store.getDevice('kitchen')).toBeUndefined();
    expect(logs.filter((l) => /enrolment failed/.test(l))).toHaveLength(1);
  });
});
