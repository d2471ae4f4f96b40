import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../../sys/fs.js';
import { isoTime } from '../../sys/time.js';
import type { JobRun } from '../jobs.js';
import type { AgentState, DeployEvent } from '../state.js';
import { HubRequestError, type HubClient } from './client.js';
import { carryOut, type CommandHost, type RunningRelease } from './commands.js';
import type { SampleQueue } from './queue.js';
import type { CpuTotals, HubHealth, HubMetrics, HubService } from './summary.js';

/** Where the agent keeps what concerns the hub (on the root filesystem: it outlives boots). */
export const HUB_DIR = '/var/lib/piot/hub';

/** One look at the device for a heartbeat. */
export interface Snapshot {
  metrics: HubMetrics;
  health: HubHealth;
  services: HubService[];
}

export interface ReporterDeps {
  client: HubClient;
  /** The hub's URL, to tell whether this device enrolled with it. */
  url: string;
  device: string;
  /** The device's public signing key (`ed25519:BASE64`). */
  signing: string;
  /** The enrolment token, if the device has one. */
  token(): Promise<string | undefined>;
  /**
   * A look at the device; `cpu` is the previous heartbeat's CPU totals. `fresh`: the
   * heartbeat follows a change (a deploy cycle, a command), so the look must be taken now;
   * otherwise a recent one may do.
   */
  snapshot(
    release: RunningRelease | undefined,
    cpu: CpuTotals | undefined,
    options: { fresh: boolean },
  ): Promise<Snapshot & { cpu?: CpuTotals }>;
  state(): Promise<AgentState>;
  /** Every recorded run of the release's jobs. */
  jobRuns(release: RunningRelease): Promise<(JobRun & { app: string; job: string })[]>;
  host: CommandHost;
  queue: SampleQueue;
  dir?: string;
  intervalMs?: number;
  /** The longest a long poll for commands waits, seconds. */
  pollWaitS?: number;
  version: string;
  /** Where a metrics scraper reaches this device (HOST:PORT), if it can; asked at each heartbeat. */
  metricsAddress?: () => string | undefined;
  log(message: string): void;
  now?: () => number;
}

/** The newest event and job-run end the hub has stored. */
interface Sent {
  event?: string;
  run?: string;
}

const MAX_HISTORY = 500;
const MAX_EVENTS = 200;
const MAX_LOG_LINES = 50;

/** The running reporter: `nudge` sends a heartbeat now, `stop` ends both loops. */
export interface Reporter {
  nudge(): void;
  stop(): Promise<void>;
}

/**
 * Reports to the hub: enrols once with the token, then sends a heartbeat every interval
 * (metrics, health, services, deploy state, new deploy events and job runs) and long-polls for
 * commands. While the hub cannot be reached, each heartbeat's sample goes to the on-disk queue;
 * the queue is sent, oldest first, with the next heartbeats that get through. Events and runs
 * are resent from the agent's own records until the hub has stored them.
 */
