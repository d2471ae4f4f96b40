import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from './fs.js';
import { run } from './process.js';

/** What the agent asks of systemd. */
export interface Systemd {
  /** PioT's unit files for an app in the unit directory, by name. */
  installedUnits(prefix: string): Promise<Record<string, string>>;
  writeUnit(unit: string, content: string): Promise<void>;
  removeUnit(unit: string): Promise<void>;
  daemonReload(): Promise<void>;
  enable(unit: string): Promise<void>;
  disable(unit: string): Promise<void>;
  start(unit: string): Promise<void>;
  /** Starts a oneshot unit and waits for it to finish; true when it succeeded. */
  runOnce(unit: string): Promise<boolean>;
  stop(unit: string): Promise<void>;
  restart(unit: string): Promise<void>;
  /** ActiveState and MainPID of a unit. */
  status(unit: string): Promise<{ active: string; pid: number }>;
  /** What the health gate watches: state, automatic restarts, time since it became active. */
  probe(unit: string): Promise<{ active: string; restarts: number; activeForMs: number }>;
  /** True if the unit is enabled (its install symlinks exist). */
  isEnabled(unit: string): Promise<boolean>;
  /** The last lines a unit logged, as plain text. */
  logTail(unit: string, lines: number): Promise<string>;
}

/** systemctl on this machine; units live in unitDir (normally /etc/systemd/system). */
export function createSystemd(unitDir = '/etc/systemd/system'): Systemd {
  const systemctl = async (...args: string[]) => {
    const result = await run('systemctl', args, { timeoutMs: 120_000 });
    if (result.code !== 0) {
      throw new Error(
        `systemctl ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`,
      );
    }
    return result.stdout;
  };
  return {
    async installedUnits(prefix) {
      const units: Record<string, string> = {};
      for (const file of (await readdir(unitDir)).sort()) {
        if (file.startsWith(prefix) && /\.(service|timer)$/.test(file)) {
          units[file] = await readFile(join(unitDir, file), 'utf8');
        }
      }
      return units;
    },
    writeUnit: (unit, content) => writeFileAtomic(join(unitDir, unit), content),
    removeUnit: async (unit) => {
      await rm(join(unitDir, unit), { force: true });
      await syncDir(unitDir);
    },
    daemonReload: async () => void (await systemctl('daemon-reload')),
    // Enabling only links the unit into its targets for the next boot. Without --no-reload
    // every call also reloads the whole manager (seconds on a small Pi); the deploy plan
    // enables after its one daemon-reload and disables before it.
    enable: async (unit) => void (await systemctl('enable', '--quiet', '--no-reload', unit)),
    disable: async (unit) => void (await systemctl('disable', '--quiet', '--no-reload', unit)),
    start: async (unit) => void (await systemctl('start', '--no-block', unit)),
    runOnce: async (unit) => (await run('systemctl', ['start', unit])).code === 0,
    stop: async (unit) => void (await systemctl('stop', unit)),
    restart: async (unit) => void (await systemctl('restart', '--no-block', unit)),
    async status(unit) {
      const out = await systemctl('show', '-p', 'ActiveState', '-p', 'MainPID', unit);
      const active = /^ActiveState=(.*)$/m.exec(out)?.[1] ?? 'unknown';
      const pid = Number(/^MainPID=(\d+)$/m.exec(out)?.[1] ?? 0);
      return { active, pid };
    },
    async probe(unit) {
      const out = await systemctl(
        'show',
        '-p',
        'ActiveState',
        '-p',
        'NRestarts',
        '-p',
        'ActiveEnterTimestampMonotonic',
        unit,
      );
      const active = /^ActiveState=(.*)$/m.exec(out)?.[1] ?? 'unknown';
      const restarts = Number(/^NRestarts=(\d+)$/m.exec(out)?.[1] ?? 0);
      const enteredUs = Number(/^ActiveEnterTimestampMonotonic=(\d+)$/m.exec(out)?.[1] ?? 0);
      // systemd's monotonic timestamps and process.hrtime share CLOCK_MONOTONIC.
      const nowUs = Number(process.hrtime.bigint() / 1000n);
      const activeForMs = active === 'active' && enteredUs > 0 ? (nowUs - enteredUs) / 1000 : 0;
      return { active, restarts, activeForMs };
    },
    async isEnabled(unit) {
      const result = await run('systemctl', ['is-enabled', '--quiet', unit]);
      return result.code === 0;
    },
    async logTail(unit, lines) {
      const result = await run('journalctl', [
        '--unit',
        unit,
        '--lines',
        String(lines),
        '--no-pager',
        '--output',
        'cat',
      ]);
      return result.stdout;
    },
  };
}

/** Creates a system user (no home, no login) unless it exists. */
export async function ensureSystemUser(name: string): Promise<void> {
  // useradd writes /etc/passwd: read first, without a process; `id` asks NSS for the rest.
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  if (passwd.split('\n').some((line) => line.startsWith(`${name}:`))) return;
  if ((await run('id', ['-u', name])).code === 0) return;
  const result = await run('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    name,
  ]);
  if (result.code !== 0) throw new Error(`useradd ${name} failed: ${result.stderr.trim()}`);
}
