import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { signingPublicKey } from '../../image/identity.js';
import { run } from '../../sys/process.js';
import { createSystemd } from '../../sys/systemd.js';
import { VERSION } from '../../version.js';
import type { CycleBus } from '../agent.js';
import { cycleHasNews, describeOutcome, type CycleRecord } from '../cycle-record.js';
import type { HostLooks } from '../collectors/shared.js';
import { describeRun, JOBS_DIR, readRuns, runJobNow } from '../jobs.js';
import { releaseConfigOnDisk } from '../release.js';
import { parseListen } from '../metrics-endpoint.js';
import { loadState } from '../state.js';
import { appPaths } from '../units.js';
import { hubClient } from './client.js';
import type { CommandHost, RunningRelease } from './commands.js';
import { sampleQueue } from './queue.js';
import { HUB_DIR, startReporter, type Reporter } from './reporter.js';
import { appServices, summarize } from './summary.js';

/** The device's Ed25519 key, written by `piot image configure` (root-only). */
export const SIGNING_KEY_FILE = '/etc/piot/identity/signing.key';
/** The one-time enrolment token from provisioning (`hub_token`). */
export const HUB_TOKEN_FILE = '/etc/piot/identity/hub-token';

const STATE_FILE = '/var/lib/piot/state.json';
// A periodic heartbeat reuses a collection made this recently (for a /metrics scrape, every
// 15 s with Prometheus' default) rather than making its own; one after a deploy cycle or a
// hub command takes a new one, so the hub sees what changed.
const HEARTBEAT_MAX_AGE_MS = 15_000;

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Where a Prometheus server reaches this device's /metrics, for the hub's service discovery:
 * nowhere while it listens on loopback (the default); for a wildcard address, the first
 * non-internal IPv4 address this device has now.
 */
export function metricsAddress(
  listen: string | false | undefined,
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string | undefined {
  if (listen === false || listen === undefined) return undefined;
  const { host, port } = parseListen(listen);
  if (/^(127\.|::1$|localhost$)/.test(host)) return undefined;
  if (host !== '0.0.0.0' && host !== '::') return listen;
  for (const list of Object.values(interfaces)) {
    const v4 = list?.find(
      (a) => !a.internal && (a.family === 'IPv4' || (a.family as unknown) === 4),
    );
    if (v4) return `${v4.address}:${port}`;
  }
  return undefined;
}

/** The running release's services and jobs on this device, cached per release. */
function releaseReader(statePath: string): () => Promise<RunningRelease | undefined> {
  let cached: { key: string; release: RunningRelease } | undefined;
  const systemd = createSystemd();
  return async () => {
    const state = await loadState(statePath);
    if (!state.app || !state.current) return undefined;
    const key = `${state.app}@${state.current}`;
    if (cached?.key === key) return cached.release;
    const app = state.app;
    const config = await releaseConfigOnDisk(join(appPaths(app).appDir, 'releases', state.current));
    const installed = Object.keys(await systemd.installedUnits(`piot-${app}-`))
      .filter((u) => u.endsWith('.service'))
      .map((u) => u.slice(`piot-${app}-`.length, -'.service'.length));
    const jobNames = new Set(Object.keys(config.ok ? (config.spec.jobs ?? {}) : {}));
    const release: RunningRelease = {
      app,
      jobs: new Set(installed.filter((n) => jobNames.has(n))),
      services: new Set(installed.filter((n) => !jobNames.has(n))),
    };
    cached = { key, release };
    return release;
  };
}

/** Commands on this device: systemd, the journal and the agent's own deploy cycle. */
function deviceHost(cycles: CycleBus, release: () => Promise<RunningRelease | undefined>) {
  const systemd = createSystemd();
  const host: CommandHost = {
    release,
    async deployNow() {
      const record = await cycles.request();
      if (record.error) return { ok: false, message: record.error };
      const outcome = record.outcome!;
      const ok = outcome.result === 'deployed' || outcome.result === 'up-to-date';
      return { ok, message: describeOutcome(outcome) };
    },
    async runJob(app, job) {
      const { ok, run: result } = await runJobNow(systemd, app, job);
      return {
        ok,
        message: `${job}: ${describeRun(result)}`,
        output: result?.log ?? [],
      };
    },
    restartService: (app, service) => systemd.restart(`piot-${app}-${service}.service`),
    async journal(units, lines) {
      const args = [...units.flatMap((u) => ['--unit', u]), '--lines', String(lines)];
      const result = await run('journalctl', [...args, '--no-pager', '--output', 'short-iso']);
      if (result.code !== 0) throw new Error(`journalctl failed: ${result.stderr.trim()}`);
      return result.stdout.split('\n').filter((line) => line !== '');
    },
    async reboot() {
      // Give the answer a moment to leave, then reboot as systemd does it.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      await run('systemctl', ['reboot']);
    },
  };
  return host;
}

/**
 * Starts reporting to the hub named in the device file; undefined (and a log line) when the
 * device has no signing key. Its cycles tell the hub about deploys as they end.
 */
export async function startDeviceReporter(options: {
  url: string;
  device: string;
  cycles: CycleBus;
  /** The device file's `metrics:` (HOST:PORT, or false for none). */
  metrics?: string | false;
  /** Collections of the device, shared with the /metrics endpoint. */
  looks: HostLooks;
  log: (message: string) => void;
}): Promise<Reporter | undefined> {
  const pem = await readOptional(SIGNING_KEY_FILE);
  if (!pem) {
    options.log(`hub: no signing key at ${SIGNING_KEY_FILE}; not reporting to ${options.url}`);
    return undefined;
  }
  const release = releaseReader(STATE_FILE);
  const reporter = startReporter({
    client: hubClient({ url: options.url, device: options.device, privateKey: pem }),
    url: options.url,
    device: options.device,
    signing: signingPublicKey(pem),
    token: () => readOptional(HUB_TOKEN_FILE),
    async snapshot(rel, cpu, { fresh }) {
      const look = await options.looks(fresh ? 0 : HEARTBEAT_MAX_AGE_MS);
      const summary = summarize(look.samples, cpu);
      const services = rel ? appServices(look.services ?? [], rel.app, rel.jobs) : [];
      return { ...summary, services };
    },
    state: () => loadState(STATE_FILE),
    async jobRuns(rel) {
      const all = await Promise.all(
        [...rel.jobs].map(async (job) =>
          (await readRuns(JOBS_DIR, rel.app, job)).map((r) => ({ ...r, app: rel.app, job })),
        ),
      );
      return all.flat();
    },
    host: deviceHost(options.cycles, release),
    queue: sampleQueue(join(HUB_DIR, 'queue.jsonl')),
    version: VERSION,
    metricsAddress: () => metricsAddress(options.metrics),
    log: options.log,
  });
  // A heartbeat at once after a cycle with news; an idle poll's cycle waits for the next one.
  let before: CycleRecord | undefined;
  options.cycles.onCycle((record) => {
    if (cycleHasNews(record, before)) reporter.nudge();
    before = record;
  });
  return reporter;
}
