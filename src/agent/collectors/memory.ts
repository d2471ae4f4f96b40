import { join } from 'node:path';
import { gauge, readOptional } from './read.js';
import type { Collector, Sample } from './types.js';

/** Every /proc/meminfo field as node_exporter names it: `Active(anon)` → `node_memory_Active_anon_bytes`. */
export function parseMeminfo(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([^:]+):\s+(\d+)(\s+kB)?\s*$/.exec(line);
    if (!match) continue;
    const key = match[1]!.replace(/\((.*)\)/, '_$1').replace(/[^a-zA-Z0-9_]/g, '_');
    const field = match[3] ? `${key}_bytes` : key;
    const value = Number(match[2]) * (match[3] ? 1024 : 1);
    samples.push(gauge(`node_memory_${field}`, `Memory information field ${field}.`)(value));
  }
  return samples;
}

/** Memory and swap (/proc/meminfo), in bytes. */
export const memory: Collector = {
  name: 'memory',
  collect(ctx) {
    const text = readOptional(join(ctx.proc, 'meminfo'));
    return text === undefined ? [] : parseMeminfo(text);
  },
};
