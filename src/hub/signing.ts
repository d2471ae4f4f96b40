import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** The headers of a signed device request. */
export const DEVICE_HEADER = 'x-piot-device';
export const TIME_HEADER = 'x-piot-time';
export const NONCE_HEADER = 'x-piot-nonce';
export const SIGNATURE_HEADER = 'x-piot-signature';
/** The device session whose key signs a request (HMAC-SHA256); absent for an Ed25519 one. */
export const SESSION_HEADER = 'x-piot-session';

/** A device session: its id (the hub's) and the key both ends derived. */
export interface DeviceSession {
  id: string;
  key: Buffer;
}

/** What a device signs: method, path with query, time (ms), nonce and the body's SHA-256. */
export function canonicalRequest(parts: {
  method: string;
  path: string;
  time: string;
  nonce: string;
  body: Uint8Array;
}): string {
  const digest = createHash('sha256').update(parts.body).digest('hex');
  return [parts.method.toUpperCase(), parts.path, parts.time, parts.nonce, digest].join('\n');
}

/**
 * A request's nonce: the time (ms) in base 36, 9 digits, then 16 random bytes (base64url).
 * The random part makes it unique; the time makes a device's nonces sort in the order they
 * are made, so the hub adds each at the end of its nonce index (migrations 9 and 10), not
 * on a page of its own.
 */
export function newNonce(now: number, random: Uint8Array = randomBytes(16)): string {
  return now.toString(36).padStart(9, '0') + Buffer.from(random).toString('base64url');
}

/**
 * The headers that sign one request: with a device session's key (HMAC-SHA256) if `session`
 * is given, else with the device's Ed25519 key (PKCS#8 PEM or key object).
 */
export function signRequest(request: {
  device: string;
  privateKey: string | KeyObject;
  session?: DeviceSession;
  method: string;
  path: string;
  body?: Uint8Array | string;
  now?: number;
  nonce?: string;
}): Record<string, string> {
  const now = request.now ?? Date.now();
  const time = String(now);
  const nonce = request.nonce ?? newNonce(now);
  const body =
    typeof request.body === 'string'
      ? Buffer.from(request.body)
      : (request.body ?? new Uint8Array());
  const text = canonicalRequest({ method: request.method, path: request.path, time, nonce, body });
  const headers = {
    [DEVICE_HEADER]: request.device,
    [TIME_HEADER]: time,
    [NONCE_HEADER]: nonce,
  };
  if (request.session) {
    return {
      ...headers,
      [SESSION_HEADER]: request.session.id,
      [SIGNATURE_HEADER]: sessionMac(request.session.key, text),
    };
  }
  const key =
    typeof request.privateKey === 'string'
      ? createPrivateKey(request.privateKey)
      : request.privateKey;
  return { ...headers, [SIGNATURE_HEADER]: sign(null, Buffer.from(text), key).toString('base64') };
}

/** The HMAC-SHA256 (base64) of a canonical request under a session key. */
export function sessionMac(key: Buffer, text: string): string {
  return createHmac('sha256', key).update(text).digest('base64');
}

/** Whether `mac` (base64) is the session key's HMAC of `text`, compared in constant time. */
export function verifySessionMac(key: Buffer, text: string, mac: string): boolean {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(mac)) return false;
  return timingSafeEqual(
    createHmac('sha256', key).update(text).digest(),
    Buffer.from(mac, 'base64'),
  );
}

/** A session id as the hub makes them: 16 random bytes, base64url. */
export const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * A session's key from the X25519 secret both ends share: HKDF-SHA256, salted with the
 * session id and bound to the device's name, so it signs for that device and session only.
 */
export function deriveSessionKey(shared: Buffer, id: string, device: string): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, id, `piot device session ${device}`, 32));
}

/** The key object of an `ed25519:BASE64` public key, or undefined if it is not one. */
export function parseSigningKey(text: string): KeyObject | undefined {
  const match = /^ed25519:([A-Za-z0-9+/]{43}=)$/.exec(text);
  if (!match) return undefined;
  const raw = Buffer.from(match[1]!, 'base64');
  if (raw.length !== 32) return undefined;
  try {
    return createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
}

/** Whether `signature` (base64) is the key's Ed25519 signature of `text`. */
export function verifySignature(key: KeyObject, text: string, signature: string): boolean {
  if (!/^[A-Za-z0-9+/]{86}==$/.test(signature)) return false;
  return verify(null, Buffer.from(text), key, Buffer.from(signature, 'base64'));
}

/** A fresh X25519 key pair for a session handshake, with the raw public key in base64. */
export function sessionKeyPair(): { privateKey: KeyObject; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const raw = publicKey.export({ format: 'jwk' }).x!;
  return { privateKey, publicKey: Buffer.from(raw, 'base64url').toString('base64') };
}

/**
 * The secret an X25519 private key shares with a peer's raw public key (base64), or undefined
 * if that is not a usable key (malformed, or a small-order point giving an all-zero secret).
 */
export function sharedSecret(privateKey: KeyObject, peer: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(peer)) return undefined;
  try {
    const publicKey = createPublicKey({
      key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peer, 'base64').toString('base64url') },
      format: 'jwk',
    });
    const shared = diffieHellman({ privateKey, publicKey });
    return shared.some((byte) => byte !== 0) ? shared : undefined;
  } catch {
    return undefined;
  }
}
