/** How the fleet commands show what the hub knows: plain text, pure functions. */
import { isOnline } from '../hub/online.js';
import type { DeviceRecord } from '../hub/store/store.js';
import { deployKindColor } from './context.js';
import type { DeviceDetail } from './hub-client.js';

/** Colour functions (picocolors' shape); identity functions when colour is off. */
export interface Paint {
  green: (s: string) => string;
  yellow: (s: string) => string;
  red: (s: string) => string;
  dim: (s: string) => string;
  bold: (s: string) => string;
}

/** "12 s", "5 min", "3 h", "2 d": how long ago `then` was. */
export function age(then: number, now: number): string {
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 120 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** An ISO time to the second, for ms or ISO text. */
export function when(time: number | string): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? String(time) : date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** "online", "offline", "revoked" or "never seen", and "last seen 3 h ago" when known. */
export function presence(device: DeviceRecord, now: number): { state: string; seen: string } {
  const seen =
    device.lastSeen === undefined ? 'never seen' : `last seen ${age(device.lastSeen, now)} ago`;
  if (device.revoked) return { state: 'revoked', seen };
  if (device.lastSeen === undefined) return { state: 'never seen', seen };
  return { state: isOnline(device, now) ? 'online' : 'offline', seen };
}

/** One thing wrong with a device, worst first when sorted by level. */
export interface Problem {
  level: 'bad' | 'warn';
  text: string;
}

const THROTTLE_NOW: [number, string][] = [
  [0x1, 'under-voltage'],
  [0x2, 'frequency capped'],
  [0x4, 'throttled'],
  [0x8, 'soft temperature limit'],
];

/** What the last heartbeat says is wrong, worst first; [] when all is well (or unknown). */
export function problems(device: DeviceRecord): Problem[] {
  const beat = device.lastHeartbeat;
  if (!beat) return [];
  const found: Problem[] = [];
  const bad = (text: string) => found.push({ level: 'bad', text });
  const warn = (text: string) => found.push({ level: 'warn', text });
  if (beat.health?.readOnlyRoot) bad('read-only root');
  const failed = beat.health?.failedUnits ?? [];
  const failedServices = (beat.services ?? []).filter((s) => s.state === 'failed');
  if (failed.length > 0) bad(`failed: ${failed.join(', ')}`);
  else if (failedServices.length > 0)
    bad(`failed: ${failedServices.map((s) => s.name).join(', ')}`);
  const throttled = beat.metrics?.throttled ?? 0;
  for (const [bit, what] of THROTTLE_NOW) {
    if (throttled & bit) (bit === 0x1 ? bad : warn)(`${what} now`);
    else if (throttled & (bit << 16)) warn(`${what} since boot`);
  }
  const m = beat.metrics ?? {};
  if (m.temperature !== undefined && m.temperature >= 80)
    (m.temperature >= 85 ? bad : warn)(`${m.temperature.toFixed(0)} °C`);
  if (m.disk !== undefined && m.disk >= 0.9)
    (m.disk >= 0.98 ? bad : warn)(`disk ${percent(m.disk)}`);
  if (m.memory !== undefined && m.memory >= 0.95) warn(`memory ${percent(m.memory)}`);
  return found.sort((a, b) => (a.level === b.level ? 0 : a.level === 'bad' ? -1 : 1));
}

function percent(ratio: number): string {
  return `${Math.round(ratio * 100)}%`;
}

interface Cell {
  text: string;
  paint?: (s: string) => string;
}

/** Columns padded to their widest cell; colour is added after padding so it does not count. */
function table(header: string[], rows: Cell[][], paint: Paint): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.text.length)));
  const line = (cells: Cell[]) =>
    cells
      .map((cell, i) => {
        const text = i === cells.length - 1 ? cell.text : cell.text.padEnd(widths[i]!);
        return cell.paint ? cell.paint(text) : text;
      })
      .join('  ')
      .trimEnd();
  return [paint.dim(line(header.map((text) => ({ text })))), ...rows.map(line)].join('\n') + '\n';
}

/** `piot devices`: one line per device. */
export function devicesTable(devices: DeviceRecord[], now: number, paint: Paint): string {
  if (devices.length === 0) return 'the hub knows no devices yet\n';
  const rows = devices.map((device): Cell[] => {
    const { state } = presence(device, now);
    const beat = device.lastHeartbeat;
    const last = beat?.deploy?.lastDeploy;
    const worst = problems(device)[0];
    return [
      { text: device.name, paint: paint.bold },
      {
        text:
          device.lastSeen === undefined || device.revoked
            ? state
            : `${state} ${age(device.lastSeen, now)}`,
        paint: state === 'online' ? paint.green : state === 'offline' ? paint.red : paint.dim,
      },
      { text: beat?.deploy?.app ?? '-' },
      { text: beat?.deploy?.current?.slice(0, 7) ?? '-' },
      {
        text: last ? `${last.kind} ${age(Date.parse(last.at), now)} ago` : '-',
        paint: last && deployKindColor(last.kind, paint),
      },
      {
        text:
          beat?.metrics?.temperature === undefined
            ? '-'
            : `${beat.metrics.temperature.toFixed(0)} °C`,
      },
      worst
        ? { text: worst.text, paint: worst.level === 'bad' ? paint.red : paint.yellow }
        : { text: beat ? 'ok' : '-', paint: beat ? paint.green : undefined },
    ];
  });
  return table(['NAME', 'SEEN', 'APP', 'COMMIT', 'LAST DEPLOY', 'TEMP', 'HEALTH'], rows, paint);
}