export function startReporter(deps: ReporterDeps): Reporter {
  const dir = deps.dir ?? HUB_DIR;
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? 30_000;
  const pollWaitS = deps.pollWaitS ?? 25;
  const stopping = new AbortController();
  let wakeBeat: (() => void) | undefined;
  let nudged = false;
  // While a hub command is carried out, a nudge is not needed: the heartbeat sent right after
  // the command (before its answer) carries what changed, so the answer waits for one, not two.
  let carrying = false;
  // Something changed since the last look (a cycle ended, a command ran): take a new one.
  let changed = false;
  let enrolled: Promise<void> | undefined;
  let lastProblem = '';

  const problem = (message: string) => {
    if (message !== lastProblem) deps.log(`hub: ${message}`);
    lastProblem = message;
  };
  const recovered = (message: string) => {
    if (lastProblem !== '') deps.log(`hub: ${message}`);
    lastProblem = '';
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      stopping.signal.addEventListener('abort', done, { once: true });
      function done() {
        clearTimeout(timer);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      }
    });

  async function readJson<T>(file: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(join(dir, file), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  /** Enrols unless this device already did with this hub and key; retries until it works. */
  function ensureEnrolled(): Promise<void> {
    enrolled ??= (async () => {
      const marker = await readJson<{ url: string; device: string; signing: string }>(
        'enrolled.json',
      );
      if (
        marker?.url === deps.url &&
        marker.device === deps.device &&
        marker.signing === deps.signing
      ) {
        return;
      }
      for (let attempt = 0; !stopping.signal.aborted; attempt++) {
        const token = await deps.token();
        if (!token) {
          problem('no enrolment token (/etc/piot/identity/hub-token); not reporting');
          await sleep(300_000);
          continue;
        }
        try {
          await deps.client.enrol(token, deps.signing);
          await writeFileAtomic(
            join(dir, 'enrolled.json'),
            `${JSON.stringify({ url: deps.url, device: deps.device, signing: deps.signing, at: isoTime(now()) })}\n`,
          );
          deps.log(`hub: enrolled with ${deps.url} as ${deps.device}`);
          lastProblem = '';
          return;
        } catch (error) {
          problem(`enrolment failed: ${(error as Error).message}`);
          await sleep(Math.min(300_000, 5000 * 2 ** Math.min(attempt, 6)));
        }
      }
    })();
    return enrolled;
  }

  async function release(): Promise<RunningRelease | undefined> {
    return deps.host.release().catch(() => undefined);
  }

  let cpu: CpuTotals | undefined;
  async function heartbeatBody(sent: Sent, rel: RunningRelease | undefined) {
    const fresh = changed;
    changed = false;
    const [look, state, runs] = await Promise.all([
      deps.snapshot(rel, cpu, { fresh }),
      deps.state(),
      rel ? deps.jobRuns(rel).catch(() => []) : Promise.resolve([]),
    ]);
    cpu = look.cpu;
    const metricsAddress = deps.metricsAddress?.();
    // At or after: two events may share a millisecond; the hub stores each once anyway.
    const events = state.events.filter((e: DeployEvent) => !sent.event || e.at >= sent.event);
    const newRuns = runs
      .filter((r) => !sent.run || r.end > sent.run)
      .sort((a, b) => (a.end < b.end ? -1 : 1))
      .slice(-MAX_EVENTS)
      .map((r) => ({ ...r, log: r.log.slice(-MAX_LOG_LINES).map((l) => l.slice(0, 2000)) }));
    const body = {
      agent: {
        version: deps.version,
        uptime: Math.round(process.uptime()),
        ...(metricsAddress ? { metricsAddress } : {}),
      },
      metrics: look.metrics,
      health: look.health,
      services: look.services,
      deploy: {
        app: state.app,
        current: state.current,
        previous: state.previous,
        pending: state.pending?.commit,
        lastDeploy: state.lastDeploy,
      },
      events: events.slice(-MAX_EVENTS),
      jobRuns: newRuns,
    };
    const next: Sent = {
      event: events.at(-1)?.at ?? sent.event,
      run: newRuns.at(-1)?.end ?? sent.run,
    };
    return { body, next, metrics: look.metrics };
  }

  // One heartbeat at a time: two at once would both send, then both drop, the queue's head.
  let beating: Promise<unknown> = Promise.resolve();
  function beatOnce(): Promise<'sent' | 'more' | 'queued'> {
    const next = beating.then(beatUnlocked, beatUnlocked);
    beating = next.catch(() => undefined);
    return next;
  }

  async function beatUnlocked(): Promise<'sent' | 'more' | 'queued'> {
    const rel = await release();
    const sent = (await readJson<Sent>('sent.json')) ?? {};
    const { body, next, metrics } = await heartbeatBody(sent, rel);
    const history = await deps.queue.peek(MAX_HISTORY);
    try {
      await deps.client.heartbeat(history.length > 0 ? { ...body, history } : body);
    } catch (error) {
      const status = error instanceof HubRequestError ? error.status : 0;
      // The hub does not know this device (a new hub, or its database was lost): enrol again.
      if (status === 401 && /unknown device/.test((error as Error).message)) {
        await writeFileAtomic(join(dir, 'enrolled.json'), '{}\n');
        enrolled = undefined;
      }
      await deps.queue.push({ at: now(), metrics });
      const kept = await deps.queue.size();
      problem(`${(error as Error).message}; keeping samples until it answers (${kept} queued)`);
      return 'queued';
    }
    if (history.length > 0) await deps.queue.drop(history.length);
    if (next.event !== sent.event || next.run !== sent.run) {
      await writeFileAtomic(join(dir, 'sent.json'), `${JSON.stringify(next)}\n`);
    }
    recovered(
      `reachable again${history.length > 0 ? `; sent ${history.length} queued samples` : ''}`,
    );
    return (await deps.queue.size()) > 0 ? 'more' : 'sent';
  }

  const beats = (async () => {
    await ensureEnrolled();
    while (!stopping.signal.aborted) {
      nudged = false;
      let outcome: 'sent' | 'more' | 'queued' = 'queued';
      try {
        outcome = await beatOnce();
      } catch (error) {
        problem(`heartbeat failed: ${(error as Error).message}`);
      }
      if (!enrolled) await ensureEnrolled();
      if (outcome === 'more' || nudged) continue;
      await new Promise<void>((resolve) => {
        wakeBeat = resolve;
        void sleep(intervalMs).then(resolve);
      });
      wakeBeat = undefined;
    }
  })();

  const commands = (async () => {
    await ensureEnrolled();
    while (!stopping.signal.aborted) {
      let list;
      try {
        list = await deps.client.commands(pollWaitS, stopping.signal);
      } catch (error) {
        if (stopping.signal.aborted) break;
        const retryable = error instanceof HubRequestError && error.retryable;
        await sleep(retryable ? 5000 : 30_000);
        continue;
      }
      for (const command of list) {
        deps.log(`hub: ${command.kind} from ${command.createdBy ?? 'the hub'}`);
        carrying = true;
        const outcome = await carryOut(command, deps.host).finally(() => (carrying = false));
        changed = true;
        // What the command changed (a job's run, a restart, a deploy) reaches the hub before
        // the answer does, so whoever waits for the answer finds it there.
        await beatOnce().catch(() => undefined);
        for (let attempt = 0; attempt < 5; attempt++) {
          try {
            await deps.client.result(command.id, outcome.result);
            break;
          } catch (error) {
            if (error instanceof HubRequestError && !error.retryable) break;
            await sleep(2000 * (attempt + 1));
          }
        }
        if (outcome.after) {
          await outcome.after().catch((error: Error) => deps.log(`hub: ${error.message}`));
        }
      }
    }
  })();

  function nudge() {
    changed = true;
    if (carrying) return;
    nudged = true;
    wakeBeat?.();
  }
  return {
    nudge,
    async stop() {
      stopping.abort();
      wakeBeat?.();
      await Promise.allSettled([beats, commands]);
    },
  };
}
