// Prints the hub's heartbeat ingest throughput and latency: `POST /api/v1/devices/:name/heartbeat`
// on SQLite, then on PostgreSQL (from PIOT_TEST_POSTGRES, in a fresh schema dropped after).
// Goal: ≥ 5,000 heartbeats/s with p99 under 50 ms.
//
// This process runs the hub (startHub, as `piot hub` does, on 127.0.0.1 and a free port;
// WORKERS=2 runs two hub processes on one port and one store instead, with node:cluster) and
// enrols DEVICES devices over HTTP with their own Ed25519 keys and enrolment tokens. Load comes
// from GENERATORS separate node processes (this file with `generate`), each sending realistic
// heartbeats (agent, metrics, deploy summary, health, a few services) over keep-alive
// connections (./load-connection.ts), signed with `signRequest` when sent: a fresh time and
// nonce every request, nothing signed ahead. As the agent does, each device first opens a device
// session (POST …/session, signed with its Ed25519 key) and signs heartbeats with the session's
// key (HMAC-SHA256); AUTH=ed25519 signs each heartbeat with the device's Ed25519 key instead,
// and AUTH=session,ed25519 measures both in one run.
//
// Each store is loaded twice (LOADS=closed,open), each time on a fresh store:
// - closed loop: CONCURRENCY connections in all, each sending its next heartbeat when the last
//   is answered; a heartbeat's latency runs from before signing to the end of its answer. It
//   shows what the hub takes at most.
// - open loop: RATE heartbeats/s in all on a fixed schedule, whatever the answers, as a fleet's
//   devices send theirs each on its own clock, over one connection per device. A heartbeat
//   whose connection is busy waits for it; its latency runs from when it was due, so a hub that
//   falls behind shows it in the latency, not in a lower rate. Through the warm-up the rate
//   rises from a tenth to RATE. It also prints the slowest answer of the warm-up and the
//   slowest quarter second of the window, so a tail that came from one episode shows.
// Requests of the WARMUP_S seconds after the start (5: long enough for what a hub does on each
// device's first heartbeat, see docs/hub.md) are not counted, those of the DURATION_S
// seconds after that are (closed loop: answered in that window; open loop: due in it).
// First, as the peer, the same generators load a floor (closed loop): a bare node:http server
// that answers without verifying or storing anything (what the load itself leaves of the
// machine); each hub's closed-loop throughput is also printed as a share of the floor's.
// CPU in the counted window is printed for the hub (with one hub process, also the share of the
// window its event loop was busy), the generators and, where PostgreSQL runs on this machine,
// its server's processes.
// Run: npm run bench:hub
//   (DEVICES=200 CONCURRENCY=64 RATE=5000 GENERATORS=2 WARMUP_S=5 DURATION_S=10 AUTH=session
//    STORES=sqlite,postgres LOADS=closed,open WORKERS=1)
import { spawn } from 'node:child_process';
import cluster from 'node:cluster';
import {
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  randomFillSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ConnectionPool } from './load-connection.js';
import { createEnrolmentToken } from '../src/hub/admin.js';
import type { Heartbeat } from '../src/hub/heartbeat.js';
import { startHub } from '../src/hub/serve.js';
import {
  deriveSessionKey,
  newNonce,
  sessionKeyPair,
  sharedSecret,
  signRequest,
  type DeviceSession,
} from '../src/hub/signing.js';
import { openStore, type StoreLocation } from '../src/hub/store/open.js';
import type { Store } from '../src/hub/store/store.js';

const GOAL = { perSecond: 5000, p99Ms: 50 };

