import { Hono } from 'hono';
import { z } from 'zod';
import { DEVICE_NAME } from '../../spec/device.js';
import type { ResolvedDeps } from '../app.js';
import { commandResultSchema, MAX_WAIT_S, type CommandQueue } from '../commands.js';
import { replayed, type DeviceGuard } from '../device-auth.js';
import { heartbeatSchema, splitHeartbeat } from '../heartbeat.js';
import { httpError, parseJson, rawBody } from '../http.js';
import type { RateLimiter } from '../rate-limit.js';
import { hashToken } from '../secrets.js';
import { parseSigningKey } from '../signing.js';

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

/** The routes devices call: enrolment (enrolment token), then Ed25519-signed requests. */
export function deviceRoutes(
  deps: ResolvedDeps,
  guard: DeviceGuard,
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

  app.post('/api/v1/devices/:name/heartbeat', async (c) => {
    const raw = await rawBody(c);
    const request = await guard.verify(c, raw, c.req.param('name'));
    const heartbeat = parseJson(raw, heartbeatSchema);
    // The nonce is stored with the heartbeat: one write, one commit.
    const { device, nonce } = request;
    const at = deps.now();
    if (!(await deps.store.recordHeartbeat(device, heartbeat, at, nonce))) throw replayed();
    guard.accept(request);
    deps.alerts.heartbeat(device, splitHeartbeat(heartbeat, at));
    return c.json({ ok: true, hubTime: deps.now() });
  });

  app.get('/api/v1/devices/:name/commands', async (c) => {
    const device = await guard.authenticate(c, await rawBody(c), c.req.param('name'));
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
    const device = await guard.authenticate(c, raw, c.req.param('name'));
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
