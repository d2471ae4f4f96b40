import { Hono, type Context } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import type { ResolvedDeps } from '../app.js';
import { commandSchema, type CommandQueue } from '../commands.js';
import { formAsJson, httpError, parseJson, rawBody } from '../http.js';
import type { RateLimiter } from '../rate-limit.js';
import { checkPassword, hashToken, newSecret } from '../secrets.js';
import { sameOrigin } from '../dashboard/csrf.js';
import { loginPage } from '../dashboard/login-page.js';
import { bearer } from './devices.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'piot_session';
const SESSION_MS = 7 * 24 * 3600_000;

const deploySchema = z.strictObject({
  /** The devices to deploy on (default: every device that is not revoked). */
  devices: z.array(z.string().max(64)).max(10_000).optional(),
});

const loginSchema = z.strictObject({
  name: z.string().min(1).max(100),
  password: z.string().min(1).max(1000),
});

/** The routes people call: login, and the fleet (API token or session cookie). */
export function peopleRoutes(
  deps: ResolvedDeps,
  limit: RateLimiter,
  queue: CommandQueue,
): Hono<{ Variables: { user: string } }> {
  const app = new Hono<{ Variables: { user: string } }>();
  const person = createMiddleware<{ Variables: { user: string } }>(async (c, next) => {
    const user = await whoIs(c, deps);
    if (!user)
      throw httpError(401, 'log in (POST /login) or send Authorization: Bearer <API token>');
    c.set('user', user);
    await next();
  });

  // JSON clients get JSON; a browser's form (Accept: text/html) gets the login page again
  // with the error, or a redirect to the dashboard.
  app.post('/login', async (c) => {
    const browser = wantsHtml(c);
    const refuse = (status: 400 | 401 | 403 | 429, error: string, name?: string) => {
      if (!browser) throw httpError(status, error);
      return c.html(loginPage({ error, name }), status);
    };
    if (!sameOrigin(c)) return refuse(403, 'this login form came from another site');
    if (!limit.take(deps.clientAddress(c), deps.now())) {
      c.header('Retry-After', '60');
      return refuse(429, 'too many login attempts from this address; try again later');
    }
    const raw = formAsJson(c.req.header('content-type'), await rawBody(c));
    let body: z.output<typeof loginSchema>;
    try {
      body = parseJson(raw, loginSchema);
    } catch (error) {
      if (browser) return refuse(400, 'enter a name and a password');
      throw error;
    }
    const stored = await deps.store.getUserPasswordHash(body.name);
    if (!(await checkPassword(body.password, stored))) {
      return refuse(401, 'wrong name or password', body.name);
    }
    const session = newSecret('piots');
    await deps.store.addSession(hashToken(session), body.name, deps.now() + SESSION_MS);
    setCookie(c, SESSION_COOKIE, session, {
      httpOnly: true,
      sameSite: 'Lax',
      secure: deps.secureCookies,
      path: '/',
      maxAge: SESSION_MS / 1000,
    });
    return browser ? c.redirect('/', 303) : c.json({ user: body.name });
  });

  app.get('/api/v1/devices', person, async (c) => {
    const devices = await deps.store.listDevices();
    return c.json({ devices });
  });

  app.get('/api/v1/devices/:name', person, async (c) => {
    const name = c.req.param('name');
    const device = await deps.store.getDevice(name);
    if (!device) throw httpError(404, `no device named ${JSON.stringify(name)}`);
    const now = deps.now();
    const [samples, events, jobRuns, commands] = await Promise.all([
      deps.store.samples(name, { from: now - 24 * 3600_000, to: now + 1 }),
      deps.store.deployEvents(name, 20),
      deps.store.jobRuns(name, 20),
      deps.store.commands(name, 20),
    ]);
    return c.json({ device, samples, events, jobRuns, commands });
  });
  app.post('/api/v1/devices/:name/commands', person, async (c) => {
    const name = c.req.param('name');
    const request = parseJson(await rawBody(c), commandSchema);
    if (!(await deps.store.getDevice(name)))
      throw httpError(404, `no device named ${JSON.stringify(name)}`);
    const command = await queue.add(name, request, c.get('user'), deps.now());
    return c.json({ command }, 202);
  });
  // The fleet's push trigger: CI (or a git host's webhook) calls it after a push.
  app.post('/api/v1/deploy', person, async (c) => {
    const raw = await rawBody(c);
    const { devices } = parseJson(
      raw.length === 0 ? new TextEncoder().encode('{}') : raw,
      deploySchema,
    );
    const live = (await deps.store.listDevices()).filter((d) => !d.revoked).map((d) => d.name);
    const unknown = (devices ?? []).filter((name) => !live.includes(name));
    if (unknown.length > 0) {
      throw httpError(
        404,
        `no live device named ${unknown.map((n) => JSON.stringify(n)).join(', ')}`,
      );
    }
    const now = deps.now();
    const commands = [];
    for (const device of devices ?? live) {
      const command = await queue.add(device, { kind: 'deploy' }, c.get('user'), now);
      commands.push({ device, id: command.id });
    }
    return c.json({ commands }, 202);
  });
  app.get('/api/v1/devices/:name/commands/:id', person, async (c) => {
    const name = c.req.param('name');
    const command = await deps.store.getCommand(name, c.req.param('id'));
    if (!command) throw httpError(404, `${name} has no such command`);
    return c.json({ command });
  });
  return app;
}

/** A browser's form post: form-encoded and asking for HTML. */
function wantsHtml(c: Context): boolean {
  return (
    (c.req.header('content-type') ?? '').startsWith('application/x-www-form-urlencoded') &&
    (c.req.header('accept') ?? '').includes('text/html')
  );
}

async function whoIs(c: Context, deps: ResolvedDeps): Promise<string | undefined> {
  const token = bearer(c.req.header('authorization'));
  if (token) return deps.store.apiTokenUser(hashToken(token));
  const session = getCookie(c, SESSION_COOKIE);
  if (session) return deps.store.sessionUser(hashToken(session), deps.now());
  return undefined;
}
