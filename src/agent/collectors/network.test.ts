import { describe, expect, it } from 'vitest';
import { network } from './network.js';
import { familyNames, fixtureContext, valueOf } from './test-context.js';

const interfaces = () => ({
  lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
  wlan0: [
    { address: '192.168.1.42', family: 'IPv4', internal: false },
    { address: 'fe80::e65f:1ff:fe2a:9c10', family: 6, internal: false },
  ],
});

describe('network', () => {
  it('reads traffic, link state, addresses and Wi-Fi signal on a Pi 4', async () => {
    const samples = await network.collect(fixtureContext('pi4', { networkInterfaces: interfaces }));
    const wlan0 = { device: 'wlan0' };
    expect(valueOf(samples, 'node_network_receive_bytes_total', wlan0)).toBe(18475213);
    expect(valueOf(samples, 'node_network_receive_multicast_total', wlan0)).toBe(987);
    expect(valueOf(samples, 'node_network_transmit_bytes_total', wlan0)).toBe(2367894);
    expect(valueOf(samples, 'node_network_transmit_packets_total', wlan0)).toBe(11348);
    expect(valueOf(samples, 'node_network_receive_bytes_total', { device: 'lo' })).toBe(29852);
    expect(valueOf(samples, 'node_network_up', wlan0)).toBe(1);
    expect(valueOf(samples, 'node_network_up', { device: 'eth0' })).toBe(0);
    expect(valueOf(samples, 'node_network_up', { device: 'lo' })).toBe(0);
    expect(valueOf(samples, 'piot_wifi_link_quality', wlan0)).toBe(58);
    expect(valueOf(samples, 'piot_wifi_signal_dbm', wlan0)).toBe(-52);
    // brcmfmac reports no noise (-256): no sample rather than a bogus one.
    expect(samples.filter((s) => s.name === 'piot_wifi_noise_dbm')).toEqual([]);
    expect(
      samples.filter((s) => s.name === 'piot_network_address_info').map((s) => s.labels),
    ).toEqual([
      { device: 'wlan0', address: '192.168.1.42', family: 'IPv4' },
      { device: 'wlan0', address: 'fe80::e65f:1ff:fe2a:9c10', family: 'IPv6' },
    ]);
    expect(samples.filter((s) => s.name === 'node_network_receive_bytes_total')).toHaveLength(3);
    expect(samples.filter((s) => s.labels?.device === 'eth0' && s.type === 'counter')).toHaveLength(
      16,
    );
  });

  it('has no Wi-Fi metrics in a VM without wireless', async () => {
    const samples = await network.collect(fixtureContext('vm'));
    expect(familyNames(samples).filter((n) => n.includes('wifi'))).toEqual([]);
    expect(valueOf(samples, 'node_network_receive_bytes_total', { device: 'eth0' })).toBe(41244310);
    expect(valueOf(samples, 'node_network_up', { device: 'eth0' })).toBe(1);
  });
});
