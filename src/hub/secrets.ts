import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt) as (
  password: string,
  salt: Buffer,
  length: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;

const N = 16384;
const R = 8;
const P = 1;
const LENGTH = 32;

/** A new random secret (enrolment token, API token, session id), URL-safe. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}

/** How tokens and session ids are stored: their SHA-256, hex (they are long and random). */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A salted scrypt hash of a password: `scrypt$N$r$p$salt$hash`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, LENGTH, { N, r: R, p: P, maxmem: 64 << 20 });
  return ['scrypt', N, R, P, salt.toString('base64'), hash.toString('base64')].join('$');
}

// A hash to check against when the user does not exist, so both cases take as long.
let dummy: Promise<string> | undefined;

/** Whether the password matches the stored hash (a missing hash costs the same time). */
export async function checkPassword(
  password: string,
  stored: string | undefined,
): Promise<boolean> {
  const text = stored ?? (await (dummy ??= hashPassword('not a password')));
  const [kind, n, r, p, salt, hash] = text.split('$');
  if (kind !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
    maxmem: 64 << 20,
  });
  return stored !== undefined && timingSafeEqual(actual, expected);
}
