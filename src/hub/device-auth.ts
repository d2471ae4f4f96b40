import type { Context } from 'hono';
import type { KeyObject } from 'node:crypto';
import { httpError } from './http.js';
import {
  canonicalRequest,
  DEVICE_HEADER,
  NONCE_HEADER,
  parseSigningKey,
  SESSION_HEADER,
  SESSION_ID,
  SIGNATURE_HEADER,
  TIME_HEADER,
  verifySessionMac,
  verifySignature,
} from './signing.js';
import type { DeviceKey, Store } from './store/store.js';

/** How far a device's clock may be from the hub's. */
export const MAX_SKEW_MS = 5 * 60_000;

/** What the guard reads of a request: method, target (path and query) and headers. */
export interface SignedParts {
  method: string;
  /** The request's target as signed: path and query, as the server received them. */
  target: string;
  header(name: string): string | undefined;
}

/** A hono request's parts for the guard. */
export function honoParts(c: Context): SignedParts {
  return {
    method: c.req.method,
    target: targetOf(c.req.url),
    header: (name) => c.req.header(name),
  };
}

/**
 * The path and query of an absolute URL as the server built it (`new URL(url)`'s pathname and
 * search, without parsing the whole URL again where that is plain).
 */
export function targetOf(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const target = start < 0 ? '/' : url.slice(start);
  if (!target.endsWith('?') && !target.includes('#')) return target;
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
}

/** A device request whose signature, time and device are good; its nonce is not stored yet. */
export interface SignedRequest {
  device: string;
  nonce: string;
  at: number;
}

/** What a route accepts: any signed request, or only one signed with the device's own key. */
export interface GuardOptions {
  deviceKeyOnly?: boolean;
}

/** Checks signed device requests; the store refuses a nonce a device used before. */
export interface DeviceGuard {
  /**
   * The device a request comes from, if its signature, time and nonce are good and it is
   * the device named in the path: else a 401 (who are you?) or 403 (not yours) error.
   */
  authenticate(
    request: SignedParts,
    body: Uint8Array,
    pathDevice: string,
    options?: GuardOptions,
  ): Promise<string>;
  /**
   * authenticate's checks but the stored nonce, for a route that stores the nonce in its
   * own transaction (Store.recordHeartbeat): it then calls `accept`, or throws `replayed()`.
   */
  verify(
    request: SignedParts,
    body: Uint8Array,
    pathDevice: string,
    options?: GuardOptions,
  ): Promise<SignedRequest>;
  /** Tells the guard the store has taken a verified request's nonce (old ones are pruned). */
  accept(request: SignedRequest): void;
}

/** The error for a nonce seen before. */
export const replayed = () => httpError(401, 'nonce already used (replayed request)');

/** The error for a session the hub does not hold (expired, replaced, or never opened). */
const staleSession = () =>
  httpError(401, 'the device session is unknown or expired; open a new one', { renew: true });

/** A DeviceGuard on the store's devices and nonces. */
export function deviceGuard(store: Store, now: () => number): DeviceGuard {
  let lastPrune = 0;
  // Each device's key, parsed once (not on every request; about 10 % of a verification).
  const keys = new Map<string, KeyObject | undefined>();
  const keyOf = (signing: string) => {
    if (!keys.has(signing)) {
      if (keys.size >= 10_000) keys.clear();
      keys.set(signing, parseSigningKey(signing));
    }
    return keys.get(signing);
  };
  const accept = ({ at }: SignedRequest) => {
    if (at - lastPrune > 60_000) {
      lastPrune = at;
      // Nonces older than twice the allowed skew can never be accepted again anyway.
      store.pruneNonces(at - 2 * MAX_SKEW_MS).catch(() => undefined);
    }
  };
  // Each session key, decoded once.
  const sessionKeys = new Map<string, Buffer>();
  const sessionKeyOf = (text: string) => {
    let key = sessionKeys.get(text);
    if (!key) {
      if (sessionKeys.size >= 10_000) sessionKeys.clear();
      key = Buffer.from(text, 'base64');
      sessionKeys.set(text, key);
    }
    return key;
  };
  const verify = async (
    request: SignedParts,
    body: Uint8Array,
    pathDevice: string,
    options: GuardOptions = {},
  ): Promise<SignedRequest> => {
    const device = request.header(DEVICE_HEADER);
    const session = request.header(SESSION_HEADER);
    const time = request.header(TIME_HEADER);
    const nonce = request.header(NONCE_HEADER);
    const signature = request.header(SIGNATURE_HEADER);
    if (!device || !time || !nonce || !signature) {
      throw httpError(401, 'unsigned request: X-Piot-Device, -Time, -Nonce and -Signature needed');
    }
    if (!/^\d{1,16}$/.test(time)) throw httpError(401, 'X-Piot-Time is not a time in ms');
    if (!/^[A-Za-z0-9_-]{16,128}$/.test(nonce)) throw httpError(401, 'X-Piot-Nonce is malformed');
    if (session !== undefined && !SESSION_ID.test(session)) {
      throw httpError(401, 'X-Piot-Session is malformed');
    }
    if (session !== undefined && options.deviceKeyOnly) {
      throw httpError(401, "this request must be signed with the device's own key, not a session");
    }
    const at = now();
    if (Math.abs(at - Number(time)) > MAX_SKEW_MS) {
      throw httpError(401, 'X-Piot-Time is more than 5 minutes off the hub clock', {
        hubTime: at,
      });
    }
    const text = canonicalRequest({
      method: request.method,
      path: request.target,
      time,
      nonce,
      body,
    });
    /** Why the device's key refuses the request, if it does. */
    const refusal = (record: DeviceKey | undefined) => {
      const key = record ? keyOf(record.signing) : undefined;
      if (!record || !key) return httpError(401, `unknown device ${JSON.stringify(device)}`);
      if (session === undefined) {
        if (!verifySignature(key, text, signature)) return httpError(401, 'bad signature');
      } else {
        const current = record.session;
        if (current?.id !== session || current.expiresAt <= at) return staleSession();
        if (!verifySessionMac(sessionKeyOf(current.key), text, signature)) {
          return httpError(401, 'bad signature');
        }
      }
      return undefined;
    };
    let record = await store.deviceKey(device);
    let refused = refusal(record);
    // A cached key may trail a change another hub process just made (a new session or key).
    if (refused && record?.cached) {
      record = await store.deviceKey(device, { fresh: true });
      refused = refusal(record);
    }
    if (refused) throw refused;
    if (!record) throw httpError(401, `unknown device ${JSON.stringify(device)}`);
    if (record.revoked) throw httpError(403, `device ${device} is revoked`);
    if (device !== pathDevice)
      throw httpError(403, `device ${device} cannot act for ${pathDevice}`);
    return { device, nonce, at };
  };
  return {
    verify,
    accept,
    async authenticate(request, body, pathDevice, options) {
      const signed = await verify(request, body, pathDevice, options);
      if (!(await store.useNonce(signed.device, signed.nonce, signed.at))) throw replayed();
      accept(signed);
      return signed.device;
    },
  };
}
