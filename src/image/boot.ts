import type * as NodeFs from 'node:fs';
import { constants } from 'node:fs';
import {
  access,
  mkdir,
  mkdtemp,
  open,
  readFile,
  rm,
  stat,
  statfs,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';
import { fatFreeBytes } from './fat.js';
import { fatCopyDir, fatCopyFile, fatRead, fatRemoveTree, type FatImage } from '../sys/mtools.js';
import { isFatType, parseMbr } from './mbr.js';

/** Which Raspberry Pi OS an image is: decides how first boot is hooked in. */
export type Release = 'bookworm' | 'trixie';

/** File access to a boot partition, in an image or a mounted directory. */
export interface BootFs {
  read(path: string): Promise<Buffer | undefined>;
  /** Replaces the directory with exactly these files (paths relative to it). */
  replaceDir(dir: string, files: { name: string; content: string | Buffer }[]): Promise<void>;
  write(path: string, data: string | Buffer): Promise<void>;
  freeBytes(): Promise<number | undefined>;
}

/** What an image holds, found without changing a byte of it. */
export interface ImageInfo {
  kind: 'image' | 'directory';
  path: string;
  release: Release;
  /** How the release was told (os-release in the root file system, or boot files). */
  releaseFrom: string;
}

/** os-release's VERSION_CODENAME. */
export function codename(osRelease: string): string | undefined {
  return /^VERSION_CODENAME=["']?([a-z]+)/m.exec(osRelease)?.[1];
}

async function ensureWritable(path: string): Promise<void> {
  const info = await stat(path);
  // Root may write anything; a file nobody may write is still meant to stay as it is.
  if ((info.mode & 0o222) === 0) {
    throw new UserError(`${path} is read-only (mode ${(info.mode & 0o777).toString(8)})`, {
      hint: `make it writable (chmod u+w ${path}) or write a configured copy with --out`,
    });
  }
  try {
    await access(path, constants.W_OK);
  } catch (error) {
    throw new UserError(`cannot write ${path}: ${(error as NodeJS.ErrnoException).code}`, {
      hint: 'check its permissions, or write a configured copy with --out',
    });
  }
}

function releaseOf(name: string | undefined, from: string, path: string): Release {
  if (name === 'bookworm' || name === 'trixie') return name;
  throw new UserError(
    `${path} is ${name ? `Debian/Raspberry Pi OS "${name}"` : 'not a Raspberry Pi OS image PioT knows'} (from ${from})`,
    { hint: 'PioT configures Raspberry Pi OS Bookworm and Trixie images (piot image fetch)' },
  );
}

/** Checks an image file is a Raspberry Pi OS–shaped disk PioT can configure, read-only. */
export async function inspectImage(
  path: string,
  options: { writable?: boolean } = {},
): Promise<ImageInfo> {
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    throw new UserError(
      `cannot read ${path}: ${error.code === 'ENOENT' ? 'no such file' : error.code}`,
    );
  });
  if (!info.isFile()) throw new UserError(`${path} is not an image file`);
  const handle = await open(path, 'r');
  let mbr;
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    mbr = bytesRead === 512 ? parseMbr(buffer) : undefined;
  } finally {
    await handle.close();
  }
  if (!mbr || mbr.partitions.length === 0) {
    throw new UserError(`${path} is not a disk image: it has no partition table`, {
      hint: 'give a Raspberry Pi OS .img or .img.xz (piot image fetch downloads one)',
    });
  }
  if (mbr.partitions.some((p) => p.type === 0xee)) {
    throw new UserError(`${path} is a GPT disk; Raspberry Pi OS images use an MBR partition table`);
  }
  const boot = mbr.partitions.find((p) => p.index === 1);
  if (!boot || !isFatType(boot.type)) {
    throw new UserError(`${path} has no FAT boot partition (partition 1)`, {
      hint: 'Raspberry Pi OS images start with a FAT32 "bootfs" partition',
    });
  }
  for (const p of mbr.partitions) {
    if (p.offset + p.size > info.size) {
      throw new UserError(
        `${path} is truncated: partition ${p.index} ends at byte ${p.offset + p.size} but the file has ${info.size}`,
        { hint: 'download or decompress the image again' },
      );
    }
  }
  const root = mbr.partitions.find((p) => p.index === 2 && p.type === 0x83);
  const bootNames = await readOnly(path, 1, async (fs) =>
    (await promisify(fs.readdir)('/')).map((n) => n.toLowerCase()),
  ).catch(() => {
    throw new UserError(`the boot partition of ${path} cannot be read as FAT`);
  });
  checkBootFiles(bootNames, path);
  let osRelease: string | undefined;
  if (root) {
    osRelease = await readOnly(path, 2, async (fs) =>
      (await promisify(fs.readFile)('/etc/os-release')).toString('utf8'),
    ).catch(() => undefined);
  }
  if (options.writable !== false) await ensureWritable(path);
  if (osRelease !== undefined) {
    return {
      kind: 'image',
      path,
      release: releaseOf(codename(osRelease), 'its /etc/os-release', path),
      releaseFrom: '/etc/os-release',
    };
  }
  return { kind: 'image', path, ...releaseFromBootFiles(bootNames, path) };
}

