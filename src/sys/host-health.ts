import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { access, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './process.js';

/** One systemd unit's state and resource use; a value systemd does not track is absent. */
export interface ServiceStatus {
  unit: string;
  activeState: string;
  subState?: string;
  restarts?: number;
  memoryBytes?: number;
  cpuSeconds?: number;
  /** The unit's cgroup below the cgroup root (e.g. `/system.slice/x.service`), while it has one. */
  controlGroup?: string;
}

/** systemd as the health collectors see it; undefined answers mean "no systemd here". */
export interface UnitHealth {
  /** State and resource use of the units matching a pattern (e.g. `piot-*.service`). */
  services(pattern: string): Promise<ServiceStatus[] | undefined>;
  /** Names of the units systemd lists as failed. */
  failedUnits(): Promise<string[] | undefined>;
}

const SHOW_PROPERTIES = [
  'Id',
  'ActiveState',
  'SubState',
  'NRestarts',
  'MemoryCurrent',
  'CPUUsageNSec',
  'ControlGroup',
];
// systemd prints an unset accounting value as "[not set]" or, before v247 or so, as UINT64_MAX.
const UNSET = new Set(['', '[not set]', '18446744073709551615']);
const TIMEOUT_MS = 10_000;

const count = (value: string | undefined): number | undefined =>
  value === undefined || UNSET.has(value) || !/^\d+$/.test(value) ? undefined : Number(value);

/** The units in `systemctl show --property=…` output (blocks separated by blank lines). */
export function parseSystemctlShow(output: string): ServiceStatus[] {
  const units: ServiceStatus[] = [];
  for (const block of output.split(/\n\s*\n/)) {
    const props = new Map<string, string>();
    for (const line of block.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1).trim());
    }
    const unit = props.get('Id');
    if (!unit) continue;
    const cpuNs = count(props.get('CPUUsageNSec'));
    units.push({
      unit,
      activeState: props.get('ActiveState') || 'unknown',
      subState: props.get('SubState') || undefined,
      restarts: count(props.get('NRestarts')),
      memoryBytes: count(props.get('MemoryCurrent')),
      cpuSeconds: cpuNs === undefined ? undefined : cpuNs / 1e9,
      controlGroup: props.get('ControlGroup') || undefined,
    });
  }
  return units.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0));
}

/** The unit names in `systemctl list-units --failed --plain --no-legend` output. */
export function parseFailedUnits(output: string): string[] {
  const units: string[] = [];
  for (const line of output.split('\n')) {
    // Without a terminal some systemd versions still print the "●" (or "×") status bullet.
    // Escaped: one character above U+00FF makes V8 keep the agent's whole source at two
    // bytes a character.
    const name = line.replace(/^\s*[\u25cf*\u00d7]?\s*/, '').split(/\s+/)[0];
    if (name) units.push(name);
  }
  return units.sort();
}

async function systemdBooted(runDir: string): Promise<boolean> {
  try {
    await access(`${runDir}/systemd/system`);
    return true;
  } catch {
    return false;
  }
}

