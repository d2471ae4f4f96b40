import { describe, expect, it } from 'vitest';
import { parseDuration, toSystemdTimespan } from './duration.js';
import { parseCron, parseSchedule, ScheduleError } from './schedule.js';

describe('durations', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['2d', 172_800_000],
  ])('%s is %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', '10 m', '1.5h', 'm10', '10min', '-5s'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('converts to systemd time spans', () => {
    expect(toSystemdTimespan('1h30m')).toBe('1h 30min');
  });
});

describe('cron', () => {
  it('expands steps, ranges, lists and names', () => {
    const fields = parseCron('*/20 8-10,12 1 jan-mar mon-fri');
    expect(fields.minute).toEqual([0, 20, 40]);
    expect(fields.hour).toEqual([8, 9, 10, 12]);
    expect(fields.month).toEqual([1, 2, 3]);
    expect(fields.dayOfWeek).toEqual([1, 2, 3, 4, 5]);
    expect(fields.dayOfMonthRestricted).toBe(true);
  });

  it('treats 7 as Sunday and expands macros', () => {
    expect(parseCron('0 0 * * 7').dayOfWeek).toEqual([0]);
    expect(parseCron('@daily')).toMatchObject({
      minute: [0],
      hour: [0],
      dayOfWeekRestricted: false,
    });
  });

  it('names the bad field', () => {
    expect(() => parseCron('0 24 * * *')).toThrow(/out of range in the hour field/);
    expect(() => parseCron('0 0 0 * *')).toThrow(/out of range in the day of month field/);
    expect(() => parseCron('0 0 * * 1/0')).toThrow(ScheduleError);
  });
});

describe('schedules', () => {
  it('tells cron from calendar expressions', () => {
    expect(parseSchedule('0 3 * * *').kind).toBe('cron');
    expect(parseSchedule('@weekly').kind).toBe('cron');
    expect(parseSchedule('daily').kind).toBe('calendar');
    expect(parseSchedule('*-*-* 03:00:00').kind).toBe('calendar');
    expect(parseSchedule('Sat,Sun 10:00').kind).toBe('calendar');
    expect(parseSchedule('*-*-1/2').kind).toBe('calendar');
  });

  it.each(['daly', 'Mon 25:00:00:00', '* * *', 'every day', '*-*-* 03:00 Mars/Phobos extra'])(
    'rejects %j',
    (text) => expect(() => parseSchedule(text)).toThrow(ScheduleError),
  );
});
