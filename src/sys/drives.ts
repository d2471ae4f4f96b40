import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UserError } from '../errors.js';
import { run } from './process.js';

/** Where the kernel describes block devices and mounts; tests point these at a fixture tree. */
export interface DrivePaths {
  /** sysfs, normally /sys (devices are read from its block/ directory). */
  sys: string;
  /** Mount table in /proc/mounts format. */
  mounts: string;
  /** Active swap in /proc/swaps format. */
  swaps: string;
  /** The root directory, whose device names a `/dev/root` mount (Raspberry Pi OS without initramfs). */
  root: string;
}

export const SYSTEM_DRIVE_PATHS: DrivePaths = {
  sys: '/sys',
  mounts: '/proc/mounts',
  swaps: '/proc/swaps',
  root: '/',
};

/** A mounted filesystem (or active swap) on a disk, a partition, or a device stacked on one. */
export interface Mount {
  /** Kernel name of the mounted device: sdb1, nvme0n1p2, dm-0. */
  device: string;
  /** As the mount table names it: /dev/sdb1, /dev/mapper/vg-root. */
  source: string;
  /** Where it is mounted, or "[SWAP]" for active swap. */
  mountpoint: string;
}

export interface Partition {
  name: string;
  path: string;
  /** "major:minor", to match a device node. */
  devNumber: string;
  size: number;
  mounts: Mount[];
}

export interface Drive {
  name: string;
  /** /dev/NAME */
  path: string;
  devNumber: string;
  /** Bytes (sectors × 512, as sysfs counts sectors); 0 for a reader without a card. */
  size: number;
  /** The kernel's removable flag (card readers, most USB sticks). */
  removable: boolean;
  readOnly: boolean;
  model?: string;
  vendor?: string;
  /** usb, mmc, nvme, sata, virtio when the device path tells; undefined otherwise. */
  transport?: string;
  partitions: Partition[];
  /** Every mount on the disk, its partitions and what is stacked on them (LVM, LUKS). */
  mounts: Mount[];
  /** Holds the running system: /, /boot, /boot/firmware, /usr, /var or active swap. */
  system: boolean;
}

