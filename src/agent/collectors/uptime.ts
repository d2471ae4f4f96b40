import { join } from 'node:path';
import { gauge, readOptional } from './read.js';
import type { Collector, Sample } from './types.js';

const bootTime = gauge('node_boot_time_seconds', 'Node boot time, in unixtime.');
const time = gauge('node_time_seconds', 'System time in seconds since epoch (1970).');
const uptimeSeconds = gauge('piot_uptime_seconds', 'Seconds since boot (/proc/uptime).');

/** Boot time (/proc/stat btime), uptime (/proc/uptime) and the system clock. */
export const uptime: Collector = {
  name: 'uptime',
  collect(ctx) {
    const samples: Sample[] = [time(ctx.now() / 1000)];
    const stat = readOptional(join(ctx.proc, 'stat'));
    const btime = stat === undefined ? undefined : /^btime\s+(\d+)\s*$/m.exec(stat)?.[1];
    if (btime !== undefined) samples.push(bootTime(Number(btime)));
    const up = readOptional(join(ctx.proc, 'uptime'))?.trim().split(/\s+/)[0];
    if (up !== undefined && Number.isFinite(Number(up))) samples.push(uptimeSeconds(Number(up)));
    return samples;
  },
};
