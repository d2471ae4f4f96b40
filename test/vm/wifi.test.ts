import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withVm } from './harness.js';

const KEYFILE = `[connection]
id=piot-lab
type=wifi
interface-name=wlan0
autoconnect=true

[wifi]
mode=infrastructure
ssid=PioT-Lab

[wifi-security]
key-mgmt=wpa-psk
psk=correct-horse-battery

[ipv4]
method=manual
address1=192.168.77.2/24

[ipv6]
method=disabled
`;

it('joins a simulated access point from wlan0 with a NetworkManager keyfile and reads the signal', async () => {
  await withVm('bookworm-amd64-full', async (vm) => {
    const script = readFileSync(join(import.meta.dirname, 'wifi-ap.sh'), 'utf8');
    await vm.sh('sudo bash -s PioT-Lab correct-horse-battery', { input: script });
    expect(await vm.sh('sudo iw dev')).toMatch(/Interface wlan0/);
    // The same kind of file Raspberry Pi Imager and PioT write: root-only, in system-connections.
    await vm.sh(
      'sudo install -m 600 /dev/stdin /etc/NetworkManager/system-connections/piot-lab.nmconnection && sudo nmcli connection reload',
      { input: KEYFILE },
    );
    await vm.waitFor(
      'wlan0 connected to PioT-Lab',
      async () =>
        /^wlan0:wifi:connected:piot-lab$/m.test(
          await vm.sh('nmcli -t -f DEVICE,TYPE,STATE,CONNECTION device'),
        ),
      90_000,
    );
    const link = await vm.sh('sudo iw dev wlan0 link');
    expect(link).toMatch(/SSID: PioT-Lab/);
    const dbm = Number(/signal: (-?\d+) dBm/.exec(link)?.[1]);
    expect(dbm).toBeLessThan(0);
    expect(dbm).toBeGreaterThan(-100);
    const listed = await vm.sh(
      'nmcli -t -f IN-USE,SSID,SIGNAL device wifi list ifname wlan0 --rescan no',
    );
    const signal = Number(/^\*:PioT-Lab:(\d+)$/m.exec(listed)?.[1]);
    expect(signal).toBeGreaterThan(0);
    console.log(`wlan0 on PioT-Lab: ${dbm} dBm, NetworkManager signal ${signal}%`);
  });
});
