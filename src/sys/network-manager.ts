import { chmod, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { syncDir, writeFileAtomic } from './fs.js';
import { run } from './process.js';

/** Where NetworkManager reads keyfiles from. */
export const KEYFILE_DIR = '/etc/NetworkManager/system-connections';

/** A connection NetworkManager knows. */
export interface NmConnection {
  name: string;
  uuid: string;
  type: string;
  /** The device it is active on, or '' when inactive. */
  device: string;
  active: boolean;
}

/** A Wi-Fi network in range. */
export interface NmWifi {
  inUse: boolean;
  ssid: string;
  signal: number;
}

/** What the agent asks of NetworkManager (tests: a fake). */
export interface NetworkManager {
  /** Makes NetworkManager read the keyfiles again (`nmcli connection reload`). */
  reload(): Promise<void>;
  /** Activates a connection by name, or by UUID on a device; the error text when it fails. */
  up(
    connection: { id: string } | { uuid: string; device?: string },
    waitSeconds: number,
  ): Promise<string | undefined>;
  /** Lets NetworkManager pick (or create) a connection for a device (`nmcli device connect`). */
  connectDevice(device: string, waitSeconds: number): Promise<string | undefined>;
  /** Every connection, with the device it is active on. */
  connections(): Promise<NmConnection[]>;
  /** Wi-Fi networks from the last scan (no new scan). */
  wifi(): Promise<NmWifi[]>;
}

/** Splits a line of `nmcli -t` output: fields separated by ':', with '\:' and '\\' escaped. */
export function splitTerse(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) field += line[++i];
    else if (c === ':') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

async function nmcli(args: string[], timeoutMs = 30_000) {
  return run('nmcli', args, { timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
}

/** NetworkManager through nmcli. */
export function createNetworkManager(): NetworkManager {
  return {
    async reload() {
      const result = await nmcli(['connection', 'reload']);
      if (result.code !== 0)
        throw new Error(`nmcli connection reload failed: ${result.stderr.trim()}`);
    },
    async up(connection, waitSeconds) {
      const target =
        'id' in connection
          ? ['id', connection.id]
          : ['uuid', connection.uuid, ...(connection.device ? ['ifname', connection.device] : [])];
      const result = await nmcli(
        ['--wait', String(Math.max(1, Math.round(waitSeconds))), 'connection', 'up', ...target],
        (waitSeconds + 15) * 1000,
      );
      return result.code === 0
        ? undefined
        : result.stderr.trim() || `nmcli exited with ${result.code}`;
    },
    async connectDevice(device, waitSeconds) {
      const result = await nmcli(
        ['--wait', String(Math.max(1, Math.round(waitSeconds))), 'device', 'connect', device],
        (waitSeconds + 15) * 1000,
      );
      return result.code === 0
        ? undefined
        : result.stderr.trim() || `nmcli exited with ${result.code}`;
    },
    async connections() {
      const result = await nmcli(['-t', '-f', 'NAME,UUID,TYPE,DEVICE', 'connection', 'show']);
      if (result.code !== 0) throw new Error(`nmcli connection show failed: ${result.stderr}`);
      return result.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [name = '', uuid = '', type = '', device = ''] = splitTerse(line);
          return { name, uuid, type, device, active: device !== '' };
        });
    },
    async wifi() {
      const result = await nmcli([
        '-t',
        '-f',
        'IN-USE,SSID,SIGNAL',
        'device',
        'wifi',
        'list',
        '--rescan',
        'no',
      ]);
      if (result.code !== 0) return [];
      return result.stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [inUse = '', ssid = '', signal = '0'] = splitTerse(line);
          return { inUse: inUse.trim() === '*', ssid, signal: Number(signal) };
        });
    },
  };
}

/** The keyfiles in `dir` whose names start with `prefix`, by file name (none if dir is missing). */
export async function readKeyfiles(dir: string, prefix: string): Promise<Record<string, string>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const files: Record<string, string> = {};
  for (const name of names.sort()) {
    if (name.startsWith(prefix) && name.endsWith('.nmconnection'))
      files[name] = await readFile(join(dir, name), 'utf8');
  }
  return files;
}

/** Writes a keyfile root-only (NetworkManager ignores keyfiles others can read), atomically. */
export async function writeKeyfile(dir: string, name: string, content: string): Promise<void> {
  await writeFileAtomic(join(dir, name), content, { mode: 0o600 });
  // The mode given to open() is masked by the umask; NetworkManager insists on 0600.
  await chmod(join(dir, name), 0o600);
}

/** Removes a keyfile (durably). */
export async function removeKeyfile(dir: string, name: string): Promise<void> {
  await rm(join(dir, name), { force: true });
  await syncDir(dir);
}
