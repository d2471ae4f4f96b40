import { describe, expect, it } from 'vitest';
import { systemd } from './systemd.js';
import { fixtureContext, valueOf } from './test-context.js';
import { timeSync } from './timesync.js';
import type { ServiceStatus } from './types.js';

const services: ServiceStatus[] = [
  {
    unit: 'piot-agent.service',
    activeState: 'active',
    subState: 'running',
    restarts: 0,
    memoryBytes: 41_943_040,
    cpuSeconds: 12.5,
  },
  { unit: 'piot-weather-station-sensor.service', activeState: 'failed', restarts: 5 },
];

describe('systemd', () => {
  it("reports PioT's services and every failed unit", async () => {
    const asked: string[] = [];
    const ctx = fixtureContext('pi4', {
      units: {
        services: (pattern) => (asked.push(pattern), Promise.resolve(services)),
        failedUnits: () =>
          Promise.resolve(['piot-weather-station-sensor.service', 'rpi-eeprom-update.service']),
      },
    });
    const samples = await systemd.collect(ctx);
    expect(asked).toEqual(['piot-*.service']);
    const agent = { name: 'piot-agent.service' };
    expect(valueOf(samples, 'node_systemd_unit_state', { ...agent, state: 'active' })).toBe(1);
    expect(valueOf(samples, 'node_systemd_unit_state', { ...agent, state: 'failed' })).toBe(0);
    expect(samples.filter((s) => s.name === 'node_systemd_unit_state')).toHaveLength(10);
    expect(valueOf(samples, 'piot_systemd_service_memory_bytes', agent)).toBe(41_943_040);
    expect(valueOf(samples, 'piot_systemd_service_cpu_seconds_total', agent)).toBe(12.5);
    const sensor = { name: 'piot-weather-station-sensor.service' };
    expect(valueOf(samples, 'node_systemd_unit_state', { ...sensor, state: 'failed' })).toBe(1);
    expect(valueOf(samples, 'node_systemd_service_restart_total', sensor)).toBe(5);
    // Values systemd does not track are absent, not zero.
    expect(
      samples.filter(
        (s) => s.name.startsWith('piot_systemd_service_') && s.labels?.name === sensor.name,
      ),
    ).toEqual([]);
    expect(valueOf(samples, 'piot_systemd_failed_units')).toBe(2);
    expect(
      valueOf(samples, 'piot_systemd_unit_failed', { name: 'rpi-eeprom-update.service' }),
    ).toBe(1);
  });

  it('reports nothing without systemd', async () => {
    expect(await systemd.collect(fixtureContext('vm'))).toEqual([]);
  });

  it('reports zero failed units as a zero', async () => {
    const ctx = fixtureContext('vm', {
      units: { services: () => Promise.resolve([]), failedUnits: () => Promise.resolve([]) },
    });
    expect(await systemd.collect(ctx)).toEqual([
      expect.objectContaining({ name: 'piot_systemd_failed_units', value: 0 }),
    ]);
  });
});

describe('timesync', () => {
  it('gives 1 when synchronised, 0 when not, nothing when it cannot tell', async () => {
    const synced = (answer: boolean | undefined) =>
      timeSync.collect(fixtureContext('pi4', { timeSynchronized: () => Promise.resolve(answer) }));
    expect(valueOf(await synced(true), 'node_timex_sync_status')).toBe(1);
    expect(valueOf(await synced(false), 'node_timex_sync_status')).toBe(0);
    expect(await synced(undefined)).toEqual([]);
  });
});