/** `piot status DEVICE`: the summary, health, services, recent deploys, job runs and commands. */
export function deviceStatus(detail: DeviceDetail, now: number, paint: Paint): string {
  const { device, events, jobRuns, commands } = detail;
  const beat = device.lastHeartbeat;
  const out: string[] = [];
  const row = (label: string, text: string) => out.push(`${label.padEnd(10)}${text}`);
  const { state, seen } = presence(device, now);
  const mark =
    state === 'online' ? paint.green(state) : state === 'offline' ? paint.red(state) : state;
  out.push(`${paint.bold(device.name)}  ${mark} (${seen}), enrolled ${when(device.enrolledAt)}`);
  if (!beat) {
    out.push('no heartbeat yet: the hub knows nothing more about this device');
    return `${out.join('\n')}\n`;
  }
  if (beat.agent)
    row(
      'agent',
      `${beat.agent.version}${beat.agent.uptime === undefined ? '' : `, up ${age(0, beat.agent.uptime * 1000)}`}`,
    );
  const deploy = beat.deploy ?? {};
  row('app', deploy.app ?? '-');
  row('release', deploy.current ?? 'none deployed yet');
  if (deploy.previous) row('previous', deploy.previous);
  if (deploy.pending) out.push(`${paint.yellow('pending')}   ${deploy.pending}`);
  const m = beat.metrics ?? {};
  const metrics = [
    m.temperature === undefined ? undefined : `${m.temperature.toFixed(1)} °C`,
    m.cpu === undefined ? undefined : `cpu ${percent(m.cpu)}`,
    m.memory === undefined ? undefined : `memory ${percent(m.memory)}`,
    m.disk === undefined ? undefined : `disk ${percent(m.disk)}`,
    m.wifiSignal === undefined ? undefined : `Wi-Fi ${m.wifiSignal} dBm`,
  ].filter(Boolean);
  row('metrics', `${metrics.join(', ') || '-'} (${age(beat.receivedAt, now)} ago)`);
  const wrong = problems(device);
  row(
    'health',
    wrong.length === 0
      ? paint.green('ok')
      : wrong.map((p) => (p.level === 'bad' ? paint.red(p.text) : paint.yellow(p.text))).join(', '),
  );
  if (beat.services?.length) {
    out.push('', paint.bold('services and jobs'));
    for (const s of beat.services) {
      const active =
        s.state === 'active'
          ? paint.green(s.state)
          : s.state === 'failed'
            ? paint.red(s.state)
            : s.state;
      const extra = [
        s.restarts ? `${s.restarts} restarts` : undefined,
        s.memory === undefined ? undefined : `${(s.memory / 1024 / 1024).toFixed(0)} MB`,
      ].filter(Boolean);
      out.push(
        `  ${s.name.padEnd(20)} ${s.kind.padEnd(8)} ${active}${s.sub ? ` (${s.sub})` : ''}${extra.length ? `  ${extra.join(', ')}` : ''}`,
      );
    }
  }
  if (events.length > 0) {
    out.push('', paint.bold('recent deploys'));
    for (const e of events.slice(0, 5)) {
      const kind = deployKindColor(e.kind, paint)?.(e.kind) ?? e.kind;
      out.push(
        `  ${when(e.at)}  ${kind} ${e.commit.slice(0, 12)}${e.reason ? `: ${e.reason.split('\n')[0]}` : ''}`,
      );
    }
  }
  if (jobRuns.length > 0) {
    out.push('', paint.bold('recent job runs'));
    for (const r of jobRuns.slice(0, 5)) {
      const status = r.status === 'succeeded' ? paint.green(r.status) : paint.red(r.status);
      out.push(
        `  ${when(r.end)}  ${r.job} ${status}${r.exitCode !== undefined && r.status !== 'succeeded' ? ` (exit ${r.exitCode})` : ''}, ${r.seconds} s`,
      );
    }
  }
  if (commands.length > 0) {
    out.push('', paint.bold('recent commands'));
    for (const c of commands.slice(0, 5)) {
      const answer = c.result
        ? `${c.result.ok ? paint.green('ok') : paint.red('failed')}${c.result.message ? `: ${c.result.message}` : ''}`
        : c.deliveredAt
          ? 'taken, no answer yet'
          : 'waiting for the device';
      out.push(`  ${when(c.createdAt)}  ${describeCommand(c)} by ${c.createdBy}: ${answer}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** "deploy", "run-job backup", "logs web": a command and its main argument. */
export function describeCommand(command: { kind: string; args?: Record<string, unknown> }): string {
  const arg = command.args?.job ?? command.args?.service;
  return typeof arg === 'string' ? `${command.kind} ${arg}` : command.kind;
}
