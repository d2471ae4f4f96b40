import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie } from 'hono/cookie';
import { createMiddleware } from 'hono/factory';
import { html } from 'hono/html';
import type { ResolvedDeps } from '../app.js';
import { commandSchema, type CommandQueue, type CommandRequest } from '../commands.js';
import { SESSION_COOKIE } from '../routes/people.js';
import { hashToken } from '../secrets.js';
import { DASHBOARD_JS } from './client.js';
import { checkCsrfToken, csrfToken, CSRF_FIELD, sameOrigin } from './csrf.js';
import { devicePage } from './device-page.js';
import { fleetPage } from './fleet-page.js';
import { DASHBOARD_CSS, page, type Viewer } from './layout.js';
import { loginPage } from './login-page.js';

type Env = { Variables: { viewer: Viewer; session: string } };

const DAY = 24 * 3600_000;

/** The dashboard: the fleet table, device pages and their actions, login form and logout. */
export function dashboardRoutes(deps: ResolvedDeps, queue: CommandQueue): Hono<Env> {
  const app = new Hono<Env>();
  const asset = assetServer();
  app.get('/assets/uplot.js', (c) => asset(c, 'uplot/dist/uPlot.iife.min.js', 'text/javascript'));
  app.get('/assets/uplot.css', (c) => asset(c, 'uplot/dist/uPlot.min.css', 'text/css'));
  app.get('/assets/dashboard.js', (c) => asset(c, DASHBOARD_JS, 'text/javascript'));
  app.get('/assets/dashboard.css', (c) => asset(c, DASHBOARD_CSS, 'text/css'));

  // Pages need a session; without one the browser is sent to the login form.
  const signedIn = createMiddleware<Env>(async (c, next) => {
    const session = getCookie(c, SESSION_COOKIE);
    const user = session && (await deps.store.sessionUser(hashToken(session), deps.now()));
    if (!session || !user) return c.redirect('/login', 303);
    c.set('session', session);
    c.set('viewer', { user, csrf: csrfToken(session) });
    await next();
  });
  // Every state-changing form: from this site, and with the session's CSRF token.
  const csrfChecked = createMiddleware<Env>(async (c, next) => {
    const form = await c.req.parseBody();
    const token = form[CSRF_FIELD];
    if (
      !sameOrigin(c) ||
      !checkCsrfToken(c.get('session'), typeof token === 'string' ? token : undefined)
    ) {
      return c.html(
        errorPage(
          'Refused',
          'This form came without a valid CSRF token or from another site. Reload the page and try again.',
        ),
        403,
      );
    }
    await next();
  });

  app.get('/login', async (c) => {
    const session = getCookie(c, SESSION_COOKIE);
    if (session && (await deps.store.sessionUser(hashToken(session), deps.now())))
      return c.redirect('/', 303);
    return c.html(loginPage());
  });

  app.post('/logout', signedIn, csrfChecked, async (c) => {
    await deps.store.deleteSession(hashToken(c.get('session')));
    deleteCookie(c, SESSION_COOKIE, { path: '/', secure: deps.secureCookies });
    return c.redirect('/login', 303);
  });

  app.get('/', signedIn, async (c) => {
    const devices = await deps.store.listDevices();
    return c.html(fleetPage(devices, c.get('viewer'), deps.now()));
  });

  app.get('/devices/:name', signedIn, async (c) => {
    const name = c.req.param('name');
    const device = await deps.store.getDevice(name);
    if (!device) return c.html(errorPage('No such device', `No device is named ${name}.`), 404);
    const now = deps.now();
    const range = { from: now - DAY, to: now + 1 };
    const [samples, events, jobRuns, commands] = await Promise.all([
      deps.store.samples(name, range),
      deps.store.deployEvents(name, 20),
      deps.store.jobRuns(name, 20),
      deps.store.commands(name, 20),
    ]);
    const view = { device, samples, range, events, jobRuns, commands };
    return c.html(devicePage(view, c.get('viewer'), now));
  });

  app.post('/devices/:name/actions', signedIn, csrfChecked, async (c) => {
    const name = c.req.param('name');
    const request = actionRequest(await c.req.parseBody());
    if (!request)
      return c.html(errorPage('Bad action', 'That is not an action the hub knows.'), 400);
    const device = await deps.store.getDevice(name);
    if (!device || device.revoked)
      return c.html(errorPage('No such device', `No live device is named ${name}.`), 404);
    await queue.add(name, request, c.get('viewer').user, deps.now());
    return c.redirect(`/devices/${encodeURIComponent(name)}#commands`, 303);
  });
  return app;
}

/** The command a dashboard form asks for (fields action, job, service), or undefined. */
export function actionRequest(form: Record<string, unknown>): CommandRequest | undefined {
  const field = (key: string) => (typeof form[key] === 'string' ? form[key] : undefined);
  const kind = field('action');
  const candidate =
    kind === 'run-job'
      ? { kind, job: field('job') }
      : kind === 'restart-service'
        ? { kind, service: field('service') }
        : kind === 'logs'
          ? { kind, ...(field('service') ? { service: field('service') } : {}) }
          : { kind };
  const parsed = commandSchema.safeParse(candidate);
  return parsed.success ? parsed.data : undefined;
}

function errorPage(title: string, text: string) {
  return page(
    title,
    html`<h1>${title}</h1>
      <p>${text}</p>
      <p><a href="/">Back to the fleet</a></p>`,
  );
}

/** Serves static text: inline (the dashboard's own) or a package's file, read once. */
function assetServer() {
  const require = createRequire(import.meta.url);
  const files = new Map<string, Promise<string>>();
  return async (c: Context, source: string, type: string) => {
    let text = source;
    if (source.startsWith('uplot/')) {
      let file = files.get(source);
      if (!file) files.set(source, (file = readFile(require.resolve(source), 'utf8')));
      text = await file;
    }
    c.header('content-type', `${type}; charset=utf-8`);
    c.header('cache-control', 'public, max-age=3600');
    return c.body(text);
  };
}
