// Prints the hub's heartbeat ingest throughput and latency: `POST /api/v1/devices/:name/heartbeat`
// on SQLite, then on PostgreSQL (from PIOT_TEST_POSTGRES, in a fresh schema dropped after).
// Goal: ≥ 5,000 heartbeats/s with p99 under 50 ms.
//
// This process runs the hub (startHub, as `piot hub` does, on 127.0.0.1 and a free port) and
// enrols DEVICES devices over HTTP with their own Ed25519 keys and enrolment tokens. Load comes
// from GENERATORS separate node processes (this file with `generate`), CONCURRENCY keep-alive
// connections in all, each sending a realistic heartbeat (agent, metrics, deploy summary,
// health, a few services), signed with `signRequest` when it is sent: a fresh time and nonce
// every request, nothing signed ahead. As the agent does, each device first opens a device
// session (POST …/session, signed with its Ed25519 key) and signs heartbeats with the session's
// key (HMAC-SHA256); AUTH=ed25519 signs each heartbeat with the device's Ed25519 key instead,
// and AUTH=session,ed25519 measures both in one run. Each request's latency is measured from before signing
// to the end of the answer. Requests answered in the WARMUP_S seconds after the start are not
// counted; those answered in the DURATION_S seconds after that are.
// First, as the peer, the same generators load a floor: a bare node:http server that answers
// without verifying or storing anything (what the load itself leaves of the machine); each
// hub's throughput is also printed as a share of the floor's.
// Run: npm run bench:hub
//   (DEVICES=200 CONCURRENCY=64 GENERATORS=2 WARMUP_S=2 DURATION_S=10 AUTH=session)
import { spawn } from 'node:child_process';
import {
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createEnrolmentToken } from '../src/hub/admin.js';
import type { Heartbeat } from '../src/hub/heartbeat.js';
import { startHub } from '../src/hub/serve.js';
import {
  deriveSessionKey,
  sessionKeyPair,
  sharedSecret,
  signRequest,
  type DeviceSession,
} from '../src/hub/signing.js';
import { openStore } from '../src/hub/store/open.js';
import type { Store } from '../src/hub/store/store.js';

const GOAL = { perSecond: 5000, p99Ms: 50 };

/** What the parent hands each generator process on its stdin. */
interface GeneratorJob {
  url: string;
  devices: { name: string; key: string }[];
  concurrency: number;
  /** How each heartbeat is signed: with a device session's key (as the agent does), or Ed25519. */
  auth: Auth;
  /** Loading the floor, which knows no sessions: sign with made-up session keys. */
  floor: boolean;
  /** Wall-clock ms: load starts, counting starts, load stops. */
  startAt: number;
  measureFrom: number;
  stopAt: number;
}

/** What a generator prints on its stdout when done. */
interface GeneratorResult {
  /** Latencies (ms) of the requests answered inside the counted window. */
  latencies: number[];
  /** Non-2xx answers and failed requests by status ("error" for no answer), all of the run. */
  failures: Record<string, number>;
  firstFailure?: string;
  /** Requests answered with 2xx, all of the run. */
  ok: number;
  /** CPU time (ms) this process used inside the counted window. */
  cpuMs: number;
}

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

type Auth = 'session' | 'ed25519';

// ── The load generator (a child process) ────────────────────────────────────────────────

function heartbeat(device: string, n: number): Heartbeat {
  const wave = (period: number) => Math.sin(n / period);
  return {
    agent: { version: '0.1.0', uptime: 86_400 + n * 30 },
    metrics: {
      temperature: 52 + 6 * wave(7),
      cpu: 0.2 + 0.15 * wave(5),
      memory: 0.41 + 0.05 * wave(11),
      disk: 0.37,
      wifiSignal: -58 + Math.round(4 * wave(3)),
      throttled: 0,
    },
    deploy: {
      app: 'greenhouse',
      current: '3f9c2a1d7e5b4c6a8f0e1d2c3b4a59687766554f',
      previous: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
      lastDeploy: {
        at: '2026-11-27T08:14:03.512Z',
        commit: '3f9c2a1d7e5b4c6a8f0e1d2c3b4a59687766554f',
        kind: 'succeeded',
      },
    },
    // One device in ten has a failed unit of its own.
    health: { readOnlyRoot: false, failedUnits: device.endsWith('7') ? ['ntp.service'] : [] },
    services: [
      ...['web', 'sensors', 'mqtt-bridge'].map((name, i) => ({
        app: 'greenhouse',
        name,
        kind: 'service' as const,
        state: 'active',
        sub: 'running',
        restarts: i === 2 ? 1 : 0,
        memory: 38_000_000 + i * 7_500_000,
        cpu: 1234.5 + n * 0.01 * (i + 1),
      })),
      { app: 'greenhouse', name: 'backup', kind: 'job', state: 'inactive', sub: 'dead' },
    ],
  };
}

