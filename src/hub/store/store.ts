import type { RestartMemory, Severity } from '../alerts/rules.js';
import type { CommandResult } from '../commands.js';
import type {
  DeployEventRecord,
  Heartbeat,
  HeartbeatSummary,
  JobRunRecord,
  Metrics,
} from '../heartbeat.js';

/** A device as the hub knows it. */
export interface DeviceRecord {
  name: string;
  /** `ed25519:` and the base64 of the raw public key. */
  signing: string;
  enrolledAt: number;
  revoked: boolean;
  lastSeen?: number;
  /** The last heartbeat without its events and job runs, and when it arrived. */
  lastHeartbeat?: HeartbeatSummary;
}

/** What authenticates a device's requests: its key, whether it is revoked, its session. */
export interface DeviceKey {
  /** `ed25519:` and the base64 of the raw public key. */
  signing: string;
  revoked: boolean;
  /** The device's current session, if it opened one: the key is base64 (32 bytes). */
  session?: DeviceSessionRecord;
  /** Read from the hub's cache (PostgreSQL): another hub process may have changed it since. */
  cached?: boolean;
}

/** A device session as the hub keeps it. */
export interface DeviceSessionRecord {
  id: string;
  key: string;
  expiresAt: number;
}

/** One point of a device's metric history. */
export interface Sample extends Metrics {
  at: number;
}

/** A command queued for a device. */
export interface CommandRecord {
  id: string;
  kind: string;
  /** The command's arguments besides its kind (`job`, `service`, `lines`). */
  args?: Record<string, unknown>;
  createdAt: number;
  createdBy: string;
  /** When the device took it, and when it answered. */
  deliveredAt?: number;
  finishedAt?: number;
  result?: CommandResult;
}

/** An alert: one condition of a device, from when it started until it resolved. */
export interface AlertRecord {
  device: string;
  /** What it is about, stable while it lasts: `offline`, `service:web/api`, `disk:/`… */
  key: string;
  severity: Severity;
  summary: string;
  startedAt: number;
  resolvedAt?: number;
}

/** Why an enrolment was refused, or the device it made. */
export type EnrolResult =
  | { ok: true; device: DeviceRecord; again: boolean }
  | { ok: false; reason: 'bad-token' | 'name-taken' };

/** Everything the hub keeps. Two implementations (SQLite, PostgreSQL), one contract suite. */
export interface Store {
  addEnrolmentToken(hash: string, options: { now: number; expiresAt?: number }): Promise<void>;
  /**
   * Uses an enrolment token once to enrol a device. The same device (name and key) may
   * repeat its enrolment with the same token (its first answer may have been lost); a used,
   * expired or unknown token, or a name a live device holds, is refused and changes nothing.
   */
  enrol(input: {
    tokenHash: string;
    name: string;
    signing: string;
    now: number;
  }): Promise<EnrolResult>;
  getDevice(name: string): Promise<DeviceRecord | undefined>;
  /**
   * What authenticates a device's requests (see DeviceKey); `fresh`: from the database, not
   * from a cache.
   */
  deviceKey(name: string, options?: { fresh?: boolean }): Promise<DeviceKey | undefined>;
  /**
   * Makes `session` the device's current one, replacing any other; resolves false if no live
   * (enrolled, not revoked) device has that name.
   */
  openDeviceSession(name: string, session: DeviceSessionRecord): Promise<boolean>;
  listDevices(): Promise<DeviceRecord[]>;
  /** Marks a device revoked and ends its session; resolves false if there is no such device. */
  revokeDevice(name: string): Promise<boolean>;
  /**
   * Records a heartbeat at `now`: last seen, summary, a sample, new events and job runs.
   * With a nonce, the request's nonce is remembered in the same transaction (see useNonce):
   * resolves false, recording nothing, if the device used it before.
   */
  recordHeartbeat(
    name: string,
    heartbeat: Heartbeat,
    now: number,
    nonce?: string,
  ): Promise<boolean>;
  /**
   * Downsamples history: samples before `hourlyBefore` (rounded down to the hour) become one
   * average per device and hour; hourly points before `dropBefore` are deleted.
   */
  compactSamples(options: { hourlyBefore: number; dropBefore: number }): Promise<void>;
  /**
   * Forgets what happened before `before` (ms since the epoch): deploy events, job runs
   * that ended, answered or never-taken commands, and resolved alerts.
   */
  pruneHistory(before: number): Promise<void>;
  /** Samples with from <= at < to, oldest first: hourly averages, then raw samples. */
  samples(name: string, range: { from: number; to: number }): Promise<Sample[]>;
  /** The newest deploy events, newest first. */
  deployEvents(name: string, limit: number): Promise<DeployEventRecord[]>;
  /** The newest job runs, newest first. */
  jobRuns(name: string, limit: number): Promise<JobRunRecord[]>;
  /** Queues a command for a device. */
  addCommand(device: string, command: CommandRecord): Promise<void>;
  /** The device's undelivered commands, oldest first, marked delivered (each is given once). */
  takeCommands(device: string, now: number): Promise<CommandRecord[]>;
  /**
   * Records the device's answer to a command it was given; resolves false if the device has
   * no such delivered command. The first answer counts.
   */
  finishCommand(device: string, id: string, result: CommandResult, now: number): Promise<boolean>;
  /** One of the device's commands, with its answer if it came. */
  getCommand(device: string, id: string): Promise<CommandRecord | undefined>;
  /** The device's newest commands, newest first. */
  commands(device: string, limit: number): Promise<CommandRecord[]>;
  /** Remembers a request nonce; resolves false if this device used it before. */
  useNonce(device: string, nonce: string, now: number): Promise<boolean>;
  /** Forgets nonces older than `before` (they are refused by their time anyway). */
  pruneNonces(before: number): Promise<void>;
  /** Adds a user or replaces their password. */
  setUser(name: string, passwordHash: string, now: number): Promise<void>;
  getUserPasswordHash(name: string): Promise<string | undefined>;
  addApiToken(hash: string, user: string, options: { label: string; now: number }): Promise<void>;
  /** The user an API token belongs to. */
  apiTokenUser(hash: string): Promise<string | undefined>;
  addSession(hash: string, user: string, expiresAt: number): Promise<void>;
  /** Forgets sessions that expired before `now`. */
  pruneSessions(now: number): Promise<void>;
  /** The user of a session that has not expired. */
  sessionUser(hash: string, now: number): Promise<string | undefined>;
  /** Forgets one session (logout); nothing happens if there is no such session. */
  deleteSession(hash: string): Promise<void>;
  /**
   * Starts an alert unless the device has an active one with that key. Resolves true only
   * for the one caller (of any hub process) that started it: that caller sends it.
   */
  openAlert(alert: Omit<AlertRecord, 'resolvedAt'>): Promise<boolean>;
  /**
   * Resolves the device's active alert with that key at `now`. Resolves to the alert only for
   * the one caller that resolved it (that caller sends the resolved message), else undefined.
   */
  resolveAlert(device: string, key: string, now: number): Promise<AlertRecord | undefined>;
  /** Active alerts, of one device or of all, by device, then oldest first. */
  activeAlerts(device?: string): Promise<AlertRecord[]>;
  /** The device's newest alerts, active or resolved, newest first. */
  alerts(device: string, limit: number): Promise<AlertRecord[]>;
  /** The service restart counts the alert rules last saw for a device. */
  getRestartMemory(device: string): Promise<RestartMemory | undefined>;
  setRestartMemory(device: string, memory: RestartMemory): Promise<void>;
  close(): Promise<void>;
}
