import { join } from 'node:path';
import { gauge, readOptional } from './read.js';
import type { Collector } from './types.js';

const LOADS = [
  gauge('node_load1', '1m load average.'),
  gauge('node_load5', '5m load average.'),
  gauge('node_load15', '15m load average.'),
];

/** The 1, 5 and 15 minute load averages from /proc/loadavg. */
export const load: Collector = {
  name: 'load',
  collect(ctx) {
    const text = readOptional(join(ctx.proc, 'loadavg'));
    if (text === undefined) return [];
    const fields = text.trim().split(/\s+/).map(Number);
    if (fields.length < 3 || fields.slice(0, 3).some((n) => !Number.isFinite(n))) {
      throw new Error(`unexpected /proc/loadavg: ${text.trim()}`);
    }
    return LOADS.map((make, i) => make(fields[i]!));
  },
};
