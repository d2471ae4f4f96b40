import { afterEach, beforeEach, expect, it } from 'vitest';
import { createApp } from '../app.js';
import type { Heartbeat } from '../heartbeat.js';
import { ONLINE_WITHIN_MS } from '../online.js';
import { hashPassword } from '../secrets.js';
import type { Store } from '../store/store.js';
import { describeEachStore, type OpenedStore } from '../store/test-targets.js';
import { csrfToken } from './csrf.js';

const NOW = 1_800_000_000_000;
const KEY = `ed25519:${Buffer.alloc(32, 7).toString('base64')}`;

const heartbeat: Heartbeat = {
  agent: { version: '0.1.0', uptime: 3600 },
  metrics: { temperature: 51.5, cpu: 0.25, memory: 0.5, disk: 0.4, wifiSignal: -60, throttled: 0 },
  deploy: {
    app: 'weather',
    current: 'abcdef1234567890',
    lastDeploy: {
      at: '2027-01-15T08:00:00Z',
      commit: 'abcdef12',
      kind: 'failed',
      reason: '<script>alert(1)</script>',
    },
  },
  services: [
    { app: 'weather', name: 'web', kind: 'service', state: 'active', sub: 'running', restarts: 2 },
    { app: 'weather', name: 'upload', kind: 'job', state: 'inactive', sub: 'dead' },
  ],
  jobRuns: [
    {
      app: 'weather',
      job: 'upload',
      start: '2027-01-15T08:00:00Z',
      end: '2027-01-15T08:00:02Z',
      seconds: 2,
      status: 'succeeded',
      attempts: 1,
      log: ['<img src=x onerror=alert(2)>'],
    },
  ],
};

