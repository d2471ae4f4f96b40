import { describe, expect, it } from 'vitest';
import { cycleHasNews, type CycleRecord } from './cycle-record.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const cycle = (outcome: CycleRecord['outcome'], error?: string): CycleRecord => ({
  pid: 1,
  at: new Date().toISOString(),
  ...(outcome ? { outcome } : {}),
  ...(error ? { error } : {}),
});

describe('which cycles have news for the hub', () => {
  it('the first cycle, a deploy, a rollback, and a cycle that ended otherwise than the one before', () => {
    const idle = cycle({ result: 'up-to-date', commit: A });
    expect(cycleHasNews(idle, undefined)).toBe(true);
    const deployed = cycle({ result: 'deployed', commit: B, steps: 1, healthyMs: 900 });
    expect(cycleHasNews(deployed, idle)).toBe(true);
    expect(cycleHasNews(deployed, deployed)).toBe(true);
    const rolledBack = cycle({ result: 'rolled-back', commit: B, to: A, reason: 'unhealthy' });
    expect(cycleHasNews(rolledBack, rolledBack)).toBe(true);
    expect(cycleHasNews(cycle({ result: 'up-to-date', commit: B }), idle)).toBe(true);
    expect(cycleHasNews(cycle({ result: 'invalid', commit: B, problems: ['x'] }), idle)).toBe(true);
    expect(cycleHasNews(cycle(undefined, 'fetch failed'), idle)).toBe(true);
    expect(cycleHasNews(idle, cycle(undefined, 'fetch failed'))).toBe(true);
    expect(
      cycleHasNews(cycle(undefined, 'host key changed'), cycle(undefined, 'fetch failed')),
    ).toBe(true);
  });

  it('not an idle poll, nor the same refusal or failure again', () => {
    const idle = cycle({ result: 'up-to-date', commit: A });
    expect(cycleHasNews(cycle({ result: 'up-to-date', commit: A }), idle)).toBe(false);
    const bad = cycle({ result: 'bad', commit: B });
    expect(cycleHasNews(cycle({ result: 'bad', commit: B }), bad)).toBe(false);
    const failed = cycle({ result: 'failed', commit: B, reason: 'setup failed' });
    expect(
      cycleHasNews(cycle({ result: 'failed', commit: B, reason: 'setup failed' }), failed),
    ).toBe(false);
    expect(cycleHasNews(cycle(undefined, 'fetch failed'), cycle(undefined, 'fetch failed'))).toBe(
      false,
    );
  });
});
