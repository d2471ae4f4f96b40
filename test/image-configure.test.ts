import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { run } from '../src/sys/process.js';
import { makePiImage } from './support/pi-image.js';

let dir: string;
let base: string;
const CLI = join(import.meta.dirname, '..', 'dist', 'piot.js');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'piot-configure-'));
  base = join(dir, 'base.img');
  await makePiImage(base);
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'k1', '-f', join(dir, 'k1')]);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const cli = (args: string[], options: { cwd?: string; input?: string } = {}) =>
  run(process.execPath, [CLI, ...args], { cwd: options.cwd ?? dir, input: options.input });

interface Configured {
  release: string;
  age: string;
  signing: string;
  keptIdentity: boolean;
  fleet: string | null;
}
const configured = (stdout: string) => JSON.parse(stdout) as Configured;

const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

let copies = 0;
async function copyOf(source = base): Promise<string> {
  const path = join(dir, `copy-${++copies}.img`);
  await run('cp', ['--sparse=always', source, path]);
  return path;
}

/** Reads files from the image's boot partition with mtools (independent of PioT's FAT code). */
async function bootFile(img: string, name: string): Promise<string> {
  const result = await run('mtype', ['-i', `${img}@@1M`, `::/${name}`]);
  if (result.code !== 0) throw new Error(`mtype ${name}: ${result.stderr}`);
  return result.stdout;
}

const GOOD = [
  ...['--device', 'kitchen', '--repo', 'https://git.example.com/app.git', '--no-fleet'],
];

