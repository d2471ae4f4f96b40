import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import pg from 'pg';
import type { Heartbeat } from '../heartbeat.js';
import { MIGRATIONS } from './migrations.js';
import type { Store } from './store.js';
import { describeEachStore, type OpenedStore } from './test-targets.js';

const KEY = 'ed25519:' + Buffer.alloc(32, 1).toString('base64');
const OTHER_KEY = 'ed25519:' + Buffer.alloc(32, 2).toString('base64');
const T0 = 1_800_000_000_000;

describeEachStore('hub store', (target) => {
  let opened: OpenedStore;
  let store: Store;
  beforeEach(async () => {
    opened = await target.open();
    store = opened.store;
  });
  afterEach(() => opened.dispose());

  const enrolled = async (name = 'kitchen', token = `tok-${name}`) => {
    await store.addEnrolmentToken(token, { now: T0 });
    const result = await store.enrol({ tokenHash: token, name, signing: KEY, now: T0 });
    expect(result.ok).toBe(true);
  };

  it('enrols a device once per token', async () => {
    await store.addEnrolmentToken('h1', { now: T0 });
    const first = await store.enrol({ tokenHash: 'h1', name: 'kitchen', signing: KEY, now: T0 });
    expect(first).toMatchObject({ ok: true, again: false, device: { name: 'kitchen' } });
    const device = await store.getDevice('kitchen');
    expect(device).toEqual({ name: 'kitchen', signing: KEY, enrolledAt: T0, revoked: false });
    // The same device repeating itself is answered again; anyone else is refused.
    const again = await store.enrol({ tokenHash: 'h1', name: 'kitchen', signing: KEY, now: T0 });
    expect(again).toMatchObject({ ok: true, again: true });
    const other = await store.enrol({ tokenHash: 'h1', name: 'garage', signing: KEY, now: T0 });
    expect(other).toEqual({ ok: false, reason: 'bad-token' });
    const otherKey = await store.enrol({
      tokenHash: 'h1',
      name: 'kitchen',
      signing: OTHER_KEY,
      now: T0,
    });
    expect(otherKey).toEqual({ ok: false, reason: 'bad-token' });
    expect(await store.getDevice('garage')).toBeUndefined();
    expect(await store.deviceKey('kitchen')).toEqual({ signing: KEY, revoked: false });
    expect(await store.deviceKey('garage')).toBeUndefined();
    await store.revokeDevice('kitchen');
    expect(await store.deviceKey('kitchen')).toEqual({ signing: KEY, revoked: true });
  });

  it('refuses unknown and expired tokens, and names a live device holds', async () => {
    expect(await store.enrol({ tokenHash: 'nope', name: 'a', signing: KEY, now: T0 })).toEqual({
      ok: false,
      reason: 'bad-token',
    });
    await store.addEnrolmentToken('old', { now: T0, expiresAt: T0 + 10 });
    expect(await store.enrol({ tokenHash: 'old', name: 'a', signing: KEY, now: T0 + 10 })).toEqual({
      ok: false,
      reason: 'bad-token',
    });
    await enrolled('kitchen');
    await store.addEnrolmentToken('h2', { now: T0 });
    const taken = await store.enrol({
      tokenHash: 'h2',
      name: 'kitchen',
      signing: OTHER_KEY,
      now: T0,
    });
    expect(taken).toEqual({ ok: false, reason: 'name-taken' });
    // The token was not spent on the refusal: a revoked device may re-enrol with it.
    expect(await store.revokeDevice('kitchen')).toBe(true);
    expect((await store.getDevice('kitchen'))?.revoked).toBe(true);
    const back = await store.enrol({
      tokenHash: 'h2',
      name: 'kitchen',
      signing: OTHER_KEY,
      now: T0,
    });
    expect(back).toMatchObject({ ok: true, device: { signing: OTHER_KEY, revoked: false } });
    expect(await store.revokeDevice('nobody')).toBe(false);
  });

  it('lets exactly one of several racing enrolments use a token', async () => {
    await store.addEnrolmentToken('race', { now: T0 });
    const second = await opened.reopen();
    try {
      const results = await Promise.all(
        ['a', 'b', 'c', 'd'].map((name, i) =>
          (i % 2 ? second : store).enrol({ tokenHash: 'race', name, signing: KEY, now: T0 }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(await store.listDevices()).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('gives a new name to one of two tokens racing for it, and keeps the other token', async () => {
    await store.addEnrolmentToken('t1', { now: T0 });
    await store.addEnrolmentToken('t2', { now: T0 });
    const second = await opened.reopen();
    try {
      const results = await Promise.all([
        store.enrol({ tokenHash: 't1', name: 'kitchen', signing: KEY, now: T0 }),
        second.enrol({ tokenHash: 't2', name: 'kitchen', signing: OTHER_KEY, now: T0 }),
      ]);
      expect(results.map((r) => (r.ok ? 'ok' : r.reason)).sort()).toEqual(['name-taken', 'ok']);
      const loser = results[0].ok ? 't2' : 't1';
      const later = await store.enrol({ tokenHash: loser, name: 'garage', signing: KEY, now: T0 });
      expect(later.ok).toBe(true);
    } finally {
      await second.close();
    }
  });

  it('records heartbeats: summary, samples, events and job runs, without duplicates', async () => {
    await enrolled('kitchen');
    await enrolled('garage');
    const beat: Heartbeat = {
      agent: { version: '0.1.0' },
      metrics: { temperature: 51.5, cpu: 0.25, memory: 0.5, disk: 0.75, wifiSignal: -61 },
      deploy: { app: 'sensor', current: 'abc123' },
      events: [{ at: '2027-01-01T00:00:00.000Z', commit: 'abc123', kind: 'succeeded' }],
      jobRuns: [
        {
          app: 'sensor',
          job: 'backup',
          start: '2027-01-01T03:00:00.000Z',
          end: '2027-01-01T03:00:02.000Z',
          seconds: 2,
          status: 'failed',
          exitCode: 3,
          attempts: 2,
          log: ['no space'],
        },
      ],
    };
    await store.recordHeartbeat('kitchen', beat, T0 + 1000);
    await store.recordHeartbeat('kitchen', { ...beat, metrics: { cpu: 0.5 } }, T0 + 2000);
    const device = await store.getDevice('kitchen');
    expect(device?.lastSeen).toBe(T0 + 2000);
    expect(device?.lastHeartbeat).toEqual({
      agent: { version: '0.1.0' },
      metrics: { cpu: 0.5 },
      deploy: { app: 'sensor', current: 'abc123' },
      receivedAt: T0 + 2000,
    });
    expect(await store.samples('kitchen', { from: T0, to: T0 + 5000 })).toEqual([
      { at: T0 + 1000, temperature: 51.5, cpu: 0.25, memory: 0.5, disk: 0.75, wifiSignal: -61 },
      { at: T0 + 2000, cpu: 0.5 },
    ]);
    expect(await store.samples('kitchen', { from: T0 + 1001, to: T0 + 2000 })).toEqual([]);
    expect(await store.deployEvents('kitchen', 10)).toEqual(beat.events);
    expect(await store.jobRuns('kitchen', 10)).toEqual(beat.jobRuns);
    expect(await store.samples('garage', { from: 0, to: T0 * 2 })).toEqual([]);
    expect(await store.deployEvents('garage', 10)).toEqual([]);
    expect((await store.listDevices()).map((d) => d.name)).toEqual(['garage', 'kitchen']);
  });

  it('keeps the newest events and runs first, up to the limit', async () => {
    await enrolled('kitchen');
    const events = [1, 2, 3].map((i) => ({
      at: `2027-01-0${i}T00:00:00.000Z`,
      commit: `c${i}`,
      kind: 'started' as const,
    }));
    await store.recordHeartbeat('kitchen', { events }, T0);
    expect((await store.deployEvents('kitchen', 2)).map((e) => e.commit)).toEqual(['c3', 'c2']);
  });

  it('averages old samples per hour and drops the oldest hours', async () => {
    await enrolled('kitchen');
    const H = 3_600_000;
    const base = Math.floor(T0 / H) * H;
    const at = [base + 1, base + 2, base + H + 5, base + 2 * H + 1];
    for (const [i, t] of at.entries()) {
      await store.recordHeartbeat('kitchen', { metrics: { cpu: i / 10, temperature: 40 + i } }, t);
    }
    await store.compactSamples({ hourlyBefore: base + 2 * H + 30, dropBefore: 0 });
    const all = await store.samples('kitchen', { from: 0, to: base + 3 * H });
    expect(all).toHaveLength(3);
    expect(all[0]).toMatchObject({ at: base, temperature: 40.5 });
    expect(all[0]!.cpu).toBeCloseTo(0.05);
    expect(all[1]).toMatchObject({ at: base + H, cpu: 0.2, temperature: 42 });
    expect(all[2]).toEqual({ at: base + 2 * H + 1, cpu: 0.3, temperature: 43 });
    // Compacting again changes nothing; then the first hour ages out.
    await store.compactSamples({ hourlyBefore: base + 2 * H + 30, dropBefore: 0 });
    expect(await store.samples('kitchen', { from: 0, to: base + 3 * H })).toEqual(all);
    await store.compactSamples({ hourlyBefore: base + 2 * H, dropBefore: base + 1 });
    expect(await store.samples('kitchen', { from: 0, to: base + 3 * H })).toEqual(all.slice(1));
  });

  it('hands each queued command out once, oldest first', async () => {
    await enrolled('kitchen');
    await enrolled('garage');
    const command = (id: string, at: number) => ({
      id,
      kind: 'deploy',
      createdAt: at,
      createdBy: 'ada',
    });
    await store.addCommand('kitchen', command('c2', T0 + 1));
    await store.addCommand('kitchen', command('c1', T0));
    await store.addCommand('garage', command('g1', T0));
    const second = await opened.reopen();
    try {
      const [a, b] = await Promise.all([
        store.takeCommands('kitchen', T0 + 5),
        second.takeCommands('kitchen', T0 + 5),
      ]);
      const all = [...a, ...b].sort((x, y) => x.createdAt - y.createdAt);
      const delivered = { deliveredAt: T0 + 5 };
      expect(all).toEqual([
        { ...command('c1', T0), ...delivered },
        { ...command('c2', T0 + 1), ...delivered },
      ]);
    } finally {
      await second.close();
    }
    expect(await store.takeCommands('kitchen', T0 + 6)).toEqual([]);
    expect((await store.takeCommands('garage', T0 + 6)).map((c) => c.id)).toEqual(['g1']);
  });

  it("keeps a command's arguments and the device's answer, the first answer only", async () => {
    await enrolled('kitchen');
    await enrolled('garage');
    const run = {
      id: 'r1',
      kind: 'run-job',
      args: { job: 'upload' },
      createdAt: T0,
      createdBy: 'ada',
    };
    await store.addCommand('kitchen', run);
    // Not yet delivered: no answer is taken, and no other device may answer it.
    expect(await store.finishCommand('kitchen', 'r1', { ok: true }, T0 + 1)).toBe(false);
    expect(await store.takeCommands('kitchen', T0 + 2)).toEqual([{ ...run, deliveredAt: T0 + 2 }]);
    expect(await store.finishCommand('garage', 'r1', { ok: true }, T0 + 3)).toBe(false);
    const result = { ok: false, message: 'no job named upload', output: ['a', 'b'] };
    expect(await store.finishCommand('kitchen', 'r1', result, T0 + 4)).toBe(true);
    expect(await store.finishCommand('kitchen', 'r1', { ok: true }, T0 + 5)).toBe(false);
    expect(await store.getCommand('kitchen', 'r1')).toEqual({
      ...run,
      deliveredAt: T0 + 2,
      finishedAt: T0 + 4,
      result,
    });
    expect(await store.getCommand('garage', 'r1')).toBeUndefined();
    await store.addCommand('kitchen', {
      id: 'r2',
      kind: 'reboot',
      createdAt: T0 + 9,
      createdBy: 'ada',
    });
    expect((await store.commands('kitchen', 10)).map((c) => c.id)).toEqual(['r2', 'r1']);
    expect((await store.commands('kitchen', 1)).map((c) => c.id)).toEqual(['r2']);
    expect(await store.commands('garage', 10)).toEqual([]);
  });

  it('keeps queued samples at the time they were taken, if plausible', async () => {
    await enrolled('kitchen');
    const DAY = 86_400_000;
    const now = T0 + 10 * DAY;
    const history = [
      { at: now - 3 * DAY, metrics: { cpu: 0.9 } }, // older than raw samples are kept: dropped
      { at: now - 60_000, metrics: { cpu: 0.1 } },
      { at: now - 30_000, metrics: { cpu: 0.2, temperature: 50 } },
      { at: now + 60_000, metrics: { cpu: 0.3 } }, // in the future: dropped
    ];
    await store.recordHeartbeat('kitchen', { history, metrics: { cpu: 0.4 } }, now);
    expect(await store.samples('kitchen', { from: 0, to: now + DAY })).toEqual([
      { at: now - 60_000, cpu: 0.1 },
      { at: now - 30_000, cpu: 0.2, temperature: 50 },
      { at: now, cpu: 0.4 },
    ]);
    expect((await store.getDevice('kitchen'))?.lastHeartbeat).toEqual({
      metrics: { cpu: 0.4 },
      receivedAt: now,
    });
  });

  it('keeps throttling history, the highest value of an hour once compacted', async () => {
    await enrolled('kitchen');
    const H = 3_600_000;
    const base = Math.floor(T0 / H) * H;
    await store.recordHeartbeat('kitchen', { metrics: { throttled: 0x50005 } }, base + 1);
    await store.recordHeartbeat('kitchen', { metrics: { throttled: 0x50000 } }, base + 2);
    expect(
      (await store.samples('kitchen', { from: 0, to: base + H })).map((s) => s.throttled),
    ).toEqual([0x50005, 0x50000]);
    await store.compactSamples({ hourlyBefore: base + H, dropBefore: 0 });
    expect(await store.samples('kitchen', { from: 0, to: base + H })).toEqual([
      { at: base, throttled: 0x50005 },
    ]);
  });

  it('forgets events, job runs, commands and resolved alerts older than the retention', async () => {
    await enrolled('kitchen');
    const day = (d: number) => new Date(T0 + d * 86_400_000).toISOString();
    const run = (d: number) => ({
      app: 'sensor',
      job: 'upload',
      start: day(d),
      end: day(d),
      seconds: 1,
      status: 'succeeded' as const,
      attempts: 1,
      log: [],
    });
    await store.recordHeartbeat(
      'kitchen',
      {
        events: [0, 5].map((d) => ({ at: day(d), commit: `c${d}`, kind: 'succeeded' as const })),
        jobRuns: [run(0), run(5)],
      },
      T0,
    );
    const command = (id: string, at: number) => ({
      id,
      kind: 'deploy',
      createdAt: at,
      createdBy: 'ada',
    });
    await store.addCommand('kitchen', command('old', T0));
    await store.addCommand('kitchen', command('new', T0 + 5 * 86_400_000));
    const alert = { device: 'kitchen', severity: 'critical' as const, summary: 'x', startedAt: T0 };
    await store.openAlert({ ...alert, key: 'offline' });
    await store.resolveAlert('kitchen', 'offline', T0 + 1000);
    await store.openAlert({ ...alert, key: 'disk:/' });

    await store.pruneHistory(T0 + 86_400_000);
    expect((await store.deployEvents('kitchen', 10)).map((e) => e.commit)).toEqual(['c5']);
    expect((await store.jobRuns('kitchen', 10)).map((r) => r.start)).toEqual([day(5)]);
    expect((await store.commands('kitchen', 10)).map((c) => c.id)).toEqual(['new']);
    // A resolved alert goes; one still firing stays, however old.
    expect((await store.alerts('kitchen', 10)).map((a) => a.key)).toEqual(['disk:/']);
  });

  it('remembers nonces per device until pruned', async () => {
    expect(await store.useNonce('kitchen', 'n1', T0)).toBe(true);
    expect(await store.useNonce('kitchen', 'n1', T0 + 1)).toBe(false);
    expect(await store.useNonce('garage', 'n1', T0)).toBe(true);
    await store.pruneNonces(T0 + 1);
    expect(await store.useNonce('kitchen', 'n1', T0 + 2)).toBe(true);
  });

  it("stores a heartbeat's nonce with it, and records nothing for a nonce used before", async () => {
    await enrolled();
    const beat = { metrics: { cpu: 0.25 } };
    expect(await store.recordHeartbeat('kitchen', beat, T0 + 1, 'n1')).toBe(true);
    expect(await store.recordHeartbeat('kitchen', { metrics: { cpu: 0.5 } }, T0 + 2, 'n1')).toBe(
      false,
    );
    expect(await store.useNonce('kitchen', 'n1', T0 + 3)).toBe(false);
    expect(await store.useNonce('kitchen', 'n2', T0 + 3)).toBe(true);
    expect(await store.recordHeartbeat('kitchen', beat, T0 + 4, 'n2')).toBe(false);
    const samples = await store.samples('kitchen', { from: 0, to: T0 + 10 });
    expect(samples.map((s) => [s.at, s.cpu])).toEqual([[T0 + 1, 0.25]]);
    expect((await store.getDevice('kitchen'))?.lastSeen).toBe(T0 + 1);
    // Without metrics (no sample to take), and with queued events (a transaction on both).
    expect(await store.recordHeartbeat('kitchen', { health: {} }, T0 + 5, 'n3')).toBe(true);
    expect(await store.recordHeartbeat('kitchen', { health: {} }, T0 + 6, 'n3')).toBe(false);
    expect((await store.getDevice('kitchen'))?.lastSeen).toBe(T0 + 5);
    const events = [{ at: '2026-11-27T08:00:00.000Z', commit: 'abc', kind: 'succeeded' as const }];
    expect(await store.recordHeartbeat('kitchen', { events }, T0 + 7, 'n3')).toBe(false);
    expect(await store.deployEvents('kitchen', 10)).toEqual([]);
    expect(await store.recordHeartbeat('kitchen', { events }, T0 + 8, 'n4')).toBe(true);
    expect(await store.deployEvents('kitchen', 10)).toHaveLength(1);
  });

  it('answers each of a burst of heartbeats on its own, as a busy hub sends them together', async () => {
    await enrolled('kitchen');
    await enrolled('garage');
    expect(await store.recordHeartbeat('kitchen', { metrics: { cpu: 0.1 } }, T0, 'k0')).toBe(true);
    const results = await Promise.allSettled([
      store.recordHeartbeat('kitchen', { metrics: { cpu: 0.2 } }, T0 + 1, 'k1'),
      store.recordHeartbeat('garage', { metrics: { cpu: 0.3 } }, T0 + 1, 'g1'),
      store.recordHeartbeat('kitchen', { metrics: { cpu: 0.9 } }, T0 + 2, 'k0'), // used before
      store.recordHeartbeat('nobody', { metrics: { cpu: 0.5 } }, T0 + 2, 'n1'), // not enrolled
      store.recordHeartbeat('kitchen', { metrics: { cpu: 0.8 } }, T0 + 2, 'k1'), // used above
      store.recordHeartbeat('garage', { health: { readOnlyRoot: true } }, T0 + 3, 'g2'),
      store.recordHeartbeat('garage', { health: { readOnlyRoot: false } }, T0 + 3, 'g2'),
      store.recordHeartbeat('kitchen', { metrics: { cpu: 0.4 } }, T0 + 3, 'k2'),
      store.recordHeartbeat('garage', { metrics: { cpu: 0.6 } }, T0 + 4, 'k2'), // another device's
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'rejected'))).toEqual([
      true,
      true,
      false,
      'rejected',
      false,
      true,
      false,
      true,
      true,
    ]);
    const cpu = async (name: string) =>
      (await store.samples(name, { from: 0, to: T0 + 10 })).map((s) => [s.at - T0, s.cpu]);
    expect(await cpu('kitchen')).toEqual([
      [0, 0.1],
      [1, 0.2],
      [3, 0.4],
    ]);
    expect(await cpu('garage')).toEqual([
      [1, 0.3],
      [4, 0.6],
    ]);
    expect(await cpu('nobody')).toEqual([]);
    const kitchen = await store.getDevice('kitchen');
    expect([kitchen?.lastSeen, kitchen?.lastHeartbeat?.metrics]).toEqual([T0 + 3, { cpu: 0.4 }]);
    const garage = await store.getDevice('garage');
    expect(garage?.lastSeen).toBe(T0 + 4);
    expect(await store.useNonce('garage', 'g2', T0 + 5)).toBe(false);
    expect(await store.useNonce('nobody', 'n1', T0 + 5)).toBe(true);
  });

  it('reads the keys of several devices at once, each its own', async () => {
    await enrolled('kitchen');
    await store.addEnrolmentToken('tok-garage', { now: T0 });
    await store.enrol({ tokenHash: 'tok-garage', name: 'garage', signing: OTHER_KEY, now: T0 });
    await store.revokeDevice('garage');
    const names = ['kitchen', 'garage', 'nobody', 'kitchen', 'garage'];
    const keys = await Promise.all(names.map((name) => store.deviceKey(name)));
    expect(keys.map((k) => k && { ...k, cached: undefined })).toEqual([
      { signing: KEY, revoked: false },
      { signing: OTHER_KEY, revoked: true },
      undefined,
      { signing: KEY, revoked: false },
      { signing: OTHER_KEY, revoked: true },
    ]);
  });

  it('keeps users, API tokens and sessions', async () => {
    expect(await store.getUserPasswordHash('ada')).toBeUndefined();
    await store.setUser('ada', 'hash1', T0);
    await store.setUser('ada', 'hash2', T0);
    expect(await store.getUserPasswordHash('ada')).toBe('hash2');
    await store.addApiToken('th', 'ada', { label: 'ci', now: T0 });
    expect(await store.apiTokenUser('th')).toBe('ada');
    expect(await store.apiTokenUser('other')).toBeUndefined();
    await store.addSession('sh', 'ada', T0 + 100);
    expect(await store.sessionUser('sh', T0 + 99)).toBe('ada');
    expect(await store.sessionUser('sh', T0 + 100)).toBeUndefined();
    await store.addSession('sh2', 'ada', T0 + 200);
    await store.pruneSessions(T0 + 150);
    expect(await store.sessionUser('sh', T0 + 99)).toBeUndefined();
    expect(await store.sessionUser('sh2', T0 + 99)).toBe('ada');
    await store.addSession('sh3', 'ada', T0 + 200);
    await store.deleteSession('sh2');
    await store.deleteSession('no such session');
    expect(await store.sessionUser('sh2', T0 + 99)).toBeUndefined();
    expect(await store.sessionUser('sh3', T0 + 99)).toBe('ada');
  });

  it('keeps concurrent writes apart: one failing undoes only its own', async () => {
    await enrolled('kitchen');
    await store.addEnrolmentToken('dup', { now: T0 });
    // Sent together, as a busy hub does (SQLite commits them as one group).
    const results = await Promise.allSettled([
      store.useNonce('kitchen', 'n-1', T0),
      store.addEnrolmentToken('dup', { now: T0 }),
      store.recordHeartbeat('kitchen', { metrics: { cpu: 0.5 } }, T0 + 1),
      store.recordHeartbeat('nobody', { metrics: { cpu: 0.5 } }, T0 + 1),
      store.useNonce('kitchen', 'n-1', T0),
      store.useNonce('kitchen', 'n-2', T0),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : 'x'))).toEqual([
      true,
      'x',
      true,
      'x',
      false,
      true,
    ]);
    expect(await store.samples('kitchen', { from: 0, to: T0 + 2 })).toEqual([
      { at: T0 + 1, cpu: 0.5 },
    ]);
    expect(await store.samples('nobody', { from: 0, to: T0 + 2 })).toEqual([]);
  });

  it('starts an alert once while it is active and resolves it once', async () => {
    await enrolled('kitchen');
    await enrolled('garage');
    const alert = {
      device: 'kitchen',
      key: 'service:web/api',
      severity: 'critical' as const,
      summary: 'service web/api is failed',
      startedAt: T0,
    };
    expect(await store.openAlert(alert)).toBe(true);
    expect(await store.openAlert({ ...alert, startedAt: T0 + 5, summary: 'again' })).toBe(false);
    expect(await store.openAlert({ ...alert, device: 'garage' })).toBe(true);
    expect(await store.activeAlerts('kitchen')).toEqual([alert]);
    expect((await store.activeAlerts()).map((a) => a.device)).toEqual(['garage', 'kitchen']);
    expect(await store.resolveAlert('kitchen', 'offline', T0 + 9)).toBeUndefined();
    expect(await store.resolveAlert('kitchen', alert.key, T0 + 10)).toEqual({
      ...alert,
      resolvedAt: T0 + 10,
    });
    expect(await store.resolveAlert('kitchen', alert.key, T0 + 11)).toBeUndefined();
    expect(await store.activeAlerts('kitchen')).toEqual([]);
    // The same condition coming back is a new alert; history keeps both, newest first.
    expect(await store.openAlert({ ...alert, startedAt: T0 + 20 })).toBe(true);
    expect(await store.alerts('kitchen', 10)).toEqual([
      { ...alert, startedAt: T0 + 20 },
      { ...alert, resolvedAt: T0 + 10 },
    ]);
  });

  it("sees another hub's change of a device's session and revocation", async () => {
    await enrolled('kitchen');
    const second = await opened.reopen();
    try {
      // PostgreSQL: this hub caches the key once it listens for changes; SQLite reads the file.
      const cached = target.name === 'PostgreSQL' ? true : undefined;
      await vi.waitFor(async () => expect((await store.deviceKey('kitchen'))?.cached).toBe(cached));
      const session = {
        id: 's'.repeat(22),
        key: Buffer.alloc(32, 3).toString('base64'),
        expiresAt: T0,
      };
      expect(await second.openDeviceSession('kitchen', session)).toBe(true);
      expect((await store.deviceKey('kitchen', { fresh: true }))?.session).toEqual(session);
      await vi.waitFor(async () =>
        expect((await store.deviceKey('kitchen'))?.session).toEqual(session),
      );
      expect(await second.revokeDevice('kitchen')).toBe(true);
      await vi.waitFor(async () => {
        const key = await store.deviceKey('kitchen');
        expect(key?.revoked).toBe(true);
        expect(key?.session).toBeUndefined();
      });
      // This hub's own change is seen at once.
      await store.addEnrolmentToken('tok-again', { now: T0 });
      await store.enrol({ tokenHash: 'tok-again', name: 'kitchen', signing: OTHER_KEY, now: T0 });
      expect(await store.deviceKey('kitchen')).toMatchObject({
        signing: OTHER_KEY,
        revoked: false,
      });
    } finally {
      await second.close();
    }
  });

  it('reads keys from the database while it cannot hear of changes, and listens again', async () => {
    if (target.name !== 'PostgreSQL') return; // SQLite caches no keys
    await enrolled('kitchen');
    const second = await opened.reopen();
    const admin = new pg.Client({ connectionString: process.env.PIOT_TEST_POSTGRES });
    await admin.connect();
    try {
      await vi.waitFor(async () => expect((await store.deviceKey('kitchen'))?.cached).toBe(true));
      // The connections that listen are cut, as by a database restart; a change meanwhile.
      const listening =
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'";
      expect((await admin.query(listening)).rowCount).toBeGreaterThan(0);
      expect(await second.revokeDevice('kitchen')).toBe(true);
      await vi.waitFor(async () => expect((await store.deviceKey('kitchen'))?.revoked).toBe(true));
      // Listening again, it caches again, and hears of the next change.
      await vi.waitFor(async () => expect((await store.deviceKey('kitchen'))?.cached).toBe(true), {
        timeout: 5000,
      });
      await second.addEnrolmentToken('tok-again', { now: T0 });
      await second.enrol({ tokenHash: 'tok-again', name: 'kitchen', signing: OTHER_KEY, now: T0 });
      await vi.waitFor(async () =>
        expect(await store.deviceKey('kitchen')).toMatchObject({
          signing: OTHER_KEY,
          revoked: false,
        }),
      );
    } finally {
      await admin.end();
      await second.close();
    }
  });

  it("rewrites a device's row in place at each heartbeat (PostgreSQL)", async () => {
    if (!opened.query) return; // SQLite keeps no old row versions
    // 16 devices, each heartbeat's summary (kept in the device's row) about 1 KB.
    const names = Array.from({ length: 16 }, (_, i) => `pi-${i}`);
    for (const name of names) await enrolled(name);
    const services = ['web', 'sensors', 'mqtt-bridge', 'backup', 'camera', 'display', 'relay'].map(
      (name) => ({
        app: 'greenhouse',
        name,
        kind: 'service' as const,
        state: 'active',
        sub: 'running',
        restarts: 0,
        memory: 38_000_000,
        cpu: 1234.5,
      }),
    );
    const beat = { agent: { version: '0.1.0' }, metrics: { cpu: 0.5 }, services };
    expect(JSON.stringify(beat).length).toBeGreaterThan(900);
    for (let round = 0; round < 25; round++) {
      await Promise.all(
        names.map((name) =>
          store.recordHeartbeat(name, beat, T0 + round, `nonce-${name}-${round}-xxxxxxxx`),
        ),
      );
    }
    // The rows take 6 pages of 8 KB when each version fits beside the old one; 16 when full
    // pages send new versions elsewhere (without migration 8).
    const [size] = await opened.query(`SELECT pg_relation_size('devices') / 8192 AS pages`);
    expect(Number(size!.pages)).toBeLessThanOrEqual(10);
  });

  it('lets exactly one of two hubs start, and then resolve, the same alert', async () => {
    await enrolled('kitchen');
    const second = await opened.reopen();
    try {
      const alert = (at: number) => ({
        device: 'kitchen',
        key: 'offline',
        severity: 'critical' as const,
        summary: 'no heartbeat',
        startedAt: at,
      });
      const opens = await Promise.all(
        [0, 1, 2, 3].map((i) => (i % 2 ? second : store).openAlert(alert(T0 + i))),
      );
      expect(opens.filter(Boolean)).toHaveLength(1);
      const resolves = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          (i % 2 ? second : store).resolveAlert('kitchen', 'offline', T0 + 9),
        ),
      );
      expect(resolves.filter((r) => r !== undefined)).toHaveLength(1);
      expect(await second.activeAlerts()).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('remembers service restart counts per device', async () => {
    await enrolled('kitchen');
    expect(await store.getRestartMemory('kitchen')).toBeUndefined();
    const memory = { heartbeatAt: T0, restarts: { 'web/api': 2 }, rose: [] };
    await store.setRestartMemory('kitchen', memory);
    await store.setRestartMemory('kitchen', { ...memory, rose: ['web/api'] });
    expect(await store.getRestartMemory('kitchen')).toEqual({ ...memory, rose: ['web/api'] });
  });

  it('migrates once, also when several hubs start together', async () => {
    const hubs = await Promise.all([opened.reopen(), opened.reopen(), opened.reopen()]);
    await Promise.all(hubs.map((h) => h.close()));
    await enrolled('kitchen');
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });
});
