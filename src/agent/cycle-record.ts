import { watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { UserError } from '../errors.js';
import type { DeployOutcome } from './deploy.js';

// What the agent and `piot deploy --now` / `piot status` share about the agent's cycles. Kept
// apart from the deploy code (only its types are imported), so a command that just asks the
// running agent starts without loading the rest of PioT.

/** Runtime files of the agent, on tmpfs (they say nothing that must survive a boot). */
export const RUNTIME = {
  lock: '/run/piot/deploy.lock',
  cycle: '/run/piot/agent.json',
  /** The last cycle as the device's `piot` script reads it (cycleText). */
  cycleText: '/run/piot/cycle.txt',
};

/** The last cycle, for `piot deploy --now` and `piot status`. */
export interface CycleRecord {
  pid: number;
  at: string;
  outcome?: DeployOutcome;
  error?: string;
}

/** Reads the last cycle record, if the agent has written one this boot. */
export async function readCycle(path = RUNTIME.cycle): Promise<CycleRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as CycleRecord;
  } catch {
    return undefined;
  }
}

/** One line about a cycle's outcome. */
export function describeOutcome(outcome: DeployOutcome): string {
  const short = (c: string | undefined) => (c ? c.slice(0, 12) : 'nothing');
  switch (outcome.result) {
    case 'no-target':
      return 'the repository has nothing this device follows (no such branch or tag)';
    case 'up-to-date':
      return `up to date at ${short(outcome.commit)}`;
    case 'invalid':
      return `commit ${short(outcome.commit)} is invalid; the running release stays`;
    case 'bad':
      return `commit ${short(outcome.commit)} failed before and is not retried; waiting for a new commit`;
    case 'failed':
      return `commit ${short(outcome.commit)} failed: ${outcome.reason.split('\n')[0]}; the running release stays`;
    case 'interrupted':
      return `the deploy of ${short(outcome.commit)} was cut short by a stop; it is deployed again after the next start`;
    case 'rolled-back':
      return `commit ${short(outcome.commit)} rolled back to ${short(outcome.to)}: ${outcome.reason.split('\n')[0]}`;
    case 'deployed': {
      const network =
        outcome.network?.result === 'reverted'
          ? `; network change reverted: ${outcome.network.reason ?? ''}`
          : outcome.network?.result === 'applied'
            ? '; network change applied'
            : '';
      return `deployed ${short(outcome.commit)} (${outcome.steps} steps, healthy in ${(outcome.healthyMs / 1000).toFixed(1)} s)${network}`;
    }
  }
}

/** The exit status of `piot deploy` for an outcome: 1 when it did not leave the device deployed. */
export function deployExitCode(outcome: DeployOutcome): number {
  return ['invalid', 'bad', 'failed', 'rolled-back', 'interrupted', 'no-target'].includes(
    outcome.result,
  )
    ? 1
    : 0;
}

/**
 * Whether a cycle has news for the hub, next to the cycle before it. A deploy and a rollback
 * always do; a cycle that ended as the one before it did (up to date, the same refused commit,
 * the same failure) does not: the next periodic heartbeat carries whatever it recorded.
 */
export function cycleHasNews(record: CycleRecord, before: CycleRecord | undefined): boolean {
  const result = record.outcome?.result;
  if (result === 'deployed' || result === 'rolled-back') return true;
  const line = (r: CycleRecord) => (r.outcome ? describeOutcome(r.outcome) : `error ${r.error}`);
  return before === undefined || line(record) !== line(before);
}

/**
 * The last cycle for the device's `piot` script, which answers `piot deploy` with it without
 * starting Node.js: one line each for the agent's pid, when the cycle began (ms since the
 * epoch), the exit status, and what to print (`error: …` on standard error).
 */
export function cycleText(record: CycleRecord): string {
  const said = record.outcome
    ? describeOutcome(record.outcome)
    : `error: the agent's cycle failed: ${record.error ?? 'unknown error'}`;
  const code = record.outcome ? deployExitCode(record.outcome) : 1;
  return `${record.pid}\n${Date.parse(record.at)}\n${code}\n${said.replace(/\s*\n\s*/g, ' ')}\n`;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Asks the running agent for a cycle now (SIGUSR1) and waits for its outcome; undefined if
 * no agent runs. The agent replaces its cycle record when a cycle ends: the record's
 * directory is watched for that, and read every second besides.
 */
export async function triggerAgent(
  path = RUNTIME.cycle,
  waitMs = 15 * 60_000,
): Promise<DeployOutcome | undefined> {
  const before = await readCycle(path);
  if (!before || !alive(before.pid)) return undefined;
  let wakeUp: (() => void) | undefined;
  const watcher = watch(dirname(path), () => wakeUp?.());
  watcher.on('error', () => undefined);
  try {
    const asked = Date.now();
    process.kill(before.pid, 'SIGUSR1');
    for (;;) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      const cycle = await readCycle(path);
      if (cycle && Date.parse(cycle.at) >= asked - 1000 && cycle.at !== before.at) {
        if (cycle.outcome) return cycle.outcome;
        throw new UserError(`the agent's cycle failed: ${cycle.error ?? 'unknown error'}`, {
          hint: 'journalctl -u piot-agent shows the cycle',
        });
      }
      if (Date.now() - asked > waitMs || !alive(before.pid)) {
        throw new UserError('the agent did not finish a cycle', {
          hint: 'journalctl -u piot-agent shows what it is doing',
        });
      }
    }
  } finally {
    watcher.close();
  }
}
