import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { stringify } from 'yaml';
import { devicePayload, firstBootScript, type PayloadFile } from '../device/payload.js';
import { KNOWN_HOSTS } from '../agent/config.js';
import { HUB_TOKEN_FILE, SIGNING_KEY_FILE } from '../agent/hub/device.js';
import { UserError } from '../errors.js';
import { validateDeviceFile } from '../spec/validate.js';
import type { BootFs, ImageInfo } from './boot.js';
import { withFirstBoot } from './cmdline.js';
import { deviceIdentity, type DeviceIdentity } from './identity.js';
import { renderKeyfiles } from './network.js';
import type { DeviceSettings } from './settings.js';

/** Where PioT's files live on the boot partition until first boot moves them. */
export const BOOT_DIR = 'piot';

/** Device paths of the files first boot moves off the boot partition (root-only). */
export const DEVICE_SECRETS = {
  ageKey: '/etc/piot/identity/age.key',
  signingKey: SIGNING_KEY_FILE,
  deployKey: '/etc/piot/identity/deploy_key',
  hubToken: HUB_TOKEN_FILE,
  deviceFile: '/etc/piot/device.yaml',
} as const;

/** One file to write under piot/ on the boot partition, and where first boot installs it. */
export interface BootFile {
  /** Path under piot/. */
  name: string;
  content: string | Buffer;
  /** Where first boot installs it, with its mode; absent for files first boot only reads. */
  install?: { path: string; mode: string };
}

/** The device file written to /etc/piot/device.yaml. */
export function renderDeviceFile(settings: DeviceSettings): string {
  const file: Record<string, unknown> = { version: 1, name: settings.name, repo: settings.repo };
  if (settings.branch) file.branch = settings.branch;
  if (settings.ref) file.tags = settings.ref;
  if (settings.upgrade) file.upgrade = true;
  if (settings.deployKey) file.deploy_key = DEVICE_SECRETS.deployKey;
  if (settings.hub) file.hub = { url: settings.hub.url };
  const text = `# Written by piot image configure.\n${stringify(file)}`;
  const checked = validateDeviceFile(Buffer.from(text));
  if (!checked.ok) {
    throw new UserError(
      `the device file would be invalid: ${checked.problems.map((p) => p.message).join('; ')}`,
    );
  }
  return text;
}

const quote = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

/**
 * Every file for piot/ on the boot partition: the payload, the device's settings and secrets,
 * and the manifest that tells first boot where each goes. Deterministic for the same input.
 */
