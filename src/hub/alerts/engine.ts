import type { DeployEventRecord, HeartbeatSummary, JobRunRecord } from '../heartbeat.js';
import type { AlertRecord, DeviceRecord, Store } from '../store/store.js';
import {
  DEFAULT_THRESHOLDS,
  evaluate,
  noteRestarts,
  type AlertThresholds,
  type RestartMemory,
} from './rules.js';
import {
  deliver,
  describeWebhook,
  type DeliveryOptions,
  type Notification,
  type Webhook,
} from './webhooks.js';

/** What a device's last full evaluation read, and the alert keys it left active. */
interface Seen {
  device: DeviceRecord;
  jobRuns: JobRunRecord[];
  deployEvents: DeployEventRecord[];
  restarts?: RestartMemory;
  /** The keys of the conditions it found, sorted. */
  active: string[];
}

/** Whether two services' restart counts are the same (a missing memory has none). */
function sameCounts(a: Record<string, number>, b: Record<string, number> = {}): boolean {
  let n = 0;
  for (const key in a) {
    if (a[key] !== b[key]) return false;
    n++;
  }
  for (const key in b) if (--n < 0 || !(key in a)) return false;
  return true;
}

/** Whether conditions (sorted by key, as `evaluate` gives them) have exactly these keys. */
function sameKeys(conditions: readonly { key: string }[], keys: readonly string[]): boolean {
  return conditions.length === keys.length && conditions.every((c, i) => c.key === keys[i]);
}

/** What the alert engine needs; all but the store have defaults. */
export interface AlertsOptions {
  store: Store;
  now?: () => number;
  webhooks?: readonly Webhook[];
  thresholds?: Partial<AlertThresholds>;
  /** The hub's address as people reach it, linked from notifications. */
  hubUrl?: string;
  delivery?: DeliveryOptions;
  /** Where failed deliveries and evaluations are reported (default: stderr). */
  log?: (message: string) => void;
}

/** The hub's own counters, for its /metrics. */
export interface HubCounters {
  heartbeats: number;
  deliveries: number;
  deliveriesFailed: number;
}

/** Evaluates devices against the alert rules, records transitions and sends webhooks. */
export interface Alerts {
  readonly thresholds: AlertThresholds;
  readonly counters: Readonly<HubCounters>;
  /**
   * Counts a received heartbeat and evaluates its device in the background; `beat` (what was
   * stored, and whether it carried events, job runs or queued samples) lets a heartbeat that
   * changes no alert skip the store (see `createAlerts`).
   */
  heartbeat(device: string, beat?: { summary: HeartbeatSummary; carried: boolean }): void;
  /** Evaluates one device now: starts and resolves its alerts, queues their notifications. */
  check(device: string): Promise<void>;
  /** Evaluates every device (the timer does this, for devices that went silent). */
  checkAll(): Promise<void>;
  /** Runs checkAll every `everyMs` (default 15 s) until the returned function is called. */
  start(everyMs?: number): () => void;
  /** Resolves once every evaluation and delivery begun so far has finished. */
  idle(): Promise<void>;
}

/**
 * The alert engine. Evaluations of one device run one at a time in this process; across
 * processes the store's atomic openAlert/resolveAlert make exactly one hub send each message.
 * Delivery runs in the background and never fails an evaluation or a heartbeat.
 */
