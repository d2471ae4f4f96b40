import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';

/** The form field that carries the CSRF token. */
export const CSRF_FIELD = 'csrf';

/**
 * The CSRF token of a session: an HMAC keyed by the session's secret (the cookie, which a
 * cross-site page can neither read nor send with a readable answer). Needs no storage, so
 * every hub process on the same store computes the same token.
 */
export function csrfToken(session: string): string {
  return createHmac('sha256', session).update('piot-csrf-v1').digest('base64url');
}

/** Whether `token` is the session's CSRF token (in constant time). */
export function checkCsrfToken(session: string, token: string | undefined): boolean {
  if (token === undefined) return false;
  const expected = Buffer.from(csrfToken(session));
  const given = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/**
 * False if the browser says the request comes from another site: an `Origin` whose host is
 * not the request's `Host`, or `Sec-Fetch-Site: cross-site`. A request without either (curl,
 * an old browser) passes here; the CSRF token still guards it. Hosts, not schemes, are
 * compared, so a TLS proxy in front of the hub's plain HTTP does not break forms.
 */
export function sameOrigin(c: Context): boolean {
  if (c.req.header('sec-fetch-site') === 'cross-site') return false;
  const origin = c.req.header('origin');
  if (origin === undefined) return true;
  const host = c.req.header('host') ?? new URL(c.req.url).host;
  try {
    return new URL(origin).host === host;
  } catch {
    return false; // "null" (a sandboxed frame, a redirect across sites) or garbage
  }
}
