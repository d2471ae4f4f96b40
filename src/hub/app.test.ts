import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { signingPublicKey } from '../image/identity.js';
import { createApp } from './app.js';
import { hashPassword, hashToken } from './secrets.js';
import { DEVICE_SESSION_MS } from './routes/devices.js';
import {
  deriveSessionKey,
  sessionKeyPair,
  sharedSecret,
  signRequest,
  type DeviceSession,
} from './signing.js';
import type { Store } from './store/store.js';
import { describeEachStore, type OpenedStore } from './store/test-targets.js';

const NOW = 1_800_000_000_000;

function deviceKey(): { privateKey: KeyObject; signing: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return { privateKey, signing: signingPublicKey(pem) };
}

describeEachStore('hub API', (target) => {
  let opened: OpenedStore;
  let store: Store;
  let app: ReturnType<typeof createApp>;
  let now: number;
  const kitchen = deviceKey();

  beforeEach(async () => {
    opened = await target.open();
    store = opened.store;
    now = NOW;
    app = createApp({
      store,
      now: () => now,
      clientAddress: (c) => c.req.header('x-test-ip') ?? 'test',
      logError: () => undefined,
    });
    await store.addEnrolmentToken(hashToken('enrol-1'), { now: NOW });
    await store.setUser('ada', await hashPassword('correct horse'), NOW);
    await store.addApiToken(hashToken('api-ada'), 'ada', { label: 'test', now: NOW });
  });
  afterEach(() => opened.dispose());

  const enrol = (body: unknown, token = 'enrol-1', ip = 'test') =>
    app.request('/api/v1/enrol', {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'x-test-ip': ip },
      body: JSON.stringify(body),
    });
  const signed = (
    path: string,
    body: unknown,
    options: {
      device?: string;
      key?: KeyObject;
      session?: DeviceSession;
      time?: number;
      nonce?: string;
    } = {},
  ) => {
    const text = JSON.stringify(body);
    const headers = signRequest({
      device: options.device ?? 'kitchen',
      privateKey: options.key ?? kitchen.privateKey,
      session: options.session,
      method: 'POST',
      path,
      body: text,
      now: options.time ?? now,
      nonce: options.nonce,
    });
    return app.request(path, { method: 'POST', headers, body: text });
  };
  const asAda = (path: string) =>
    app.request(path, { headers: { authorization: 'Bearer api-ada' } });
  const beat = { agent: { version: '0.1.0' }, metrics: { cpu: 0.5, temperature: 48 } };
  const HB = '/api/v1/devices/kitchen/heartbeat';

  it('enrols with a good token once, refuses a wrong or reused one', async () => {
    expect((await enrol({ name: 'kitchen', signing: kitchen.signing }, 'wrong')).status).toBe(401);
    expect((await enrol({ name: 'kitchen', signing: kitchen.signing })).status).toBe(201);
    // The same device asking again (lost answer) is fine; anyone else with the token is not.
    expect((await enrol({ name: 'kitchen', signing: kitchen.signing })).status).toBe(200);
    const reused = await enrol({ name: 'garage', signing: deviceKey().signing });
    expect(reused.status).toBe(401);
    expect(await reused.json()).toEqual({
      error: 'the enrolment token is unknown, used or expired',
    });
    expect((await app.request('/api/v1/enrol', { method: 'POST', body: '{}' })).status).toBe(401);
    const bad = await enrol({ name: 'Kitchen!', signing: 'ed25519:xyz' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/name is not a device name/);
  });

  it('accepts a signed heartbeat and shows it to people', async () => {
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    const response = await signed(HB, beat);
    expect(response.status).toBe(200);
    expect((await app.request('/api/v1/devices/kitchen')).status).toBe(401);
    const view = await asAda('/api/v1/devices/kitchen');
    expect(view.status).toBe(200);
    expect(await view.json()).toMatchObject({
      device: { name: 'kitchen', lastSeen: NOW, lastHeartbeat: { ...beat, receivedAt: NOW } },
      samples: [{ at: NOW, cpu: 0.5, temperature: 48 }],
    });
    const list = (await (await asAda('/api/v1/devices')).json()) as { devices: { name: string }[] };
    expect(list.devices.map((d) => d.name)).toEqual(['kitchen']);
    expect((await asAda('/api/v1/devices/nobody')).status).toBe(404);
  });

  it('refuses unsigned, forged, wrong-device, replayed, stale and revoked requests', async () => {
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    await store.addEnrolmentToken(hashToken('enrol-2'), { now: NOW });
    const garage = deviceKey();
    await enrol({ name: 'garage', signing: garage.signing }, 'enrol-2');
    const unsigned = await app.request(HB, { method: 'POST', body: JSON.stringify(beat) });
    expect(unsigned.status).toBe(401);
    expect((await signed(HB, beat, { key: garage.privateKey })).status).toBe(401);
    expect((await signed(HB, beat, { device: 'garage', key: garage.privateKey })).status).toBe(403);
    expect((await signed(HB, beat, { device: 'ghost' })).status).toBe(401);
    const nonce = 'n'.repeat(20);
    expect((await signed(HB, beat, { nonce })).status).toBe(200);
    expect((await signed(HB, beat, { nonce })).status).toBe(401);
    // The same request eight times at once, behind another heartbeat (so that on PostgreSQL
    // the eight meet in one batch): one is taken, seven are refused as replays.
    const burst = await Promise.all([
      signed(HB, beat, { nonce: 'a'.repeat(20) }),
      ...Array.from({ length: 8 }, () => signed(HB, beat, { nonce: 'b'.repeat(20) })),
    ]);
    expect(burst.map((r) => r.status).sort()).toEqual([200, 200, ...Array<number>(7).fill(401)]);
    // A second hub process on the same store refuses the replay too.
    const otherStore = await opened.reopen();
    const other = createApp({ store: otherStore, now: () => now });
    const headers = signRequest({
      device: 'kitchen',
      privateKey: kitchen.privateKey,
      method: 'POST',
      path: HB,
      body: '{}',
      now,
      nonce,
    });
    expect((await other.request(HB, { method: 'POST', headers, body: '{}' })).status).toBe(401);
    await otherStore.close();
    expect((await signed(HB, beat, { time: NOW - 5 * 60_000 - 1 })).status).toBe(401);
    expect((await signed(HB, beat, { time: NOW + 5 * 60_000 + 1 })).status).toBe(401);
    expect((await signed(HB, beat, { time: NOW - 4 * 60_000 })).status).toBe(200);
    // A body changed after signing fails the signature.
    const sig = signRequest({
      device: 'kitchen',
      privateKey: kitchen.privateKey,
      method: 'POST',
      path: HB,
      body: '{}',
      now,
    });
    const tampered = await app.request(HB, {
      method: 'POST',
      headers: sig,
      body: '{"metrics":{}}',
    });
    expect(tampered.status).toBe(401);
    await store.revokeDevice('kitchen');
    expect((await signed(HB, beat)).status).toBe(403);
    expect((await (await asAda('/api/v1/devices')).json()) as object).toMatchObject({
      devices: [{ name: 'garage' }, { name: 'kitchen', revoked: true }],
    });
  });

  it('opens device sessions and takes requests signed with their key, and only those', async () => {
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    await store.addEnrolmentToken(hashToken('enrol-2'), { now: NOW });
    const garage = deviceKey();
    await enrol({ name: 'garage', signing: garage.signing }, 'enrol-2');
    const open = async (options: Parameters<typeof signed>[2] = {}) => {
      const device = options.device ?? 'kitchen';
      const mine = sessionKeyPair();
      const res = await signed(
        `/api/v1/devices/${device}/session`,
        { x25519: mine.publicKey },
        {
          ...options,
          device,
        },
      );
      if (res.status !== 201) return { status: res.status, body: (await res.json()) as object };
      const answer = (await res.json()) as { session: string; x25519: string; expiresIn: number };
      const shared = sharedSecret(mine.privateKey, answer.x25519)!;
      const session = { id: answer.session, key: deriveSessionKey(shared, answer.session, device) };
      return { status: 201, answer, session };
    };
    const first = await open();
    expect(first.answer).toMatchObject({ expiresIn: DEVICE_SESSION_MS / 1000 });
    const session = first.session!;
    expect((await signed(HB, beat, { session })).status).toBe(200);
    expect((await store.deviceKey('kitchen'))?.session).toEqual({
      id: session.id,
      key: session.key.toString('base64'),
      expiresAt: NOW + DEVICE_SESSION_MS,
    });
    // The hub derived the same key: a wrong key, or the session on another device, fails.
    const forged = { id: session.id, key: Buffer.alloc(32, 7) };
    expect((await signed(HB, beat, { session: forged })).status).toBe(401);
    expect((await signed(HB, beat, { device: 'garage', session })).status).toBe(401);
    const gHB = '/api/v1/devices/garage/heartbeat';
    expect((await signed(gHB, beat, { session })).status).toBe(403);
    // Nonces and times are checked as for Ed25519-signed requests.
    const nonce = 's'.repeat(20);
    expect((await signed(HB, beat, { session, nonce })).status).toBe(200);
    expect((await signed(HB, beat, { session, nonce })).status).toBe(401);
    expect((await signed(HB, beat, { session, time: NOW - 5 * 60_000 - 1 })).status).toBe(401);
    // Another hub process on the same store knows the session.
    const otherStore = await opened.reopen();
    const other = createApp({ store: otherStore, now: () => now, logError: () => undefined });
    const headers = signRequest({
      device: 'kitchen',
      privateKey: kitchen.privateKey,
      session,
      method: 'POST',
      path: HB,
      body: '{}',
      now,
    });
    expect((await other.request(HB, { method: 'POST', headers, body: '{}' })).status).toBe(200);
    // Only the device's own key opens a session: not a session, not another device's key.
    expect(await open({ session })).toMatchObject({
      status: 401,
      body: { error: "this request must be signed with the device's own key, not a session" },
    });
    expect((await open({ key: garage.privateKey })).status).toBe(401);
    const zero = await signed('/api/v1/devices/kitchen/session', {
      x25519: Buffer.alloc(32).toString('base64'),
    });
    expect(zero.status).toBe(400);
    // A new session ends the last one; so does time, and revocation.
    const held = await otherStore.deviceKey('kitchen', { fresh: true });
    const second = (await open()).session!;
    // A hub process whose cache still holds the old session reads the key again and takes
    // the new one.
    const lagging = createApp({
      store: {
        ...otherStore,
        deviceKey: (name, options) =>
          options?.fresh
            ? otherStore.deviceKey(name, options)
            : Promise.resolve(held && { ...held, cached: true }),
      },
      now: () => now,
      logError: () => undefined,
    });
    const withSecond = signRequest({
      device: 'kitchen',
      privateKey: kitchen.privateKey,
      session: second,
      method: 'POST',
      path: HB,
      body: '{}',
      now,
    });
    const taken = await lagging.request(HB, { method: 'POST', headers: withSecond, body: '{}' });
    expect(taken.status).toBe(200);
    const stale = await signed(HB, beat, { session });
    expect(stale.status).toBe(401);
    expect(await stale.json()).toEqual({
      error: 'the device session is unknown or expired; open a new one',
      renew: true,
    });
    expect((await signed(HB, beat, { session: second })).status).toBe(200);
    now = NOW + DEVICE_SESSION_MS;
    expect((await signed(HB, beat, { session: second })).status).toBe(401);
    const third = (await open()).session!;
    expect((await signed(HB, beat, { session: third })).status).toBe(200);
    await store.revokeDevice('kitchen');
    expect((await signed(HB, beat, { session: third })).status).toBe(401);
    expect((await open()).status).toBe(403);
    await otherStore.close();
  });

  it('answers bad bodies with 400 or 413 and a clear message', async () => {
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    const notJson = await app.request(HB, {
      method: 'POST',
      headers: signRequest({
        device: 'kitchen',
        privateKey: kitchen.privateKey,
        method: 'POST',
        path: HB,
        body: '{oops',
        now,
      }),
      body: '{oops',
    });
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/^the body is not JSON/);
    const wrongType = await signed(HB, { metrics: { cpu: 'hot' } });
    expect(wrongType.status).toBe(400);
    expect(((await wrongType.json()) as { error: string }).error).toMatch(/metrics\.cpu/);
    const huge = await app.request('/api/v1/enrol', {
      method: 'POST',
      headers: { authorization: 'Bearer enrol-1' },
      body: 'x'.repeat(300 * 1024),
    });
    expect(huge.status).toBe(413);
  });

  it('queues commands from people and hands them to the device by long poll', async () => {
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    const poll = (wait: string, options: { device?: string } = {}) => {
      const path = `/api/v1/devices/${options.device ?? 'kitchen'}/commands?wait=${wait}`;
      const headers = signRequest({
        device: 'kitchen',
        privateKey: kitchen.privateKey,
        method: 'GET',
        path,
        now,
      });
      return app.request(path, { headers });
    };
    const queue = (kind: unknown, name = 'kitchen', auth = 'Bearer api-ada') =>
      app.request(`/api/v1/devices/${name}/commands`, {
        method: 'POST',
        headers: { authorization: auth },
        body: JSON.stringify({ kind }),
      });
    expect(await (await poll('0')).json()).toEqual({ commands: [] });
    expect((await poll('31')).status).toBe(400);
    expect((await poll('0', { device: 'garage' })).status).toBe(403);
    expect((await queue('deploy', 'kitchen', 'Bearer nope')).status).toBe(401);
    expect((await queue('format-disk')).status).toBe(400);
    expect((await queue('deploy', 'nobody')).status).toBe(404);
    const queued = await queue('deploy');
    expect(queued.status).toBe(202);
    const { command } = (await queued.json()) as { command: { id: string } };
    expect(await (await poll('0')).json()).toEqual({
      commands: [
        { id: command.id, kind: 'deploy', createdAt: NOW, createdBy: 'ada', deliveredAt: NOW },
      ],
    });
    expect(await (await poll('0')).json()).toEqual({ commands: [] });
    // A waiting device gets a new command as soon as it is queued, well before its wait ends.
    const started = performance.now();
    const waiting = poll('20');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await queue('reboot');
    const woken = (await (await waiting).json()) as { commands: { kind: string }[] };
    expect(woken.commands.map((c) => c.kind)).toEqual(['reboot']);
    expect(performance.now() - started).toBeLessThan(5000);
    // With nothing queued, the poll ends empty when its wait is up.
    expect(await (await poll('1')).json()).toEqual({ commands: [] });
  });

  it('queues a deploy on every live device, or the named ones, for a push webhook', async () => {
    const garage = deviceKey();
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    await store.addEnrolmentToken(hashToken('enrol-2'), { now: NOW });
    await enrol({ name: 'garage', signing: garage.signing }, 'enrol-2');
    await store.addEnrolmentToken(hashToken('enrol-3'), { now: NOW });
    await enrol({ name: 'attic', signing: deviceKey().signing }, 'enrol-3');
    await store.revokeDevice('attic');
    const deploy = (body?: unknown, auth = 'Bearer api-ada') =>
      app.request('/api/v1/deploy', {
        method: 'POST',
        headers: { authorization: auth },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await deploy(undefined, 'Bearer nope')).status).toBe(401);
    const all = await deploy();
    expect(all.status).toBe(202);
    const { commands } = (await all.json()) as { commands: { device: string }[] };
    expect(commands.map((c) => c.device).sort()).toEqual(['garage', 'kitchen']);
    expect((await store.takeCommands('kitchen', NOW)).map((c) => c.kind)).toEqual(['deploy']);
    expect((await store.takeCommands('attic', NOW)).length).toBe(0);
    const some = (await (await deploy({ devices: ['garage'] })).json()) as {
      commands: { device: string }[];
    };
    expect(some.commands.map((c) => c.device)).toEqual(['garage']);
    const wrong = await deploy({ devices: ['attic', 'nobody'] });
    expect(wrong.status).toBe(404);
    expect(((await wrong.json()) as { error: string }).error).toBe(
      'no live device named "attic", "nobody"',
    );
    expect((await deploy({ devices: 'all' })).status).toBe(400);
  });

  it("carries a command's arguments to the device and its answer back to people", async () => {
    await enrol({ name: 'kitchen', signing: kitchen.signing });
    const person = (path: string, body?: unknown) =>
      app.request(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { authorization: 'Bearer api-ada' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await person('/api/v1/devices/kitchen/commands', { kind: 'run-job' })).status).toBe(
      400,
    );
    const bad = await person('/api/v1/devices/kitchen/commands', { kind: 'run-job', job: '../x' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain('job');
    const queued = await person('/api/v1/devices/kitchen/commands', {
      kind: 'run-job',
      job: 'upload',
    });
    const { command } = (await queued.json()) as { command: { id: string } };
    const path = '/api/v1/devices/kitchen/commands?wait=0';
    const polled = await app.request(path, {
      headers: signRequest({
        device: 'kitchen',
        privateKey: kitchen.privateKey,
        method: 'GET',
        path,
        now,
      }),
    });
    expect(await polled.json()).toMatchObject({
      commands: [{ id: command.id, kind: 'run-job', args: { job: 'upload' } }],
    });
    const answer = { ok: true, message: 'upload succeeded in 1.2 s', output: ['sent 3 rows'] };
    const resultPath = `/api/v1/devices/kitchen/commands/${command.id}/result`;
    expect(
      (await app.request(resultPath, { method: 'POST', body: JSON.stringify(answer) })).status,
    ).toBe(401);
    expect((await signed(resultPath, { ok: 'yes' })).status).toBe(400);
    expect((await signed(resultPath, answer)).status).toBe(200);
    expect((await signed(resultPath, answer)).status).toBe(404);
    expect((await signed('/api/v1/devices/kitchen/commands/nope/result', answer)).status).toBe(404);
    const shown = await person(`/api/v1/devices/kitchen/commands/${command.id}`);
    expect(await shown.json()).toMatchObject({
      command: { id: command.id, finishedAt: NOW, result: answer },
    });
    expect((await person('/api/v1/devices/kitchen/commands/nope')).status).toBe(404);
    const detail = (await (await person('/api/v1/devices/kitchen')).json()) as {
      commands: { id: string }[];
    };
    expect(detail.commands.map((c) => c.id)).toEqual([command.id]);
  });

  it('logs people in with a session cookie and rate-limits logins and enrolments', async () => {
    const login = (password: string, ip = 'a') =>
      app.request('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-test-ip': ip },
        body: JSON.stringify({ name: 'ada', password }),
      });
    expect((await login('wrong')).status).toBe(401);
    const ok = await login('correct horse');
    expect(ok.status).toBe(200);
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^piot_session=[^;]+;.*HttpOnly/);
    const viaCookie = await app.request('/api/v1/devices', {
      headers: { cookie: cookie.split(';')[0]! },
    });
    expect(viaCookie.status).toBe(200);
    const form = await app.request('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-test-ip': 'b' },
      body: 'name=ada&password=correct+horse',
    });
    expect(form.status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await login('wrong', 'c')).status);
    expect(statuses.slice(0, 10).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
    expect((await login('correct horse', 'd')).status).toBe(200);
    now += 60_000;
    expect((await login('correct horse', 'c')).status).toBe(200);
    const enrols = [];
    for (let i = 0; i < 11; i++) enrols.push((await enrol({}, 'x', 'e')).status);
    expect(enrols.at(-1)).toBe(429);
  });
});