export function createAlerts(options: AlertsOptions): Alerts {
  const { store } = options;
  const now = options.now ?? Date.now;
  const log = options.log ?? ((message: string) => console.error(message));
  const thresholds = { ...DEFAULT_THRESHOLDS, ...options.thresholds };
  const counters: HubCounters = { heartbeats: 0, deliveries: 0, deliveriesFailed: 0 };
  const running = new Map<string, Promise<void>>();
  // What each device's last full evaluation read and left active, in this process.
  const seen = new Map<string, Seen>();
  const pending = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>) => {
    pending.add(promise);
    void promise.finally(() => pending.delete(promise));
  };

  const notify = (status: Notification['status'], alert: AlertRecord) => {
    for (const webhook of options.webhooks ?? []) {
      const n: Notification = { status, alert, hubUrl: options.hubUrl };
      track(
        deliver(webhook, n, options.delivery).then(
          () => void counters.deliveries++,
          (error: unknown) => {
            counters.deliveriesFailed++;
            const why = error instanceof Error ? error.message : String(error);
            log(
              `alert ${alert.device} ${alert.key} ${status}: ${describeWebhook(webhook)} failed: ${why}`,
            );
          },
        ),
      );
    }
  };

  const evaluateDevice = async (name: string) => {
    // Until this evaluation has finished (it may fail), the device gets full evaluations.
    seen.delete(name);
    const device = await store.getDevice(name);
    if (!device) return;
    const [jobRuns, deployEvents, memory, active] = await Promise.all([
      store.jobRuns(name, 50),
      store.deployEvents(name, 20),
      store.getRestartMemory(name),
      store.activeAlerts(name),
    ]);
    let restarts = memory;
    if (device.lastHeartbeat) {
      restarts = noteRestarts(memory, device.lastHeartbeat);
      if (restarts !== memory) await store.setRestartMemory(name, restarts);
    }
    const at = now();
    const conditions = evaluate({ device, jobRuns, deployEvents, restarts, now: at }, thresholds);
    const activeKeys = new Set(active.map((a) => a.key));
    const wanted = new Set(conditions.map((c) => c.key));
    for (const c of conditions) {
      if (activeKeys.has(c.key)) continue;
      const alert = { device: name, ...c, startedAt: at };
      if (await store.openAlert(alert)) notify('firing', alert);
    }
    for (const a of active) {
      if (wanted.has(a.key)) continue;
      const resolved = await store.resolveAlert(name, a.key, at);
      if (resolved) notify('resolved', resolved);
    }
    if (seen.size >= 100_000) seen.clear();
    // What is active now is what this evaluation wanted (an alert another hub opened or
    // resolved first included).
    seen.set(name, { device, jobRuns, deployEvents, restarts, active: [...wanted] });
  };

  const check = (name: string): Promise<void> => {
    const previous = running.get(name) ?? Promise.resolve();
    const next = previous.then(() => evaluateDevice(name));
    const settled = next.catch(() => undefined);
    running.set(name, settled);
    void settled.then(() => {
      if (running.get(name) === settled) running.delete(name);
    });
    track(settled);
    return next;
  };

  /**
   * A heartbeat that carried no events or runs, changed no restart count and leaves the
   * same conditions as the device's last evaluation changes no alert: it is evaluated in
   * memory against what that evaluation read, without the store's five reads. Anything else,
   * or an evaluation still running for the device, gets the full evaluation. Alerts another
   * hub process changed meanwhile are caught up by the periodic checkAll.
   */
  const changesNothing = (name: string, beat: { summary: HeartbeatSummary; carried: boolean }) => {
    const last = seen.get(name);
    if (!last || beat.carried || running.has(name)) return false;
    const restarts = noteRestarts(last.restarts, beat.summary);
    if (restarts.rose.length > 0 || !sameCounts(restarts.restarts, last.restarts?.restarts)) {
      return false;
    }
    const device = {
      ...last.device,
      lastSeen: beat.summary.receivedAt,
      lastHeartbeat: beat.summary,
    };
    const { jobRuns, deployEvents } = last;
    const input = { device, jobRuns, deployEvents, restarts: last.restarts, now: now() };
    if (!sameKeys(evaluate(input, thresholds), last.active)) return false;
    last.device = device;
    return true;
  };

  const checkAll = async () => {
    const devices = await store.listDevices();
    const results = await Promise.allSettled(devices.map((d) => check(d.name)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  };

  const report = (error: unknown) =>
    log(`alerts: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);

  return {
    thresholds,
    counters,
    heartbeat(device, beat) {
      counters.heartbeats++;
      if (beat && changesNothing(device, beat)) return;
      check(device).catch(report);
    },
    check,
    checkAll,
    start(everyMs = 15_000) {
      const timer = setInterval(() => void checkAll().catch(report), everyMs);
      timer.unref();
      return () => clearInterval(timer);
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
  };
}