export const SWAP = '[SWAP]';
const SYSTEM_MOUNTPOINTS = new Set(['/', '/boot', '/boot/firmware', '/usr', '/var', SWAP]);
// Not disks one would flash: loop and RAM devices, optical, floppy, eMMC boot areas.
const IGNORED = /^(?:(?:loop|ram|zram|sr|fd|md|dm-)\d+|mmcblk\d+(?:boot\d+|rpmb))$/;

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/** Undoes the octal escapes (\040 for a space) of /proc/mounts and /proc/swaps fields. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/** "major:minor" of a stat dev/rdev value, as sysfs writes it in its dev files. */
export function devNumber(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

function transportOf(name: string, devicePath: string): string | undefined {
  if (name.startsWith('mmcblk') || devicePath.includes('/mmc_host/')) return 'mmc';
  if (name.startsWith('nvme')) return 'nvme';
  if (devicePath.includes('/usb')) return 'usb';
  if (devicePath.includes('/virtio')) return 'virtio';
  if (devicePath.includes('/ata')) return 'sata';
  return undefined;
}

/** Devices stacked on `name` (LVM, LUKS), recursively, from its holders/ directory. */
async function holders(dir: string, sysBlock: string, seen = new Set<string>()): Promise<string[]> {
  const names: string[] = [];
  for (const holder of await list(join(dir, 'holders'))) {
    if (seen.has(holder)) continue;
    seen.add(holder);
    names.push(holder, ...(await holders(join(sysBlock, holder), sysBlock, seen)));
  }
  return names;
}

/** Mount table entries by kernel device name. */
async function mountsByDevice(paths: DrivePaths, sysBlock: string): Promise<Map<string, Mount[]>> {
  const mapperNames = new Map<string, string>();
  for (const name of await list(sysBlock)) {
    const dmName = name.startsWith('dm-') ? await readText(join(sysBlock, name, 'dm', 'name')) : '';
    if (dmName) mapperNames.set(dmName, name);
  }
  let rootDevice: string | undefined;
  const resolve = async (source: string): Promise<string | undefined> => {
    if (source.startsWith('/dev/mapper/')) return mapperNames.get(source.slice(12));
    if (source === '/dev/root') {
      rootDevice ??= await rootDeviceName(paths, sysBlock);
      return rootDevice;
    }
    return source.startsWith('/dev/') ? basename(source) : undefined;
  };
  const byDevice = new Map<string, Mount[]>();
  const add = (mount: Mount) =>
    byDevice.set(mount.device, [...(byDevice.get(mount.device) ?? []), mount]);
  for (const line of (await readText(paths.mounts))?.split('\n') ?? []) {
    const [source, mountpoint] = line.split(/\s+/).map(unescape);
    const device = source && mountpoint ? await resolve(source) : undefined;
    if (device) add({ device, source: source!, mountpoint: mountpoint! });
  }
  for (const line of (await readText(paths.swaps))?.split('\n').slice(1) ?? []) {
    const [source, type] = line.split(/\s+/).map(unescape);
    const device = source && type === 'partition' ? await resolve(source) : undefined;
    if (device) add({ device, source: source!, mountpoint: SWAP });
  }
  return byDevice;
}

/** The kernel name of the device holding paths.root, matched by device number. */
async function rootDeviceName(paths: DrivePaths, sysBlock: string): Promise<string | undefined> {
  const wanted = devNumber((await stat(paths.root, { bigint: true })).dev);
  for (const disk of await list(sysBlock)) {
    if ((await readText(join(sysBlock, disk, 'dev'))) === wanted) return disk;
    for (const part of await list(join(sysBlock, disk))) {
      if ((await readText(join(sysBlock, disk, part, 'dev'))) === wanted) return part;
    }
  }
  return undefined;
}

/** The machine's disks (not loop, RAM or optical devices), with partitions and what is mounted. */
export async function listDrives(paths: DrivePaths = SYSTEM_DRIVE_PATHS): Promise<Drive[]> {
  const sysBlock = join(paths.sys, 'block');
  const mounted = await mountsByDevice(paths, sysBlock);
  const mountsOf = async (name: string, dir: string) => [
    ...(mounted.get(name) ?? []),
    ...(await holders(dir, sysBlock)).flatMap((holder) => mounted.get(holder) ?? []),
  ];
  const drives: Drive[] = [];
  for (const name of await list(sysBlock)) {
    if (IGNORED.test(name)) continue;
    const dir = join(sysBlock, name);
    const partitions: Partition[] = [];
    for (const part of await list(dir)) {
      if ((await readText(join(dir, part, 'partition'))) === undefined) continue;
      partitions.push({
        name: part,
        path: `/dev/${part}`,
        devNumber: (await readText(join(dir, part, 'dev'))) ?? '',
        size: Number((await readText(join(dir, part, 'size'))) ?? 0) * 512,
        mounts: await mountsOf(part, join(dir, part)),
      });
    }
    const mounts = [...(await mountsOf(name, dir)), ...partitions.flatMap((p) => p.mounts)];
    const model =
      (await readText(join(dir, 'device', 'model'))) ||
      (await readText(join(dir, 'device', 'name')));
    const vendor = await readText(join(dir, 'device', 'vendor'));
    drives.push({
      name,
      path: `/dev/${name}`,
      devNumber: (await readText(join(dir, 'dev'))) ?? '',
      size: Number((await readText(join(dir, 'size'))) ?? 0) * 512,
      removable: (await readText(join(dir, 'removable'))) === '1',
      readOnly: (await readText(join(dir, 'ro'))) === '1',
      ...(model ? { model } : {}),
      ...(vendor ? { vendor } : {}),
      transport: transportOf(name, await realpath(dir).catch(() => dir)),
      partitions,
      mounts,
      system: mounts.some(isSystemMount),
    });
  }
  return drives;
}

/** True for a mount the running system needs: /, /boot, /boot/firmware, /usr, /var or swap. */
export function isSystemMount(mount: Mount): boolean {
  return SYSTEM_MOUNTPOINTS.has(mount.mountpoint);
}

/** True for a drive one would flash a card on: removable (or on USB or an SD slot), not the system. */
export function isFlashCandidate(drive: Drive): boolean {
  return (
    (drive.removable || drive.transport === 'usb' || drive.transport === 'mmc') && !drive.system
  );
}

/** "major:minor" of a block device node, or undefined if the path is not one. */
export async function blockDeviceNumber(path: string): Promise<string | undefined> {
  const info = await stat(path, { bigint: true });
  return info.isBlockDevice() ? devNumber(info.rdev) : undefined;
}

async function runAdmin(command: string, args: string[], what: string): Promise<void> {
  let result;
  try {
    result = await run(command, args, { timeoutMs: 60_000 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`${command} is not installed`, {
        hint: 'sudo apt-get install util-linux',
      });
    }
    throw error;
  }
  if (result.code !== 0) {
    throw new UserError(
      `cannot ${what}: ${result.stderr.trim() || `${command} exited ${result.code}`}`,
      {
        hint: 'close programs using it (a file manager, a shell in that directory), or run with sudo',
      },
    );
  }
}

/** Unmounts a mount (or turns off a swap partition) with umount(8)/swapoff(8). */
export async function unmount(mount: Mount): Promise<void> {
  if (mount.mountpoint === SWAP)
    await runAdmin('swapoff', [mount.source], `swapoff ${mount.source}`);
  else await runAdmin('umount', [mount.mountpoint], `unmount ${mount.mountpoint}`);
}

/**
 * Drops a block device's cached pages (blockdev --flushbufs), so reading it back reads
 * the card, not the kernel's copy of what was just written.
 */
export async function flushBuffers(device: string): Promise<void> {
  await runAdmin('blockdev', ['--flushbufs', device], `flush the buffers of ${device}`);
}

/** What flashing needs of the machine's block devices; tests pass a fake. */
export interface BlockDevices {
  list(): Promise<Drive[]>;
  deviceNumber(path: string): Promise<string | undefined>;
  unmount(mount: Mount): Promise<void>;
  flushBuffers(device: string): Promise<void>;
}

/** The real block devices, described by sysfs and /proc at the given paths. */
export function createBlockDevices(paths: DrivePaths = SYSTEM_DRIVE_PATHS): BlockDevices {
  return {
    list: () => listDrives(paths),
    deviceNumber: blockDeviceNumber,
    unmount,
    flushBuffers,
  };
}
