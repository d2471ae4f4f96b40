import type { Sample, ServiceStatus } from '../collectors/types.js';

/** The hub's view of a device's numbers (src/hub/heartbeat.ts `metrics`). */
export interface HubMetrics {
  temperature?: number;
  cpu?: number;
  memory?: number;
  disk?: number;
  wifiSignal?: number;
  throttled?: number;
}

/** What can break a Pi besides its numbers (src/hub/heartbeat.ts `health`). */
export interface HubHealth {
  readOnlyRoot?: boolean;
  failedUnits?: string[];
}

/** A unit of the running release as the hub shows it (src/hub/heartbeat.ts `services`). */
export interface HubService {
  app: string;
  name: string;
  kind: 'service' | 'job';
  state: string;
  sub?: string;
  restarts?: number;
  memory?: number;
  cpu?: number;
}

/** CPU seconds so far, busy and in all, summed over the CPUs. */
export interface CpuTotals {
  busy: number;
  total: number;
}

// Modes in which a CPU waits rather than works.
const IDLE_MODES = new Set(['idle', 'iowait']);
// The Pi's SoC zone (cpu-thermal); other machines name theirs differently, so it is only preferred.
const SOC_ZONE = 'cpu-thermal';

const round = (value: number, digits: number) => Number(value.toFixed(digits));
const clamp01 = (value: number) => Math.min(1, Math.max(0, value));

function find(samples: readonly Sample[], name: string, labels: Record<string, string> = {}) {
  return samples.find(
    (s) =>
      s.name === name && Object.entries(labels).every(([key, value]) => s.labels?.[key] === value),
  );
}

/** Busy and total CPU seconds from `node_cpu_seconds_total`, or undefined without /proc/stat. */
export function cpuTotals(samples: readonly Sample[]): CpuTotals | undefined {
  let busy = 0;
  let total = 0;
  for (const s of samples) {
    if (s.name !== 'node_cpu_seconds_total') continue;
    total += s.value;
    if (!IDLE_MODES.has(s.labels?.mode ?? '')) busy += s.value;
  }
  return total > 0 ? { busy, total } : undefined;
}

/**
 * The hub's metrics and health from one collection. CPU is the busy share since `previous`
 * (the totals of the last heartbeat); without one it is left out rather than guessed.
 */
export function summarize(
  samples: readonly Sample[],
  previous?: CpuTotals,
): { metrics: HubMetrics; health: HubHealth; cpu?: CpuTotals } {
  const metrics: HubMetrics = {};
  const zones = samples.filter((s) => s.name === 'node_thermal_zone_temp');
  const soc = zones.find((s) => s.labels?.type === SOC_ZONE);
  if (soc) metrics.temperature = round(soc.value, 1);
  else if (zones.length > 0) metrics.temperature = round(Math.max(...zones.map((s) => s.value)), 1);

  const cpu = cpuTotals(samples);
  if (cpu && previous && cpu.total > previous.total) {
    metrics.cpu = round(clamp01((cpu.busy - previous.busy) / (cpu.total - previous.total)), 4);
  }
  const total = find(samples, 'node_memory_MemTotal_bytes')?.value;
  const available = find(samples, 'node_memory_MemAvailable_bytes')?.value;
  if (total && available !== undefined) metrics.memory = round(clamp01(1 - available / total), 4);

  const size = find(samples, 'node_filesystem_size_bytes', { mountpoint: '/' })?.value;
  const avail = find(samples, 'node_filesystem_avail_bytes', { mountpoint: '/' })?.value;
  if (size && avail !== undefined) metrics.disk = round(clamp01(1 - avail / size), 4);

  const signal = find(samples, 'piot_wifi_signal_dbm')?.value;
  if (signal !== undefined && signal <= 0 && signal >= -150) metrics.wifiSignal = signal;
  const throttled = find(samples, 'piot_rpi_throttled_raw')?.value;
  if (throttled !== undefined) metrics.throttled = throttled;

  const health: HubHealth = {};
  const readOnly = find(samples, 'piot_root_readonly')?.value;
  if (readOnly !== undefined) health.readOnlyRoot = readOnly === 1;
  if (find(samples, 'piot_systemd_failed_units')) {
    health.failedUnits = samples
      .filter((s) => s.name === 'piot_systemd_unit_failed')
      .map((s) => s.labels?.name ?? '')
      .filter((name) => name !== '')
      .slice(0, 100);
  }
  return { metrics, health, cpu };
}

/**
 * The app's units (`piot-APP-NAME.service`) as services and jobs; other units are left out.
 * A job systemd has not loaded (it never ran this boot) is listed as inactive, so a person
 * can still start it from the hub.
 */
export function appServices(
  statuses: readonly ServiceStatus[],
  app: string,
  jobs: ReadonlySet<string>,
): HubService[] {
  const prefix = `piot-${app}-`;
  const services: HubService[] = [];
  for (const s of statuses) {
    if (!s.unit.startsWith(prefix) || !s.unit.endsWith('.service')) continue;
    const name = s.unit.slice(prefix.length, -'.service'.length);
    const service: HubService = {
      app,
      name,
      kind: jobs.has(name) ? 'job' : 'service',
      state: s.activeState,
    };
    if (s.subState) service.sub = s.subState;
    if (s.restarts !== undefined) service.restarts = s.restarts;
    if (s.memoryBytes !== undefined) service.memory = s.memoryBytes;
    if (s.cpuSeconds !== undefined) service.cpu = round(s.cpuSeconds, 3);
    services.push(service);
  }
  for (const job of [...jobs].sort()) {
    if (!services.some((s) => s.name === job)) {
      services.push({ app, name: job, kind: 'job', state: 'inactive' });
    }
  }
  return services.slice(0, 200);
}
