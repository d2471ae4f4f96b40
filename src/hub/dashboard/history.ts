import { html, raw } from 'hono/html';
import type { DeployEventRecord, JobRunRecord } from '../heartbeat.js';
import type { Sample } from '../store/store.js';
import { deployClass } from './fleet-page.js';
import { decodeThrottled } from './health.js';
import { when, type Html } from './layout.js';

/** The charts the device page draws, each a column of the embedded series. */
export const CHARTS = [
  { key: 'temperature', label: 'Temperature', unit: '°C' },
  { key: 'cpu', label: 'CPU', unit: '%' },
  { key: 'memory', label: 'Memory', unit: '%' },
  { key: 'disk', label: 'Disk', unit: '%' },
  { key: 'wifiSignal', label: 'Wi-Fi signal', unit: 'dBm' },
] as const;

const RATIOS = new Set(['cpu', 'memory', 'disk']);

/**
 * The samples as columns for uPlot (`t` in seconds, shares as percentages, gaps as null),
 * as JSON that is safe inside a <script> element.
 */
export function seriesJson(samples: Sample[]): string {
  const columns: Record<string, (number | null)[]> = { t: samples.map((s) => s.at / 1000) };
  for (const { key } of CHARTS) {
    columns[key] = samples.map((s) => {
      const value = s[key];
      if (value === undefined || value === null) return null;
      return RATIOS.has(key) ? Math.round(value * 1000) / 10 : value;
    });
  }
  return JSON.stringify(columns).replace(/</g, '\\u003c');
}

/** The chart containers and their data; /assets/dashboard.js draws them with uPlot. */
export function charts(samples: Sample[]): Html {
  return html`<h2>Last 24 hours</h2>
    ${samples.length === 0 ? html`<p class="muted">No samples yet.</p>` : ''}
    <script type="application/json" id="series">
      ${raw(seriesJson(samples))}
    </script>
    <div class="charts" id="charts">
      ${CHARTS.map(
        (c) =>
          html`<div class="chart" data-series="${c.key}" data-label="${c.label} (${c.unit})">
            <h3>${c.label}</h3>
          </div>`,
      )}
    </div>`;
}

type StripCell = 'none' | 'clear' | 'capped' | 'under';

/**
 * The throttling strip: the window cut into `cells` slots, each the worst "now" flag any
 * sample in it carried (under-voltage over the other flags), or none without samples.
 */
export function throttleCells(
  samples: Sample[],
  range: { from: number; to: number },
  cells = 96,
): StripCell[] {
  const out: StripCell[] = Array.from({ length: cells }, () => 'none');
  const rank: Record<StripCell, number> = { none: 0, clear: 1, capped: 2, under: 3 };
  const width = (range.to - range.from) / cells;
  for (const s of samples) {
    if (s.throttled === undefined || s.throttled === null) continue;
    const i = Math.floor((s.at - range.from) / width);
    if (i < 0 || i >= cells) continue;
    const now = s.throttled & 0xf;
    const cell: StripCell = now & 1 ? 'under' : now ? 'capped' : 'clear';
    if (rank[cell] > rank[out[i]!]) out[i] = cell;
  }
  return out;
}

/** Runs of consecutive samples with a "now" throttling flag: when, and which flags. */
export function throttlePeriods(
  samples: Sample[],
): { from: number; to: number; flags: string[] }[] {
  const periods: { from: number; to: number; flags: string[] }[] = [];
  let open: (typeof periods)[number] | undefined;
  for (const s of samples) {
    if (s.throttled === undefined || s.throttled === null) continue;
    const flags = decodeThrottled(s.throttled).now;
    if (flags.length === 0) {
      open = undefined;
      continue;
    }
    if (!open) periods.push((open = { from: s.at, to: s.at, flags: [] }));
    open.to = s.at;
    for (const f of flags) if (!open.flags.includes(f)) open.flags.push(f);
  }
  return periods;
}

/** Current throttling flags, the strip over the window and its periods. */
export function throttling(
  samples: Sample[],
  current: number | undefined,
  range: { from: number; to: number },
): Html {
  const flags = current === undefined ? undefined : decodeThrottled(current);
  const cells = throttleCells(samples, range);
  const periods = throttlePeriods(samples);
  const slot = (range.to - range.from) / cells.length;
  return html`<h2>Throttling</h2>
    <p id="throttled-now">
      ${
        flags === undefined
          ? html`<span class="muted">not reported (not a Raspberry Pi, or no vcgencmd)</span>`
          : html`Now:
              <span
                class="${flags.now.includes('under-voltage') ? 'critical' : flags.now.length ? 'warning' : 'ok'}"
                >${flags.now.join(', ') || 'none'}</span
              >; since boot:
              <span class="${flags.sinceBoot.length ? 'warning' : 'ok'}"
                >${flags.sinceBoot.join(', ') || 'none'}</span
              >`
      }
    </p>
    <div class="strip" id="throttle-strip" title="last 24 hours, oldest left">
      ${cells.map(
        (cell, i) =>
          html`<span
            class="${cell}"
            title="${when(range.from + i * slot)}: ${cell === 'none' ? 'no data' : cell}"
          ></span>`,
      )}
    </div>
    <p class="muted">
      red: under-voltage · yellow: throttled, capped or at the soft limit · green: clear · grey: no
      data
    </p>
    ${
      periods.length > 0
        ? html`<ul>
            ${periods.map(
              (p) => html`<li>${when(p.from)} – ${when(p.to)}: ${p.flags.join(', ')}</li>`,
            )}
          </ul>`
        : ''
    }`;
}

/** The deploy history table, newest first. */
export function deployHistory(events: DeployEventRecord[]): Html {
  return html`<h2>Deploy history</h2>
    ${
      events.length === 0
        ? html`<p class="muted">No deploys reported.</p>`
        : html`<table id="deploys">
            <thead>
              <tr>
                <th>When</th>
                <th>Commit</th>
                <th>Result</th>
                <th>Reason</th>
              </tr>
            </thead>
            <tbody>
              ${events.map(
                (e) =>
                  html`<tr>
                    <td>${e.at}</td>
                    <td><code>${e.commit.slice(0, 8)}</code></td>
                    <td class="${deployClass(e.kind)}">${e.kind}</td>
                    <td>${e.reason ?? ''}</td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}

/** The job runs table, newest first, each with its log tail. */
export function jobRunsTable(runs: JobRunRecord[]): Html {
  return html`<h2>Job runs</h2>
    ${
      runs.length === 0
        ? html`<p class="muted">No job runs reported.</p>`
        : html`<table id="job-runs">
            <thead>
              <tr>
                <th>Job</th>
                <th>Started</th>
                <th>Took</th>
                <th>Result</th>
                <th>Exit</th>
                <th>Attempts</th>
                <th>Log</th>
              </tr>
            </thead>
            <tbody>
              ${runs.map(
                (r) =>
                  html`<tr data-job="${r.job}">
                    <td>${r.app}/${r.job}</td>
                    <td>${r.start}</td>
                    <td>${r.seconds.toFixed(1)} s</td>
                    <td class="${r.status === 'succeeded' ? 'ok' : 'critical'}">${r.status}</td>
                    <td>${r.exitCode ?? ''}</td>
                    <td>${r.attempts}</td>
                    <td>
                      ${
                        r.log.length
                          ? html`<details>
                              <summary>${r.log.length} lines</summary>
                              <pre>${r.log.join('\n')}</pre>
                            </details>`
                          : ''
                      }
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}
