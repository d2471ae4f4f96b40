import { mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { devNumber, isFlashCandidate, listDrives, type DrivePaths, type Drive } from './drives.js';

interface FixtureDisk {
  /** Where the disk sits under /sys/devices: its bus tells the transport. */
  devicePath: string;
  files: Record<string, string>;
}

// A laptop: NVMe system disk, a SATA data disk with LVM, a USB SD reader with a card,
// an empty USB reader, the built-in SD slot with an auto-mounted card, and a loop device.
const DISKS: Record<string, FixtureDisk> = {
  nvme0n1: {
    devicePath: 'pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1',
    files: {
      dev: '259:0',
      size: '1953525168',
      removable: '0',
      ro: '0',
      'device/model': 'Samsung SSD 980 PRO 1TB',
      'nvme0n1p1/partition': '1',
      'nvme0n1p1/dev': '259:1',
      'nvme0n1p1/size': '1048576',
      'nvme0n1p2/partition': '2',
      'nvme0n1p2/dev': '259:2',
      'nvme0n1p2/size': '1900000000',
      'nvme0n1p3/partition': '3',
      'nvme0n1p3/dev': '259:3',
      'nvme0n1p3/size': '16777216',
    },
  },
  sda: {
    devicePath: 'pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0/block/sda',
    files: {
      dev: '8:0',
      size: '3907029168',
      removable: '0',
      ro: '0',
      'device/vendor': 'ATA',
      'device/model': 'WDC WD20EZRZ',
      'sda1/partition': '1',
      'sda1/dev': '8:1',
      'sda1/size': '3907027120',
      'sda1/holders/dm-0': '',
    },
  },
  sdb: {
    devicePath: 'pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host1/target1:0:0/1:0:0:0/block/sdb',
    files: {
      dev: '8:16',
      size: '62333952',
      removable: '1',
      ro: '0',
      'device/vendor': 'Generic-',
      'device/model': 'SD/MMC/MS PRO',
      'sdb1/partition': '1',
      'sdb1/dev': '8:17',
      'sdb1/size': '1048576',
      'sdb2/partition': '2',
      'sdb2/dev': '8:18',
      'sdb2/size': '61283328',
    },
  },
  sdc: {
    devicePath: 'pci0000:00/0000:00:14.0/usb2/2-2/2-2:1.0/host2/target2:0:0/2:0:0:0/block/sdc',
    files: { dev: '8:32', size: '0', removable: '1', ro: '0', 'device/model': 'Card Reader' },
  },
  mmcblk0: {
    devicePath:
      'pci0000:00/0000:00:1c.0/0000:02:00.0/rtsx_pci_sdmmc.0/mmc_host/mmc0/mmc0:aaaa/block/mmcblk0',
    files: {
      dev: '179:0',
      size: '124735488',
      removable: '0',
      ro: '0',
      'device/name': 'SD64G',
      'mmcblk0p1/partition': '1',
      'mmcblk0p1/dev': '179:1',
      'mmcblk0p1/size': '1048576',
      'mmcblk0p2/partition': '2',
      'mmcblk0p2/dev': '179:2',
      'mmcblk0p2/size': '123000000',
    },
  },
  'dm-0': {
    devicePath: 'virtual/block/dm-0',
    files: { dev: '254:0', size: '3907027120', removable: '0', ro: '0', 'dm/name': 'vg-data' },
  },
  loop0: {
    devicePath: 'virtual/block/loop0',
    files: { dev: '7:0', size: '0', removable: '0', ro: '0' },
  },
};

const MOUNTS = `sysfs /sys sysfs rw,nosuid 0 0
proc /proc proc rw 0 0
/dev/nvme0n1p2 / ext4 rw,relatime 0 0
/dev/nvme0n1p1 /boot/efi vfat rw 0 0
tmpfs /run tmpfs rw 0 0
/dev/mapper/vg-data /srv/data ext4 rw 0 0
/dev/mmcblk0p1 /media/me/boot\\040fs vfat rw 0 0
/dev/mmcblk0p2 /media/me/rootfs ext4 rw 0 0
`;
const SWAPS = `Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
/dev/nvme0n1p3                          partition\t8388604\t\t0\t\t-2
/swapfile                               file\t\t1048572\t\t0\t\t-3
`;

function fixture(mounts = MOUNTS, swaps = SWAPS, edit?: (root: string) => void): DrivePaths {
  const root = mkdtempSync(join(tmpdir(), 'piot-sysfs-'));
  for (const [name, disk] of Object.entries(DISKS)) {
    const dir = join(root, 'sys/devices', disk.devicePath);
    for (const [file, content] of Object.entries(disk.files)) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), `${content}\n`);
    }
    mkdirSync(join(root, 'sys/block'), { recursive: true });
    symlinkSync(relative(join(root, 'sys/block'), dir), join(root, 'sys/block', name));
  }
  writeFileSync(join(root, 'mounts'), mounts);
  writeFileSync(join(root, 'swaps'), swaps);
  edit?.(root);
  return { sys: join(root, 'sys'), mounts: join(root, 'mounts'), swaps: join(root, 'swaps'), root };
}