export async function planBootFiles(
  settings: DeviceSettings,
  identity: DeviceIdentity,
  info: ImageInfo,
  payload: PayloadFile[] = devicePayload(),
  firstBoot: string = firstBootScript(),
): Promise<BootFile[]> {
  const files: BootFile[] = [];
  for (const p of payload) {
    const content = await readFile(p.source).catch(() => {
      throw new UserError(`PioT's device file ${p.source} is missing`, {
        hint: 'run npm run build',
      });
    });
    files.push({
      name: `files/${basename(p.path)}`,
      content,
      install: { path: p.path, mode: p.mode.toString(8) },
    });
  }
  const secret = (name: string, content: string, path: string) =>
    files.push({ name, content, install: { path, mode: '600' } });
  secret('device.yaml', renderDeviceFile(settings), DEVICE_SECRETS.deviceFile);
  secret('identity/age.key', `${identity.ageKey}\n`, DEVICE_SECRETS.ageKey);
  secret('identity/signing.key', identity.signingKey, DEVICE_SECRETS.signingKey);
  if (settings.deployKey)
    secret('identity/deploy_key', settings.deployKey, DEVICE_SECRETS.deployKey);
  // Not a secret, and it ends trust on first use: ssh then accepts only these host keys.
  if (settings.repoHostKeys?.length) {
    files.push({
      name: 'known_hosts',
      content: `# Written by piot image configure --repo-host-key.\n${settings.repoHostKeys.join('\n')}\n`,
      install: { path: KNOWN_HOSTS, mode: '644' },
    });
  }
  if (settings.hub?.token)
    secret('identity/hub-token', `${settings.hub.token}\n`, DEVICE_SECRETS.hubToken);
  for (const k of renderKeyfiles(settings.wifi, settings.statics)) {
    secret(`network/${k.name}`, k.content, `/etc/NetworkManager/system-connections/${k.name}`);
  }
  files.push({ name: 'authorized_keys', content: settings.sshKeys.map((k) => `${k}\n`).join('') });
  files.push({
    name: 'firstboot.sh',
    content: await readFile(firstBoot),
  });
  const manifest = files
    .filter((f) => f.install)
    .map((f) => `${f.install!.mode} ${f.install!.path} ${f.name}\n`)
    .join('');
  files.push({ name: 'manifest', content: manifest });
  const hash = createHash('sha256');
  for (const f of files) hash.update(f.name).update('\0').update(f.content).update('\0');
  const env: Record<string, string | undefined> = {
    PIOT_HOSTNAME: settings.name,
    PIOT_USER: settings.user?.name,
    PIOT_PASSWORD_HASH: settings.user?.passwordHash,
    PIOT_WIFI_COUNTRY: settings.wifiCountry,
    PIOT_TIMEZONE: settings.timezone,
    PIOT_LOCALE: settings.locale,
    PIOT_RELEASE: info.release,
  };
  for (const [k, v] of Object.entries(env)) hash.update(`${k}=${v ?? ''}\0`);
  env.PIOT_CONFIG_ID = hash.digest('hex').slice(0, 16);
  files.push({
    name: 'settings.env',
    content: Object.entries(env)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `${k}=${quote(v!)}\n`)
      .join(''),
  });
  return files;
}

/** What configure did, for the report. */
export interface ConfigureResult {
  identity: DeviceIdentity;
  files: number;
  bytes: number;
  reusedIdentity: boolean;
  cmdline: string;
}

/**
 * Writes the plan into the boot partition. Nothing is written unless everything fits; the
 * boot partition's cmdline.txt is backed up once (piot/backup/cmdline.txt) and written
 * last, so an interrupted run leaves an image that boots as before.
 */
export async function writeBootFiles(
  boot: BootFs,
  settings: DeviceSettings,
  info: ImageInfo,
): Promise<ConfigureResult> {
  const cmdline = await boot.read('cmdline.txt');
  if (!cmdline) throw new UserError(`the boot partition of ${info.path} has no cmdline.txt`);
  const existing = {
    ageKey: (await boot.read(`${BOOT_DIR}/identity/age.key`))?.toString('utf8'),
    signingKey: (await boot.read(`${BOOT_DIR}/identity/signing.key`))?.toString('utf8'),
  };
  const identity = await deviceIdentity(existing);
  const reusedIdentity = existing.ageKey?.trim() === identity.ageKey;
  const files = await planBootFiles(settings, identity, info);
  const backup = await boot.read(`${BOOT_DIR}/backup/cmdline.txt`);
  const original = (backup ?? cmdline).toString('utf8');
  const newCmdline = `${withFirstBoot(original.split('\n')[0]!)}\n`;

  let needed = 0;
  const free = await boot.freeBytes();
  for (const f of [...files, { content: newCmdline }, { content: original }]) {
    // Clusters are at most 32 KiB on a Raspberry Pi OS boot partition; count whole ones.
    needed += Math.ceil(Buffer.byteLength(f.content) / 32768 + 1) * 32768;
  }
  if (free !== undefined && free < needed) {
    throw new UserError(
      `the boot partition of ${info.path} is full: ${free} bytes free, PioT needs ${needed}`,
      { hint: 'remove files from the boot partition (or use a fresh image)' },
    );
  }
  const all = [...files, { name: 'backup/cmdline.txt', content: original }];
  await boot.replaceDir(BOOT_DIR, all);
  const bytes = all.reduce((n, f) => n + Buffer.byteLength(f.content), 0);
  await boot.write('cmdline.txt', newCmdline);
  return { identity, files: files.length, bytes, reusedIdentity, cmdline: newCmdline.trim() };
}
