import { join } from 'node:path';
import { flag, gauge, listDir, readNumber, readOptional } from './read.js';
import type { Collector, CollectorContext, Sample } from './types.js';

// The firmware's get_throttled word: bits 0–3 are "now", bits 16–19 "has occurred since boot".
const BITS: [number, string, string][] = [
  [0, 'piot_rpi_under_voltage_now', 'Under-voltage detected now (get_throttled bit 0).'],
  [1, 'piot_rpi_arm_freq_capped_now', 'ARM frequency capped now (get_throttled bit 1).'],
  [2, 'piot_rpi_throttled_now', 'Throttled now (get_throttled bit 2).'],
  [3, 'piot_rpi_soft_temp_limit_now', 'Soft temperature limit active now (get_throttled bit 3).'],
  [16, 'piot_rpi_under_voltage_occurred', 'Under-voltage has occurred since boot (bit 16).'],
  [
    17,
    'piot_rpi_arm_freq_capped_occurred',
    'ARM frequency capping has occurred since boot (bit 17).',
  ],
  [18, 'piot_rpi_throttled_occurred', 'Throttling has occurred since boot (bit 18).'],
  [
    19,
    'piot_rpi_soft_temp_limit_occurred',
    'Soft temperature limit has occurred since boot (bit 19).',
  ],
];
const raw = gauge(
  'piot_rpi_throttled_raw',
  'The raw get_throttled value of the Raspberry Pi firmware.',
);
const alarm = gauge(
  'piot_rpi_under_voltage_alarm',
  'The rpi_volt hwmon under-voltage alarm (in0_lcrit_alarm), 1 while the supply is too low.',
);

/** The get_throttled word as a number; the kernel prints it in hex without "0x" (vcgencmd adds it). */
export function parseThrottled(text: string): number {
  const hex = text.trim();
  if (!/^(0x)?[0-9a-f]{1,8}$/i.test(hex))
    throw new Error(`unexpected get_throttled value "${hex}"`);
  return parseInt(hex, 16);
}

function readThrottled(sys: string): string | undefined {
  const platform = join(sys, 'devices/platform');
  // Pi 1–4: soc/soc:firmware; Pi 5 names the bus by address (soc@107c000000/soc@107c000000:firmware).
  for (const bus of ['soc', ...listDir(platform, /^soc@/)]) {
    const text = readOptional(join(platform, bus, `${bus}:firmware`, 'get_throttled'));
    if (text !== undefined) return text;
  }
  return undefined;
}

function underVoltageAlarm(ctx: CollectorContext): Sample[] {
  const dir = join(ctx.sys, 'class/hwmon');
  for (const hwmon of listDir(dir, /^hwmon\d+$/)) {
    if (readOptional(join(dir, hwmon, 'name'))?.trim() !== 'rpi_volt') continue;
    const value = readNumber(join(dir, hwmon, 'in0_lcrit_alarm'));
    return value === undefined ? [] : [alarm(value)];
  }
  return [];
}

/** Raspberry Pi under-voltage and throttling flags; nothing on machines without the Pi firmware. */
export const throttling: Collector = {
  name: 'throttling',
  collect(ctx) {
    const samples = underVoltageAlarm(ctx);
    const text = readThrottled(ctx.sys);
    if (text === undefined) return samples;
    const value = parseThrottled(text);
    samples.push(raw(value));
    for (const [bit, name, help] of BITS) {
      samples.push(gauge(name, help)(flag(((value >>> bit) & 1) === 1)));
    }
    return samples;
  },
};
