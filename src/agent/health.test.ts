import { describe, expect, it } from 'vitest';
import { healthGate, type HealthDeps, type ServiceProbe } from './health.js';

/** A simulated clock and unit: `up` says when the service starts answering its check. */
function device(options: { up: number; active?: string }) {
  const clock = { now: 0 };
  const calls: string[] = [];
  const deps: HealthDeps = {
    probe(unit) {
      calls.push(`probe ${unit}`);
      const probe: ServiceProbe = {
        active: options.active ?? (clock.now >= options.up ? 'active' : 'activating'),
        restarts: 0,
        activeForMs: 0,
      };
      return Promise.resolve(probe);
    },
    check(service) {
      calls.push(`check ${service}`);
      return Promise.resolve(clock.now >= options.up ? undefined : 'connection refused');
    },
    logTail: () => Promise.resolve('listening failed'),
    now: () => clock.now,
    sleep: (ms) => Promise.resolve(void (clock.now += ms)),
  };
  return { deps, calls };
}

const web = { name: 'web', unit: 'piot-a-web.service', hasCheck: true, timeoutMs: 5000 };

describe('health gate', () => {
  it('repeats a failing check every 100 ms without asking systemd, then confirms the unit', async () => {
    const { deps, calls } = device({ up: 1000 });
    expect(await healthGate([web], deps)).toEqual({ healthy: true, ms: 1000 });
    // One probe for the restart baseline, one once the check passed.
    expect(calls.filter((c) => c.startsWith('probe'))).toHaveLength(2);
    expect(calls.filter((c) => c.startsWith('check'))).toHaveLength(11);
  });

  it('is not healthy while the unit is not active, even if something answers the check', async () => {
    const { deps } = device({ up: 0, active: 'failed' });
    const result = await healthGate([web], deps);
    expect(result).toEqual({
      healthy: false,
      reason: 'service web is failed after 5 s\n  | listening failed',
    });
  });

  it('names the failing check when the unit runs but never passes it', async () => {
    const { deps } = device({ up: Infinity, active: 'active' });
    const result = await healthGate([web], deps);
    expect(result).toMatchObject({ healthy: false });
    expect(!result.healthy && result.reason).toMatch(/^service web connection refused after 5 s/);
  });
});
