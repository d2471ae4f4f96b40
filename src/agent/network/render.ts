import { parseDuration } from '../../spec/duration.js';
import type { PiotYaml } from '../../spec/schema.js';
import { connectionName, ethernetKeyfile, wifiKeyfile } from '../../image/network.js';
import { decryptSecrets, readAgeKey } from '../secrets.js';

/**
 * Keyfiles the agent writes start with this. First boot installs `piot image configure`'s
 * connections as `piot-*`; the agent adds and removes only files named `piot-app-*`.
 */
export const NETWORK_PREFIX = 'piot-app-';

/** Keyfile contents by file name. */
export type Keyfiles = Record<string, string>;

const DEFAULT_CHECK_TIMEOUT_MS = 120_000;

/** How long a new network has to reach the repository before it is reverted. */
export function checkTimeoutMs(spec: PiotYaml): number {
  const text = spec.network?.check_timeout;
  return (text && parseDuration(text)) || DEFAULT_CHECK_TIMEOUT_MS;
}

/** The secrets the release's Wi-Fi passphrases name (`psk: secret:NAME`). */
export function networkSecretNames(spec: PiotYaml): string[] {
  const names = (spec.network?.wifi ?? [])
    .map((w) => w.psk)
    .filter((psk): psk is string => psk?.startsWith('secret:') ?? false)
    .map((psk) => psk.slice('secret:'.length));
  return [...new Set(names)].sort();
}

/**
 * The keyfiles of a release's `network:` section, deterministic for the same input: one per
 * Wi-Fi network (any wireless device) and one per wired interface (default eth0). `secrets`
 * holds the decrypted values of the passphrases given as `secret:NAME`.
 */
export function renderNetwork(spec: PiotYaml, secrets: Map<string, string>): Keyfiles {
  const taken = new Set<string>();
  const files: Keyfiles = {};
  for (const wifi of spec.network?.wifi ?? []) {
    const psk = wifi.psk?.startsWith('secret:')
      ? secrets.get(wifi.psk.slice('secret:'.length))
      : wifi.psk;
    if (wifi.psk !== undefined && psk === undefined)
      throw new Error(`the secret for the Wi-Fi network ${wifi.ssid} was not decrypted`);
    const id = connectionName(`wifi-${wifi.ssid}`, taken, NETWORK_PREFIX);
    const file = wifiKeyfile(
      id,
      { ssid: wifi.ssid, psk, hidden: wifi.hidden ?? false, priority: wifi.priority ?? 0 },
      { ipv4: wifi.ipv4 && { ...wifi.ipv4, dns: wifi.ipv4.dns ?? [] } },
    );
    files[file.name] = file.content;
  }
  for (const wired of spec.network?.ethernet ?? []) {
    const iface = wired.interface ?? 'eth0';
    const file = ethernetKeyfile(connectionName(iface, taken, NETWORK_PREFIX), {
      iface,
      ...wired.ipv4,
      dns: wired.ipv4.dns ?? [],
    });
    files[file.name] = file.content;
  }
  return files;
}

/** The release's keyfiles, decrypting the passphrases it names (a SecretError if one cannot be). */
export async function desiredNetwork(
  spec: PiotYaml,
  releaseDir: string,
  device: { name: string; ageKeyFile: string },
): Promise<Keyfiles> {
  const names = networkSecretNames(spec);
  const secrets =
    names.length === 0
      ? new Map<string, string>()
      : await decryptSecrets(releaseDir, names, {
          name: device.name,
          ageKey: await readAgeKey(device.ageKeyFile),
        });
  return renderNetwork(spec, secrets);
}
