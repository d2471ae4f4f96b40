import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../hub/store/store.js';
import { age, devicesTable, presence, problems, type Paint } from './fleet-format.js';

const NOW = 1_800_000_000_000;
const plain: Paint = {
  green: (s) => s,
  yellow: (s) => s,
  red: (s) => s,
  dim: (s) => s,
  bold: (s) => s,
};
const device = (extra: Partial<DeviceRecord>): DeviceRecord => ({
  name: 'kitchen',
  signing: 'ed25519:x',
  enrolledAt: NOW - 86400_000,
  revoked: false,
  ...extra,
});

describe('fleet output', () => {
  it('says online within 90 s of the last heartbeat, offline after, and how long ago', () => {
    expect(presence(device({ lastSeen: NOW - 90_000 }), NOW).state).toBe('online');
    expect(presence(device({ lastSeen: NOW - 91_000 }), NOW)).toEqual({
      state: 'offline',
      seen: 'last seen 91 s ago',
    });
    expect(presence(device({ lastSeen: NOW, revoked: true }), NOW).state).toBe('revoked');
    expect(presence(device({}), NOW)).toEqual({ state: 'never seen', seen: 'never seen' });
    expect([age(NOW - 119_000, NOW), age(NOW - 3 * 3600_000, NOW), age(0, 3 * 86400_000)]).toEqual([
      '119 s',
      '3 h',
      '3 d',
    ]);
  });

  it('ranks what is wrong, worst first', () => {
    const receivedAt = NOW;
    expect(problems(device({ lastHeartbeat: { receivedAt, metrics: { cpu: 1 } } }))).toEqual([]);
    const sick = device({
      lastHeartbeat: {
        receivedAt,
        metrics: { temperature: 82, disk: 0.99, throttled: 0x50004 },
        health: { readOnlyRoot: true, failedUnits: ['piot-sensor-web.service'] },
      },
    });
    expect(problems(sick).map((p) => `${p.level} ${p.text}`)).toEqual([
      'bad read-only root',
      'bad failed: piot-sensor-web.service',
      'bad disk 99%',
      'warn under-voltage since boot',
      'warn throttled now',
      'warn 82 °C',
    ]);
  });

  it('tables the fleet with the worst problem of each device', () => {
    const text = devicesTable(
      [
        device({
          name: 'hall',
          lastSeen: NOW - 3 * 3600_000,
          lastHeartbeat: {
            receivedAt: NOW - 3 * 3600_000,
            deploy: {
              app: 'sensor',
              current: 'a1b2c3d4e5f6',
              lastDeploy: { at: new Date(NOW - 60_000).toISOString(), commit: 'x', kind: 'failed' },
            },
            services: [{ app: 'sensor', name: 'web', kind: 'service', state: 'failed' }],
          },
        }),
      ],
      NOW,
      plain,
    );
    expect(text.split('\n')[1]).toBe(
      'hall  offline 3 h  sensor  a1b2c3d  failed 60 s ago  -     failed: web',
    );
  });
});
