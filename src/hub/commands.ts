import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { CommandRecord, Store } from './store/store.js';

/** What a person can ask a device to do (the agent's side is still to be written). */
export const commandSchema = z.strictObject({
  /** deploy: fetch and deploy now (as `piot deploy --now`); reboot: restart the Pi. */
  kind: z.enum(['deploy', 'reboot']),
});

/** The longest long poll a device may ask for, seconds. */
export const MAX_WAIT_S = 30;
// Another hub process may queue the command, and only this process's queue wakes pollers:
// look in the store this often too. (Across processes a command can so take up to 5 s.)
const RECHECK_MS = 5000;

/** Queues commands and wakes this process's long polls when one arrives. */
export interface CommandQueue {
  add(device: string, kind: string, by: string, now: number): Promise<CommandRecord>;
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
    async add(device, kind, by, now) {
      const command = { id: randomUUID(), kind, createdAt: now, createdBy: by };
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
      }
    },
  };
}
