import type { Store } from './store/store.js';

const DAY = 86_400_000;

/**
 * How long the hub keeps history: raw samples, then hourly averages; deploy events, job
 * runs, commands and resolved alerts as long as the hourly averages.
 */
export const RETENTION = { rawMs: 2 * DAY, hourlyMs: 90 * DAY };

/**
 * Compacts the store's samples and drops expired sessions and old history now and then every
 * `everyMs` (default hourly) until stopped;
 * a failed run is reported and retried at the next tick, never thrown.
 */
export function startRetention(
  store: Store,
  options: { now?: () => number; everyMs?: number; onError?: (error: unknown) => void } = {},
): () => void {
  const now = options.now ?? Date.now;
  const run = () => {
    const at = now();
    Promise.all([
      store.compactSamples({
        hourlyBefore: at - RETENTION.rawMs,
        dropBefore: at - RETENTION.hourlyMs,
      }),
      store.pruneSessions(at),
      store.pruneHistory(at - RETENTION.hourlyMs),
    ]).catch(options.onError ?? ((error) => console.error('hub retention:', error)));
  };
  run();
  const timer = setInterval(run, options.everyMs ?? 3_600_000);
  timer.unref();
  return () => clearInterval(timer);
}
