import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { CommandRecord, Store } from './store/store.js';

const unitName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'is not a service or job name' });

/** What a person can ask a device to do. */
export const commandSchema = z.discriminatedUnion('kind', [
  /** Fetch and deploy now, as `piot deploy --now`. */
  z.strictObject({ kind: z.literal('deploy') }),
  /** Restart the Pi. */
  z.strictObject({ kind: z.literal('reboot') }),
  /** Start a job of the running release now, as `piot run JOB`. */
  z.strictObject({ kind: z.literal('run-job'), job: unitName }),
  /** Restart a service of the running release. */
  z.strictObject({ kind: z.literal('restart-service'), service: unitName }),
  /** The last lines of the journal: one service's, or the agent's. */
  z.strictObject({
    kind: z.literal('logs'),
    service: unitName.optional(),
    lines: z.number().int().min(1).max(1000).default(100),
  }),
]);

/** A command as a person asks for it. */
export type CommandRequest = z.output<typeof commandSchema>;

/** What the device answers when it has carried a command out (or could not). */
export const commandResultSchema = z.strictObject({
  ok: z.boolean(),
  /** One line: what happened, or why not. */
  message: z.string().max(4000).optional(),
  /** Output lines (the journal for `logs`, the run's tail for `run-job`). */
  output: z.array(z.string().max(4000)).max(1000).optional(),
});

export type CommandResult = z.output<typeof commandResultSchema>;

/** The longest long poll a device may ask for, seconds. */
export const MAX_WAIT_S = 30;
// Another hub process may queue the command, and only this process's queue wakes pollers:
// look in the store this often too. (Across processes a command can so take up to 5 s.)
const RECHECK_MS = 5000;

/** Queues commands and wakes this process's long polls when one arrives. */
export interface CommandQueue {
  add(device: string, request: CommandRequest, by: string, now: number): Promise<CommandRecord>;
  /** The device's commands, waiting up to waitMs for one to arrive (or the signal to abort). */
  take(
    device: string,
    options: { waitMs: number; now: () => number; signal?: AbortSignal },
  ): Promise<CommandRecord[]>;
}

/** A CommandQueue on the store. */
export function commandQueue(store: Store): CommandQueue {
  const waiting = new Map<string, Set<() => void>>();
  return {
    async add(device, request, by, now) {
      const { kind, ...args } = request;
      const command: CommandRecord = { id: randomUUID(), kind, createdAt: now, createdBy: by };
      if (Object.keys(args).length > 0) command.args = args;
      await store.addCommand(device, command);
      for (const wake of waiting.get(device) ?? []) wake();
      return command;
    },
    async take(device, { waitMs, now, signal }) {
      const deadline = performance.now() + waitMs;
      for (;;) {
        const commands = await store.takeCommands(device, now());
        const left = deadline - performance.now();
        if (commands.length > 0 || left <= 0 || signal?.aborted) return commands;
        const stop = new AbortController();
        const woken = new Promise<void>((resolve) => {
          const wake = () => resolve();
          const set = waiting.get(device) ?? new Set();
          waiting.set(device, set.add(wake));
          stop.signal.addEventListener('abort', () => {
            set.delete(wake);
            if (set.size === 0) waiting.delete(device);
            resolve();
          });
          signal?.addEventListener('abort', () => resolve(), { once: true });
        });
        await Promise.race([
          woken,
          sleep(Math.min(left, RECHECK_MS), undefined, { signal: stop.signal }).catch(
            () => undefined,
          ),
        ]);
        stop.abort();
        // The device hung up: nothing to hand it (and the store may be closing).
        if (signal?.aborted) return [];
      }
    },
  };
}