/** What the parent hands each generator process on its stdin. */
interface GeneratorJob {
  url: string;
  devices: { name: string; key: string }[];
  /** Keep-alive connections at most. */
  concurrency: number;
  /**
   * Heartbeats a second on a fixed schedule (open loop), or undefined: each connection sends
   * its next when the last is answered (closed loop).
   */
  rate?: number;
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
  /**
   * Latencies (ms): closed loop, of the requests answered inside the counted window, from
   * before signing; open loop, of the requests due inside it, from when each was due.
   */
  latencies: number[];
  /** Non-2xx answers and failed requests by status ("error" for no answer), all of the run. */
  failures: Record<string, number>;
  firstFailure?: string;
  /** Requests answered with 2xx, all of the run. */
  ok: number;
  /** Requests answered with 2xx inside the counted window. */
  answeredInWindow: number;
  /** CPU time (ms) this process used inside the counted window. */
  cpuMs: number;
  /**
   * Open loop: the slowest latency (ms) of the heartbeats due in each quarter second from the
   * load's start (index 0: the first quarter second), warm-up included.
   */
  slowest: number[];
}

/** The open loop's time slots, of the slowest latency in each. */
const SLOT_MS = 250;

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
  const devices = job.devices.map((d) => ({ name: d.name, key: d.key, sent: 0 }));
  const keys = new Map<string, KeyObject>();
  for (const d of devices) keys.set(d.name, createPrivateKey(d.key));
  const result: GeneratorResult = {
    latencies: [],
    failures: {},
    ok: 0,
    answeredInWindow: 0,
    cpuMs: 0,
    slowest: [],
  };
  const fail = (status: string, text: string) => {
    result.failures[status] = (result.failures[status] ?? 0) + 1;
    // When it came, in seconds from the load's start (negative: while opening sessions).
    const at = ((Date.now() - job.startAt) / 1000).toFixed(2);
    result.firstFailure ??= `${status} at ${at} s: ${text.slice(0, 300)}`;
  };
  // Keep-alive connections, each carrying one request at a time.
  const pool = new ConnectionPool(new URL(job.url), job.concurrency);
  const post = (path: string, headers: Record<string, string>, body: Buffer) =>
    pool.post(path, headers, body);
  // Nonces as the agent makes them (newNonce): the time, then 16 random bytes, cut from a
  // buffer refilled as it runs out (one call into the random source for 4,096 of them).
  const random = Buffer.alloc(16 * 4096);
  let used = random.length;
  const nonce = (now: number) => {
    if (used === random.length) {
      randomFillSync(random);
      used = 0;
    }
    return newNonce(now, random.subarray(used, (used += 16)));
  };

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

  /** Signs and sends one heartbeat; resolves when it was answered with 2xx (wall-clock ms). */
  const send = async (device: (typeof devices)[number]): Promise<number | undefined> => {
    const path = `/api/v1/devices/${device.name}/heartbeat`;
    const body = Buffer.from(JSON.stringify(heartbeat(device.name, device.sent++)));
    const now = Date.now();
    const headers = signRequest({
      device: device.name,
      privateKey: keys.get(device.name)!,
      session: sessions.get(device.name),
      method: 'POST',
      path,
      body,
      now,
      nonce: nonce(now),
    });
    try {
      const { status, text } = await post(path, headers, body);
      const end = wallNow();
      if (status < 200 || status > 299) return void fail(String(status), text);
      result.ok++;
      if (end >= job.measureFrom && end < job.stopAt) result.answeredInWindow++;
      return end;
    } catch (error) {
      fail('error', (error as Error).message);
    }
  };

  if (job.rate === undefined) {
    // Closed loop: each connection sends its next heartbeat when the last is answered, taking
    // its turn over its own share of the devices.
    const worker = async (index: number) => {
      const mine = devices.filter((_, i) => i % job.concurrency === index);
      for (let turn = 0; wallNow() < job.stopAt; turn++) {
        const start = wallNow();
        const end = await send(mine[turn % mine.length]!);
        if (end !== undefined && end >= job.measureFrom && end < job.stopAt) {
          result.latencies.push(end - start);
        }
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(job.concurrency, devices.length) }, (_, i) => worker(i)),
    );
  } else {
    // Open loop: heartbeats leave on a fixed schedule, whatever the hub's answers, as a fleet's
    // devices send theirs each on its own clock. A heartbeat whose connection is still busy
    // waits for one; its latency counts from when it was due, so waiting is counted too.
    // Through the warm-up the rate rises from a tenth to the full rate, as a fleet comes
    // online, so the hub's code is warm before it is counted, not behind.
    const warmup = job.measureFrom - job.startAt;
    const interval = (due: number) =>
      1000 /
      (job.rate! * (due >= job.measureFrom ? 1 : 0.1 + (0.9 * (due - job.startAt)) / warmup));
    const pending = new Set<Promise<void>>();
    let turn = 0;
    for (let due = job.startAt; due < job.stopAt;) {
      const now = wallNow();
      if (now < due) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(due - now, 1)));
        continue;
      }
      for (; due <= now && due < job.stopAt; due += interval(due)) {
        const from = due;
        const sent = send(devices[turn++ % devices.length]!).then((end) => {
          if (end === undefined) return;
          if (from >= job.measureFrom) result.latencies.push(end - from);
          const slot = Math.floor((from - job.startAt) / SLOT_MS);
          result.slowest[slot] = Math.max(result.slowest[slot] ?? 0, end - from);
        });
        pending.add(sent);
        void sent.finally(() => pending.delete(sent));
      }
    }
    await Promise.all(pending);
  }
  clearTimeout(cpuTimer);
  clearTimeout(cpuEndTimer);
  const cpu = cpuInWindow ?? process.cpuUsage(cpuAtStart);
  result.cpuMs = (cpu.user + cpu.system) / 1000;
  pool.close();
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
  kind: 'sqlite' | 'postgres';
  store: Store;
  /** How another process opens the same store. */
  spec: StoreLocation;
  dispose(): Promise<void>;
}

