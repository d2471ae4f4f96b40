import { join } from 'node:path';
import { gauge, listDir, readNumber, readOptional } from './read.js';
import type { Collector, Sample } from './types.js';

const temp = gauge('node_thermal_zone_temp', 'Zone temperature in Celsius');

/** SoC and other thermal zones (`/sys/class/thermal/thermal_zone*`); none in most VMs. */
export const thermal: Collector = {
  name: 'thermal',
  collect(ctx) {
    const dir = join(ctx.sys, 'class/thermal');
    const samples: Sample[] = [];
    for (const zone of listDir(dir, /^thermal_zone\d+$/)) {
      const milli = readNumber(join(dir, zone, 'temp'));
      if (milli === undefined) continue;
      const type = readOptional(join(dir, zone, 'type'))?.trim() ?? '';
      samples.push(temp(milli / 1000, { type, zone: zone.slice('thermal_zone'.length) }));
    }
    return samples;
  },
};
