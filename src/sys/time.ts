const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * `new Date(ms).toISOString()`, from the UTC fields alone. V8 sets up ICU's time-zone data
 * the first time it formats a date as text, even in UTC: half a MiB more resident for the
 * rest of a process's life, which the agent, idling for months on a Pi, does without.
 */
export function isoTime(ms: number = Date.now()): string {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(year) || year < 0 || year > 9999) return d.toISOString();
  return (
    `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` +
    `T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}` +
    `.${pad(d.getUTCMilliseconds(), 3)}Z`
  );
}
