import { describe, expect, it } from 'vitest';
import { checkStaticIpv4, checkWifi, parseWifi, renderKeyfiles, wpaPsk } from './network.js';
import { FIRST_BOOT_ARGS, withFirstBoot, withoutFirstBoot } from './cmdline.js';

describe('Wi-Fi and static IPv4 settings', () => {
  it('derives the WPA key as IEEE 802.11i does (its published test vectors)', () => {
    expect(wpaPsk('IEEE', 'password')).toBe(
      'f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e',
    );
    expect(wpaPsk('ThisIsASSID', 'ThisIsAPassword')).toBe(
      '0dc0d6eb90555ed6419756b9a15ec3e3209b63df707dd508d14581f8982721af',
    );
  });

  it('splits SSID and passphrase at the first colon; \\: keeps a colon in the SSID', () => {
    expect(parseWifi('Home:pass:word', { hidden: false, priority: 1 })).toMatchObject({
      ssid: 'Home',
      psk: 'pass:word',
    });
    expect(parseWifi('Cafe\\:1:secret99', { hidden: true, priority: 1 })).toMatchObject({
      ssid: 'Cafe:1',
      psk: 'secret99',
      hidden: true,
    });
    expect(parseWifi('Open', { hidden: false, priority: 1 }).psk).toBeUndefined();
  });

  it('names what is wrong with an SSID, a passphrase or an address', () => {
    const net = (ssid: string, psk?: string) => ({ ssid, psk, hidden: false, priority: 1 });
    expect(checkWifi(net(''), '--wifi')).toEqual([
      '--wifi: SSID "" is 0 bytes; an SSID has 1 to 32',
    ]);
    expect(checkWifi(net('ü'.repeat(17)), '--wifi')[0]).toMatch(/is 34 bytes/);
    expect(checkWifi(net('a', 'sécurité1'), '--wifi')[0]).toMatch(/outside printable ASCII/);
    expect(checkWifi(net('a', 'A'.repeat(64)), '--wifi')).toEqual([]);
    expect(
      checkStaticIpv4(
        { iface: 'eth0', address: '10.0.0.5/8', gateway: '10.9.9.9', dns: ['1.1.1.1'] },
        'x',
      ),
    ).toEqual([]);
    expect(checkStaticIpv4({ iface: 'eth 0', address: '10.0.0.5', dns: ['dns'] }, 'x')).toEqual([
      'x: "eth 0" is not an interface name',
      'x: "10.0.0.5" is not an IPv4 address with a prefix (e.g. 192.168.1.50/24)',
      'x: DNS server "dns" is not an IPv4 address',
    ]);
  });

  it('renders deterministic keyfiles: Wi-Fi with the static wlan0 address, wired for eth0', () => {
    const wifi = [
      { ssid: 'Home', psk: 'password1', hidden: false, priority: 100 },
      { ssid: 'a;b', hidden: true, priority: 90 },
    ];
    const statics = [
      { iface: 'wlan0', address: '192.168.1.9/24', gateway: '192.168.1.1', dns: ['9.9.9.9'] },
      { iface: 'eth1', address: '10.1.1.2/16', dns: [] },
    ];
    const files = renderKeyfiles(wifi, statics);
    expect(renderKeyfiles(wifi, statics)).toEqual(files);
    expect(files.map((f) => f.name)).toEqual([
      'piot-wifi-home.nmconnection',
      'piot-wifi-a-b.nmconnection',
      'piot-eth1.nmconnection',
    ]);
    expect(files[0]!.content).toContain(`psk=${wpaPsk('Home', 'password1')}\n`);
    expect(files[0]!.content).toContain('interface-name=wlan0\n');
    expect(files[0]!.content).toContain('address1=192.168.1.9/24,192.168.1.1\ndns=9.9.9.9;\n');
    // An SSID with a ";" is written as its bytes, as NetworkManager itself does.
    expect(files[1]!.content).toContain('ssid=97;59;98;\nhidden=true\n');
    expect(files[2]!.content).toContain('type=ethernet\ninterface-name=eth1\n');
    expect(files[2]!.content).toContain('method=manual\naddress1=10.1.1.2/16\n');
  });
});

describe('the first-boot hook on the kernel command line', () => {
  const original = 'console=serial0,115200 console=tty1 root=PARTUUID=1-02 rootwait quiet';
  it('is added once and removed exactly', () => {
    const hooked = withFirstBoot(original);
    expect(hooked).toBe(`${original} ${FIRST_BOOT_ARGS.join(' ')}`);
    expect(withFirstBoot(hooked)).toBe(hooked);
    expect(withoutFirstBoot(hooked)).toBe(original);
  });
  it("replaces another tool's systemd.run hook (Raspberry Pi Imager's firstrun.sh)", () => {
    const imager = `${original} systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target`;
    expect(withFirstBoot(imager)).toBe(withFirstBoot(original));
  });
});
