import type { DeviceKey } from './store.js';

/** The channel the `device_key_changed` trigger (migration 7) notifies, with a device name. */
export const DEVICE_KEYS_CHANNEL = 'piot_device_keys';

/** What a listening connection tells: notifications, and whether it is listening. */
export interface ListenHandlers {
  message(payload: string): void;
  state(listening: boolean): void;
}

export interface KeyCache {
  /** The device's key, from the cache when it holds one, unless `fresh`. */
  get(name: string, options?: { fresh?: boolean }): Promise<DeviceKey | undefined>;
  /** Drops a device's entry: this process just changed its key, revocation or session. */
  forget(name: string): void;
}

const MAX_ENTRIES = 100_000;

/**
 * Device keys held in the hub process, so that a heartbeat's authentication costs the
 * database nothing. PostgreSQL keeps them true: every change of a device's key, revocation
 * or session is notified to every hub process when it commits (they may be several on one
 * database), and each drops that device's entry. A read that a notification overtook is not
 * kept. While the listening connection is down (not yet connected, or lost) nothing is
 * cached and every read goes to the database. Only known devices are cached.
 *
 * Another process's change reaches this one a moment after its commit; a request in that
 * moment meets the old entry. The guard reads the key again, fresh, before it refuses a
 * request (a new session, a new key), so only a revocation can trail by that moment.
 */
export function deviceKeyCache(
  load: (name: string) => Promise<DeviceKey | undefined>,
  listen: (handlers: ListenHandlers) => void,
): KeyCache {
  const entries = new Map<string, DeviceKey>();
  let listening = false;
  // Changes seen so far: a read kept only if none came while it was at the database.
  let changes = 0;
  const forget = (name: string) => {
    changes++;
    entries.delete(name);
  };
  listen({
    message: forget,
    state(now) {
      changes++;
      entries.clear();
      listening = now;
    },
  });
  return {
    async get(name, options = {}) {
      if (listening && !options.fresh) {
        const cached = entries.get(name);
        if (cached) return cached;
      }
      const before = changes;
      const key = await load(name);
      if (key && listening && changes === before) {
        if (entries.size >= MAX_ENTRIES) entries.clear();
        entries.set(name, { ...key, cached: true });
      }
      return key;
    },
    forget,
  };
}
