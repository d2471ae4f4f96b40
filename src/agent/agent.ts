import { UserError } from '../errors.js';
import { writeFileAtomic } from '../sys/fs.js';
import { withLock } from '../sys/lock.js';
import { isoTime } from '../sys/time.js';
import { cycleText, describeOutcome, RUNTIME, type CycleRecord } from './cycle-record.js';
import { deployOnce, recover, type DeployDeps } from './deploy.js';

/**
 * Lets other parts of the agent (the hub's "deploy now") ask for a cycle and hear how it ended,
 * and be told of every cycle's end.
 */
export interface CycleBus {
  /** Starts a cycle as soon as possible; resolves with the first cycle that began after it. */
  request(): Promise<CycleRecord>;
  /** Calls listener after every cycle. */
  onCycle(listener: (record: CycleRecord) => void): void;
}

/** The bus runAgent drives. */
export interface AgentCycles extends CycleBus {
  /** Called by the loop: wake() starts a cycle early. */
  attach(wake: () => void): void;
  /** The loop starts a cycle: it answers the requests made so far. */
  starting(): void;
  finished(record: CycleRecord): void;
}

export function agentCycles(): AgentCycles {
  let wake: (() => void) | undefined;
  let next: ((record: CycleRecord) => void)[] = [];
  let running: ((record: CycleRecord) => void)[] = [];
  const listeners: ((record: CycleRecord) => void)[] = [];
  return {
    request() {
      return new Promise((resolve) => {
        next.push(resolve);
        wake?.();
      });
    },
    onCycle(listener) {
      listeners.push(listener);
    },
    attach(w) {
      wake = w;
    },
    starting() {
      running = next;
      next = [];
    },
    finished(record) {
      for (const resolve of running) resolve(record);
      running = [];
      for (const listener of listeners) listener(record);
    },
  };
}

/**
 * The resident agent: recovers from an interrupted deploy, then polls every pollMs.
 * SIGUSR1 (`piot deploy --now`) starts a cycle at once; SIGTERM lets a running
 * cycle finish before exiting. A failing cycle is logged and retried at the next poll.
 */
export async function runAgent(
  deps: DeployDeps,
  options: {
    pollMs: number;
    once?: boolean;
    runtime?: typeof RUNTIME;
    out: (line: string) => void;
    cycles?: AgentCycles;
  },
): Promise<void> {
  const runtime = options.runtime ?? RUNTIME;
  const cycles = options.cycles ?? agentCycles();
  let wake: (() => void) | undefined;
  // Someone asked for a cycle (SIGUSR1, the hub): it fetches at once, and one asked for
  // while a cycle runs follows that cycle instead of waiting for the next poll.
  let asked = false;
  const onWake = () => {
    asked = true;
    wake?.();
  };
  cycles.attach(onWake);
  let stopping = false;
  const onStop = () => {
    stopping = true;
    wake?.();
  };
  if (!options.once) {
    process.on('SIGUSR1', onWake);
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
  }
  // A deploy cycle sees the stop: a health gate that fails meanwhile judges nothing.
  deps = { ...deps, stopping: () => stopping };
  try {
    await withLock(runtime.lock, () => recover(deps));
    while (!stopping) {
      const record: CycleRecord = { pid: process.pid, at: isoTime() };
      const fetch = asked;
      asked = false;
      cycles.starting();
      try {
        record.outcome = await withLock(runtime.lock, () => deployOnce(deps, { fetch }));
        options.out(describeOutcome(record.outcome));
      } catch (error) {
        record.error = error instanceof Error ? error.message : String(error);
        // An expected failure (the deploy key refused, a changed host key) says what to do.
        if (error instanceof UserError && error.hint) record.error += ` (hint: ${error.hint})`;
        if (options.once) throw error;
        deps.log(`deploy cycle failed: ${record.error}; trying again at the next poll`);
      }
      await writeFileAtomic(runtime.cycle, `${JSON.stringify(record)}\n`).catch(() => undefined);
      await writeFileAtomic(runtime.cycleText, cycleText(record)).catch(() => undefined);
      cycles.finished(record);
      // The mirror's housekeeping, once whoever waited for the cycle has its outcome.
      await withLock(runtime.lock, () => deps.git.maintain()).catch((error: unknown) =>
        deps.log(`git maintenance of the mirror failed: ${String(error)}`),
      );
      if (options.once || stopping) return;
      if (asked) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.pollMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    process.off('SIGUSR1', onWake);
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
  }
}
