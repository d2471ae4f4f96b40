import { describe, expect, it } from 'vitest';
import type { JobRunRecord, ServiceRecord } from '../heartbeat.js';
import type { DeviceRecord } from '../store/store.js';
import { evaluate, noteRestarts, type AlertInput } from './rules.js';

const T = 1_800_000_000_000;
type Beat = NonNullable<DeviceRecord['lastHeartbeat']>;

function input(beat: Partial<Beat> = {}, extra: Partial<AlertInput> = {}): AlertInput {
  return {
    device: {
      name: 'kitchen',
      signing: 'ed25519:x',
      enrolledAt: T - 1000,
      revoked: false,
      lastSeen: T,
      lastHeartbeat: { receivedAt: T, ...beat },
    },
    jobRuns: [],
    deployEvents: [],
    now: T + 1000,
    ...extra,
  };
}
const keys = (i: AlertInput) => evaluate(i).map((c) => c.key);
const service = (over: Partial<ServiceRecord> = {}): ServiceRecord => ({
  app: 'web',
  name: 'api',
  kind: 'service',
  state: 'active',
  sub: 'running',
  restarts: 0,
  ...over,
});
const run = (status: JobRunRecord['status'], start: string): JobRunRecord => ({
  app: 'web',
  job: 'backup',
  start,
  end: start,
  seconds: 1,
  status,
  attempts: 1,
  log: [],
});

