import { html } from 'hono/html';
import type { CommandRecord } from '../store/store.js';
import { ago, when, type Html } from './layout.js';

/** What a command is waiting for, or how it ended. */
export function commandStatus(c: CommandRecord): 'queued' | 'delivered' | 'done' | 'failed' {
  if (c.finishedAt !== undefined) return c.result?.ok ? 'done' : 'failed';
  return c.deliveredAt !== undefined ? 'delivered' : 'queued';
}

function describe(c: CommandRecord): string {
  const arg = (key: string) => {
    const value = c.args?.[key];
    return typeof value === 'string' ? value : undefined;
  };
  if (c.kind === 'run-job') return `run job ${arg('job') ?? '?'}`;
  if (c.kind === 'restart-service') return `restart ${arg('service') ?? '?'}`;
  if (c.kind === 'logs') return `logs of ${arg('service') ?? 'the agent'}`;
  return c.kind;
}

export function commandsTable(device: string, commands: CommandRecord[], now: number): Html {
  const statusClass = { queued: 'muted', delivered: 'warning', done: 'ok', failed: 'critical' };
  return html`<h2>Commands</h2>
    ${
      commands.length === 0
        ? html`<p class="muted">No commands yet.</p>`
        : html`<table id="commands">
            <thead>
              <tr>
                <th>Asked</th>
                <th>Command</th>
                <th>By</th>
                <th>Status</th>
                <th>Answer</th>
              </tr>
            </thead>
            <tbody>
              ${commands.map((c) => {
                const status = commandStatus(c);
                const pending = status === 'queued' || status === 'delivered';
                return html`<tr
                  data-command="${c.id}"
                  data-status="${status}"
                  ${
                    pending
                      ? html`data-poll="/api/v1/devices/${encodeURIComponent(device)}/commands/${c.id}"`
                      : ''
                  }
                >
                  <td>${ago(c.createdAt, now)}</td>
                  <td>${describe(c)}</td>
                  <td>${c.createdBy}</td>
                  <td class="${statusClass[status]}">${status}</td>
                  <td>
                    ${c.result?.message ?? ''}
                    ${
                      c.result?.output?.length && c.kind !== 'logs'
                        ? html`<details>
                            <summary>${c.result.output.length} lines</summary>
                            <pre>${c.result.output.join('\n')}</pre>
                          </details>`
                        : ''
                    }
                  </td>
                </tr>`;
              })}
            </tbody>
          </table>`
    }`;
}

/** The newest answered logs command's lines (the page reloads when a pending one answers). */
export function latestLogs(commands: CommandRecord[]): Html {
  const logs = commands.find((c) => c.kind === 'logs' && c.finishedAt !== undefined);
  if (!logs) return html``;
  return html`<h2>Logs: ${describe(logs).replace('logs of ', '')}</h2>
    <p class="muted">as of ${when(logs.finishedAt!)}</p>
    <pre id="logs">
${(logs.result?.output ?? []).join('\n') || logs.result?.message || '(empty)'}</pre>`;
}
