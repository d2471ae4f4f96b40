import type { NmConnection, NmWifi } from '../../sys/network-manager.js';
import { NETWORK_PREFIX } from './render.js';

/** What `piot network` shows. */
export interface NetworkReport {
  connections: (NmConnection & { piot: 'app' | 'image' | false })[];
  /** The active connections, the default route's first (NetworkManager lists it first). */
  active: string[];
  wifi: NmWifi[];
}

/**
 * Connections with who owns them (`app`: the agent's, from `.piot.yaml`; `image`: written by
 * `piot image configure` at first boot; false: not PioT's), and the Wi-Fi networks in range.
 */
export function networkReport(connections: NmConnection[], wifi: NmWifi[]): NetworkReport {
  const owner = (name: string) =>
    name.startsWith(NETWORK_PREFIX) ? 'app' : name.startsWith('piot-') ? 'image' : false;
  return {
    connections: connections
      .filter((c) => c.type !== 'loopback')
      .map((c) => ({ ...c, piot: owner(c.name) })),
    active: connections.filter((c) => c.active && c.type !== 'loopback').map((c) => c.name),
    wifi: wifi.filter((w) => w.ssid !== ''),
  };
}
