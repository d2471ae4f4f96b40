/** A job schedule: a cron expression or a systemd calendar expression. */
export type Schedule =
  { kind: 'cron'; fields: CronFields } | { kind: 'calendar'; expression: string };

/** The expanded values of each cron field, in cron's numbering (day of week 0 = Sunday). */
export interface CronFields {
  minute: number[];
  hour: number[];
  dayOfMonth: number[];
  month: number[];
  dayOfWeek: number[];
  /** Cron runs when either day field matches if both are restricted. */
  dayOfMonthRestricted: boolean;
  dayOfWeekRestricted: boolean;
}

const CRON_MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: string[];
  nameBase?: number;
}

const FIELDS: FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, nameBase: 0 },
];

/** Thrown for an expression that is not a valid schedule; the message says which part. */
export class ScheduleError extends Error {}

function parseValue(text: string, spec: FieldSpec): number {
  const lower = text.toLowerCase();
  const named = spec.names?.indexOf(lower) ?? -1;
  if (named >= 0) return named + (spec.nameBase ?? 0);
  if (!/^\d+$/.test(text)) {
    throw new ScheduleError(`"${text}" is not a number in the ${spec.name} field`);
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw new ScheduleError(
      `${value} is out of range in the ${spec.name} field (${spec.min}-${spec.max})`,
    );
  }
  return value;
}