describe('piot image configure', () => {
  it('writes the device, its keyfiles, secrets and first-boot hook into the boot partition', async () => {
    const img = await copyOf();
    const result = await cli(
      [
        'image',
        'configure',
        img,
        ...GOOD,
        '--user',
        'ada',
        '--password-stdin',
        ...['--ssh-key', join(dir, 'k1.pub'), '--wifi', 'IEEE:password', '--hidden-wifi', 'Attic'],
        ...['--wifi-country', 'gb', '--ip', 'eth0=192.168.1.50/24,192.168.1.1,1.1.1.1', '--json'],
      ],
      { input: 'sesame-street\n' },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = JSON.parse(result.stdout) as { age: string; signing: string; release: string };
    expect(out.release).toBe('bookworm');
    expect(out.age).toMatch(/^age1/);
    expect(await bootFile(img, 'cmdline.txt')).toBe(
      'console=serial0,115200 console=tty1 root=PARTUUID=5049f700-02 rootfstype=ext4 fsck.repair=yes rootwait systemd.run=/boot/firmware/piot/firstboot.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n',
    );
    expect(await bootFile(img, 'piot/backup/cmdline.txt')).toMatch(/rootwait\n$/);
    const home = await bootFile(img, 'piot/network/piot-wifi-ieee.nmconnection');
    expect(home).toContain('ssid=IEEE\n');
    // Stored as the derived key only: IEEE 802.11i's test vector for "password" on SSID "IEEE".
    expect(home).toContain(
      'psk=f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e\n',
    );
    expect(home).not.toMatch(/=password$/m);
    expect(home).toContain('autoconnect-priority=100');
    const attic = await bootFile(img, 'piot/network/piot-wifi-attic.nmconnection');
    expect(attic).toMatch(/hidden=true\n/);
    expect(attic).not.toContain('[wifi-security]');
    expect(attic).toContain('autoconnect-priority=90');
    const eth = await bootFile(img, 'piot/network/piot-eth0.nmconnection');
    expect(eth).toContain('interface-name=eth0\n');
    expect(eth).toContain('address1=192.168.1.50/24,192.168.1.1\n');
    expect(eth).toContain('dns=1.1.1.1;\n');
    const settings = await bootFile(img, 'piot/settings.env');
    expect(settings).toMatch(/^PIOT_PASSWORD_HASH='\$6\$/m);
    expect(settings).not.toContain('sesame');
    expect(settings).toContain("PIOT_WIFI_COUNTRY='GB'");
    expect(await bootFile(img, 'piot/identity/age.key')).toMatch(/^AGE-SECRET-KEY-1/);
    expect(parse(await bootFile(img, 'piot/device.yaml'))).toEqual({
      version: 1,
      name: 'kitchen',
      repo: 'https://git.example.com/app.git',
    });
    const manifest = await bootFile(img, 'piot/manifest');
    expect(manifest).toContain('600 /etc/piot/identity/age.key identity/age.key\n');
    expect(manifest).toContain('755 /usr/lib/piot/piot-bootstrap.sh files/piot-bootstrap.sh\n');
    expect(await bootFile(img, 'piot/authorized_keys')).toMatch(/^ssh-ed25519 \S+ k1\n$/);
    // The FAT is consistent for the Pi's fsck, free-cluster count included.
    await run('dd', [`if=${img}`, `of=${img}.fat`, 'bs=1M', 'skip=1', 'count=40', 'status=none']);
    const fsck = await run('fsck.fat', ['-n', `${img}.fat`]);
    expect(fsck.stdout + fsck.stderr).not.toMatch(/wrong|differ|corrupt/i);
    expect(fsck.code).toBe(0);
  });

  it('is idempotent: configuring twice keeps the identity, one hook and the original backup', async () => {
    const img = await copyOf();
    const first = configured((await cli(['image', 'configure', img, ...GOOD, '--json'])).stdout);
    const files = async () =>
      Promise.all(
        [
          'cmdline.txt',
          'piot/device.yaml',
          'piot/manifest',
          'piot/backup/cmdline.txt',
          'piot/identity/age.key',
        ].map((f) => bootFile(img, f)),
      );
    const before = await files();
    const second = configured((await cli(['image', 'configure', img, ...GOOD, '--json'])).stdout);
    expect(second.age).toBe(first.age);
    expect(second.signing).toBe(first.signing);
    expect(second.keptIdentity).toBe(true);
    expect(await files()).toEqual(before);
    expect(before[0]!.match(/systemd\.run=/g)).toHaveLength(1);
  });

  it('records the device and its public keys in .piot/fleet.yaml of the app repository', async () => {
    const repo = join(dir, 'app');
    await mkdir(join(repo, '.piot'), { recursive: true });
    await writeFile(join(repo, '.piot.yaml'), 'version: 1\napp: demo\n');
    await writeFile(
      join(repo, '.piot', 'fleet.yaml'),
      '# my fleet\nversion: 1\ndevices:\n  hall: {tags: [door]}\n',
    );
    const img = await copyOf();
    const result = await cli(
      [
        'image',
        'configure',
        img,
        '--device',
        'kitchen',
        '--tags',
        'sensors,ground-floor',
        '--repo',
        'https://git.example.com/a.git',
        '--json',
      ],
      { cwd: repo },
    );
    expect(result.code).toBe(0);
    const out = configured(result.stdout);
    expect(out.fleet).toBe('added');
    const text = await readFile(join(repo, '.piot', 'fleet.yaml'), 'utf8');
    expect(text).toMatch(/^# my fleet\n/);
    expect((parse(text) as { devices: unknown }).devices).toEqual({
      hall: { tags: ['door'] },
      kitchen: { tags: ['sensors', 'ground-floor'], age: out.age, signing: out.signing },
    });
    expect((await cli(['validate', repo])).code).toBe(0);
  });

  it('configures a mounted boot partition directory (a card written by Raspberry Pi Imager)', async () => {
    const boot = join(dir, 'bootfs');
    await mkdir(boot, { recursive: true });
    await writeFile(join(boot, 'cmdline.txt'), 'console=tty1 root=PARTUUID=1-02 rootwait\n');
    await writeFile(join(boot, 'config.txt'), '[all]\n');
    await writeFile(join(boot, 'user-data'), '#cloud-config\n');
    const result = await cli(['image', 'configure', boot, ...GOOD, '--json']);
    expect(result.code).toBe(0);
    expect(configured(result.stdout).release).toBe('trixie');
    expect(await readFile(join(boot, 'cmdline.txt'), 'utf8')).toMatch(/rootwait systemd\.run=/);
    expect(await readFile(join(boot, 'piot', 'device.yaml'), 'utf8')).toContain('name: kitchen');
  });

  it("gives a private repository's deploy key and its server's host key to the device", async () => {
    const boot = join(dir, 'bootfs-private');
    await mkdir(boot, { recursive: true });
    await writeFile(join(boot, 'cmdline.txt'), 'console=tty1 root=PARTUUID=1-02 rootwait\n');
    await writeFile(join(boot, 'config.txt'), '[all]\n');
    const hostKey = (await readFile(join(dir, 'k1.pub'), 'utf8')).trim();
    await writeFile(
      join(dir, 'keyscan'),
      `# git.example.com:2222 SSH-2.0\n[git.example.com]:2222 ${hostKey}\n`,
    );
    const result = await cli([
      ...['image', 'configure', boot, '--device', 'kitchen', '--no-fleet'],
      ...['--repo', 'ssh://git@git.example.com:2222/app.git', '--deploy-key', join(dir, 'k1')],
      ...['--repo-host-key-file', join(dir, 'keyscan')],
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const piot = (name: string) => readFile(join(boot, 'piot', name), 'utf8');
    expect(parse(await piot('device.yaml'))).toMatchObject({
      deploy_key: '/etc/piot/identity/deploy_key',
    });
    expect(await piot('identity/deploy_key')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    expect(await piot('known_hosts')).toBe(
      `# Written by piot image configure --repo-host-key.\n[git.example.com]:2222 ${hostKey}\n`,
    );
    const manifest = await piot('manifest');
    expect(manifest).toContain('600 /etc/piot/identity/deploy_key identity/deploy_key\n');
    expect(manifest).toContain('644 /etc/piot/known_hosts known_hosts\n');

    // The same from a provisioning file.
    await writeFile(
      join(dir, 'private.yaml'),
      `version: 1\ndevice: hall\nrepo: ssh://git@git.example.com:2222/app.git\ndeploy_key: ${join(dir, 'k1')}\nrepo_host_keys: ["[git.example.com]:2222 ${hostKey}"]\n`,
    );
    const fromFile = await cli([
      'image',
      'configure',
      boot,
      '--from',
      join(dir, 'private.yaml'),
      '--no-fleet',
    ]);
    expect(fromFile.stderr).toBe('');
    expect(await piot('known_hosts')).toContain(`[git.example.com]:2222 ${hostKey}\n`);
  });

  it('configures an .img.xz into --out and leaves the .xz alone', async () => {
    const xz = join(dir, 'compressed.img.xz');
    await run('sh', ['-c', `xz -T1 -0 -c ${base} > ${xz}`]);
    const hash = await sha256(xz);
    const out = join(dir, 'from-xz.img');
    const result = await cli(['image', 'configure', xz, '--out', out, ...GOOD]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(await bootFile(out, 'piot/device.yaml')).toContain('name: kitchen');
    expect(await sha256(xz)).toBe(hash);
  });
});

describe('piot flash --device', () => {
  it('flashes a configured copy: the card boots as the device, the image stays as it was', async () => {
    const xz = join(dir, 'flash-source.img.xz');
    await run('sh', ['-c', `xz -T1 -0 -c ${base} > ${xz}`]);
    const hash = await sha256(xz);
    const card = join(dir, 'card.img');
    const result = await cli([
      'flash',
      xz,
      card,
      '--device',
      'hall',
      '--repo',
      'https://git.example.com/a.git',
      '--no-fleet',
      '--json',
    ]);
    expect(result.code).toBe(0);
    const flashed = JSON.parse(result.stdout) as { verified: boolean; target: string };
    expect(flashed).toMatchObject({ verified: true, target: card });
    expect(result.stderr).toContain('configured');
    expect(await bootFile(card, 'piot/device.yaml')).toContain('name: hall');
    expect(await bootFile(card, 'cmdline.txt')).toContain(
      'systemd.run=/boot/firmware/piot/firstboot.sh',
    );
    expect(await sha256(xz)).toBe(hash);
  });

  it('checks the device settings before writing anything to the card', async () => {
    const card = join(dir, 'untouched-card.img');
    const result = await cli([
      'flash',
      base,
      card,
      '--device',
      'hall',
      '--repo',
      'https://git.example.com/a.git',
      '--wifi',
      'Home:short',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/passphrase for "Home" is 5 characters/);
    expect(await readFile(card).catch(() => 'absent')).toBe('absent');
  });
});

describe('piot image configure refuses bad input and leaves the image byte for byte unchanged', () => {
  const gpt = async (path: string) => {
    await writeFile(path, '');
    await truncate(path, 8 * 1024 * 1024);
    await run('sfdisk', ['-q', path], { input: 'label: gpt\nstart=2048, size=4096, type=L\n' });
  };
  const cases: {
    name: string;
    image?: (path: string) => Promise<void>;
    args?: string[];
    error: RegExp;
  }[] = [
    {
      name: 'a file that is not an image',
      image: (p) => writeFile(p, 'hello\n'.repeat(200)),
      error: /is not a disk image: it has no partition table/,
    },
    {
      name: 'a truncated image',
      image: async (p) => truncate(p, 45 * 1024 * 1024),
      error: /is truncated: partition 2 ends at byte 51380224 but the file has 47185920/,
    },
    { name: 'a GPT disk', image: gpt, error: /is a GPT disk/ },
    {
      name: 'missing boot files',
      image: (p) => makePiImage(p, { bootFiles: { 'config.txt': '[all]\n' } }),
      error: /the boot partition of .* has no cmdline\.txt/,
    },
    { name: 'a read-only file', image: (p) => chmod(p, 0o444), error: /is read-only \(mode 444\)/ },
    {
      name: 'an SSID longer than 32 bytes',
      args: ['--wifi-country', 'GB', '--wifi', `${'x'.repeat(33)}:password1`],
      error: /is 33 bytes; an SSID has 1 to 32/,
    },
    {
      name: 'a passphrase of 7 characters',
      args: ['--wifi-country', 'GB', '--wifi', 'Home:short12'.slice(0, 12)],
      error: /passphrase for "Home" is 7 characters; WPA needs 8 to 63/,
    },
    {
      name: 'a passphrase of 64 characters that is not hex',
      args: ['--wifi-country', 'GB', '--wifi', `Home:${'z'.repeat(64)}`],
      error: /is 64 characters; WPA needs 8 to 63/,
    },
    {
      name: 'an unknown country',
      args: ['--wifi-country', 'XX', '--wifi', 'Home:password1'],
      error: /--wifi-country "XX" is not an ISO 3166 country code/,
    },
    {
      name: 'Wi-Fi without a country',
      args: ['--wifi', 'Home:password1'],
      error: /--wifi-country is required with Wi-Fi/,
    },
    {
      name: 'a bad IP address',
      args: ['--ip', 'eth0=300.1.2.3/24'],
      error: /"300\.1\.2\.3\/24" is not an IPv4 address with a prefix/,
    },
    {
      name: 'a gateway outside the subnet',
      args: ['--ip', 'eth0=192.168.1.5/24,10.0.0.1'],
      error: /gateway 10\.0\.0\.1 is outside 192\.168\.1\.5\/24/,
    },
    {
      name: 'a private key given as --ssh-key',
      args: ['--ssh-key', 'PRIVATE'],
      error: /this is a private key; give the \.pub file/,
    },
    {
      name: 'a bad device name',
      args: ['--device', 'Kitchen_1'],
      error: /--device "Kitchen_1" is not a hostname/,
    },
    {
      name: 'a host key that is not a known_hosts line',
      args: ['--repo-host-key', 'github.com ssh-ed25519 AAAA-not-base64'],
      error: /the ssh-ed25519 key for github\.com is not valid base64 of one/,
    },
    {
      name: 'an unknown time zone',
      args: ['--timezone', 'Mars/Olympus'],
      error: /"Mars\/Olympus" is not an IANA time zone/,
    },
    {
      name: 'a full boot partition',
      image: (p) => makePiImage(p, { fill: true }),
      error: /the boot partition of .* is full: \d+ bytes free, PioT needs \d+/,
    },
    {
      name: 'an image of an unknown release',
      image: (p) => makePiImage(p, { codename: 'bullseye' }),
      error: /is Debian\/Raspberry Pi OS "bullseye"/,
    },
    {
      name: 'an .img.xz without --out',
      image: async (p) => {
        await run('sh', ['-c', `xz -0 -c ${base} > ${p}.tmp && mv ${p}.tmp ${p}`]);
      },
      error: /is compressed \(\.xz\)/,
    },
  ];

  it.each(cases)('$name', async ({ image, args = [], error }) => {
    const img = await copyOf();
    if (image) await image(img);
    const hash = await sha256(img);
    const resolved = args.map((a) => (a === 'PRIVATE' ? join(dir, 'k1') : a));
    const flags = [...GOOD];
    const device = resolved.indexOf('--device');
    if (device >= 0) flags.splice(0, 2);
    const result = await cli(['image', 'configure', img, ...flags, ...resolved]);
    expect(result.stderr).toMatch(error);
    expect(result.code).not.toBe(0);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await sha256(img)).toBe(hash);
    await chmod(img, 0o644);
  });
});

// Keeps the helper honest: the FAT reader agrees with mtools about free space.
it('counts free FAT32 space as mtools does', async () => {
  const { open } = await import('node:fs/promises');
  const { fatFreeBytes } = await import('../src/image/fat.js');
  const handle = await open(base, 'r');
  const ours = await fatFreeBytes(handle, 1024 * 1024);
  await handle.close();
  const minfo = await run('mdir', ['-i', `${base}@@1M`, '::/']);
  const theirs = Number(/([\d ]+) bytes free/.exec(minfo.stdout)![1]!.replace(/ /g, ''));
  expect(ours).toBe(theirs);
  void promisify;
});
