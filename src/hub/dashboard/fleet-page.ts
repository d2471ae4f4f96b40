import { html } from 'hono/html';
import { isOnline } from '../online.js';
import type { DeviceRecord } from '../store/store.js';
import { deviceHealth } from './health.js';
import { ago, page, type Html, type Viewer } from './layout.js';

/** The fleet table: one row a device, worst first is left to the eye (sorted by name). */
export function fleetPage(devices: DeviceRecord[], viewer: Viewer, now: number): Html {
  const rows = devices.map((device) => fleetRow(device, now));
  const body = html`<h1>Fleet</h1>
    ${
      devices.length === 0
        ? html`<p class="muted">
            No device has enrolled yet: make an enrolment token with
            <code>piot hub token create</code> and put it in the fleet's configuration.
          </p>`
        : html`<table id="fleet">
            <thead>
              <tr>
                <th>Device</th>
                <th>Status</th>
                <th>App</th>
                <th>Commit</th>
                <th>Last deploy</th>
                <th>Health</th>
                <th>Temperature</th>
              </tr>
            </thead>
            <tbody>
              ${rows}
            </tbody>
          </table>`
    }`;
  return page('Fleet', body, { viewer, refreshSeconds: 30 });
}

function fleetRow(device: DeviceRecord, now: number): Html {
  const online = isOnline(device, now);
  const beat = device.lastHeartbeat;
  const deploy = beat?.deploy;
  const health = deviceHealth(device, now);
  const temperature = beat?.metrics?.temperature;
  const last = deploy?.lastDeploy;
  return html`<tr data-device="${device.name}">
    <td><a href="/devices/${encodeURIComponent(device.name)}">${device.name}</a></td>
    <td>
      ${
        device.revoked
          ? html`<span class="badge critical">revoked</span>`
          : html`<span class="badge ${online ? 'ok' : 'critical'}" data-online="${String(online)}"
              >${online ? 'online' : 'offline'}</span
            >`
      }
      <span class="muted"
        >${device.lastSeen === undefined ? 'never seen' : `last seen ${ago(device.lastSeen, now)}`}</span
      >
    </td>
    <td>${deploy?.app ?? '–'}</td>
    <td>
      <code>${shortCommit(deploy?.current)}</code>${
        deploy?.pending ? html` <span class="muted">→ ${shortCommit(deploy.pending)}</span>` : ''
      }
    </td>
    <td>
      ${
        last
          ? html`<span class="${deployClass(last.kind)}">${last.kind}</span>
              <span class="muted">${last.at}</span>`
          : '–'
      }
    </td>
    <td>
      <span class="badge ${health.level}" data-health="${health.level}">${health.level}</span>
      <span class="muted">${health.reasons.map((r) => r.text).join('; ')}</span>
    </td>
    <td>${temperature === undefined ? '–' : `${temperature.toFixed(1)} °C`}</td>
  </tr>`;
}

/** The first 8 characters of a commit, or a dash. */
export function shortCommit(commit: string | undefined): string {
  return commit ? commit.slice(0, 8) : '–';
}

/** The colour class of a deploy event's kind. */
export function deployClass(kind: string): string {
  if (kind === 'succeeded') return 'ok';
  if (kind === 'started') return 'muted';
  return kind === 'rolled-back' || kind === 'interrupted' ? 'warning' : 'critical';
}
