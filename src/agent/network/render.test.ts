import { describe, expect, it } from 'vitest';
import { wpaPsk } from '../../image/network.js';
import type { PiotYaml } from '../../spec/schema.js';
import { releaseConfig } from '../release.js';
import { planNetwork } from './plan.js';
import { checkTimeoutMs, networkSecretNames, renderNetwork } from './render.js';
import { networkReport } from './report.js';

function parseYamlSpec(text: string): PiotYaml {
  const config = releaseConfig(Buffer.from(text), undefined);
  if (!config.ok) throw new Error(config.problems.join('\n'));
  return config.spec;
}

describe('renderNetwork', () => {
  const spec = parseYamlSpec(`version: 1
app: demo
secrets: [HOME_PSK]
network:
  check_timeout: 45s
  wifi:
    - {ssid: Home, psk: "secret:HOME_PSK", priority: 10}
    - {ssid: Café Guest, hidden: true, ipv4: {address: 10.1.1.5/24, dns: [1.1.1.1]}}
  ethernet:
    - {ipv4: {address: 192.168.1.50/24, gateway: 192.168.1.1}}
    - {interface: eth1, ipv4: {address: 10.0.0.2/8}}
`);

  it('renders one piot-app- keyfile per network, deterministic, with the secret psk derived', () => {
    expect(networkSecretNames(spec)).toEqual(['HOME_PSK']);
    const files = renderNetwork(spec, new Map([['HOME_PSK', 'home-passphrase']]));
    expect(Object.keys(files)).toEqual([
      'piot-app-wifi-home.nmconnection',
      'piot-app-wifi-caf-guest.nmconnection',
      'piot-app-eth0.nmconnection',
      'piot-app-eth1.nmconnection',
    ]);
    const home = files['piot-app-wifi-home.nmconnection']!;
    expect(home).toContain(`psk=${wpaPsk('Home', 'home-passphrase')}`);
    expect(home).not.toContain('home-passphrase');
    expect(home).not.toContain('interface-name');
    const guest = files['piot-app-wifi-caf-guest.nmconnection']!;
    expect(guest).not.toContain('[wifi-security]');
    expect(guest).toMatch(
      /hidden=true[\s\S]*method=manual\naddress1=10\.1\.1\.5\/24\ndns=1\.1\.1\.1;/,
    );
    expect(files['piot-app-eth0.nmconnection']).toMatch(
      /id=piot-app-eth0\ntype=ethernet\ninterface-name=eth0\n[\s\S]*address1=192\.168\.1\.50\/24,192\.168\.1\.1\n/,
    );
    expect(renderNetwork(spec, new Map([['HOME_PSK', 'home-passphrase']]))).toEqual(files);
    expect(checkTimeoutMs(spec)).toBe(45_000);
  });

  it('refuses a passphrase secret that was not decrypted', () => {
    expect(() => renderNetwork(spec, new Map())).toThrow(/secret for the Wi-Fi network Home/);
  });

  it('renders nothing, with the default timeout, without a network section', () => {
    const bare = parseYamlSpec('version: 1\napp: demo\n');
    expect(renderNetwork(bare, new Map())).toEqual({});
    expect(checkTimeoutMs(bare)).toBe(120_000);
  });
});

describe('planNetwork', () => {
  it('removes, writes what differs, and yields nothing for the same files', () => {
    const disk = { 'piot-app-a.nmconnection': 'a', 'piot-app-b.nmconnection': 'b' };
    expect(planNetwork(disk, { ...disk })).toEqual([]);
    expect(
      planNetwork(disk, { 'piot-app-b.nmconnection': 'B', 'piot-app-c.nmconnection': 'c' }),
    ).toEqual([
      { action: 'remove', name: 'piot-app-a.nmconnection' },
      { action: 'write', name: 'piot-app-b.nmconnection', content: 'B' },
      { action: 'write', name: 'piot-app-c.nmconnection', content: 'c' },
    ]);
  });
});

describe('networkReport', () => {
  it("says which connections are PioT's and which are active", () => {
    const report = networkReport(
      [
        { name: 'piot-app-eth0', uuid: '1', type: 'ethernet', device: 'eth0', active: true },
        { name: 'piot-wifi-home', uuid: '2', type: 'wifi', device: '', active: false },
        { name: 'lo', uuid: '3', type: 'loopback', device: 'lo', active: true },
        { name: 'Wired connection 1', uuid: '4', type: 'ethernet', device: '', active: false },
      ],
      [
        { inUse: true, ssid: 'Home', signal: 70 },
        { inUse: false, ssid: '', signal: 20 },
      ],
    );
    expect(report.connections.map((c) => [c.name, c.piot])).toEqual([
      ['piot-app-eth0', 'app'],
      ['piot-wifi-home', 'image'],
      ['Wired connection 1', false],
    ]);
    expect(report.active).toEqual(['piot-app-eth0']);
    expect(report.wifi).toEqual([{ inUse: true, ssid: 'Home', signal: 70 }]);
  });
});
