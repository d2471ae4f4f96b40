import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deviceIdentity } from '../image/identity.js';
import { checkPassword, hashPassword, hashToken, newSecret } from './secrets.js';
import {
  canonicalRequest,
  newNonce,
  parseSigningKey,
  signRequest,
  verifySignature,
} from './signing.js';
import { tokenBucket } from './rate-limit.js';

describe('request signing', () => {
  it("makes nonces that sort in the order they are made, each one the hub's form", () => {
    const now = Date.UTC(2026, 11, 7, 21, 30);
    const made = [now - 60_000, now - 1, now, now + 1, now + 1000].map((t) => newNonce(t));
    expect([...made].sort()).toEqual(made);
    for (const nonce of made) expect(nonce).toMatch(/^[0-9a-z]{9}[A-Za-z0-9_-]{22}$/);
    // The random part alone makes them unique.
    expect(new Set(Array.from({ length: 1000 }, () => newNonce(now))).size).toBe(1000);
    const headers = signRequest({
      device: 'kitchen',
      privateKey: generateKeyPairSync('ed25519').privateKey,
      method: 'POST',
      path: '/api/v1/devices/kitchen/heartbeat',
      now,
    });
    expect(headers['x-piot-nonce']!.slice(0, 9)).toBe(now.toString(36).padStart(9, '0'));
  });

  it('verifies with the fleet.yaml public key what the device key signed', async () => {
    const identity = await deviceIdentity();
    const headers = signRequest({
      device: 'kitchen',
      privateKey: identity.signingKey,
      method: 'post',
      path: '/api/v1/devices/kitchen/heartbeat?x=1',
      body: '{}',
      now: 1234,
      nonce: 'abcdefghijklmnop',
    });
    expect(headers).toMatchObject({
      'x-piot-device': 'kitchen',
      'x-piot-time': '1234',
      'x-piot-nonce': 'abcdefghijklmnop',
    });
    const text = canonicalRequest({
      method: 'POST',
      path: '/api/v1/devices/kitchen/heartbeat?x=1',
      time: '1234',
      nonce: 'abcdefghijklmnop',
      body: Buffer.from('{}'),
    });
    expect(text).toBe(
      'POST\n/api/v1/devices/kitchen/heartbeat?x=1\n1234\nabcdefghijklmnop\n' +
        '44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    );
    const key = parseSigningKey(identity.signingPublic)!;
    expect(verifySignature(key, text, headers['x-piot-signature']!)).toBe(true);
    expect(verifySignature(key, text.replace('1234', '1235'), headers['x-piot-signature']!)).toBe(
      false,
    );
    const other = parseSigningKey((await deviceIdentity()).signingPublic)!;
    expect(verifySignature(other, text, headers['x-piot-signature']!)).toBe(false);
    expect(createPrivateKey(identity.signingKey).asymmetricKeyType).toBe('ed25519');
  });

  it('accepts only ed25519: and 32 bytes of base64 as a public key', () => {
    expect(parseSigningKey('ed25519:' + Buffer.alloc(32, 7).toString('base64'))).toBeDefined();
    for (const bad of [
      '',
      'ed25519:',
      'ed25519:AAAA',
      'rsa:' + Buffer.alloc(32).toString('base64'),
    ])
      expect(parseSigningKey(bad)).toBeUndefined();
    expect(parseSigningKey('ed25519:' + Buffer.alloc(33).toString('base64'))).toBeUndefined();
  });
});

describe('secrets', () => {
  it('checks passwords against their scrypt hash', async () => {
    const hash = await hashPassword('correct horse');
    expect(hash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(await checkPassword('correct horse', hash)).toBe(true);
    expect(await checkPassword('correct horsf', hash)).toBe(false);
    expect(await checkPassword('correct horse', undefined)).toBe(false);
    expect(await checkPassword('x', 'garbage')).toBe(false);
    expect(await hashPassword('correct horse')).not.toBe(hash);
  });

  it('makes distinct prefixed tokens and stores only their digest', () => {
    const a = newSecret('piote');
    expect(a).toMatch(/^piote_[A-Za-z0-9_-]{32}$/);
    expect(newSecret('piote')).not.toBe(a);
    expect(hashToken(a)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('token bucket', () => {
  it('allows a burst, then refills at the rate, per key', () => {
    const limit = tokenBucket({ burst: 2, perMinute: 2 });
    expect([limit.take('a', 0), limit.take('a', 0), limit.take('a', 0)]).toEqual([
      true,
      true,
      false,
    ]);
    expect(limit.take('b', 0)).toBe(true);
    expect(limit.take('a', 29_000)).toBe(false);
    expect(limit.take('a', 30_000)).toBe(true);
    expect(limit.take('a', 30_000)).toBe(false);
  });
});