describeEachStore('hub dashboard', (target) => {
  let opened: OpenedStore;
  let store: Store;
  let app: ReturnType<typeof createApp>;
  let now: number;

  beforeEach(async () => {
    opened = await target.open();
    store = opened.store;
    now = NOW;
    app = createApp({ store, now: () => now, logError: () => undefined });
    await store.setUser('ada', await hashPassword('correct horse'), NOW);
    await store.addEnrolmentToken('tok', { now: NOW });
    await store.enrol({ tokenHash: 'tok', name: 'kitchen', signing: KEY, now: NOW });
    await store.recordHeartbeat('kitchen', heartbeat, NOW);
  });
  afterEach(() => opened.dispose());

  /** Logs ada in through the browser form; the session cookie and its CSRF token. */
  const logIn = async () => {
    const response = await app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: 'name=ada&password=correct+horse',
    });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/');
    const session = /piot_session=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')![1]!;
    return { cookie: `piot_session=${session}`, csrf: csrfToken(session) };
  };
  const get = (path: string, cookie?: string) =>
    app.request(path, { headers: cookie ? { cookie } : {} });
  const post = (path: string, cookie: string, form: Record<string, string>, headers = {}) =>
    app.request(path, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });

  it('sends people without a session to the login form, and back after logging in', async () => {
    for (const path of ['/', '/devices/kitchen']) {
      const response = await get(path);
      expect(response.status).toBe(303);
      expect(response.headers.get('location')).toBe('/login');
    }
    const form = await get('/login');
    expect(form.status).toBe(200);
    expect(await form.text()).toMatch(/<form class="login" method="post" action="\/login">/);
    const wrong = await app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: 'name=ada&password=nope',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('wrong name or password');
    const { cookie } = await logIn();
    expect((await get('/login', cookie)).status).toBe(303);
    expect((await get('/', cookie)).status).toBe(200);
    // A login form posted from another site is refused.
    const forged = await app.request('/login', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'text/html',
        origin: 'http://evil.example',
      },
      body: 'name=ada&password=correct+horse',
    });
    expect(forged.status).toBe(403);
  });

  it('shows the fleet with online state, commit, last deploy and worst health', async () => {
    const { cookie } = await logIn();
    const text = await (await get('/', cookie)).text();
    const row = /<tr data-device="kitchen">[\s\S]*?<\/tr>/.exec(text)![0];
    expect(row).toContain('data-online="true"');
    expect(row).toContain('last seen 0 s ago');
    expect(row).toContain('abcdef12');
    expect(row).not.toContain('abcdef123');
    expect(row).toContain('data-health="ok"');
    expect(row).toContain('51.5 °C');
    now += ONLINE_WITHIN_MS + 1000;
    const later = await (await get('/', cookie)).text();
    expect(later).toContain('data-online="false"');
    expect(later).toContain('data-health="critical"');
    expect(later).toContain('last seen 91 s ago');
  });

  it('renders the device page with everything escaped', async () => {
    await store.recordHeartbeat(
      'kitchen',
      { ...heartbeat, jobRuns: [], metrics: { ...heartbeat.metrics, throttled: 0x50001 } },
      NOW + 30_000,
    );
    now = NOW + 30_000;
    const { cookie } = await logIn();
    const response = await get('/devices/kitchen', cookie);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).not.toContain('<script>alert(1)');
    expect(text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(text).not.toContain('<img src=x');
    expect(text).toContain('&lt;img src=x onerror=alert(2)&gt;');
    expect(text).toContain('<script type="application/json" id="series">');
    const series = JSON.parse(/id="series">([\s\S]*?)<\/script>/.exec(text)![1]!) as Record<
      string,
      unknown[]
    >;
    expect(series.t).toEqual([NOW / 1000, NOW / 1000 + 30]);
    expect(series.cpu).toEqual([25, 25]);
    expect(series.wifiSignal).toEqual([-60, -60]);
    expect(text).toMatch(/Now:\s*<span\s+class="critical"\s*>under-voltage<\/span/);
    expect(text).toMatch(
      /since boot:\s*<span\s+class="warning"\s*>under-voltage, throttled<\/span/,
    );
    expect(text).toMatch(/<span\s+class="under"/);
    expect(text).toMatch(/data-unit="upload"[\s\S]*?name="action" value="run-job"/);
    expect(text).toMatch(/data-unit="web"[\s\S]*?name="action" value="restart-service"/);
    expect((await get('/devices/nobody', cookie)).status).toBe(404);
  });

  it('refuses action forms without the CSRF token or from another site', async () => {
    const { cookie, csrf } = await logIn();
    const action = { action: 'run-job', job: 'upload' };
    const path = '/devices/kitchen/actions';
    expect((await post(path, cookie, action)).status).toBe(403);
    expect((await post(path, cookie, { ...action, csrf: 'x'.repeat(43) })).status).toBe(403);
    const other = await logIn();
    expect((await post(path, cookie, { ...action, csrf: other.csrf })).status).toBe(403);
    const crossSite = await post(
      path,
      cookie,
      { ...action, csrf },
      { origin: 'http://evil.example' },
    );
    expect(crossSite.status).toBe(403);
    expect(await store.commands('kitchen', 10)).toEqual([]);
    const ok = await post(path, cookie, { ...action, csrf }, { origin: 'http://localhost' });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/devices/kitchen#commands');
    // Without a session the form only leads to the login page.
    const anonymous = await app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...action, csrf }).toString(),
    });
    expect(anonymous.headers.get('location')).toBe('/login');
    expect((await store.commands('kitchen', 10)).length).toBe(1);
  });

  it('queues the command each action asks for, and shows its answer', async () => {
    const { cookie, csrf } = await logIn();
    const path = '/devices/kitchen/actions';
    const forms: Record<string, string>[] = [
      { action: 'deploy' },
      { action: 'reboot' },
      { action: 'run-job', job: 'upload' },
      { action: 'restart-service', service: 'web' },
      { action: 'logs', service: 'web' },
      { action: 'logs' },
    ];
    for (const form of forms) {
      expect((await post(path, cookie, { ...form, csrf })).status).toBe(303);
      now += 1000; // one command a second, so the list's order is theirs
    }
    for (const bad of <Record<string, string>[]>[
      { action: 'format' },
      { action: 'run-job' },
      { action: 'run-job', job: '../x' },
    ])
      expect((await post(path, cookie, { ...bad, csrf })).status).toBe(400);
    expect((await post('/devices/nobody/actions', cookie, { action: 'deploy', csrf })).status).toBe(
      404,
    );
    const commands = (await store.commands('kitchen', 10)).reverse();
    expect(commands.map((c) => [c.kind, c.args, c.createdBy])).toEqual([
      ['deploy', undefined, 'ada'],
      ['reboot', undefined, 'ada'],
      ['run-job', { job: 'upload' }, 'ada'],
      ['restart-service', { service: 'web' }, 'ada'],
      ['logs', { service: 'web', lines: 100 }, 'ada'],
      ['logs', { lines: 100 }, 'ada'],
    ]);
    const page = await (await get('/devices/kitchen', cookie)).text();
    expect(page.match(/data-status="queued"/g)).toHaveLength(6);
    expect(page).toContain(`data-poll="/api/v1/devices/kitchen/commands/${commands[4]!.id}"`);
    await store.takeCommands('kitchen', NOW);
    await store.finishCommand(
      'kitchen',
      commands[4]!.id,
      { ok: true, output: ['<b>hello</b>', 'line 2'] },
      NOW,
    );
    await store.finishCommand(
      'kitchen',
      commands[2]!.id,
      { ok: false, message: 'no such job' },
      NOW,
    );
    const after = await (await get('/devices/kitchen', cookie)).text();
    expect(after).toMatch(/<pre id="logs">\n?&lt;b&gt;hello&lt;\/b&gt;\nline 2<\/pre>/);
    expect(after).toMatch(/data-status="failed"[\s\S]*?no such job/);
    expect(after.match(/data-status="delivered"/g)).toHaveLength(4);
  });

  it('logs out only with the CSRF token, and the session is gone after', async () => {
    const { cookie, csrf } = await logIn();
    expect((await post('/logout', cookie, {})).status).toBe(403);
    expect((await get('/', cookie)).status).toBe(200);
    const out = await post('/logout', cookie, { csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/login');
    expect(out.headers.get('set-cookie')).toMatch(/piot_session=;/);
    expect((await get('/', cookie)).headers.get('location')).toBe('/login');
    expect((await app.request('/api/v1/devices', { headers: { cookie } })).status).toBe(401);
  });

  it('serves uPlot and its own script and style', async () => {
    const uplot = await get('/assets/uplot.js');
    expect(uplot.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await uplot.text()).toContain('uPlot');
    expect((await get('/assets/uplot.css')).status).toBe(200);
    expect(await (await get('/assets/dashboard.js')).text()).toContain('new uPlot(');
    expect((await get('/assets/dashboard.css')).status).toBe(200);
  });
});
