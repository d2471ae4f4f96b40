import type { DeviceRecord } from './store/store.js';

/** Heartbeats come every 30 s; a device is online while its last one is this recent (3 of them). */
export const ONLINE_WITHIN_MS = 90_000;

/** Whether the device's last signed request came within ONLINE_WITHIN_MS of `now`. */
export function isOnline(device: Pick<DeviceRecord, 'lastSeen'>, now: number): boolean {
  return device.lastSeen !== undefined && now - device.lastSeen <= ONLINE_WITHIN_MS;
}
