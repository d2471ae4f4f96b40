import { UserError } from '../errors.js';
import type { ProvisionFile } from '../spec/provision.js';
import {
  checkStaticIpv4,
  checkWifi,
  parseStaticIpv4,
  parseWifi,
  type StaticIpv4,
  type WifiNetwork,
} from './network.js';
import { DEVICE_NAME } from '../spec/device.js';
import { checkHostKeys } from './host-keys.js';

/** Everything `piot image configure` writes for one device, checked. */
export interface DeviceSettings {
  name: string;
  tags: string[];
  user?: { name: string; passwordHash?: string };
  sshKeys: string[];
  wifi: WifiNetwork[];
  wifiCountry?: string;
  statics: StaticIpv4[];
  repo: string;
  branch?: string;
  ref?: string;
  /** The private deploy key's text. */
  deployKey?: string;
  /** known_hosts lines for the repository's SSH server (trusted instead of the first key seen). */
  repoHostKeys?: string[];
  hub?: { url: string; token?: string };
  timezone?: string;
  locale?: string;
  upgrade: boolean;
}

/** The command's flags, as commander gives them. */
export interface ConfigureFlags {
  device?: string;
  tags?: string;
  user?: string;
  passwordHash?: string;
  sshKey?: string[];
  wifi?: string[];
  hiddenWifi?: string[];
  wifiCountry?: string;
  ip?: string[];
  repo?: string;
  branch?: string;
  ref?: string;
  deployKey?: string;
  repoHostKey?: string[];
  repoHostKeyFile?: string;
  hub?: string;
  hubToken?: string;
  timezone?: string;
  locale?: string;
  upgrade?: boolean;
}

/** What settings need from outside: key files and the host's time zone list. */
export interface SettingsIo {
  readText(path: string, what: string): Promise<string>;
  /** IANA time zones known here (Intl.supportedValuesOf). */
  timeZones: readonly string[];
}

const TAG = /^[a-z0-9][a-z0-9_-]{0,39}$/;
const USER = /^[a-z_][a-z0-9_-]{0,31}$/;
const RESERVED_USERS = new Set([
  'root',
  'daemon',
  'bin',
  'sys',
  'nobody',
  'sshd',
  'systemd-network',
]);
const PUBLIC_KEY =
  /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( .*)?$/;
const CRYPT_HASH = /^\$(6|5|y|gy|2[aby]|7)\$[./A-Za-z0-9$=,]+$/;

/** True for an ISO 3166 alpha-2 country code (Wi-Fi regulatory domain). */
export function isCountryCode(code: string): boolean {
  if (!/^[A-Z]{2}$/.test(code)) return false;
  const name = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' }).of(code);
  return name !== undefined && name !== code;
}

async function sshKeys(values: string[], io: SettingsIo, problems: string[]): Promise<string[]> {
  const keys: string[] = [];
  for (const value of values) {
    const text = PUBLIC_KEY.test(value.trim()) ? value : await io.readText(value, 'SSH public key');
    if (/PRIVATE KEY/.test(text)) {
      problems.push(`--ssh-key ${value}: this is a private key; give the .pub file`);
      continue;
    }
    const lines = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const bad = lines.find((l) => !PUBLIC_KEY.test(l));
    if (lines.length === 0 || bad !== undefined) {
      problems.push(
        `--ssh-key ${value}: not an OpenSSH public key${bad ? ` ("${bad.slice(0, 30)}…")` : ''}`,
      );
      continue;
    }
    keys.push(...lines);
  }
  return [...new Set(keys)];
}

/**
 * Merges the flags over the provisioning file and checks everything, reporting every problem
 * at once. Nothing here touches the image.
 */
