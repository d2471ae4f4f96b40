import { describe, expect, it } from 'vitest';
import { collectAll, COLLECTORS, defaultCollectorContext } from './index.js';
import { familyNames, fixtureContext, valueOf } from './test-context.js';
import type { Collector } from './types.js';

const names = COLLECTORS.map((c) => c.name);

describe('collectAll', () => {
  it('runs every collector on the Pi 4 fixture and records duration and success', async () => {
    const samples = await collectAll(fixtureContext('pi4'));
    for (const collector of names) {
      expect(valueOf(samples, 'piot_collector_success', { collector }), collector).toBe(1);
      expect(
        valueOf(samples, 'piot_collector_duration_seconds', { collector }),
      ).toBeGreaterThanOrEqual(0);
    }
    expect(valueOf(samples, 'node_thermal_zone_temp', { zone: '0' })).toBe(48.686);
    expect(valueOf(samples, 'piot_rpi_under_voltage_now')).toBe(1);
  });

  it('succeeds in a VM where thermal zones, get_throttled and Wi-Fi are absent', async () => {
    const samples = await collectAll(fixtureContext('vm'));
    for (const collector of names) {
      expect(valueOf(samples, 'piot_collector_success', { collector }), collector).toBe(1);
    }
    const families = familyNames(samples);
    expect(families.filter((n) => /thermal|rpi|wifi|frequency|systemd|job|timex/.test(n))).toEqual(
      [],
    );
    expect(families).toContain('node_memory_MemAvailable_bytes');
  });

  it('reports a failing collector as success 0 and keeps the others', async () => {
    const broken: Collector = { name: 'broken', collect: () => Promise.reject(new Error('boom')) };
    const fine: Collector = {
      name: 'fine',
      collect: () => Promise.resolve([{ name: 'x', help: 'x', type: 'gauge', value: 7 }]),
    };
    const errors: [string, unknown][] = [];
    const samples = await collectAll(fixtureContext('vm'), {
      collectors: [broken, fine],
      onError: (name, error) => errors.push([name, error]),
    });
    expect(valueOf(samples, 'piot_collector_success', { collector: 'broken' })).toBe(0);
    expect(valueOf(samples, 'piot_collector_success', { collector: 'fine' })).toBe(1);
    expect(valueOf(samples, 'x')).toBe(7);
    expect(errors).toEqual([['broken', new Error('boom')]]);
  });
});

describe('defaultCollectorContext', () => {
  it('points at the real host by default', () => {
    const ctx = defaultCollectorContext();
    expect([ctx.root, ctx.sys, ctx.proc, ctx.stateFile, ctx.jobsDir]).toEqual([
      '/',
      '/sys',
      '/proc',
      '/var/lib/piot/state.json',
      '/var/lib/piot/jobs',
    ]);
  });

  it('puts every path under another root, and keeps paths given explicitly', () => {
    const ctx = defaultCollectorContext({ root: '/host', proc: '/proc' });
    expect([ctx.sys, ctx.proc, ctx.stateFile]).toEqual([
      '/host/sys',
      '/proc',
      '/host/var/lib/piot/state.json',
    ]);
  });
});
