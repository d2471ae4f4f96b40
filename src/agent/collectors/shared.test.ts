import { describe, expect, it } from 'vitest';
import { keptFor } from './kept.js';
import { sharedLooks } from './shared.js';
import { fixtureContext, NOW, valueOf } from './test-context.js';
import type { ServiceStatus } from './types.js';

const WEB: ServiceStatus = { unit: 'piot-shop-web.service', activeState: 'active' };

/** A fixture context counting how often systemd is asked, on a clock the test moves. */
function counting() {
  const clock = { now: NOW };
  const asked = { services: 0, failed: 0 };
  const ctx = fixtureContext('pi4', {
    now: () => clock.now,
    units: {
      services: () => (asked.services++, Promise.resolve([WEB])),
      failedUnits: () => (asked.failed++, Promise.resolve(['nginx.service'])),
    },
  });
  return { clock, asked, ctx };
}

describe('sharedLooks', () => {
  it('asks systemd once per collection and returns the samples with PioT’s services', async () => {
    const { asked, ctx } = counting();
    const look = await sharedLooks(ctx)(0);
    expect(asked).toEqual({ services: 1, failed: 1 });
    expect(look.services).toEqual([WEB]);
    expect(look.at).toBe(NOW);
    expect(valueOf(look.samples, 'piot_systemd_unit_failed', { name: 'nginx.service' })).toBe(1);
  });

  it('reuses a collection no older than the asker accepts, and makes a new one after', async () => {
    const { clock, asked, ctx } = counting();
    const looks = sharedLooks(ctx);
    const first = await looks(1000);
    clock.now += 10_000;
    expect(await looks(15_000)).toBe(first);
    expect(asked.services).toBe(1);
    const fresh = await looks(1000);
    expect(fresh).not.toBe(first);
    expect(fresh.at).toBe(NOW + 10_000);
    expect(asked.services).toBe(2);
  });

  it('lets concurrent askers share one collection', async () => {
    const { asked, ctx } = counting();
    const looks = sharedLooks(ctx);
    const [a, b] = await Promise.all([looks(0), looks(0)]);
    expect(a).toBe(b);
    expect(asked.services).toBe(1);
  });
});

describe('keptFor', () => {
  it('keeps an answer for the TTL after it arrived, then asks again', async () => {
    let now = 0;
    let asked = 0;
    const ask = keptFor(
      () => Promise.resolve(++asked),
      60_000,
      () => now,
    );
    expect(await ask()).toBe(1);
    now = 59_999;
    expect(await ask()).toBe(1);
    now = 60_000;
    expect(await ask()).toBe(2);
  });

  it('does not keep a failure', async () => {
    let asked = 0;
    const ask = keptFor(
      () => (++asked === 1 ? Promise.reject(new Error('busy')) : Promise.resolve(asked)),
      60_000,
      () => 0,
    );
    await expect(ask()).rejects.toThrow('busy');
    expect(await ask()).toBe(2);
  });
});
