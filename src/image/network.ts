import { pbkdf2Sync } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { UserError } from '../errors.js';

/** A Wi-Fi network for the device; `psk` is the passphrase (absent for an open network). */
export interface WifiNetwork {
  ssid: string;
  psk?: string;
  hidden: boolean;
  /** NetworkManager's autoconnect priority: higher is tried first. */
  priority: number;
}

/** A static IPv4 setting for one interface. */
export interface StaticIpv4 {
  iface: string;
  /** Address with prefix, e.g. 192.168.1.50/24. */
  address: string;
  gateway?: string;
  dns: string[];
}

const IFACE = /^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/;

/** The WPA pre-shared key NetworkManager and wpa_supplicant derive from a passphrase (IEEE 802.11i). */
export function wpaPsk(ssid: string, passphrase: string): string {
  return pbkdf2Sync(passphrase, Buffer.from(ssid, 'utf8'), 4096, 32, 'sha1').toString('hex');
}

/** Problems with a Wi-Fi network as given on the command line (`where` names the flag). */
export function checkWifi(wifi: WifiNetwork, where: string): string[] {
  const problems: string[] = [];
  const ssidBytes = Buffer.byteLength(wifi.ssid, 'utf8');
  if (ssidBytes < 1 || ssidBytes > 32) {
    problems.push(`${where}: SSID "${wifi.ssid}" is ${ssidBytes} bytes; an SSID has 1 to 32`);
  }
  if (/[\n\r\0]/.test(wifi.ssid)) problems.push(`${where}: SSID contains a line break or NUL`);
  const psk = wifi.psk;
  if (psk !== undefined && !/^[0-9a-fA-F]{64}$/.test(psk)) {
    if (!/^[\x20-\x7e]*$/.test(psk)) {
      problems.push(
        `${where}: the passphrase for "${wifi.ssid}" has characters outside printable ASCII`,
      );
    } else if (psk.length < 8 || psk.length > 63) {
      problems.push(
        `${where}: the passphrase for "${wifi.ssid}" is ${psk.length} characters; WPA needs 8 to 63 (or 64 hex digits)`,
      );
    }
  }
  return problems;
}

/** `ADDRESS/PREFIX`: problems, if any. */
function checkCidr(value: string, where: string): string[] {
  const match = /^(.+)\/(\d{1,2})$/.exec(value);
  if (!match || !isIPv4(match[1]!) || Number(match[2]) < 1 || Number(match[2]) > 32) {
    return [`${where}: "${value}" is not an IPv4 address with a prefix (e.g. 192.168.1.50/24)`];
  }
  return [];
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

/** Problems with a static IPv4 setting. */
export function checkStaticIpv4(ip: StaticIpv4, where: string): string[] {
  const problems: string[] = [];
  if (!IFACE.test(ip.iface)) problems.push(`${where}: "${ip.iface}" is not an interface name`);
  const cidr = checkCidr(ip.address, where);
  problems.push(...cidr);
  if (ip.gateway !== undefined) {
    if (!isIPv4(ip.gateway)) {
      problems.push(`${where}: gateway "${ip.gateway}" is not an IPv4 address`);
    } else if (cidr.length === 0) {
      const [addr, prefix] = ip.address.split('/') as [string, string];
      const mask = Number(prefix) === 0 ? 0 : (~0 << (32 - Number(prefix))) >>> 0;
      if ((ipToNumber(addr) & mask) >>> 0 !== (ipToNumber(ip.gateway) & mask) >>> 0) {
        problems.push(`${where}: gateway ${ip.gateway} is outside ${ip.address}`);
      }
    }
  }
  for (const dns of ip.dns) {
    if (!isIPv4(dns)) problems.push(`${where}: DNS server "${dns}" is not an IPv4 address`);
  }
  return problems;
}

/** Parses `IFACE=ADDRESS/PREFIX[,GATEWAY[,DNS...]]`. */
export function parseStaticIpv4(value: string): StaticIpv4 {
  const eq = value.indexOf('=');
  if (eq < 1) {
    throw new UserError(`--ip ${value}: expected IFACE=ADDRESS/PREFIX[,GATEWAY[,DNS...]]`, {
      hint: 'e.g. --ip wlan0=192.168.1.50/24,192.168.1.1,1.1.1.1',
    });
  }
  const [address = '', gateway, ...dns] = value.slice(eq + 1).split(',');
  return { iface: value.slice(0, eq), address, gateway: gateway || undefined, dns };
}

/** Parses `SSID[:PASSPHRASE]`; `\:` keeps a colon in the SSID. */
export function parseWifi(
  value: string,
  options: { hidden: boolean; priority: number },
): WifiNetwork {
  let ssid = '';
  let i = 0;
  for (; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && value[i + 1] === ':') {
      ssid += ':';
      i++;
    } else if (c === ':') break;
    else ssid += c;
  }
  const psk = i < value.length ? value.slice(i + 1) : undefined;
  return { ssid, psk, ...options };
}

