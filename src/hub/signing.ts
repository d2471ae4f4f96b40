import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  verify,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** The headers of a signed device request. */
export const DEVICE_HEADER = 'x-piot-device';
export const TIME_HEADER = 'x-piot-time';
export const NONCE_HEADER = 'x-piot-nonce';
export const SIGNATURE_HEADER = 'x-piot-signature';

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

/** The headers that sign one request with a device's PKCS#8 PEM Ed25519 key. */
export function signRequest(request: {
  device: string;
  privateKey: string | KeyObject;
  method: string;
  path: string;
  body?: Uint8Array | string;
  now?: number;
  nonce?: string;
}): Record<string, string> {
  const time = String(request.now ?? Date.now());
  const nonce = request.nonce ?? randomBytes(16).toString('base64url');
  const body =
    typeof request.body === 'string'
      ? Buffer.from(request.body)
      : (request.body ?? new Uint8Array());
  const key =
    typeof request.privateKey === 'string'
      ? createPrivateKey(request.privateKey)
      : request.privateKey;
  const text = canonicalRequest({ method: request.method, path: request.path, time, nonce, body });
  return {
    [DEVICE_HEADER]: request.device,
    [TIME_HEADER]: time,
    [NONCE_HEADER]: nonce,
    [SIGNATURE_HEADER]: sign(null, Buffer.from(text), key).toString('base64'),
  };
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
