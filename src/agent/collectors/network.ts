import { join } from 'node:path';
import { counter, flag, gauge, readOptional } from './read.js';
import type { Collector, CollectorContext, Sample } from './types.js';

// The columns of /proc/net/dev after "iface:", in order.
const DEV_COLUMNS = [
  'receive_bytes',
  'receive_packets',
  'receive_errs',
  'receive_drop',
  'receive_fifo',
  'receive_frame',
  'receive_compressed',
  'receive_multicast',
  'transmit_bytes',
  'transmit_packets',
  'transmit_errs',
  'transmit_drop',
  'transmit_fifo',
  'transmit_colls',
  'transmit_carrier',
  'transmit_compressed',
];
const up = gauge('node_network_up', "Value is 1 if operstate is 'up', 0 otherwise.");
const address = gauge('piot_network_address_info', 'An address of a network interface (always 1).');
const quality = gauge(
  'piot_wifi_link_quality',
  'Wi-Fi link quality (/proc/net/wireless, 0–70 on cfg80211 drivers).',
);
const signal = gauge('piot_wifi_signal_dbm', 'Wi-Fi signal level in dBm (/proc/net/wireless).');
const noise = gauge(
  'piot_wifi_noise_dbm',
  'Wi-Fi noise level in dBm, where the driver reports it.',
);

/** Traffic counters per interface from /proc/net/dev text. */
export function parseNetDev(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    const values = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    DEV_COLUMNS.forEach((column, i) => {
      const value = values[i];
      if (value === undefined || !Number.isFinite(value)) return;
      const make = counter(`node_network_${column}_total`, `Network device statistic ${column}.`);
      samples.push(make(value, { device }));
    });
  }
  return samples;
}

/** Link quality, signal and noise per Wi-Fi interface from /proc/net/wireless text. */
export function parseWireless(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    // Values the driver updated since the last read end in "." ("58."); the rest in nothing.
    const [, link, level, floor] = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map((f) => Number(f.replace(/\.$/, '')));
    if (link === undefined || level === undefined || floor === undefined) continue;
    samples.push(quality(link, { device }), signal(level, { device }));
    // -256 is "noise not reported" (0 with the dBm flag), as brcmfmac on every Pi does.
    if (floor !== -256) samples.push(noise(floor, { device }));
  }
  return samples;
}

function operstates(ctx: CollectorContext, devices: string[]): Sample[] {
  const samples: Sample[] = [];
  for (const device of devices) {
    const state = readOptional(join(ctx.sys, 'class/net', device, 'operstate'))?.trim();
    if (state !== undefined) samples.push(up(flag(state === 'up'), { device }));
  }
  return samples;
}

function addresses(ctx: CollectorContext): Sample[] {
  const samples: Sample[] = [];
  for (const [device, list] of Object.entries(ctx.networkInterfaces()).sort(([a], [b]) =>
    a < b ? -1 : 1,
  )) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      // Node 18.0–18.3 gave the family as a number.
      const family = typeof a.family === 'number' ? `IPv${a.family}` : a.family;
      samples.push(address(1, { device, address: a.address, family }));
    }
  }
  return samples;
}

/** Traffic, link state, addresses and Wi-Fi signal of each network interface. */
export const network: Collector = {
  name: 'network',
  collect(ctx) {
    const dev = readOptional(join(ctx.proc, 'net/dev'));
    const traffic = dev === undefined ? [] : parseNetDev(dev);
    const devices = [...new Set(traffic.map((s) => s.labels!.device!))];
    const wireless = readOptional(join(ctx.proc, 'net/wireless'));
    return [
      ...traffic,
      ...operstates(ctx, devices),
      ...addresses(ctx),
      ...(wireless === undefined ? [] : parseWireless(wireless)),
    ];
  },
};