/**
 * Reads a partition without changing the image: mounting ext4 updates its superblock, so
 * writes go to memory only (file-disk's copy-on-write mode).
 */
async function readOnly<T>(
  path: string,
  partition: number,
  fn: (fs: typeof NodeFs) => Promise<T>,
): Promise<T> {
  const [{ interact }, { FileDisk, withOpenFile }] = await Promise.all([
    import('balena-image-fs'),
    import('file-disk'),
  ]);
  return withOpenFile(path, 'r', (handle) =>
    interact(new FileDisk(handle, true, true), partition, fn),
  );
}

function checkBootFiles(names: string[], where: string): void {
  for (const name of ['cmdline.txt', 'config.txt']) {
    if (!names.includes(name)) {
      throw new UserError(`the boot partition of ${where} has no ${name}`, {
        hint: 'this does not look like a Raspberry Pi OS boot partition',
      });
    }
  }
}

/** Without a root file system to read: Trixie images carry cloud-init's seed files. */
function releaseFromBootFiles(
  names: string[],
  where: string,
): Pick<ImageInfo, 'release' | 'releaseFrom'> {
  checkBootFiles(names, where);
  if (names.includes('user-data') || names.includes('meta-data')) {
    return { release: 'trixie', releaseFrom: 'cloud-init files on the boot partition' };
  }
  return { release: 'bookworm', releaseFrom: 'boot partition without cloud-init files' };
}

/** Checks a mounted boot partition (a card written by Raspberry Pi Imager). */
export async function inspectBootDirectory(path: string): Promise<ImageInfo> {
  const { readdir } = await import('node:fs/promises');
  const names = (await readdir(path)).map((n) => n.toLowerCase());
  await access(path, constants.W_OK).catch(() => {
    throw new UserError(`cannot write to ${path}`, { hint: 'is the card mounted read-only?' });
  });
  return { kind: 'directory', path, ...releaseFromBootFiles(names, path) };
}

/** Runs fn with the boot partition of an image or a mounted boot directory. */
export async function withBootFs<T>(info: ImageInfo, fn: (boot: BootFs) => Promise<T>): Promise<T> {
  if (info.kind === 'directory') {
    const at = (p: string) => join(info.path, p);
    return fn({
      read: (p) => readFile(at(p)).catch(() => undefined),
      replaceDir: async (dir, files) => {
        await rm(at(dir), { recursive: true, force: true });
        for (const f of files) {
          await mkdir(dirname(at(join(dir, f.name))), { recursive: true });
          await writeFile(at(join(dir, f.name)), f.content);
        }
      },
      write: (p, data) => writeFile(at(p), data),
      freeBytes: async () => {
        const s = await statfs(info.path);
        return s.bavail * s.bsize;
      },
    });
  }
  const { partitions } = parseMbr(await firstSector(info.path))!;
  const fat: FatImage = { image: info.path, offset: partitions.find((p) => p.index === 1)!.offset };
  const staging = await mkdtemp(join(tmpdir(), 'piot-boot-'));
  try {
    return await fn({
      read: (p) => fatRead(fat, p),
      replaceDir: async (dir, files) => {
        const local = join(staging, dir);
        for (const f of files) {
          await mkdir(dirname(join(local, f.name)), { recursive: true });
          await writeFile(join(local, f.name), f.content);
        }
        await fatRemoveTree(fat, dir);
        await fatCopyDir(fat, local, dirname(`/${dir}`).slice(1));
      },
      write: async (p, data) => {
        const local = join(staging, 'file');
        await writeFile(local, data);
        await fatCopyFile(fat, local, p);
      },
      freeBytes: async () => {
        const handle = await open(info.path, 'r');
        try {
          return await fatFreeBytes(handle, fat.offset);
        } finally {
          await handle.close();
        }
      },
    });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function firstSector(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    return (await handle.read(Buffer.alloc(512), 0, 512, 0)).buffer;
  } finally {
    await handle.close();
  }
}