/**
 * A connection name from a label, unique among `taken`: NetworkManager keyfile names PioT
 * owns start with `prefix` (`piot-` for the image's, `piot-app-` for the agent's).
 */
export function connectionName(label: string, taken: Set<string>, prefix = 'piot-'): string {
  const base = `${prefix}${
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'net'
  }`;
  let name = base;
  for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
  taken.add(name);
  return name;
}

/** A static address (without interface) as a keyfile's [ipv4] section needs it. */
export type Ipv4Setting = Omit<StaticIpv4, 'iface'>;

function ipv4Section(ip: Ipv4Setting | undefined): string[] {
  if (!ip) return ['[ipv4]', 'method=auto', ''];
  const lines = ['[ipv4]', 'method=manual'];
  lines.push(`address1=${ip.address}${ip.gateway ? `,${ip.gateway}` : ''}`);
  if (ip.dns.length > 0) lines.push(`dns=${ip.dns.join(';')};`);
  return [...lines, ''];
}

/** A NetworkManager keyfile: its file name and contents (written 0600 on the device). */
export interface Keyfile {
  name: string;
  content: string;
}

/**
 * The keyfile of one Wi-Fi connection named `id` (the file is `<id>.nmconnection`), bound to
 * `iface` if given. The passphrase is stored as the derived 256-bit key, never in clear.
 */
export function wifiKeyfile(
  id: string,
  net: WifiNetwork,
  options: { ipv4?: Ipv4Setting; iface?: string } = {},
): Keyfile {
  const lines = [
    '[connection]',
    `id=${id}`,
    'type=wifi',
    ...(options.iface ? [`interface-name=${options.iface}`] : []),
    'autoconnect=true',
    `autoconnect-priority=${net.priority}`,
    '',
    '[wifi]',
    'mode=infrastructure',
    `ssid=${keyfileString(net.ssid)}`,
    ...(net.hidden ? ['hidden=true'] : []),
    '',
  ];
  if (net.psk !== undefined) {
    const psk = /^[0-9a-fA-F]{64}$/.test(net.psk)
      ? net.psk.toLowerCase()
      : wpaPsk(net.ssid, net.psk);
    lines.push('[wifi-security]', 'key-mgmt=wpa-psk', `psk=${psk}`, '');
  }
  lines.push(...ipv4Section(options.ipv4), '[ipv6]', 'method=auto', '');
  return { name: `${id}.nmconnection`, content: lines.join('\n') };
}

/** The keyfile of a wired connection named `id` with a static address, bound to its interface. */
export function ethernetKeyfile(id: string, ip: StaticIpv4): Keyfile {
  const lines = [
    '[connection]',
    `id=${id}`,
    'type=ethernet',
    `interface-name=${ip.iface}`,
    'autoconnect=true',
    'autoconnect-priority=100',
    '',
    '[ethernet]',
    '',
    ...ipv4Section(ip),
    '[ipv6]',
    'method=auto',
    '',
  ];
  return { name: `${id}.nmconnection`, content: lines.join('\n') };
}

/**
 * NetworkManager keyfiles for the Wi-Fi networks and static settings, deterministic for the
 * same input. A static setting on a wireless interface (wlan*) applies to every Wi-Fi
 * network; on any other interface it becomes a wired connection bound to that interface.
 */
export function renderKeyfiles(wifi: WifiNetwork[], statics: StaticIpv4[]): Keyfile[] {
  const taken = new Set<string>();
  const wirelessStatic = statics.find((s) => s.iface.startsWith('wl'));
  const files = wifi.map((net) =>
    wifiKeyfile(connectionName(`wifi-${net.ssid}`, taken), net, {
      ipv4: wirelessStatic,
      iface: wirelessStatic?.iface,
    }),
  );
  for (const ip of statics.filter((s) => !s.iface.startsWith('wl')))
    files.push(ethernetKeyfile(connectionName(ip.iface, taken), ip));
  return files;
}

/**
 * The SSID as NetworkManager writes it: plain when it is simple printable text, otherwise as
 * its list of bytes (`ssid=72;105;`), which keyfiles read back exactly.
 */
function keyfileString(value: string): string {
  if (/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !/[;\\]/.test(value)) return value;
  return [...Buffer.from(value, 'utf8')].map((b) => `${b};`).join('');
}
