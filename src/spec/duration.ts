const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Pattern of a duration: one or more `<number><unit>` parts, e.g. `90s`, `1h30m`. */
export const DURATION_PATTERN = '^(\\d+(ms|s|m|h|d))+$';
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** Milliseconds of a duration such as `90s`, `10m`, `1h30m`; undefined if it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const match of text.matchAll(/(\d+)(ms|s|m|h|d)/g)) {
    total += Number(match[1]) * UNITS[match[2]!]!;
  }
  return total;
}

/** The same duration in systemd's time span syntax (`1h 30min`). */
export function toSystemdTimespan(text: string): string {
  const names: Record<string, string> = { ms: 'ms', s: 's', m: 'min', h: 'h', d: 'd' };
  const parts = [...text.matchAll(/(\d+)(ms|s|m|h|d)/g)].map((m) => `${m[1]}${names[m[2]!]}`);
  if (parts.length === 0) throw new Error(`not a duration: ${text}`);
  return parts.join(' ');
}