function parseField(text: string, spec: FieldSpec): number[] {
  const values = new Set<number>();
  for (const part of text.split(',')) {
    const match = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!match) throw new ScheduleError(`"${part}" is not valid in the ${spec.name} field`);
    const [, range, stepText] = match;
    const step = stepText === undefined ? 1 : Number(stepText);
    if (step < 1) throw new ScheduleError(`step 0 in the ${spec.name} field`);
    let low: number;
    let high: number;
    if (range === '*') {
      [low, high] = [spec.min, spec.max];
    } else if (range!.includes('-')) {
      const [a, b, ...rest] = range!.split('-');
      if (rest.length > 0 || a === undefined || b === undefined) {
        throw new ScheduleError(`"${range}" is not a range in the ${spec.name} field`);
      }
      [low, high] = [parseValue(a, spec), parseValue(b, spec)];
      if (low > high)
        throw new ScheduleError(`range ${range} runs backwards in the ${spec.name} field`);
    } else {
      low = parseValue(range!, spec);
      high = stepText === undefined ? low : spec.max;
    }
    for (let v = low; v <= high; v += step) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

/** Parses a five-field cron expression or an @macro; throws ScheduleError naming the bad part. */
export function parseCron(expression: string): CronFields {
  let text = expression.trim();
  if (text.startsWith('@')) {
    const expanded = CRON_MACROS[text.toLowerCase()];
    if (expanded === undefined) {
      throw new ScheduleError(
        text === '@reboot'
          ? '@reboot is not a schedule; use `once: device` or a service'
          : `unknown macro ${text} (use ${Object.keys(CRON_MACROS).join(', ')})`,
      );
    }
    text = expanded;
  }
  const parts = text.split(/\s+/);
  if (parts.length !== 5) {
    throw new ScheduleError(
      `cron needs 5 fields (minute hour day month weekday), got ${parts.length}`,
    );
  }
  const [minute, hour, dom, month, dow] = parts.map((part, i) => parseField(part, FIELDS[i]!));
  return {
    minute: minute!,
    hour: hour!,
    dayOfMonth: dom!,
    month: month!,
    // 7 is Sunday too.
    dayOfWeek: [...new Set(dow!.map((d) => d % 7))].sort((a, b) => a - b),
    dayOfMonthRestricted: parts[2] !== '*',
    dayOfWeekRestricted: parts[4] !== '*',
  };
}

const CALENDAR_SHORTHANDS = [
  'minutely',
  'hourly',
  'daily',
  'monthly',
  'weekly',
  'yearly',
  'annually',
  'quarterly',
  'semiannually',
];
const WEEKDAY = '(mon|tue|wed|thu|fri|sat|sun)(day|sday|nesday|rsday|urday)?';
const WEEKDAYS = new RegExp(
  `^${WEEKDAY}(\\.\\.${WEEKDAY})?(,${WEEKDAY}(\\.\\.${WEEKDAY})?)*$`,
  'i',
);
const COMPONENT = '(\\*|\\d+(\\.\\.\\d+)?)(\\/\\d+)?';
const LIST = `${COMPONENT}(,${COMPONENT})*`;
const DATE = new RegExp(`^(${LIST}-)?${LIST}(-|~)${LIST}$`);
const TIME = new RegExp(`^${LIST}:${LIST}(:${LIST}(\\.\\d+)?)?$`);

/** Checks a systemd calendar expression's shape (systemd.time(7)); throws ScheduleError. */
export function checkCalendar(expression: string): void {
  const text = expression.trim();
  if (CALENDAR_SHORTHANDS.includes(text.toLowerCase())) return;
  const parts = text.split(/\s+/);
  let i = 0;
  if (parts[i] !== undefined && WEEKDAYS.test(parts[i]!)) i++;
  if (parts[i] !== undefined && DATE.test(parts[i]!)) i++;
  if (parts[i] !== undefined && TIME.test(parts[i]!)) i++;
  // An optional time zone: UTC or an Area/City name.
  if (parts[i] !== undefined && /^(UTC|[A-Z][A-Za-z_]+(\/[A-Za-z_+-]+)+)$/.test(parts[i]!)) i++;
  if (i === 0 || i < parts.length) {
    const bad = parts[i] ?? text;
    throw new ScheduleError(`"${bad}" is not understood in calendar expression "${text}"`);
  }
}

/** Classifies and checks a schedule; throws ScheduleError with what is wrong. */
export function parseSchedule(expression: string): Schedule {
  const text = expression.trim();
  if (text === '') throw new ScheduleError('empty schedule');
  const first = text.split(/\s+/)[0]!;
  const looksCalendar =
    text.includes(':') ||
    CALENDAR_SHORTHANDS.includes(text.toLowerCase()) ||
    WEEKDAYS.test(first) ||
    (DATE.test(first) && /[-~].*[-~]|~/.test(first));
  if (!looksCalendar) return { kind: 'cron', fields: parseCron(text) };
  checkCalendar(text);
  return { kind: 'calendar', expression: text };
}

const WEEKDAY_NAMES = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

function list(values: number[], min: number, max: number, pad: number): string {
  if (values.length === max - min + 1) return '*';
  return values.map((v) => String(v).padStart(pad, '0')).join(',');
}

/**
 * systemd OnCalendar= expressions equivalent to a cron expression. Cron runs when
 * either day field matches if both are restricted; systemd needs both, so that case
 * becomes two expressions (a timer may have several OnCalendar= lines).
 */
export function cronToCalendar(fields: CronFields): string[] {
  const time = `${list(fields.hour, 0, 23, 2)}:${list(fields.minute, 0, 59, 2)}:00`;
  const month = list(fields.month, 1, 12, 2);
  const days = list(fields.dayOfMonth, 1, 31, 2);
  const weekdays = fields.dayOfWeek.map((d) => WEEKDAY_NAMES[d]!).join(',');
  if (fields.dayOfMonthRestricted && fields.dayOfWeekRestricted) {
    return [`*-${month}-${days} ${time}`, `${weekdays} *-${month}-* ${time}`];
  }
  if (fields.dayOfWeekRestricted) return [`${weekdays} *-${month}-* ${time}`];
  return [`*-${month}-${days} ${time}`];
}

/** OnCalendar= expressions for a job schedule (cron converted, calendar as is). */
export function onCalendar(expression: string): string[] {
  const schedule = parseSchedule(expression);
  return schedule.kind === 'cron' ? cronToCalendar(schedule.fields) : [schedule.expression];
}
