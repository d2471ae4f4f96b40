import type { UnitHealth } from '../../sys/host-health.js';

export type { ServiceStatus, UnitHealth } from '../../sys/host-health.js';

/** Prometheus metric kinds PioT emits. */
export type MetricType = 'gauge' | 'counter';

/** One value of one metric family, as a collector reports it. */
export interface Sample {
  /** Metric name, e.g. `node_load1`; counters end in `_total`. */
  name: string;
  /** The family's help text (the first sample of a family wins). */
  help: string;
  type: MetricType;
  labels?: Record<string, string>;
  value: number;
}

/** What `statfs(2)` tells about a mounted filesystem (the fields of Node's StatFs). */
export interface FsStats {
  bsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
}

/** One address of a network interface, as `os.networkInterfaces()` gives it. */
export interface InterfaceAddress {
  address: string;
  family: string | number;
  internal: boolean;
}

/** Where collectors read the host, and the few things they must ask the OS to do. */
export interface CollectorContext {
  /** The host's root (`/`); mount points are resolved under it. */
  root: string;
  /** Where `/sys` is mounted. */
  sys: string;
  /** Where `/proc` is mounted. */
  proc: string;
  /** The agent's state file (`/var/lib/piot/state.json`). */
  stateFile: string;
  /** Where job runs are recorded (`/var/lib/piot/jobs`). */
  jobsDir: string;
  statfs(path: string): Promise<FsStats>;
  networkInterfaces(): Record<string, InterfaceAddress[] | undefined>;
  /** True/false if the clock is NTP-synchronised, undefined if that cannot be told here. */
  timeSynchronized(): Promise<boolean | undefined>;
  units: UnitHealth;
  /** Milliseconds since the epoch. */
  now(): number;
}

/** A health source: returns its samples, or none when it has nothing on this machine. */
export interface Collector {
  name: string;
  collect(ctx: CollectorContext): Sample[] | Promise<Sample[]>;
}
