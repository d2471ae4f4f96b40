import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../store/store.js';
import { decodeThrottled, deviceHealth } from './health.js';
import { throttleCells, throttlePeriods } from './history.js';

const NOW = 1_800_000_000_000;
const device = (beat: Omit<NonNullable<DeviceRecord['lastHeartbeat']>, 'receivedAt'>, seen = NOW) =>
  ({
    name: 'kitchen',
    signing: 'k',
    enrolledAt: 0,
    revoked: false,
    lastSeen: seen,
    lastHeartbeat: { ...beat, receivedAt: seen },
  }) satisfies DeviceRecord;

describe('device health', () => {
  it('decodes get_throttled bits', () => {
    expect(decodeThrottled(0)).toEqual({ now: [], sinceBoot: [] });
    expect(decodeThrottled(0x50005)).toEqual({
      now: ['under-voltage', 'throttled'],
      sinceBoot: ['under-voltage', 'throttled'],
    });
    expect(decodeThrottled(0x80000)).toEqual({ now: [], sinceBoot: ['soft temperature limit'] });
  });

  it('is ok, warning or critical for the worst of its reasons', () => {
    expect(
      deviceHealth(device({ metrics: { temperature: 50, disk: 0.5, throttled: 0 } }), NOW),
    ).toEqual({
      level: 'ok',
      reasons: [],
    });
    const warm = deviceHealth(
      device({ metrics: { temperature: 81, disk: 0.95, throttled: 0x20000 } }),
      NOW,
    );
    expect(warm.level).toBe('warning');
    expect(warm.reasons.map((r) => r.text)).toEqual([
      'since boot: frequency capped',
      'hot: 81.0 °C',
      'disk 95 % full',
    ]);
    expect(deviceHealth(device({ metrics: { throttled: 1 } }), NOW).level).toBe('critical');
    expect(deviceHealth(device({ health: { readOnlyRoot: true } }), NOW).level).toBe('critical');
    expect(deviceHealth(device({ health: { failedUnits: ['x.service'] } }), NOW).reasons).toEqual([
      { level: 'critical', text: 'x.service failed' },
    ]);
    const failed = device({
      services: [{ app: 'a', name: 'web', kind: 'service', state: 'failed' }],
    });
    expect(deviceHealth(failed, NOW).level).toBe('critical');
    expect(deviceHealth(device({}, NOW - 90_000), NOW).level).toBe('ok');
    expect(deviceHealth(device({}, NOW - 90_001), NOW).reasons).toEqual([
      { level: 'critical', text: 'offline' },
    ]);
  });

  it('draws throttling history as a strip and as periods', () => {
    const samples = [
      { at: 0, throttled: 0 },
      { at: 10, throttled: 0x20002 },
      { at: 20, throttled: 0x50005 },
      { at: 30, throttled: 0x50000 },
      { at: 40, cpu: 0.1 },
      { at: 50, throttled: 0x4 },
    ];
    expect(throttleCells(samples, { from: 0, to: 60 }, 6)).toEqual([
      'clear',
      'capped',
      'under',
      'clear',
      'none',
      'capped',
    ]);
    expect(throttlePeriods(samples)).toEqual([
      { from: 10, to: 20, flags: ['frequency capped', 'under-voltage', 'throttled'] },
      { from: 50, to: 50, flags: ['throttled'] },
    ]);
  });
});
