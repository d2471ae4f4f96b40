import { randomBytes } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { DEVICE_NAME } from '../../spec/device.js';
import type { ResolvedDeps } from '../app.js';
import { commandResultSchema, MAX_WAIT_S, type CommandQueue } from '../commands.js';
import { honoParts, replayed, type DeviceGuard, type SignedParts } from '../device-auth.js';
import { heartbeatSchema, splitHeartbeat } from '../heartbeat.js';
import { httpError, parseJson, rawBody } from '../http.js';
import type { RateLimiter } from '../rate-limit.js';
import { hashToken } from '../secrets.js';
import { deriveSessionKey, parseSigningKey, sessionKeyPair, sharedSecret } from '../signing.js';

/** How long a device session lasts: a leaked session key signs for at most this long. */
export const DEVICE_SESSION_MS = 60 * 60_000;

const sessionSchema = z.strictObject({
  x25519: z.string().regex(/^[A-Za-z0-9+/]{43}=$/, {
    error: 'is not an X25519 public key (base64 of 32 bytes)',
  }),
});

const enrolSchema = z.strictObject({
  name: z.string().regex(DEVICE_NAME, { error: 'is not a device name' }),
  signing: z.string().refine((s) => parseSigningKey(s) !== undefined, {
    error: 'is not an Ed25519 public key (ed25519:BASE64 of 32 bytes)',
  }),
});

/** Bearer token of a request, if it has one. */
export function bearer(header: string | undefined): string | undefined {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/.exec(header ?? '');
  return match?.[1];
}

/**
 * Takes a device's heartbeat (`POST /api/v1/devices/:name/heartbeat`): checks its signature,
 * stores it with its nonce and feeds the alert rules; the answer's body, or an HTTP error.
 */
export type HeartbeatIngest = (
  request: SignedParts,
  pathDevice: string,
  body: Uint8Array,
) => Promise<{ ok: true; hubTime: number }>;

export function heartbeatIngest(deps: ResolvedDeps, guard: DeviceGuard): HeartbeatIngest {
  return async (request, pathDevice, raw) => {
    const signed = await guard.verify(request, raw, pathDevice);
    const heartbeat = parseJson(raw, heartbeatSchema);
    // The nonce is stored with the heartbeat: one write, one commit.
    const { device, nonce } = signed;
    const at = deps.now();
    if (!(await deps.store.recordHeartbeat(device, heartbeat, at, nonce))) throw replayed();
    guard.accept(signed);
    deps.alerts.heartbeat(device, splitHeartbeat(heartbeat, at));
    return { ok: true, hubTime: deps.now() };
  };
}

/**
 * The routes devices call: enrolment (enrolment token), then requests signed with the device's
 * Ed25519 key or a session's key.
 */
export function deviceRoutes(
  deps: ResolvedDeps,
  guard: DeviceGuard,
  heartbeat: HeartbeatIngest,
  limit: RateLimiter,
  queue: CommandQueue,
): Hono {
  const app = new Hono();
  app.post('/api/v1/enrol', async (c) => {
    if (!limit.take(deps.clientAddress(c), deps.now())) {
      c.header('Retry-After', '60');
      throw httpError(429, 'too many enrolment attempts from this address; try again later');
    }
    const token = bearer(c.req.header('authorization'));
    if (!token) throw httpError(401, 'enrolment needs Authorization: Bearer <enrolment token>');
    const body = parseJson(await rawBody(c), enrolSchema);
    const result = await deps.store.enrol({
      tokenHash: hashToken(token),
      name: body.name,
      signing: body.signing,
      now: deps.now(),
    });
    if (!result.ok && result.reason === 'name-taken') {
      throw httpError(409, `a device named ${body.name} is already enrolled`, {
        hint: `revoke it on the hub first if this card replaces it`,
      });
    }
    if (!result.ok) throw httpError(401, 'the enrolment token is unknown, used or expired');
    const { name, enrolledAt } = result.device;
    return c.json({ name, enrolledAt }, result.again ? 200 : 201);
  });

  // A device session: the device sends an ephemeral X25519 key in a request signed with its own
  // Ed25519 key; the hub answers with its own, and both derive the session's key. Until it
  // expires, the device signs with that key (HMAC-SHA256), far cheaper to check than Ed25519.
  app.post('/api/v1/devices/:name/session', async (c) => {
    const raw = await rawBody(c);
    const device = await guard.authenticate(honoParts(c), raw, c.req.param('name'), {
      deviceKeyOnly: true,
    });
    const body = parseJson(raw, sessionSchema);
    const hub = sessionKeyPair();
    const shared = sharedSecret(hub.privateKey, body.x25519);
    if (!shared) throw httpError(400, 'x25519 is not a usable X25519 public key');
    const id = randomBytes(16).toString('base64url');
    const key = deriveSessionKey(shared, id, device);
    const expiresAt = deps.now() + DEVICE_SESSION_MS;
    const opened = await deps.store.openDeviceSession(device, {
      id,
      key: key.toString('base64'),
      expiresAt,
    });
    if (!opened) throw httpError(403, `device ${device} is revoked`);
    return c.json({ session: id, x25519: hub.publicKey, expiresIn: DEVICE_SESSION_MS / 1000 }, 201);
  });

  app.post('/api/v1/devices/:name/heartbeat', async (c) =>
    c.json(await heartbeat(honoParts(c), c.req.param('name'), await rawBody(c))),
  );

  app.get('/api/v1/devices/:name/commands', async (c) => {
    const device = await guard.authenticate(honoParts(c), await rawBody(c), c.req.param('name'));
    const wait = c.req.query('wait') ?? '0';
    if (!/^\d{1,3}$/.test(wait) || Number(wait) > MAX_WAIT_S) {
      throw httpError(400, `wait=${wait.slice(0, 20)} is not 0 to ${MAX_WAIT_S} seconds`);
    }
    const commands = await queue.take(device, {
      waitMs: Number(wait) * 1000,
      now: deps.now,
      signal: c.req.raw.signal,
    });
    return c.json({ commands });
  });

  app.post('/api/v1/devices/:name/commands/:id/result', async (c) => {
    const raw = await rawBody(c);
    const device = await guard.authenticate(honoParts(c), raw, c.req.param('name'));
    const result = parseJson(raw, commandResultSchema);
    const id = c.req.param('id');
    if (!(await deps.store.finishCommand(device, id, result, deps.now()))) {
      throw httpError(
        404,
        `${device} has no command ${JSON.stringify(id.slice(0, 64))} waiting for its result`,
      );
    }
    return c.json({ ok: true });
  });
  return app;
}
