import { run } from './process.js';

/** One journal line of a unit's run: when, and the text. */
export interface JournalLine {
  at: number;
  text: string;
}

/** The journal lines of one invocation of a unit ($INVOCATION_ID), oldest first. */
export async function invocationJournal(invocation: string): Promise<JournalLine[]> {
  const result = await run('journalctl', [
    `_SYSTEMD_INVOCATION_ID=${invocation}`,
    '--output',
    'json',
    '--output-fields',
    'MESSAGE,__REALTIME_TIMESTAMP',
    '--no-pager',
  ]);
  const lines: JournalLine[] = [];
  for (const raw of result.stdout.split('\n')) {
    if (!raw.trim()) continue;
    try {
      const entry = JSON.parse(raw) as { MESSAGE?: unknown; __REALTIME_TIMESTAMP?: string };
      const text =
        typeof entry.MESSAGE === 'string'
          ? entry.MESSAGE
          : Array.isArray(entry.MESSAGE)
            ? Buffer.from(entry.MESSAGE as number[]).toString('utf8')
            : '';
      lines.push({ at: Number(entry.__REALTIME_TIMESTAMP ?? 0) / 1000, text });
    } catch {
      // A line journalctl could not give as JSON is skipped, not fatal.
    }
  }
  return lines;
}

/** When a timer fires next (ms since the epoch), if it is scheduled. */
export async function timerNext(unit: string): Promise<number | undefined> {
  // In UTC, systemctl prints "Sat 2026-11-28 02:38:49 UTC", which Date.parse reads without
  // the weekday (local zone abbreviations such as CET it could not).
  const result = await run('systemctl', ['show', '-p', 'NextElapseUSecRealtime', '--value', unit], {
    env: { ...process.env, TZ: 'UTC' },
  });
  const match = /^\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC$/.exec(result.stdout.trim());
  return result.code === 0 && match ? Date.parse(`${match[1]!.replace(' ', 'T')}Z`) : undefined;
}
