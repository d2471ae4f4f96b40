import { html } from 'hono/html';
import { CSRF_FIELD } from './csrf.js';

/** An HTML fragment from hono's `html` template (every interpolated string is escaped). */
export type Html = ReturnType<typeof html>;

/** What every signed-in page knows: who is looking, and their session's CSRF token. */
export interface Viewer {
  user: string;
  csrf: string;
}

const CSS = `
:root { --ok: #1a7f37; --warning: #9a6700; --critical: #cf222e; --muted: #656d76; --line: #d0d7de; }
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; }
header { display: flex; gap: 1em; align-items: center; padding: .5em 1em; background: #24292f; color: #fff; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
header .who { margin-left: auto; }
header form { display: inline; }
main { padding: 1em; max-width: 1200px; }
table { border-collapse: collapse; margin: .5em 0 1.5em; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: #f6f8fa; }
td form { display: inline; }
.ok { color: var(--ok); } .warning { color: var(--warning); } .critical { color: var(--critical); }
.badge { display: inline-block; padding: 0 .5em; border-radius: 1em; border: 1px solid currentColor; font-size: 12px; }
.muted { color: var(--muted); }
pre { background: #f6f8fa; padding: .5em; overflow-x: auto; max-height: 24em; margin: .3em 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 1em; }
.chart { min-height: 220px; }
.strip { display: flex; height: 18px; border: 1px solid var(--line); margin: .3em 0; }
.strip span { flex: 1; }
.strip .none { background: #f6f8fa; } .strip .clear { background: #dafbe1; }
.strip .capped { background: #f5d90a; } .strip .under { background: #ff8182; }
.actions { display: flex; gap: .5em; flex-wrap: wrap; margin: .5em 0 1em; }
.error { color: var(--critical); font-weight: 600; }
.login { max-width: 20em; margin: 4em auto; display: grid; gap: .6em; }
`;

/** The dashboard's stylesheet (served as /assets/dashboard.css). */
export const DASHBOARD_CSS = CSS;

/** A whole page: head, the bar with the user and logout, then `body`. */
export function page(
  title: string,
  body: Html,
  options: { viewer?: Viewer; refreshSeconds?: number; charts?: boolean } = {},
): Html {
  const { viewer } = options;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        ${
          options.refreshSeconds
            ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}" />`
            : ''
        }
        <title>${title} · PioT hub</title>
        <link rel="stylesheet" href="/assets/dashboard.css" />
        ${
          options.charts
            ? html`<link rel="stylesheet" href="/assets/uplot.css" />
                <script src="/assets/uplot.js"></script>`
            : ''
        }
        <script src="/assets/dashboard.js" defer></script>
      </head>
      <body>
        <header>
          <a href="/">PioT hub</a>
          ${
            viewer
              ? html`<span class="who"
                  >${viewer.user}
                  <form method="post" action="/logout">
                    ${csrfField(viewer)}<button type="submit">Log out</button>
                  </form></span
                >`
              : ''
          }
        </header>
        <main>${body}</main>
      </body>
    </html>`;
}

/** The hidden field every state-changing form carries. */
export function csrfField(viewer: Viewer): Html {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${viewer.csrf}" />`;
}

/** A length of time as "12 s", "5 min", "3 h", "2 d". */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** "12 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function ago(then: number, now: number): string {
  return `${duration(now - then)} ago`;
}

/** A time as UTC `YYYY-MM-DD HH:MM:SS`. */
export function when(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** Bytes as KiB/MiB/GiB. */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

/** A 0–1 share as a whole percentage, or a dash. */
export function percent(ratio: number | undefined): string {
  return ratio === undefined ? '–' : `${Math.round(ratio * 100)} %`;
}