async function generate(job: GeneratorJob): Promise<GeneratorResult> {
  const url = new URL(job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency });
  const devices = job.devices.map((d) => ({ name: d.name, key: d.key, sent: 0 }));
  const keys = new Map<string, KeyObject>();
  for (const d of devices) keys.set(d.name, createPrivateKey(d.key));
  const result: GeneratorResult = { latencies: [], failures: {}, ok: 0, cpuMs: 0 };
  const fail = (status: string, text: string) => {
    result.failures[status] = (result.failures[status] ?? 0) + 1;
    result.firstFailure ??= `${status}: ${text.slice(0, 300)}`;
  };
  const post = (path: string, headers: Record<string, string>, body: Buffer) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        {
          agent,
          hostname: url.hostname,
          port: url.port,
          method: 'POST',
          path,
          headers: {
            ...headers,
            'content-type': 'application/json',
            'content-length': String(body.length),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  // Each device opens its session before the load starts, as an agent does once an hour.
  const sessions = new Map<string, DeviceSession>();
  if (job.auth === 'session' && job.floor) {
    for (const { name } of devices) {
      sessions.set(name, { id: randomBytes(16).toString('base64url'), key: randomBytes(32) });
    }
  } else if (job.auth === 'session') {
    await Promise.all(
      devices.map(async (device) => {
        const path = `/api/v1/devices/${device.name}/session`;
        const mine = sessionKeyPair();
        const body = Buffer.from(JSON.stringify({ x25519: mine.publicKey }));
        const headers = signRequest({
          device: device.name,
          privateKey: keys.get(device.name)!,
          method: 'POST',
          path,
          body,
        });
        const { status, text } = await post(path, headers, body);
        if (status !== 201) throw new Error(`opening ${device.name}'s session: ${status} ${text}`);
        const answer = JSON.parse(text) as { session: string; x25519: string };
        const shared = sharedSecret(mine.privateKey, answer.x25519)!;
        sessions.set(device.name, {
          id: answer.session,
          key: deriveSessionKey(shared, answer.session, device.name),
        });
      }),
    );
  }

  const wallNow = () => performance.timeOrigin + performance.now();
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, job.startAt - Date.now())));
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  const cpuTimer = setTimeout(
    () => (cpuAtStart = process.cpuUsage()),
    Math.max(0, job.measureFrom - Date.now()),
  );
  let cpuInWindow: NodeJS.CpuUsage | undefined;
  const cpuEndTimer = setTimeout(
    () => (cpuInWindow = process.cpuUsage(cpuAtStart)),
    Math.max(0, job.stopAt - Date.now()),
  );

  const worker = async (index: number) => {
    // Each connection takes its turn over its own share of the devices.
    const mine = devices.filter((_, i) => i % job.concurrency === index);
    for (let turn = 0; wallNow() < job.stopAt; turn++) {
      const device = mine[turn % mine.length]!;
      const start = wallNow();
      const path = `/api/v1/devices/${device.name}/heartbeat`;
      const body = Buffer.from(JSON.stringify(heartbeat(device.name, device.sent++)));
      const headers = signRequest({
        device: device.name,
        privateKey: keys.get(device.name)!,
        session: sessions.get(device.name),
        method: 'POST',
        path,
        body,
      });
      try {
        const { status, text } = await post(path, headers, body);
        const end = wallNow();
        if (status < 200 || status > 299) fail(String(status), text);
        else {
          result.ok++;
          if (end >= job.measureFrom && end < job.stopAt) result.latencies.push(end - start);
        }
      } catch (error) {
        fail('error', (error as Error).message);
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(job.concurrency, devices.length) }, (_, i) => worker(i)),
  );
  clearTimeout(cpuTimer);
  clearTimeout(cpuEndTimer);
  const cpu = cpuInWindow ?? process.cpuUsage(cpuAtStart);
  result.cpuMs = (cpu.user + cpu.system) / 1000;
  agent.destroy();
  return result;
}

// ── The bench (this process: the hub) ───────────────────────────────────────────────────

function runGenerator(job: GeneratorJob): Promise<GeneratorResult> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), 'generate'],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const out: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stdin.end(JSON.stringify(job));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`the load generator exited with ${code}`));
      else resolve(JSON.parse(Buffer.concat(out).toString()) as GeneratorResult);
    });
  });
}