async function openSqliteStore(): Promise<Opened> {
  const data = await mkdtemp(join(tmpdir(), 'piot-bench-hub-'));
  const store = await openStore({ data });
  return {
    kind: 'sqlite',
    store,
    spec: { data },
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
      kind: 'postgres',
      store,
      spec: { database: url, schema },
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

/**
 * The open loop's latency over time: the warm-up's slowest answer, and the window's slowest
 * quarter second (when it began, from the window's start).
 */
function overTime(results: GeneratorResult[], warmupMs: number): string {
  const slowest: number[] = [];
  for (const r of results) {
    r.slowest.forEach((ms, slot) => (slowest[slot] = Math.max(slowest[slot] ?? 0, ms ?? 0)));
  }
  const firstCounted = Math.ceil(warmupMs / SLOT_MS);
  const warmup = Math.max(0, ...slowest.slice(0, firstCounted).map((ms) => ms ?? 0));
  let worst = firstCounted;
  for (let slot = firstCounted; slot < slowest.length; slot++) {
    if ((slowest[slot] ?? 0) > (slowest[worst] ?? 0)) worst = slot;
  }
  const from = ((worst - firstCounted) * SLOT_MS) / 1000;
  return (
    `the warm-up's slowest answer ${warmup.toFixed(1)} ms; the window's slowest quarter ` +
    `second began at ${from.toFixed(2)} s (its slowest ${(slowest[worst] ?? NaN).toFixed(1)} ms)`
  );
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

/**
 * CPU time (ms) of this machine's PostgreSQL server so far: every process named postgres
 * (the server's backends and helpers), with the children its postmaster has reaped. 0 where
 * the server runs elsewhere.
 */
function postgresCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    // utime, stime, cutime, cstime: fields 14–17 of proc(5), in clock ticks of 10 ms
    const fields = stat.slice(close + 2).split(' ');
    for (const i of [11, 12, 13, 14]) ticks += Number(fields[i]);
  }
  return ticks * 10;
}

/** CPU time (ms) a process has used so far. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** WORKERS hub processes on one port (node:cluster), each with its own connection to the store. */
async function startHubWorkers(opened: Opened, n: number, devices: number) {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  cluster.setupPrimary({
    exec: fileURLToPath(import.meta.url),
    args: ['hub-worker'],
    execArgv: ['--import', 'tsx'],
  });
  const env = {
    PIOT_BENCH_STORE: JSON.stringify(opened.spec),
    PIOT_BENCH_PORT: String(port),
    PIOT_BENCH_DEVICES: String(devices),
  };
  const list = Array.from({ length: n }, () => cluster.fork(env));
  await Promise.all(list.map((w) => new Promise((resolve) => w.once('message', resolve))));
  return {
    url: `http://127.0.0.1:${port}`,
    pids: list.map((w) => w.process.pid!),
    close: async () => {
      await Promise.all(
        list.map((w) => {
          const exited = new Promise((resolve) => w.once('exit', resolve));
          w.process.kill('SIGTERM');
          return exited;
        }),
      );
    },
  };
}

async function hubWorker(): Promise<void> {
  const store = await openStore(JSON.parse(process.env.PIOT_BENCH_STORE!) as StoreLocation);
  const devices = Number(process.env.PIOT_BENCH_DEVICES);
  const hub = await startHub(
    { store, rateLimits: { burst: devices, perMinute: devices } },
    { hostname: '127.0.0.1', port: Number(process.env.PIOT_BENCH_PORT) },
  );
  process.send!('ready');
  process.once('SIGTERM', () => {
    void hub
      .close()
      .then(() => store.close())
      .then(() => process.exit(0));
  });
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

/** Closed loop (each connection sends when answered) or open loop at `rate` heartbeats/s. */
type Load = { kind: 'closed' } | { kind: 'open'; rate: number };

async function bench(
  label: string,
  opened: Opened | undefined,
  auth: Auth,
  load: Load,
): Promise<Measured> {
  const devices = env('DEVICES', 200);
  // Open loop: one connection per device, as a fleet's devices each keep their own.
  const concurrency = load.kind === 'open' ? devices : env('CONCURRENCY', 64);
  const generators = env('GENERATORS', 2);
  const warmupMs = env('WARMUP_S', 5) * 1000;
  const durationMs = env('DURATION_S', 10) * 1000;
  const store = opened?.store;
  let hubErrors = 0;
  const workers = env('WORKERS', 1);
  const hub = !opened
    ? await startFloor()
    : workers > 1
      ? await startHubWorkers(opened, workers, devices)
      : await startHub(
          {
            store: opened.store,
            // Enrolling the whole fleet from one address: the per-address limit would take minutes.
            rateLimits: { burst: devices, perMinute: devices },
            logError: (error) => {
              if (hubErrors++ === 0) console.error('hub error:', error);
            },
          },
          { hostname: '127.0.0.1', port: 0 },
        );
  const hubCpuNow = () => {
    if (!('pids' in hub)) {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1000;
    }
    return (hub.pids as number[]).reduce((sum, pid) => sum + processCpuMs(pid), 0);
  };
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
    let hubCpuStart = 0;
    let hubCpu: number | undefined;
    // The hub's event loop, where it runs in this process: its share of the window spent busy.
    let loopStart: EventLoopUtilization | undefined;
    let loopBusy: number | undefined;
    const database = opened?.kind === 'postgres';
    let databaseCpuStart = 0;
    let databaseCpuMs: number | undefined;
    setTimeout(() => {
      hubCpuStart = hubCpuNow();
      loopStart = performance.eventLoopUtilization();
      if (database) databaseCpuStart = postgresCpuMs();
    }, measureFrom - Date.now());
    let loadAverage = NaN;
    setTimeout(() => {
      hubCpu = hubCpuNow() - hubCpuStart;
      loopBusy = performance.eventLoopUtilization(loopStart).utilization;
      if (database) databaseCpuMs = postgresCpuMs() - databaseCpuStart;
      loadAverage = loadavg()[0]!;
    }, stopAt - Date.now());
    const results = await Promise.all(
      Array.from({ length: generators }, (_, g) =>
        runGenerator({
          url: hub.url,
          devices: fleet.filter((_, i) => i % generators === g),
          concurrency: Math.ceil(concurrency / generators),
          rate: load.kind === 'open' ? load.rate / generators : undefined,
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
    const answered = results.reduce((a, r) => a + r.answeredInWindow, 0);
    const perSecond = answered / (durationMs / 1000);
    const p50 = percentile(latencies, 0.5);
    const p99 = percentile(latencies, 0.99);
    const max = latencies.at(-1) ?? NaN;
    // Open loop at the goal's rate: every heartbeat due in the window answered (none late by
    // more than the run's tail), p99 from when each was due under the goal, no errors.
    // Closed loop: as many as the goal, at its p99. Open loop at the goal's rate or more: kept
    // up with (answered as fast as due), at its p99 counted from when each was due.
    const met =
      failed === 0 &&
      p99 < GOAL.p99Ms &&
      (load.kind === 'closed'
        ? perSecond >= GOAL.perSecond
        : load.rate >= GOAL.perSecond && perSecond >= 0.99 * load.rate);
    let stored = 0;
    for (const { name } of fleet)
      stored += store ? (await store.samples(name, { from: 0, to: 2 ** 52 })).length : 0;
    const ms = (v: number) => `${v.toFixed(1)} ms`;
    const pct = (cpuMs: number) => `${Math.round((100 * cpuMs) / durationMs)} %`;
    console.log(`\n${label}`);
    console.log(
      `  load: ${devices} enrolled devices, ${concurrency} keep-alive connections from ` +
        `${generators} generator process(es), each request signed as sent (fresh time and nonce)` +
        (opened && workers > 1 ? `; ${workers} hub processes` : ''),
    );
    console.log(
      load.kind === 'open'
        ? `  open loop: ${load.rate.toLocaleString('en')} heartbeats/s due on a fixed schedule, ` +
            'latency counted from when each was due'
        : '  closed loop: each connection sends its next heartbeat when the last is answered',
    );
    console.log(`  counted: ${durationMs / 1000} s after ${warmupMs / 1000} s of warm-up`);
    console.log(`  answered: ${Math.round(perSecond).toLocaleString('en')} heartbeats/s`);
    console.log(`  latency: p50 ${ms(p50)}, p99 ${ms(p99)}, max ${ms(max)}`);
    if (load.kind === 'open') console.log(`  over time: ${overTime(results, warmupMs)}`);
    console.log(
      `  errors: ${failed} (non-2xx or no answer, whole run)` +
        (failed > 0
          ? ` ${JSON.stringify(failures)}; first: ${results.find((r) => r.firstFailure)?.firstFailure}`
          : '') +
        (hubErrors > 0 ? `; hub logged ${hubErrors} internal errors` : ''),
    );
    const hubCpuMs = hubCpu ?? NaN;
    console.log(
      `  CPU in the counted window: hub ${pct(hubCpuMs)} ` +
        `(${Math.round((1000 * hubCpuMs) / latencies.length)} µs a heartbeat` +
        (workers === 1 && store
          ? `; its event loop busy ${Math.round(100 * loopBusy!)} %), `
          : '), ') +
        `generators ${results.map((r) => pct(r.cpuMs)).join(' + ')} (of one core each)` +
        (databaseCpuMs === undefined ? '' : `, PostgreSQL server ${pct(databaseCpuMs)}`) +
        '; ' +
        `load average ${loadAverage.toFixed(1)} on ${availableParallelism()} cores`,
    );
    if (!store) return { perSecond, p99 };
    console.log(`  check: ${ok} heartbeats accepted, ${stored} samples stored`);
    const goal = `${GOAL.perSecond.toLocaleString('en')}/s`;
    console.log(
      (load.kind === 'closed'
        ? `  goal ≥ ${goal} with p99 < ${GOAL.p99Ms} ms, no errors: `
        : `  goal ${goal} due, kept up with at p99 < ${GOAL.p99Ms} ms, no errors: `) +
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

/** A comma-separated list in an environment variable, each entry one of `allowed`. */
function listFromEnv<T extends string>(name: string, fallback: string, allowed: readonly T[]): T[] {
  const list = (process.env[name] ?? fallback).split(',').map((entry) => entry.trim());
  for (const entry of list) {
    if (!(allowed as readonly string[]).includes(entry)) {
      throw new Error(`${name}=${process.env[name]}: each entry must be ${allowed.join(' or ')}`);
    }
  }
  return list as T[];
}

/** AUTH: how devices sign, `session` (the agent's way), `ed25519`, or both in turn. */
const auths = () => listFromEnv<Auth>('AUTH', 'session', ['session', 'ed25519']);

/** LOADS: `closed` (as much as the hub takes), `open` (RATE a second), or both (the default). */
const loadKinds = () => listFromEnv<Load['kind']>('LOADS', 'closed,open', ['closed', 'open']);

/** STORES: the hub stores to measure, `sqlite`, `postgres` or both (the default). */
const storeKinds = () =>
  listFromEnv<'sqlite' | 'postgres'>('STORES', 'sqlite,postgres', ['sqlite', 'postgres']);

const AUTH_LABEL: Record<Auth, string> = {
  session: 'signed with a device session key (HMAC-SHA256)',
  ed25519: "signed with the device's Ed25519 key",
};

async function main(): Promise<void> {
  // Every setting is read before anything is measured: a wrong one fails at once.
  const modes = auths();
  const stores = storeKinds();
  const loadList = loadKinds();
  console.log(
    `Ed25519 verifications on this machine: ${Math.round(verifyRate()).toLocaleString('en')}/s ` +
      'on one core (what the hub does for each request signed with a device key)',
  );
  const closed: Load = { kind: 'closed' };
  const rate = env('RATE', GOAL.perSecond);
  const loads = loadList.map((kind): Load => (kind === 'open' ? { kind, rate } : closed));
  const floor = await bench(
    `Floor: node:http answering without verification or storage; ${AUTH_LABEL[modes[0]!]}`,
    undefined,
    modes[0]!,
    closed,
  );
  const ofFloor = (m: Measured) =>
    `  of the floor: ${Math.round((100 * m.perSecond) / floor.perSecond)} % of its throughput`;
  const url = process.env.PIOT_TEST_POSTGRES;
  /** Each store kind, as much as it takes (closed loop), then at the goal's rate (open loop). */
  const measure = async (label: string, open: () => Promise<Opened>, auth: Auth) => {
    for (const load of loads) {
      const opened = await open();
      try {
        const measured = await bench(`${label}; ${AUTH_LABEL[auth]}`, opened, auth, load);
        if (load.kind === 'closed') console.log(ofFloor(measured));
      } finally {
        await opened.dispose();
      }
    }
  };
  for (const auth of modes) {
    if (stores.includes('sqlite')) {
      await measure('SQLite (hub.db in a temporary directory)', openSqliteStore, auth);
    }
    if (url && stores.includes('postgres')) {
      const label = `PostgreSQL (${new URL(url).host}, a fresh schema dropped after)`;
      await measure(label, () => openPostgresStore(url), auth);
    }
  }
  if (!url && stores.includes('postgres')) {
    console.log(
      '\nPostgreSQL: skipped, PIOT_TEST_POSTGRES is not set ' +
        '(e.g. PIOT_TEST_POSTGRES=postgres://piot:piot@127.0.0.1:5432/piot_test)',
    );
  }
}

if (process.argv[2] === 'hub-worker') {
  await hubWorker();
} else if (process.argv[2] === 'generate') {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const result = await generate(JSON.parse(Buffer.concat(chunks).toString()) as GeneratorJob);
  process.stdout.write(JSON.stringify(result));
} else {
  await main();
}
