import { access, statfs } from 'node:fs/promises';
import { run } from './process.js';

/** One systemd unit's state and resource use; a value systemd does not track is absent. */
export interface ServiceStatus {
  unit: string;
  activeState: string;
  subState?: string;
  restarts?: number;
  memoryBytes?: number;
  cpuSeconds?: number;
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

/** systemd on this machine for the health collectors; undefined answers when it is not running. */
export function createUnitHealth(runDir = '/run'): UnitHealth {
  return {
    async services(pattern) {
      if (!(await systemdBooted(runDir))) return undefined;
      const property = `--property=${SHOW_PROPERTIES.join(',')}`;
      return parseSystemctlShow(await systemctl(['show', property, '--', pattern]));
    },
    async failedUnits() {
      if (!(await systemdBooted(runDir))) return undefined;
      return parseFailedUnits(
        await systemctl(['list-units', '--failed', '--plain', '--no-legend']),
      );
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