interface Opened {
  store: Store;
  dispose(): Promise<void>;
}

async function openSqliteStore(): Promise<Opened> {
  const data = await mkdtemp(join(tmpdir(), 'piot-bench-hub-'));
  const store = await openStore({ data });
  return {
    store,
    dispose: async () => {
      await store.close();
      await rm(data, { recursive: true, force: true });
    },
  };
}

async function openPostgresStore(url: string): Promise<Opened> {
  const schema = `piot_bench_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE SCHEMA ${schema}`);
  try {
    const store = await openStore({ database: url, schema });
    return {
      store,
      dispose: async () => {
        await store.close();
        await admin(`DROP SCHEMA ${schema} CASCADE`);
      },
    };
  } catch (error) {
    await admin(`DROP SCHEMA ${schema} CASCADE`);
    throw error;
  }
}

const percentile = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;

/**
 * The floor: a bare node:http server on the same port kind that reads each body and answers
 * `{"ok":true}`, with no verification and no database. Measured with the same generators, it
 * shows what the load itself (signing, HTTP on both ends) leaves of this machine.
 */
async function startFloor(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Ed25519 verifications a second in this process, on a heartbeat-sized message. */
function verifyRate(): number {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const message = Buffer.alloc(900, 1);
  const signature = sign(null, message, privateKey);
  const start = performance.now();
  let n = 0;
  for (; performance.now() - start < 500; n++) verify(null, message, publicKey, signature);
  return n / ((performance.now() - start) / 1000);
}

async function bench(label: string, opened: Opened | undefined, auth: Auth): Promise<Measured> {
  const devices = env('DEVICES', 200);
  const concurrency = env('CONCURRENCY', 64);
  const generators = env('GENERATORS', 2);
  const warmupMs = env('WARMUP_S', 2) * 1000;
  const durationMs = env('DURATION_S', 10) * 1000;
  const store = opened?.store;
  let hubErrors = 0;
  const hub = store
    ? await startHub(
        {
          store,
          // Enrolling the whole fleet from one address: the per-address limit would take minutes.
          rateLimits: { burst: devices, perMinute: devices },
          logError: (error) => {
            if (hubErrors++ === 0) console.error('hub error:', error);
          },
        },
        { hostname: '127.0.0.1', port: 0 },
      )
    : await startFloor();
  try {
    const fleet: { name: string; key: string }[] = [];
    for (let i = 0; i < devices; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const raw = publicKey.export({ format: 'jwk' }).x!;
      const name = `pi-${String(i).padStart(4, '0')}`;
      const key = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      if (!store) {
        fleet.push({ name, key });
        continue;
      }
      const { token } = await createEnrolmentToken(store, { now: Date.now() });
      const res = await fetch(`${hub.url}/api/v1/enrol`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          name,
          signing: `ed25519:${Buffer.from(raw, 'base64url').toString('base64')}`,
        }),
      });
      if (res.status !== 201)
        throw new Error(`enrolling ${name}: ${res.status} ${await res.text()}`);
      fleet.push({ name, key });
    }

    // The generators need a moment to start (tsx); all of them begin at the same instant.
    const startAt = Date.now() + 3000;
    const measureFrom = startAt + warmupMs;
    const stopAt = measureFrom + durationMs;
    let hubCpuStart: NodeJS.CpuUsage | undefined;
    let hubCpu: NodeJS.CpuUsage | undefined;
    setTimeout(() => (hubCpuStart = process.cpuUsage()), measureFrom - Date.now());
    let loadAverage = NaN;
    setTimeout(() => {
      hubCpu = process.cpuUsage(hubCpuStart);
      loadAverage = loadavg()[0]!;
    }, stopAt - Date.now());
    const results = await Promise.all(
      Array.from({ length: generators }, (_, g) =>
        runGenerator({
          url: hub.url,
          devices: fleet.filter((_, i) => i % generators === g),
          concurrency: Math.ceil(concurrency / generators),
          auth,
          floor: !store,
          startAt,
          measureFrom,
          stopAt,
        }),
      ),
    );

    const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
    const failures: Record<string, number> = {};
    for (const r of results) {
      for (const [status, n] of Object.entries(r.failures))
        failures[status] = (failures[status] ?? 0) + n;
    }
    const failed = Object.values(failures).reduce((a, b) => a + b, 0);
    const ok = results.reduce((a, r) => a + r.ok, 0);
    const perSecond = latencies.length / (durationMs / 1000);
    const p50 = percentile(latencies, 0.5);
    const p99 = percentile(latencies, 0.99);
    const max = latencies.at(-1) ?? NaN;
    const met = perSecond >= GOAL.perSecond && p99 < GOAL.p99Ms && failed === 0;
    let stored = 0;
    for (const { name } of fleet)
      stored += store ? (await store.samples(name, { from: 0, to: 2 ** 52 })).length : 0;
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const pct = (cpuMs: number) => `${Math.round((100 * cpuMs) / durationMs)} %`;
    console.log(`\n${label}`);
    console.log(
      `  load: ${devices} enrolled devices, ${concurrency} keep-alive connections from ` +
        `${generators} generator process(es), each request signed as sent (fresh time and nonce)`,
    );
    console.log(`  counted: ${durationMs / 1000} s after ${warmupMs / 1000} s of warm-up`);
    console.log(`  throughput: ${Math.round(perSecond).toLocaleString('en')} heartbeats/s`);
    console.log(`  latency: p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(max)}`);
    console.log(
      `  errors: ${failed} (non-2xx or no answer, whole run)` +
        (failed > 0
          ? ` ${JSON.stringify(failures)}; first: ${results.find((r) => r.firstFailure)?.firstFailure}`
          : '') +
        (hubErrors > 0 ? `; hub logged ${hubErrors} internal errors` : ''),
    );
    const hubCpuMs = hubCpu ? (hubCpu.user + hubCpu.system) / 1000 : NaN;
    console.log(
      `  CPU in the counted window: hub ${pct(hubCpuMs)} ` +
        `(${Math.round((1000 * hubCpuMs) / latencies.length)} µs a heartbeat), ` +
        `generators ${results.map((r) => pct(r.cpuMs)).join(' + ')} (of one core each); ` +
        `load average ${loadAverage.toFixed(1)} on ${availableParallelism()} cores`,
    );
    if (!store) return { perSecond, p99 };
    console.log(`  check: ${ok} heartbeats accepted, ${stored} samples stored`);
    console.log(
      `  goal ≥ ${GOAL.perSecond.toLocaleString('en')}/s with p99 < ${GOAL.p99Ms} ms, no errors: ` +
        (met ? 'met' : 'NOT met'),
    );
    return { perSecond, p99 };
  } finally {
    await hub.close();
  }
}

