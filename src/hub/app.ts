import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { createAlerts, type Alerts } from './alerts/engine.js';
import { commandQueue } from './commands.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { deviceGuard } from './device-auth.js';
import { deviceRoutes, heartbeatIngest, type HeartbeatIngest } from './routes/devices.js';
import { peopleRoutes } from './routes/people.js';
import { prometheusRoutes } from './routes/prometheus.js';
import { tokenBucket } from './rate-limit.js';
import type { Store } from './store/store.js';

/** What the hub's HTTP app needs; tests pass their own clock and client address. */
export interface HubDeps {
  store: Store;
  now?: () => number;
  /** The client's address, for rate limits (the server passes the socket's). */
  clientAddress?: (c: Context) => string;
  /** Request bodies larger than this get 413 (default 256 KiB). */
  maxBodyBytes?: number;
  /** Per client address: enrolments and logins allowed at once, then per minute. */
  rateLimits?: { burst: number; perMinute: number };
  /** Mark the session cookie Secure (behind HTTPS). */
  secureCookies?: boolean;
  /** Where unexpected errors are reported (default: stderr). */
  logError?: (error: unknown) => void;
  /** The alert engine heartbeats feed (default: one without webhooks). */
  alerts?: Alerts;
}

/** The same dependencies with every default filled in. */
export type ResolvedDeps = Required<HubDeps>;

/** The hub's HTTP API as a hono app: serve it, or call `app.request()` in tests. */
export function createApp(deps: HubDeps): Hono {
  return createHub(deps).app;
}

/** The hub's app, with the heartbeat route's handler and the settings a server needs. */
export interface Hub {
  app: Hono;
  /** What the app's heartbeat route runs, for a server's direct path to it (./fast-path.ts). */
  heartbeat: HeartbeatIngest;
  deps: ResolvedDeps;
}

export function createHub(deps: HubDeps): Hub {
  const resolved: ResolvedDeps = {
    now: Date.now,
    clientAddress: () => 'unknown',
    maxBodyBytes: 256 * 1024,
    rateLimits: { burst: 10, perMinute: 10 },
    secureCookies: false,
    logError: (error) => console.error(error),
    alerts: createAlerts({ store: deps.store, now: deps.now, log: deps.logError }),
    ...deps,
  };
  const app = new Hono();
  const tooLarge = (c: Context) => c.json(tooLargeBody(resolved.maxBodyBytes), 413);
  const streamLimit = bodyLimit({ maxSize: resolved.maxBodyBytes, onError: tooLarge });
  const limitBody: MiddlewareHandler = (c, next) => {
    // A declared length is checked without touching the body, so the node server can still
    // hand the route the socket's bytes directly (no web stream around them). A body of
    // unknown length (chunked) is counted as it streams in.
    const length = c.req.header('content-length');
    if (length !== undefined && /^\d{1,15}$/.test(length) && !c.req.header('transfer-encoding')) {
      return Number(length) > resolved.maxBodyBytes ? Promise.resolve(tooLarge(c)) : next();
    }
    return streamLimit(c, next);
  };
  app.use('*', limitBody);
  app.get('/healthz', (c) => c.json({ ok: true }));
  const limits = {
    enrol: tokenBucket(resolved.rateLimits),
    login: tokenBucket(resolved.rateLimits),
  };
  const queue = commandQueue(resolved.store);
  const guard = deviceGuard(resolved.store, resolved.now);
  const heartbeat = heartbeatIngest(resolved, guard);
  app.route('/', deviceRoutes(resolved, guard, heartbeat, limits.enrol, queue));
  app.route('/', peopleRoutes(resolved, limits.login, queue));
  app.route('/', dashboardRoutes(resolved, queue));
  app.route('/', prometheusRoutes(resolved));
  app.notFound((c) => c.json({ error: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    resolved.logError(error);
    return c.json(INTERNAL_ERROR, 500);
  });
  return { app, heartbeat, deps: resolved };
}

/** The body of a 500 answer: what went wrong goes to the hub's log, not to the client. */
export const INTERNAL_ERROR = { error: 'internal error' };

/** The body of a 413 answer. */
export const tooLargeBody = (maxBodyBytes: number) => ({
  error: `the body is larger than ${maxBodyBytes} bytes`,
});