describe('alert rules', () => {
  it('finds nothing wrong with a healthy device', () => {
    const healthy = input({
      metrics: { temperature: 55, disk: 0.5, throttled: 0x50000 },
      health: { readOnlyRoot: false, failedUnits: [] },
      services: [service()],
      deploy: { lastDeploy: { at: '2027-01-01T00:00:00Z', commit: 'abc', kind: 'succeeded' } },
    });
    expect(evaluate(healthy)).toEqual([]);
  });

  it('calls a device offline after 90 s without a heartbeat, and never-seen or revoked ones never', () => {
    expect(keys(input({}, { now: T + 90_000 }))).toEqual([]);
    expect(evaluate(input({}, { now: T + 90_001 }))).toEqual([
      { key: 'offline', severity: 'critical', summary: 'no heartbeat for 90 s' },
    ]);
    const custom = evaluate(input({}, { now: T + 60_000 }), {
      offlineAfterMs: 30_000,
      temperatureC: 80,
      diskRatio: 0.9,
    });
    expect(custom.map((c) => c.key)).toEqual(['offline']);
    const never = input({}, { now: T + 10 * 60_000 });
    never.device.lastSeen = undefined;
    never.device.lastHeartbeat = undefined;
    expect(keys(never)).toEqual([]);
    const revoked = input({}, { now: T + 10 * 60_000 });
    revoked.device.revoked = true;
    expect(keys(revoked)).toEqual([]);
  });

  it('fires on heat, under-voltage, throttling now, a full disk and a read-only root', () => {
    expect(keys(input({ metrics: { temperature: 79.9 } }))).toEqual([]);
    expect(evaluate(input({ metrics: { temperature: 80 } }))).toEqual([
      {
        key: 'temperature',
        severity: 'warning',
        summary: 'SoC temperature 80 °C (alert at 80 °C)',
      },
    ]);
    expect(keys(input({ metrics: { throttled: 0x1 } }))).toEqual(['under-voltage']);
    expect(evaluate(input({ metrics: { throttled: 0x6 } }))).toEqual([
      { key: 'throttled', severity: 'warning', summary: 'ARM frequency capped, throttled now' },
    ]);
    // Bits 16-19 only say it happened since boot: history, not an alert.
    expect(keys(input({ metrics: { throttled: 0xf0000 } }))).toEqual([]);
    expect(keys(input({ metrics: { disk: 0.89 } }))).toEqual([]);
    expect(keys(input({ metrics: { disk: 0.9 } }))).toEqual(['disk:/']);
    expect(evaluate(input({ health: { readOnlyRoot: true } }))[0]).toMatchObject({
      key: 'read-only-root',
      severity: 'critical',
    });
  });

  it('fires for a service that is not active, and for a failed unit outside the release', () => {
    expect(evaluate(input({ services: [service({ state: 'failed', sub: 'failed' })] }))).toEqual([
      {
        key: 'service:web/api',
        severity: 'critical',
        summary: 'service web/api is failed (failed)',
      },
    ]);
    const restarting = input({ services: [service({ state: 'activating', sub: 'auto-restart' })] });
    expect(evaluate(restarting)[0]).toMatchObject({ key: 'service:web/api', severity: 'warning' });
    // Job units are judged by their runs, not their unit state.
    expect(keys(input({ services: [service({ kind: 'job', state: 'inactive' })] }))).toEqual([]);
    const units = input({
      services: [service({ state: 'failed' })],
      health: { failedUnits: ['piot-web-api.service', 'ssh.service'] },
    });
    expect(keys(units)).toEqual(['service:web/api', 'unit:ssh.service']);
  });

  it('fires once for a service whose restart count rose, and resolves at the next heartbeat', () => {
    const first = { receivedAt: T, services: [service({ restarts: 2 })] };
    const memory1 = noteRestarts(undefined, first);
    expect(memory1).toEqual({ heartbeatAt: T, restarts: { 'web/api': 2 }, rose: [] });
    // Evaluating the same heartbeat again changes nothing.
    expect(noteRestarts(memory1, first)).toBe(memory1);
    const killed = { receivedAt: T + 30_000, services: [service({ restarts: 3 })] };
    const memory2 = noteRestarts(memory1, killed);
    expect(memory2.rose).toEqual(['web/api']);
    const fired = input(killed, { restarts: memory2 });
    fired.device.lastSeen = T + 30_000;
    fired.now = T + 31_000;
    expect(evaluate(fired)).toEqual([
      {
        key: 'service:web/api',
        severity: 'warning',
        summary: 'service web/api restarted (3 restarts)',
      },
    ]);
    // Memory of an older heartbeat does not count for a newer one.
    expect(keys({ ...fired, restarts: memory1 })).toEqual([]);
    const calm = { receivedAt: T + 60_000, services: [service({ restarts: 3 })] };
    expect(noteRestarts(memory2, calm).rose).toEqual([]);
    // A reboot resets NRestarts: a lower count is no restart.
    expect(noteRestarts(memory2, { ...calm, services: [service({ restarts: 0 })] }).rose).toEqual(
      [],
    );
  });

  it('fires for a job whose newest run failed, until a run succeeds', () => {
    const failed = input(
      {},
      { jobRuns: [run('timed-out', '2027-01-02'), run('succeeded', '2027-01-01')] },
    );
    expect(evaluate(failed)).toEqual([
      {
        key: 'job:web/backup',
        severity: 'warning',
        summary: 'job web/backup timed out (run of 2027-01-02)',
      },
    ]);
    const fixed = input(
      {},
      { jobRuns: [run('succeeded', '2027-01-03'), run('failed', '2027-01-02')] },
    );
    expect(keys(fixed)).toEqual([]);
  });

  it('fires for a failed deploy until a later one succeeds', () => {
    const event = (kind: 'failed' | 'succeeded' | 'started' | 'rolled-back', at: string) => ({
      at,
      commit: `c-${at}`,
      kind,
    });
    const rolledBack = input(
      { deploy: { lastDeploy: { ...event('rolled-back', '2027-01-02'), reason: 'health gate' } } },
      { deployEvents: [event('started', '2027-01-02'), event('succeeded', '2027-01-01')] },
    );
    expect(evaluate(rolledBack)).toEqual([
      {
        key: 'deploy',
        severity: 'warning',
        summary: 'deploy of c-2027-01-02 rolled-back: health gate',
      },
    ]);
    // A started deploy does not end the alert; a succeeded one does.
    const started = input(
      {},
      { deployEvents: [event('started', '2027-01-03'), event('failed', '2027-01-02')] },
    );
    expect(keys(started)).toEqual(['deploy']);
    const later = input(
      { deploy: { lastDeploy: event('failed', '2027-01-02') } },
      { deployEvents: [event('succeeded', '2027-01-03')] },
    );
    expect(keys(later)).toEqual([]);
  });
});
