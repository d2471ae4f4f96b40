import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { createUnitHealth, statFilesystem, timeSynchronized } from '../../sys/host-health.js';
import { JOBS_DIR } from '../jobs.js';
import { cpu } from './cpu.js';
import { deploy } from './deploy.js';
import { filesystem } from './filesystem.js';
import { jobs } from './jobs.js';
import { keptFor } from './kept.js';
import { load } from './load.js';
import { memory } from './memory.js';
import { network } from './network.js';
import { gauge } from './read.js';
import { systemd } from './systemd.js';
import { thermal } from './thermal.js';
import { throttling } from './throttling.js';
import { timeSync } from './timesync.js';
import type { Collector, CollectorContext, Sample } from './types.js';
import { uptime } from './uptime.js';

export type * from './types.js';

/** Every health collector of the agent, in a fixed order. */
export const COLLECTORS: readonly Collector[] = [
  cpu,
  deploy,
  filesystem,
  jobs,
  load,
  memory,
  network,
  systemd,
  thermal,
  throttling,
  timeSync,
  uptime,
];

// How long answers that spawn a process are reused. The clock's sync state and the failed units
// change seldom; on a Pi each spawn of systemctl or timedatectl costs more than a whole collection.
const TIME_SYNC_TTL_MS = 300_000;
const FAILED_UNITS_TTL_MS = 60_000;

const duration = gauge('piot_collector_duration_seconds', 'How long a collector took.');
const success = gauge('piot_collector_success', 'Whether a collector succeeded (1) or failed (0).');

/**
 * Runs the collectors concurrently and returns their samples plus each one's duration and
 * success; a failing collector adds no samples of its own and is reported to onError. Never rejects.
 */
export async function collectAll(
  ctx: CollectorContext,
  options: {
    collectors?: readonly Collector[];
    onError?: (collector: string, error: unknown) => void;
  } = {},
): Promise<Sample[]> {
  const results = await Promise.all(
    (options.collectors ?? COLLECTORS).map(async (c) => {
      const start = process.hrtime.bigint();
      let samples: Sample[] = [];
      let ok = true;
      try {
        samples = await c.collect(ctx);
      } catch (error) {
        ok = false;
        options.onError?.(c.name, error);
      }
      const labels = { collector: c.name };
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      return [...samples, duration(seconds, labels), success(ok ? 1 : 0, labels)];
    }),
  );
  return results.flat();
}

/**
 * The real host: paths under `root` (default `/`; e.g. `/host` in a container) unless given,
 * systemd, timedated and statfs of this machine. Any field can be overridden. The clock's
 * sync state is asked at most every 5 minutes, the failed units every minute.
 */
export function defaultCollectorContext(
  overrides: Partial<CollectorContext> = {},
): CollectorContext {
  const root = overrides.root ?? '/';
  const units = createUnitHealth();
  return {
    root,
    sys: join(root, 'sys'),
    proc: join(root, 'proc'),
    stateFile: join(root, 'var/lib/piot/state.json'),
    jobsDir: join(root, JOBS_DIR),
    statfs: statFilesystem,
    networkInterfaces,
    timeSynchronized: keptFor(timeSynchronized, TIME_SYNC_TTL_MS),
    units: {
      services: (pattern) => units.services(pattern),
      failedUnits: keptFor(() => units.failedUnits(), FAILED_UNITS_TTL_MS),
    },
    now: Date.now,
    ...overrides,
  };
}
