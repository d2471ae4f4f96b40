import { isOnline } from '../online.js';
import type { DeviceRecord } from '../store/store.js';

/** How bad a device's state is, worst last. */
export type HealthLevel = 'ok' | 'warning' | 'critical';

/** A device's worst health and every reason for it. */
export interface Health {
  level: HealthLevel;
  reasons: { level: Exclude<HealthLevel, 'ok'>; text: string }[];
}

/** The SoC temperature and root filesystem use above which a device is flagged. */
export const HOT_C = 80;
export const DISK_FULL = 0.9;

// The bits of `vcgencmd get_throttled`: 0–3 hold now, 16–19 the same since boot.
const FLAGS = [
  { bit: 0, text: 'under-voltage' },
  { bit: 1, text: 'frequency capped' },
  { bit: 2, text: 'throttled' },
  { bit: 3, text: 'soft temperature limit' },
] as const;

/** The raw get_throttled value as words: what holds now, and what happened since boot. */
export function decodeThrottled(raw: number): { now: string[]; sinceBoot: string[] } {
  const set = (bit: number) => Math.floor(raw / 2 ** bit) % 2 === 1;
  return {
    now: FLAGS.filter((f) => set(f.bit)).map((f) => f.text),
    sinceBoot: FLAGS.filter((f) => set(f.bit + 16)).map((f) => f.text),
  };
}

/**
 * The device's worst health at `now`. Critical: offline, under-voltage now, read-only root,
 * a failed service or unit. Warning: hot, disk nearly full, any other throttling flag.
 */
export function deviceHealth(device: DeviceRecord, now: number): Health {
  const reasons: Health['reasons'] = [];
  const critical = (text: string) => reasons.push({ level: 'critical', text });
  const warning = (text: string) => reasons.push({ level: 'warning', text });
  if (!isOnline(device, now)) critical(device.lastSeen === undefined ? 'never seen' : 'offline');
  const beat = device.lastHeartbeat;
  const metrics = beat?.metrics ?? {};
  if (metrics.throttled !== undefined) {
    const flags = decodeThrottled(metrics.throttled);
    for (const flag of flags.now) {
      if (flag === 'under-voltage') critical('under-voltage now');
      else warning(`${flag} now`);
    }
    const past = flags.sinceBoot.filter((f) => !flags.now.includes(f));
    if (past.length > 0) warning(`since boot: ${past.join(', ')}`);
  }
  if (beat?.health?.readOnlyRoot) critical('root filesystem is read-only');
  for (const unit of beat?.health?.failedUnits ?? []) critical(`${unit} failed`);
  for (const service of beat?.services ?? []) {
    if (service.state === 'failed') critical(`${service.kind} ${service.name} failed`);
  }
  if (metrics.temperature !== undefined && metrics.temperature > HOT_C)
    warning(`hot: ${metrics.temperature.toFixed(1)} °C`);
  if (metrics.disk !== undefined && metrics.disk > DISK_FULL)
    warning(`disk ${Math.round(metrics.disk * 100)} % full`);
  const level = reasons.some((r) => r.level === 'critical')
    ? 'critical'
    : reasons.length > 0
      ? 'warning'
      : 'ok';
  return { level, reasons };
}