const byName = (drives: Drive[]) => Object.fromEntries(drives.map((d) => [d.name, d]));

describe('listDrives', () => {
  it('describes each disk, skipping loop and device-mapper nodes', async () => {
    const drives = byName(await listDrives(fixture()));
    expect(Object.keys(drives).sort()).toEqual(['mmcblk0', 'nvme0n1', 'sda', 'sdb', 'sdc']);
    expect(drives.sdb).toMatchObject({
      path: '/dev/sdb',
      devNumber: '8:16',
      size: 62333952 * 512,
      removable: true,
      vendor: 'Generic-',
      model: 'SD/MMC/MS PRO',
      transport: 'usb',
      mounts: [],
      system: false,
    });
    expect(drives.sdb!.partitions.map((p) => [p.name, p.path, p.devNumber, p.size])).toEqual([
      ['sdb1', '/dev/sdb1', '8:17', 1048576 * 512],
      ['sdb2', '/dev/sdb2', '8:18', 61283328 * 512],
    ]);
    expect(drives.nvme0n1).toMatchObject({ transport: 'nvme', model: 'Samsung SSD 980 PRO 1TB' });
    expect(drives.sda).toMatchObject({ transport: 'sata', vendor: 'ATA', removable: false });
    expect(drives.mmcblk0).toMatchObject({ transport: 'mmc', model: 'SD64G', removable: false });
  });

  it('finds the system disk by /, /boot… and swap, and mounts through LVM holders', async () => {
    const drives = byName(await listDrives(fixture()));
    expect(drives.nvme0n1!.system).toBe(true);
    expect(drives.nvme0n1!.mounts.map((m) => `${m.device} ${m.mountpoint}`).sort()).toEqual([
      'nvme0n1p1 /boot/efi',
      'nvme0n1p2 /',
      'nvme0n1p3 [SWAP]',
    ]);
    expect(drives.sda!.mounts).toEqual([
      { device: 'dm-0', source: '/dev/mapper/vg-data', mountpoint: '/srv/data' },
    ]);
    expect(drives.sda!.system).toBe(false);
    expect(drives.mmcblk0!.mounts.map((m) => m.mountpoint)).toEqual([
      '/media/me/boot fs',
      '/media/me/rootfs',
    ]);
    expect(drives.mmcblk0!.system).toBe(false);
  });

  it('offers removable, USB and SD slot drives that do not hold the system', async () => {
    const drives = await listDrives(fixture());
    expect(drives.filter(isFlashCandidate).map((d) => d.name)).toEqual(['mmcblk0', 'sdb', 'sdc']);
  });

  it('a Pi booted from its SD card: mmcblk0 is the system, swap alone also counts', async () => {
    const piMounts = '/dev/mmcblk0p2 / ext4 rw 0 0\n/dev/mmcblk0p1 /boot/firmware vfat rw 0 0\n';
    const drives = byName(
      await listDrives(fixture(piMounts, 'Filename Type Size Used Priority\n')),
    );
    expect(drives.mmcblk0!.system).toBe(true);
    expect(isFlashCandidate(drives.mmcblk0!)).toBe(false);
    expect(drives.nvme0n1!.system).toBe(false);
    const swapOnly = byName(await listDrives(fixture('', SWAPS)));
    expect(swapOnly.nvme0n1!.system).toBe(true);
  });

  it('resolves a /dev/root mount by the device number of the root directory', async () => {
    const paths = fixture('/dev/root / ext4 rw 0 0\n', '', (root) => {
      const number = devNumber(statSync(root, { bigint: true }).dev);
      // The temp dir's real device number may equal a fixture one (254:0 is dm-0 here too).
      for (const [name, disk] of Object.entries(DISKS)) {
        if (disk.files.dev === number)
          writeFileSync(join(root, 'sys/block', name, 'dev'), '1:99\n');
      }
      writeFileSync(join(root, 'sys/block/sdb/sdb2/dev'), `${number}\n`);
    });
    const drives = byName(await listDrives(paths));
    expect(drives.sdb!.system).toBe(true);
    expect(drives.nvme0n1!.system).toBe(false);
  });

  it('decodes device numbers as glibc encodes them', () => {
    expect(devNumber((8n << 8n) | 16n)).toBe('8:16');
    expect(devNumber((259n << 8n) | 2n)).toBe('259:2');
    // Minors above 255 go in the high bits: 179:256 is mmcblk32.
    expect(devNumber((179n << 8n) | (256n << 12n))).toBe('179:256');
  });
});
