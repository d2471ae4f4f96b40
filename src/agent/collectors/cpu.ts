import { join } from 'node:path';
import { counter, gauge, listDir, readNumber, readOptional } from './read.js';
import type { Collector, CollectorContext, MetricType, Sample } from './types.js';

// /proc/stat counts in USER_HZ ticks, 100 per second on every Linux architecture.
const USER_HZ = 100;
const MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'];
const GUEST_MODES = ['user', 'nice'];

const cpuSeconds = counter('node_cpu_seconds_total', 'Seconds the CPUs spent in each mode.');
const guestSeconds = counter(
  'node_cpu_guest_seconds_total',
  'Seconds the CPUs spent in guests (VMs) for each mode.',
);
const STAT_LINES: Record<string, [MetricType, string, string] | undefined> = {
  ctxt: ['counter', 'node_context_switches_total', 'Total number of context switches.'],
  processes: ['counter', 'node_forks_total', 'Total number of forks.'],
  intr: ['counter', 'node_intr_total', 'Total number of interrupts serviced.'],
  procs_running: ['gauge', 'node_procs_running', 'Number of processes in runnable state.'],
  procs_blocked: ['gauge', 'node_procs_blocked', 'Number of processes blocked waiting for I/O.'],
};
const FREQ_FILES: [string, string, string][] = [
  [
    'scaling_cur_freq',
    'node_cpu_scaling_frequency_hertz',
    'Current scaled CPU thread frequency in hertz.',
  ],
  [
    'scaling_min_freq',
    'node_cpu_scaling_frequency_min_hertz',
    'Minimum scaled CPU thread frequency in hertz.',
  ],
  [
    'scaling_max_freq',
    'node_cpu_scaling_frequency_max_hertz',
    'Maximum scaled CPU thread frequency in hertz.',
  ],
];

/** Per-CPU mode seconds and the kernel's activity counters from /proc/stat text. */
export function parseProcStat(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const [key, ...fields] = line.trim().split(/\s+/);
    const cpu = /^cpu(\d+)$/.exec(key ?? '')?.[1];
    if (cpu !== undefined) {
      const ticks = fields.map(Number);
      MODES.forEach((mode, i) => {
        if (ticks[i] !== undefined) samples.push(cpuSeconds(ticks[i] / USER_HZ, { cpu, mode }));
      });
      GUEST_MODES.forEach((mode, i) => {
        const value = ticks[MODES.length + i];
        if (value !== undefined) samples.push(guestSeconds(value / USER_HZ, { cpu, mode }));
      });
      continue;
    }
    const known = key === undefined ? undefined : STAT_LINES[key];
    if (known && fields[0] !== undefined) {
      const [type, name, help] = known;
      const value = Number(fields[0]);
      samples.push(type === 'counter' ? counter(name, help)(value) : gauge(name, help)(value));
    }
  }
  return samples;
}

function frequencies(ctx: CollectorContext): Sample[] {
  const dir = join(ctx.sys, 'devices/system/cpu');
  const samples: Sample[] = [];
  for (const name of listDir(dir, /^cpu\d+$/)) {
    // Most VMs have no cpufreq: one look at the CPU's directory, not a failed read per file.
    if (listDir(join(dir, name), /^cpufreq$/).length === 0) continue;
    for (const [file, metric, help] of FREQ_FILES) {
      const khz = readNumber(join(dir, name, 'cpufreq', file));
      if (khz !== undefined) samples.push(gauge(metric, help)(khz * 1000, { cpu: name.slice(3) }));
    }
  }
  return samples;
}

/** CPU time per CPU and mode (/proc/stat) and cpufreq frequencies (none in most VMs). */
export const cpu: Collector = {
  name: 'cpu',
  collect(ctx) {
    const stat = readOptional(join(ctx.proc, 'stat'));
    return [...(stat === undefined ? [] : parseProcStat(stat)), ...frequencies(ctx)];
  },
};
