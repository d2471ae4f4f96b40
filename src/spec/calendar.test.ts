import { CronExpressionParser } from 'cron-parser';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cronToCalendar, onCalendar, parseCron } from './schedule.js';

const BASE = '2026-01-01T00:00:00Z';

/** The next n run times of OnCalendar expressions, as systemd computes them (UTC). */
function systemdTimes(expressions: string[], n: number): string[] {
  const times = new Set<string>();
  for (const expression of expressions) {
    const result = spawnSync(
      'systemd-analyze',
      ['calendar', `--iterations=${n}`, '--base-time=2026-01-01 00:00:00 UTC', `${expression} UTC`],
      { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' } },
    );
    if (result.status !== 0)
      throw new Error(`systemd-analyze rejected ${expression}: ${result.stderr}`);
    for (const m of result.stdout.matchAll(
      /(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g,
    )) {
      times.add(`${m[1]!.replace(' ', 'T')}.000Z`);
    }
  }
  return [...times].sort().slice(0, n);
}

/** The next n run times by cron's rules, from an independent implementation. */
function cronTimes(expression: string, n: number): string[] {
  const it = CronExpressionParser.parse(expression, { currentDate: new Date(BASE), tz: 'UTC' });
  return Array.from({ length: n }, () => it.next().toISOString()!);
}

describe('cron to systemd calendar', () => {
  it('converts the common shapes', () => {
    expect(onCalendar('0 3 * * *')).toEqual(['*-*-* 03:00:00']);
    expect(onCalendar('*/15 * * * *')).toEqual(['*-*-* *:00,15,30,45:00']);
    expect(onCalendar('@weekly')).toEqual(['Sun *-*-* 00:00:00']);
    expect(onCalendar('0 9 1 * mon')).toEqual(['*-*-01 09:00:00', 'Mon *-*-* 09:00:00']);
    expect(onCalendar('daily')).toEqual(['daily']);
  });

  it.each([
    ['0 3 * * *', 366],
    ['30 2 * * 1-5', 262],
    ['0 9 1,15 * mon', 150],
    ['*/20 8-17 * jan-mar,oct *', 400],
    ['0 0 29 2 *', 3],
    ['5 4 * * sun', 53],
    ['@monthly', 12],
    ['0 12 31 * *', 7],
  ])('%s gives the same run times as cron over a year', (expression, n) => {
    const calendar = cronToCalendar(parseCron(expression));
    expect(systemdTimes(calendar, n)).toEqual(cronTimes(expression, n));
  });
});
