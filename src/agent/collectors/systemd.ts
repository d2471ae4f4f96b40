import { counter, flag, gauge } from './read.js';
import type { Collector, Sample, ServiceStatus } from './types.js';

/** The units the collector reports on one by one: PioT's own services. */
export const PIOT_UNITS = 'piot-*.service';
const STATES = ['active', 'activating', 'deactivating', 'inactive', 'failed'];

const state = gauge('node_systemd_unit_state', 'Systemd unit');
const restarts = counter(
  'node_systemd_service_restart_total',
  'Service unit count of Restart triggers',
);
const memory = gauge(
  'piot_systemd_service_memory_bytes',
  'Memory a PioT service uses (MemoryCurrent).',
);
const cpu = counter(
  'piot_systemd_service_cpu_seconds_total',
  'CPU time a PioT service used (CPUUsageNSec).',
);
const failedCount = gauge(
  'piot_systemd_failed_units',
  'Number of systemd units in the failed state.',
);
const failedUnit = gauge(
  'piot_systemd_unit_failed',
  'A systemd unit in the failed state (always 1).',
);

function serviceSamples(s: ServiceStatus): Sample[] {
  const name = s.unit;
  const samples = STATES.map((st) =>
    state(flag(s.activeState === st), { name, state: st, type: 'service' }),
  );
  if (s.restarts !== undefined) samples.push(restarts(s.restarts, { name }));
  if (s.memoryBytes !== undefined) samples.push(memory(s.memoryBytes, { name }));
  if (s.cpuSeconds !== undefined) samples.push(cpu(s.cpuSeconds, { name }));
  return samples;
}

/** State, restarts, memory and CPU of PioT's services, and every failed unit; nothing without systemd. */
export const systemd: Collector = {
  name: 'systemd',
  async collect(ctx) {
    const [services, failed] = await Promise.all([
      ctx.units.services(PIOT_UNITS),
      ctx.units.failedUnits(),
    ]);
    const samples = (services ?? []).flatMap(serviceSamples);
    if (failed !== undefined) {
      samples.push(failedCount(failed.length), ...failed.map((name) => failedUnit(1, { name })));
    }
    return samples;
  },
};
