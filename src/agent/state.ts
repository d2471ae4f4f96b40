import { z } from 'zod';
import { readFile, rename } from 'node:fs/promises';
import { writeFileAtomic } from '../sys/fs.js';
import { isoTime } from '../sys/time.js';

const deployEvent = z.object({
  at: z.string(),
  commit: z.string(),
  kind: z.enum(['started', 'succeeded', 'failed', 'rolled-back', 'invalid', 'interrupted', 'bad']),
  reason: z.string().optional(),
});

/** /var/lib/piot/state.json: what the agent has done, enough to resume after a power cut. */
export const agentStateSchema = z.object({
  version: z.literal(1),
  /** The app the running release belongs to (its units are `piot-<app>-*`). */
  app: z.string().optional(),
  /** The device name the running release was rendered for. */
  device: z.string().optional(),
  /** The release `current` points at, and the one before it (for rollback). */
  current: z.string().optional(),
  previous: z.string().optional(),
  /** Releases that passed their health gate, oldest first (bounded); rollback walks back. */
  history: z.array(z.string()).default([]),
  /** A deploy that was under way; if set at boot, the agent finishes or undoes it. */
  pending: z
    .object({
      commit: z.string(),
      from: z.string().optional(),
      app: z.string().optional(),
      startedAt: z.string(),
    })
    .optional(),
  /** Commits that failed their health gate: not retried until a newer commit arrives. */
  badCommits: z.array(z.string()).default([]),
  /** `once: device` jobs that completed, by name. */
  onceDone: z.record(z.string(), z.string()).default({}),
  /** The last deploy's outcome, for `piot status`. */
  lastDeploy: deployEvent.optional(),
  /** The last change of the release's `network:` section and whether it was kept. */
  network: z
    .object({
      result: z.enum(['applied', 'reverted']),
      at: z.string(),
      commit: z.string(),
      reason: z.string().optional(),
    })
    .optional(),
  /** Recent deploy events, newest last, for the hub (bounded). */
  events: z.array(deployEvent).default([]),
});

export type AgentState = z.output<typeof agentStateSchema>;
export type DeployEvent = z.output<typeof deployEvent>;
export type NetworkOutcome = NonNullable<AgentState['network']>;

const MAX_EVENTS = 200;

/** A fresh state for a device that has deployed nothing. */
export function emptyState(): AgentState {
  return { version: 1, history: [], badCommits: [], onceDone: {}, events: [] };
}

/**
 * Loads the state file. A missing file is a fresh device; a damaged one is kept
 * beside it (`.corrupt-<time>`) and the agent starts from `current` on disk.
 */
export async function loadState(
  path: string,
  log: (message: string) => void = () => undefined,
): Promise<AgentState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return emptyState();
    throw error;
  }
  let parsed: ReturnType<typeof agentStateSchema.safeParse> | undefined;
  try {
    parsed = agentStateSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (parsed?.success) return parsed.data;
  const kept = `${path}.corrupt-${isoTime().replace(/[:.]/g, '-')}`;
  await rename(path, kept);
  log(`state file ${path} was damaged; kept it as ${kept} and started afresh`);
  return emptyState();
}

/** Writes the state atomically (temp file, fsync, rename, fsync of the directory). */
export async function saveState(path: string, state: AgentState): Promise<void> {
  const bounded = { ...state, events: state.events.slice(-MAX_EVENTS) };
  await writeFileAtomic(path, `${JSON.stringify(bounded, null, 2)}\n`, { mode: 0o600 });
}

/** The state with an event recorded (as the last deploy too). */
export function withEvent(state: AgentState, event: DeployEvent): AgentState {
  return { ...state, lastDeploy: event, events: [...state.events, event].slice(-MAX_EVENTS) };
}