async function systemctl(args: string[]): Promise<string> {
  const result = await run('systemctl', args, { timeoutMs: TIMEOUT_MS });
  if (result.code !== 0) {
    throw new Error(
      `systemctl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }
  return result.stdout;
}

/** A systemctl unit pattern (fnmatch: `*`, `?`, `[…]`) as a regular expression. */
export function unitPattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const close = c === '[' ? pattern.indexOf(']', i + 2) : -1;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (close > 0) {
      const set = pattern.slice(i + 1, close);
      source += `[${set.startsWith('!') ? `^${set.slice(1)}` : set}]`;
      i = close;
    } else source += c.replace(/[\\^$.|+(){}[\]]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

// How long a services answer is reused while nothing it depends on changed (see below).
const SERVICES_MAX_AGE_MS = 120_000;

export interface UnitHealthOptions {
  /** Where systemd keeps its runtime state (`/run`). */
  runDir?: string;
  /** Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup`). */
  cgroupRoot?: string;
  /** Runs systemctl with these arguments and gives its output. */
  systemctl?: (args: string[]) => Promise<string>;
  now?: () => number;
}

/**
 * systemd on this machine for the health collectors; undefined answers when it is not running.
 *
 * Asking systemd means spawning systemctl, the dearest part of a collection on a Pi. So a
 * services answer is reused while nothing it depends on changed, up to 2 minutes: the units
 * that have an invocation (systemd's `/run/systemd/units/invocation:UNIT`, new at each start)
 * and whether each unit's cgroup has processes (a service that exits or is killed empties it).
 * Memory and CPU are read from each unit's cgroup meanwhile, the files systemd reads itself.
 */
export function createUnitHealth(options: UnitHealthOptions = {}): UnitHealth {
  const runDir = options.runDir ?? '/run';
  const cgroupRoot = options.cgroupRoot ?? '/sys/fs/cgroup';
  const ask = options.systemctl ?? systemctl;
  const now = options.now ?? Date.now;
  const kept = new Map<string, { at: number; mark: string; services: ServiceStatus[] }>();

  // /run is a tmpfs and the cgroup files are made up by the kernel: read synchronously, as
  // the collectors read /proc and /sys (an asynchronous read costs several thread-pool trips).
  const attempt = <T>(read: () => T): T | undefined => {
    try {
      return read();
    } catch {
      return undefined;
    }
  };
  const read = (path: string) => attempt(() => readFileSync(path, 'utf8'));
  /** What a services answer depends on, as one string; undefined if it cannot be told. */
  const markOf = (pattern: string, known: ServiceStatus[]) => {
    const units = join(runDir, 'systemd/units');
    const names = attempt(() => readdirSync(units));
    if (names === undefined) return undefined;
    const matches = unitPattern(pattern);
    const invocations = names
      .filter((n) => n.startsWith('invocation:') && matches.test(n.slice(11)))
      .sort()
      .map((n) => `${n}=${attempt(() => readlinkSync(join(units, n))) ?? ''}`);
    const populated = known.map((s) => {
      if (!s.controlGroup) return '';
      const events = read(join(cgroupRoot, s.controlGroup, 'cgroup.events')) ?? '';
      return `${s.unit}:${/^populated (\d)/m.exec(events)?.[1] ?? '-'}`;
    });
    return [...invocations, ...populated].join('\n');
  };
  /** The kept answer with each unit's memory and CPU read again from its cgroup. */
  const refreshed = (services: ServiceStatus[]) =>
    services.map((s) => {
      if (!s.controlGroup) return s;
      const dir = join(cgroupRoot, s.controlGroup);
      const memory = read(join(dir, 'memory.current'))?.trim() ?? '';
      const usec = /^usage_usec (\d+)/m.exec(read(join(dir, 'cpu.stat')) ?? '')?.[1];
      return {
        ...s,
        memoryBytes: /^\d+$/.test(memory) ? Number(memory) : s.memoryBytes,
        cpuSeconds: usec === undefined ? s.cpuSeconds : Number(usec) / 1e6,
      };
    });

  return {
    async services(pattern) {
      if (!(await systemdBooted(runDir))) return undefined;
      const last = kept.get(pattern);
      const mark = markOf(pattern, last?.services ?? []);
      if (last && mark !== undefined && mark === last.mark && now() - last.at < SERVICES_MAX_AGE_MS)
        return refreshed(last.services);
      const property = `--property=${SHOW_PROPERTIES.join(',')}`;
      const services = parseSystemctlShow(await ask(['show', property, '--', pattern]));
      // The mark taken before asking: a change meanwhile shows at the next call. (It covers
      // the units known before; a new set of units differs from it, and is asked for again.)
      if (mark !== undefined) kept.set(pattern, { at: now(), mark, services });
      return services;
    },
    async failedUnits() {
      if (!(await systemdBooted(runDir))) return undefined;
      return parseFailedUnits(await ask(['list-units', '--failed', '--plain', '--no-legend']));
    },
  };
}

/** Whether timedatectl reports the clock NTP-synchronised; undefined without timedated. */
export async function timeSynchronized(): Promise<boolean | undefined> {
  try {
    const result = await run('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], {
      timeoutMs: TIMEOUT_MS,
    });
    const answer = result.code === 0 ? result.stdout.trim() : '';
    return answer === 'yes' ? true : answer === 'no' ? false : undefined;
  } catch {
    return undefined;
  }
}

/** statfs(2) of a path: block and inode counts of the filesystem holding it. */
export async function statFilesystem(path: string) {
  const s = await statfs(path);
  return {
    bsize: s.bsize,
    blocks: s.blocks,
    bfree: s.bfree,
    bavail: s.bavail,
    files: s.files,
    ffree: s.ffree,
  };
}