interface Measured {
  perSecond: number;
  p99: number;
}

/** AUTH: how devices sign, `session` (the agent's way), `ed25519`, or both in turn. */
function auths(): Auth[] {
  const list = (process.env.AUTH ?? 'session').split(',').map((a) => a.trim());
  for (const a of list) {
    if (a !== 'session' && a !== 'ed25519') {
      throw new Error(`AUTH=${process.env.AUTH}: each entry must be session or ed25519`);
    }
  }
  return list as Auth[];
}

const AUTH_LABEL: Record<Auth, string> = {
  session: 'signed with a device session key (HMAC-SHA256)',
  ed25519: "signed with the device's Ed25519 key",
};

async function main(): Promise<void> {
  const modes = auths();
  console.log(
    `Ed25519 verifications on this machine: ${Math.round(verifyRate()).toLocaleString('en')}/s ` +
      'on one core (what the hub does for each request signed with a device key)',
  );
  const floor = await bench(
    `Floor: node:http answering without verification or storage; ${AUTH_LABEL[modes[0]!]}`,
    undefined,
    modes[0]!,
  );
  const ofFloor = (m: Measured) =>
    `  of the floor: ${Math.round((100 * m.perSecond) / floor.perSecond)} % of its throughput`;
  const url = process.env.PIOT_TEST_POSTGRES;
  for (const auth of modes) {
    const sqlite = await openSqliteStore();
    try {
      const label = `SQLite (hub.db in a temporary directory); ${AUTH_LABEL[auth]}`;
      console.log(ofFloor(await bench(label, sqlite, auth)));
    } finally {
      await sqlite.dispose();
    }
    if (!url) continue;
    const postgres = await openPostgresStore(url);
    try {
      const label = `PostgreSQL (${new URL(url).host}, a fresh schema dropped after); ${AUTH_LABEL[auth]}`;
      console.log(ofFloor(await bench(label, postgres, auth)));
    } finally {
      await postgres.dispose();
    }
  }
  if (!url) {
    console.log(
      '\nPostgreSQL: skipped, PIOT_TEST_POSTGRES is not set ' +
        '(e.g. PIOT_TEST_POSTGRES=postgres://piot:piot@127.0.0.1:5432/piot_test)',
    );
  }
}

if (process.argv[2] === 'generate') {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const result = await generate(JSON.parse(Buffer.concat(chunks).toString()) as GeneratorJob);
  process.stdout.write(JSON.stringify(result));
} else {
  await main();
}
