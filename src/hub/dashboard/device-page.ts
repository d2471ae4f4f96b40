import { html } from 'hono/html';
import type { DeployEventRecord, JobRunRecord, ServiceRecord } from '../heartbeat.js';
import { isOnline } from '../online.js';
import type { CommandRecord, DeviceRecord, Sample } from '../store/store.js';
import { shortCommit } from './fleet-page.js';
import { deviceHealth } from './health.js';
import { commandsTable, latestLogs } from './commands-view.js';
import { charts, deployHistory, jobRunsTable, throttling } from './history.js';
import {
  ago,
  bytes,
  duration,
  csrfField,
  page,
  percent,
  when,
  type Html,
  type Viewer,
} from './layout.js';

/** Everything the device page shows. */
export interface DeviceView {
  device: DeviceRecord;
  samples: Sample[];
  range: { from: number; to: number };
  events: DeployEventRecord[];
  jobRuns: JobRunRecord[];
  commands: CommandRecord[];
}

/** One device: status, actions, charts, throttling, services, commands and logs, history. */
export function devicePage(view: DeviceView, viewer: Viewer, now: number): Html {
  const { device } = view;
  const beat = device.lastHeartbeat;
  const body = html`<h1>${device.name}</h1>
    ${summary(device, now)} ${actions(device, viewer)}
    ${commandsTable(device.name, view.commands, now)} ${latestLogs(view.commands)}
    ${charts(view.samples)} ${throttling(view.samples, beat?.metrics?.throttled, view.range)}
    ${servicesTable(device.name, beat?.services ?? [], viewer)} ${deployHistory(view.events)}
    ${jobRunsTable(view.jobRuns)}`;
  return page(device.name, body, { viewer, charts: true });
}

function summary(device: DeviceRecord, now: number): Html {
  const beat = device.lastHeartbeat;
  const online = isOnline(device, now);
  const health = deviceHealth(device, now);
  const m = beat?.metrics ?? {};
  const deploy = beat?.deploy;
  return html`<p id="status">
      ${device.revoked ? html`<span class="badge critical">revoked</span>` : ''}
      <span class="badge ${online ? 'ok' : 'critical'}" data-online="${String(online)}"
        >${online ? 'online' : 'offline'}</span
      >
      <span class="muted"
        >${device.lastSeen === undefined ? 'never seen' : `last seen ${ago(device.lastSeen, now)}`}</span
      >
      · health <span class="badge ${health.level}">${health.level}</span>
    </p>
    ${
      health.reasons.length
        ? html`<ul id="health">
            ${health.reasons.map((r) => html`<li class="${r.level}">${r.text}</li>`)}
          </ul>`
        : ''
    }
    <table id="summary">
      <tr>
        <th>App</th>
        <td>${deploy?.app ?? '–'}</td>
        <th>Commit</th>
        <td>
          <code>${shortCommit(deploy?.current)}</code>
          ${deploy?.pending ? html` → <code>${shortCommit(deploy.pending)}</code> pending` : ''}
          ${
            deploy?.previous
              ? html`<span class="muted">(before: ${shortCommit(deploy.previous)})</span>`
              : ''
          }
        </td>
      </tr>
      <tr>
        <th>Agent</th>
        <td>
          ${beat?.agent?.version ?? '–'}
          ${
            beat?.agent?.uptime !== undefined
              ? html`<span class="muted">up ${duration(beat.agent.uptime * 1000)}</span>`
              : ''
          }
        </td>
        <th>Last deploy</th>
        <td>
          ${
            deploy?.lastDeploy
              ? `${deploy.lastDeploy.kind} at ${deploy.lastDeploy.at}${deploy.lastDeploy.reason ? `: ${deploy.lastDeploy.reason}` : ''}`
              : '–'
          }
        </td>
      </tr>
      <tr>
        <th>Temperature</th>
        <td>${m.temperature === undefined ? '–' : `${m.temperature.toFixed(1)} °C`}</td>
        <th>CPU · memory · disk</th>
        <td>${percent(m.cpu)} · ${percent(m.memory)} · ${percent(m.disk)}</td>
      </tr>
      <tr>
        <th>Wi-Fi</th>
        <td>${m.wifiSignal === undefined ? '–' : `${m.wifiSignal} dBm`}</td>
        <th>Enrolled</th>
        <td>${when(device.enrolledAt)}</td>
      </tr>
    </table>`;
}

/** A one-button form that posts an action (and its argument) for the device. */
function actionButton(
  device: string,
  viewer: Viewer,
  action: { action: string; label: string; service?: string; job?: string; confirm?: string },
): Html {
  return html`<form
    method="post"
    action="/devices/${encodeURIComponent(device)}/actions"
    ${action.confirm ? html`data-confirm="${action.confirm}"` : ''}
  >
    ${csrfField(viewer)}<input type="hidden" name="action" value="${action.action}" />
    ${
      action.service !== undefined
        ? html`<input type="hidden" name="service" value="${action.service}" />`
        : ''
    }
    ${action.job !== undefined ? html`<input type="hidden" name="job" value="${action.job}" />` : ''}
    <button type="submit">${action.label}</button>
  </form>`;
}

function actions(device: DeviceRecord, viewer: Viewer): Html {
  if (device.revoked) return html``;
  const d = device.name;
  return html`<div class="actions" id="actions">
    ${actionButton(d, viewer, { action: 'deploy', label: 'Deploy now' })}
    ${actionButton(d, viewer, { action: 'logs', label: "Agent's logs" })}
    ${actionButton(d, viewer, {
      action: 'reboot',
      label: 'Reboot',
      confirm: `Reboot ${d}? Its services stop until it is back.`,
    })}
  </div>`;
}

function servicesTable(device: string, services: ServiceRecord[], viewer: Viewer): Html {
  return html`<h2>Services and jobs</h2>
    ${
      services.length === 0
        ? html`<p class="muted">No services reported.</p>`
        : html`<table id="services">
            <thead>
              <tr>
                <th>Unit</th>
                <th>Kind</th>
                <th>State</th>
                <th>Restarts</th>
                <th>Memory</th>
                <th>CPU</th>
                <th></th>
              </tr>
            </thead>
            <tbody>
              ${services.map(
                (s) =>
                  html`<tr data-unit="${s.name}">
                    <td>${s.app}/${s.name}</td>
                    <td>${s.kind}</td>
                    <td
                      class="${s.state === 'failed' ? 'critical' : s.state === 'active' ? 'ok' : ''}"
                    >
                      ${s.state}${s.sub ? ` (${s.sub})` : ''}
                    </td>
                    <td>${s.restarts ?? ''}</td>
                    <td>${s.memory === undefined ? '' : bytes(s.memory)}</td>
                    <td>${s.cpu === undefined ? '' : `${s.cpu.toFixed(1)} s`}</td>
                    <td>
                      ${
                        s.kind === 'job'
                          ? actionButton(device, viewer, {
                              action: 'run-job',
                              label: 'Run job',
                              job: s.name,
                            })
                          : actionButton(device, viewer, {
                              action: 'restart-service',
                              label: 'Restart',
                              service: s.name,
                              confirm: `Restart ${s.name} on ${device}?`,
                            })
                      }
                      ${actionButton(device, viewer, { action: 'logs', label: 'Logs', service: s.name })}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
    }`;
}
