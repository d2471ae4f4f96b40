import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { filesystem, parseMounts } from './filesystem.js';
import { fixtureContext, PI4_STATFS, valueOf } from './test-context.js';

const mountpoints = (samples: Awaited<ReturnType<typeof filesystem.collect>>) => [
  ...new Set(samples.flatMap((s) => (s.labels?.mountpoint ? [s.labels.mountpoint] : []))),
];

describe('filesystem', () => {
  it('reports real filesystems only, with statfs sizes in bytes', async () => {
    const samples = await filesystem.collect(fixtureContext('pi4'));
    expect(mountpoints(samples)).toEqual([
      '/',
      '/boot/firmware',
      '/run',
      '/run/lock',
      '/run/user/1000',
    ]);
    const root = { mountpoint: '/', device: '/dev/mmcblk0p2', fstype: 'ext4' };
    expect(valueOf(samples, 'node_filesystem_avail_bytes', root)).toBe(6158188 * 4096);
    expect(valueOf(samples, 'node_filesystem_size_bytes', root)).toBe(7562176 * 4096);
    expect(valueOf(samples, 'node_filesystem_free_bytes', root)).toBe(6543210 * 4096);
    expect(valueOf(samples, 'node_filesystem_files_free', root)).toBe(1781923);
    expect(valueOf(samples, 'node_filesystem_readonly', root)).toBe(0);
    expect(valueOf(samples, 'node_filesystem_device_error', root)).toBe(0);
    const boot = { mountpoint: '/boot/firmware', fstype: 'vfat', device: '/dev/mmcblk0p1' };
    expect(valueOf(samples, 'node_filesystem_avail_bytes', boot)).toBe(936238 * 512);
    expect(valueOf(samples, 'piot_root_readonly')).toBe(0);
  });

  it('flags a root filesystem remounted read-only', async () => {
    const samples = await filesystem.collect(fixtureContext('pi4-readonly'));
    expect(valueOf(samples, 'piot_root_readonly')).toBe(1);
    expect(valueOf(samples, 'node_filesystem_readonly', { mountpoint: '/' })).toBe(1);
    expect(valueOf(samples, 'node_filesystem_readonly', { mountpoint: '/boot/firmware' })).toBe(0);
  });

  it('marks a filesystem statfs fails on instead of failing the collector', async () => {
    const ctx = fixtureContext('pi4', {
      statfs: (path) =>
        path.endsWith('firmware')
          ? Promise.reject(new Error('EIO'))
          : Promise.resolve(PI4_STATFS['/']!),
    });
    const samples = await filesystem.collect(ctx);
    const boot = { mountpoint: '/boot/firmware' };
    expect(valueOf(samples, 'node_filesystem_device_error', boot)).toBe(1);
    expect(
      samples.find(
        (s) =>
          s.name === 'node_filesystem_avail_bytes' && s.labels?.mountpoint === '/boot/firmware',
      ),
    ).toBeUndefined();
    expect(valueOf(samples, 'node_filesystem_device_error', { mountpoint: '/' })).toBe(0);
  });

  it('decodes octal escapes and keeps the last of stacked mounts', () => {
    const mounts = parseMounts(
      '/dev/sda1 /media/pi/My\\040Disk exfat rw,relatime 0 0\n' +
        '/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n' +
        'overlay / overlay rw,relatime,lowerdir=/media/root-ro,upperdir=/media/root-rw/overlay 0 0\n',
    );
    expect(mounts.map((m) => [m.mountpoint, m.fstype])).toEqual([
      ['/', 'overlay'],
      ['/media/pi/My Disk', 'exfat'],
    ]);
  });

  describe('without /proc/self', () => {
    let dir = '';
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('falls back to /proc/mounts', async () => {
      dir = await mkdtemp(join(tmpdir(), 'piot-mounts-'));
      await mkdir(join(dir, 'proc'));
      await writeFile(join(dir, 'proc/mounts'), '/dev/mmcblk0p2 / ext4 ro,noatime 0 0\n');
      const samples = await filesystem.collect(fixtureContext('pi4', { proc: join(dir, 'proc') }));
      expect(valueOf(samples, 'piot_root_readonly')).toBe(1);
    });

    it('reports nothing when there is no mount table', async () => {
      dir = await mkdtemp(join(tmpdir(), 'piot-mounts-'));
      expect(await filesystem.collect(fixtureContext('pi4', { proc: dir }))).toEqual([]);
    });
  });
});
