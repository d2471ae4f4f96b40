import { describe, expect, it } from 'vitest';
import { isoTime } from './time.js';

describe('isoTime', () => {
  it('reads as toISOString does', () => {
    const times = [
      0,
      Date.UTC(2026, 11, 7, 1, 2, 3, 4),
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(1999, 11, 31, 23, 59, 59, 999) + 1,
      -1,
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
    ];
    for (let i = 0; i < 1000; i++) times.push(Math.floor(Math.random() * 4_102_444_800_000));
    for (const ms of times) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it('is now by default, and leaves years past 9999 to toISOString', () => {
    const before = Date.now();
    const now = Date.parse(isoTime());
    expect(now).toBeGreaterThanOrEqual(before);
    expect(now).toBeLessThanOrEqual(Date.now());
    const far = Date.UTC(12026, 0, 1);
    expect(isoTime(far)).toBe('+012026-01-01T00:00:00.000Z');
    expect(() => isoTime(NaN)).toThrow(RangeError);
  });
});