export async function resolveSettings(
  flags: ConfigureFlags,
  file: ProvisionFile | undefined,
  io: SettingsIo,
): Promise<DeviceSettings> {
  const problems: string[] = [];
  const name = flags.device ?? file?.device;
  if (name === undefined) problems.push('--device is required: the device name (its hostname)');
  else if (!DEVICE_NAME.test(name)) {
    problems.push(
      `--device "${name}" is not a hostname (lowercase letters, digits and "-", at most 63)`,
    );
  }
  const tags =
    flags.tags !== undefined
      ? flags.tags
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : (file?.tags ?? []);
  for (const tag of tags) if (!TAG.test(tag)) problems.push(`--tags: "${tag}" is not a tag name`);

  const userName = flags.user ?? file?.user;
  const passwordHash = flags.passwordHash ?? file?.password_hash;
  if (userName !== undefined && (!USER.test(userName) || RESERVED_USERS.has(userName))) {
    problems.push(`--user "${userName}" is not a usable login name`);
  }
  if (passwordHash !== undefined && !CRYPT_HASH.test(passwordHash)) {
    problems.push('--password-hash is not a crypt(3) hash (e.g. from `openssl passwd -6`)');
  }
  if (passwordHash !== undefined && userName === undefined)
    problems.push('a password needs --user');

  const keys = await sshKeys(flags.sshKey ?? file?.ssh_keys ?? [], io, problems);

  const wifi: WifiNetwork[] = [];
  if (flags.wifi || flags.hiddenWifi) {
    const given = [
      ...(flags.wifi ?? []).map((v) => ({ v, hidden: false, flag: '--wifi' })),
      ...(flags.hiddenWifi ?? []).map((v) => ({ v, hidden: true, flag: '--hidden-wifi' })),
    ];
    // The first network given is tried first.
    given.forEach(({ v, hidden, flag }, i) => {
      const net = parseWifi(v, { hidden, priority: 100 - i * 10 });
      problems.push(...checkWifi(net, flag));
      wifi.push(net);
    });
  } else {
    (file?.wifi ?? []).forEach((w, i) => {
      const net = {
        ssid: w.ssid,
        psk: w.psk,
        hidden: w.hidden ?? false,
        priority: w.priority ?? 100 - i * 10,
      };
      problems.push(...checkWifi(net, `wifi[${i}]`));
      wifi.push(net);
    });
  }
  const ssids = wifi.map((w) => w.ssid);
  for (const dup of new Set(ssids.filter((s, i) => ssids.indexOf(s) !== i))) {
    problems.push(`--wifi: "${dup}" is given twice`);
  }

  const wifiCountry = (flags.wifiCountry ?? file?.wifi_country)?.toUpperCase();
  if (wifiCountry !== undefined && !isCountryCode(wifiCountry)) {
    problems.push(
      `--wifi-country "${wifiCountry}" is not an ISO 3166 country code (e.g. GB, DE, US)`,
    );
  }
  if (wifi.length > 0 && wifiCountry === undefined) {
    problems.push('--wifi-country is required with Wi-Fi (the radio stays off without a country)');
  }

  const statics: StaticIpv4[] = flags.ip
    ? flags.ip.map(parseStaticIpv4)
    : (file?.ip ?? []).map((s) => ({ ...s, dns: s.dns ?? [] }));
  statics.forEach((s) => problems.push(...checkStaticIpv4(s, `--ip ${s.iface}`)));
  if (statics.filter((s) => s.iface.startsWith('wl')).length > 1) {
    problems.push('--ip: one static setting for Wi-Fi interfaces at most');
  }

  const repo = flags.repo ?? file?.repo;
  if (repo === undefined)
    problems.push('--repo is required: the application repository the device follows');
  else if (!/^(https?:\/\/|ssh:\/\/|git:\/\/|[\w.-]+@[\w.-]+:)\S+$/.test(repo)) {
    problems.push(`--repo "${repo}" is not a git URL (https://…, ssh://… or git@host:path)`);
  }
  const branch = flags.branch ?? file?.branch;
  const ref = flags.ref ?? file?.ref;
  if (branch !== undefined && ref !== undefined) problems.push('give --branch or --ref, not both');
  if (branch !== undefined && !/^[A-Za-z0-9._/-]+$/.test(branch))
    problems.push(`--branch "${branch}" is not a branch name`);
  if (ref !== undefined && !/^[A-Za-z0-9._*?/-]+$/.test(ref))
    problems.push(`--ref "${ref}" is not a tag pattern`);

  const deployKeyPath = flags.deployKey ?? file?.deploy_key;
  let deployKey: string | undefined;
  if (deployKeyPath !== undefined) {
    deployKey = await io.readText(deployKeyPath, 'deploy key');
    if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(deployKey)) {
      problems.push(
        `--deploy-key ${deployKeyPath}: not a private key (the device needs the private half)`,
      );
    }
  }

  let repoHostKeys: string[] | undefined;
  if (
    flags.repoHostKey !== undefined ||
    flags.repoHostKeyFile !== undefined ||
    file?.repo_host_keys !== undefined
  ) {
    const given = [...(flags.repoHostKey ?? file?.repo_host_keys ?? [])];
    if (flags.repoHostKeyFile !== undefined)
      given.push(await io.readText(flags.repoHostKeyFile, 'repository host key file'));
    const flag = flags.repoHostKey
      ? '--repo-host-key'
      : flags.repoHostKeyFile !== undefined
        ? `--repo-host-key-file ${flags.repoHostKeyFile}`
        : 'repo_host_keys';
    const checked = checkHostKeys(given.join('\n'), { repo, flag });
    problems.push(...checked.problems);
    repoHostKeys = checked.lines;
  }

  const hubUrl = flags.hub ?? file?.hub;
  const hubToken = flags.hubToken ?? file?.hub_token;
  if (hubUrl !== undefined && !/^https?:\/\/[^\s/]+/.test(hubUrl))
    problems.push(`--hub "${hubUrl}" is not an http(s) URL`);
  if (hubToken !== undefined && hubUrl === undefined) problems.push('--hub-token needs --hub');

  const timezone = flags.timezone ?? file?.timezone;
  if (timezone !== undefined && timezone !== 'UTC' && !io.timeZones.includes(timezone)) {
    problems.push(`--timezone "${timezone}" is not an IANA time zone (e.g. Europe/London)`);
  }
  const locale = flags.locale ?? file?.locale;
  if (locale !== undefined && !/^[a-z]{2,3}_[A-Z]{2}(\.UTF-8)?(@[a-z]+)?$/.test(locale)) {
    problems.push(`--locale "${locale}" is not a locale (e.g. en_GB.UTF-8)`);
  }

  if (problems.length > 0) {
    throw new UserError(`cannot configure the image:\n  ${problems.join('\n  ')}`, {
      hint: 'nothing was written; run `piot image configure --help` for the options',
    });
  }
  return {
    name: name!,
    tags,
    user: userName === undefined ? undefined : { name: userName, passwordHash },
    sshKeys: keys,
    wifi,
    wifiCountry,
    statics,
    repo: repo!,
    branch,
    ref,
    deployKey,
    repoHostKeys,
    hub: hubUrl === undefined ? undefined : { url: hubUrl, token: hubToken },
    timezone,
    locale: locale === undefined ? undefined : locale.includes('.') ? locale : `${locale}.UTF-8`,
    upgrade: flags.upgrade ?? file?.upgrade ?? false,
  };
}
