import { z } from 'zod';

const text = (max: number) => z.string().max(max);
const ratio = z.number().min(0).max(1);

/** A deploy event as the agent keeps it in state.json (src/agent/state.ts). */
export const deployEventSchema = z.object({
  at: text(40),
  commit: text(64),
  kind: z.enum(['started', 'succeeded', 'failed', 'rolled-back', 'invalid', 'interrupted', 'bad']),
  reason: text(4000).optional(),
});

/** A job run as the agent records it (src/agent/jobs.ts), with the job's app and name. */
export const jobRunSchema = z.object({
  app: text(40),
  job: text(64),
  start: text(40),
  end: text(40),
  seconds: z.number().min(0),
  status: z.enum(['succeeded', 'failed', 'timed-out', 'killed']),
  exitCode: z.number().int().optional(),
  attempts: z.number().int().min(1).max(1000),
  log: z.array(text(2000)).max(50),
});

/** The numeric series the hub keeps a history of. */
export const metricsSchema = z.object({
  /** SoC temperature, °C. */
  temperature: z.number().min(-100).max(200).optional(),
  /** CPU busy share since the last heartbeat, 0–1. */
  cpu: ratio.optional(),
  /** Memory used share, 0–1. */
  memory: ratio.optional(),
  /** Root filesystem used share, 0–1. */
  disk: ratio.optional(),
  /** Wi-Fi signal, dBm. */
  wifiSignal: z.number().min(-150).max(0).optional(),
  /** The raw `get_throttled` value: bits 0–3 now, 16–19 since boot (a Pi only). */
  throttled: z.number().int().min(0).max(0xffffffff).optional(),
});

/** A service or job unit of the running release, from systemd. */
export const serviceSchema = z.object({
  app: text(40),
  name: text(64),
  kind: z.enum(['service', 'job']),
  /** systemd's ActiveState: active, inactive, failed, activating, deactivating, reloading. */
  state: text(20),
  /** systemd's SubState: running, exited, dead, auto-restart… */
  sub: text(40).optional(),
  /** Restarts systemd made (NRestarts). */
  restarts: z.number().int().min(0).optional(),
  /** Memory in bytes and CPU time in seconds (systemd accounting). */
  memory: z.number().min(0).optional(),
  cpu: z.number().min(0).optional(),
});

/** What can break a Pi besides its numbers. */
export const healthSchema = z.object({
  /** The root filesystem is mounted read-only (a failing SD card). */
  readOnlyRoot: z.boolean().optional(),
  /** Failed systemd units, PioT's or not. */
  failedUnits: z.array(text(256)).max(100).optional(),
});

/** What a device sends in `POST /api/v1/devices/:name/heartbeat`. */
export const heartbeatSchema = z.object({
  agent: z
    .object({
      version: text(40),
      uptime: z.number().min(0).optional(),
      /** Where Prometheus can scrape the agent's /metrics from (HOST:PORT), if anywhere. */
      metricsAddress: text(100)
        .regex(/^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'is not HOST:PORT' })
        .optional(),
    })
    .optional(),
  metrics: metricsSchema.optional(),
  deploy: z
    .object({
      app: text(40).optional(),
      current: text(64).optional(),
      previous: text(64).optional(),
      pending: text(64).optional(),
      lastDeploy: deployEventSchema.optional(),
    })
    .optional(),
  events: z.array(deployEventSchema).max(200).optional(),
  jobRuns: z.array(jobRunSchema).max(200).optional(),
  /**
   * Samples the device kept while the hub was unreachable, oldest first, each with the time
   * (ms since the epoch) it was taken; stored at that time.
   */
  history: z
    .array(z.object({ at: z.number().int().min(0), metrics: metricsSchema }))
    .max(500)
    .optional(),
  health: healthSchema.optional(),
  /** The release's services and jobs on this device (what a person can restart or run). */
  services: z.array(serviceSchema).max(200).optional(),
});

export type Heartbeat = z.output<typeof heartbeatSchema>;

/** What the hub keeps of a heartbeat as the device's last one: all but what it carried. */
export type HeartbeatSummary = Omit<Heartbeat, 'events' | 'jobRuns' | 'history'> & {
  receivedAt: number;
};

/**
 * A heartbeat received at `receivedAt` as its summary, and whether it carried deploy events,
 * job runs or queued samples (which the store and the alert rules read beyond the summary).
 */
export function splitHeartbeat(
  heartbeat: Heartbeat,
  receivedAt: number,
): { summary: HeartbeatSummary; carried: boolean } {
  const { events, jobRuns, history, ...rest } = heartbeat;
  return {
    summary: { ...rest, receivedAt },
    carried: Boolean(events?.length || jobRuns?.length || history?.length),
  };
}
export type Metrics = z.output<typeof metricsSchema>;
export type DeployEventRecord = z.output<typeof deployEventSchema>;
export type JobRunRecord = z.output<typeof jobRunSchema>;
export type ServiceRecord = z.output<typeof serviceSchema>;
