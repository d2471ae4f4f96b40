import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { constants, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';
import type { BlockDevices, Mount } from '../sys/drives.js';
import { fsErrorHint, syncDir } from '../sys/fs.js';
import { isXz, xzDecompress, xzUncompressedSize } from '../sys/xz.js';
import { flashError } from './flash-errors.js';
import { checkTarget, refusalError, resolveTarget, type Target } from './flash-target.js';

/** Block size of reads, writes and zero detection. */
export const BLOCK_SIZE = 4 << 20;

export interface FlashOptions {
  devices: BlockDevices;
  /** Write to a non-removable disk, a partition or a too-small target (never the system disk). */
  force?: boolean;
  /** Unmount the target's mounted partitions first, instead of refusing. */
  unmount?: boolean;
  /**
   * Skip all-zero blocks. A new file gets holes; on anything else a zero block is read
   * from the target first and written only if it is not zero there already. Default:
   * true for a new file, false otherwise.
   */
  sparse?: boolean;
  /** Read the target back and compare SHA-256 with the image (default true). */
  verify?: boolean;
  blockSize?: number;
  onProgress?: (progress: FlashProgress) => void;
  onUnmount?: (mount: Mount) => void;
  /** Runs after sync, before the read-back; tests corrupt the target here. */
  beforeVerify?: (target: string) => Promise<void>;
  now?: () => number;
}

export interface FlashProgress {
  phase: 'write' | 'verify';
  /** Image bytes handled (written, skipped or read back). */
  done: number;
  total: number;
  /** Bytes actually written to the target so far. */
  written: number;
}

export interface FlashResult {
  target: string;
  imageSize: number;
  bytesWritten: number;
  /** Image bytes not written because they were zeros (imageSize - bytesWritten). */
  skipped: number;
  /** SHA-256 of the (uncompressed) image. */
  sha256: string;
  verified: boolean;
  seconds: number;
}

interface Image {
  path: string;
  compressed: boolean;
  size: number;
  read(blockSize: number): Readable;
}

const OTHER_FORMATS: [magic: number[], name: string, unpack: string][] = [
  [[0x1f, 0x8b], 'gzip', 'gunzip -k'],
  [[0x50, 0x4b, 0x03, 0x04], 'zip', 'unzip'],
  [[0x28, 0xb5, 0x2f, 0xfd], 'zstd', 'unzstd'],
  [[0x42, 0x5a, 0x68], 'bzip2', 'bunzip2 -k'],
];

/** The image as a stream of raw disk bytes and its size; .xz is recognised by content. */
export async function openImage(path: string): Promise<Image> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`;
    throw new UserError(`image ${path} ${reason}`, { hint: fsErrorHint(code), cause: error });
  }
  if (!info.isFile()) throw new UserError(`image ${path} is not a file`);
  if (await isXz(path)) {
    const size = await xzUncompressedSize(path);
    return { path, compressed: true, size, read: () => xzDecompress(path) };
  }
  const handle = await open(path, 'r');
  const head = Buffer.alloc(4);
  await handle.read(head, 0, 4, 0).finally(() => handle.close());
  for (const [magic, name, unpack] of OTHER_FORMATS) {
    if (magic.every((byte, i) => head[i] === byte)) {
      throw new UserError(`image ${path} is ${name}-compressed; PioT flashes .img and .img.xz`, {
        hint: `unpack it first: ${unpack} ${path}`,
      });
    }
  }
  if (path.endsWith('.xz')) {
    throw new UserError(`image ${path} is named .xz but is not an xz file`, {
      hint: 'the download is probably incomplete or an error page: download it again',
    });
  }
  if (info.size === 0) throw new UserError(`image ${path} is empty`);
  const size = info.size;
  return {
    path,
    compressed: false,
    size,
    read: (blockSize) => createReadStream(path, { end: size - 1, highWaterMark: blockSize }),
  };
}

/** Regroups a byte stream into blocks of exactly `size` bytes (the last may be shorter). */
export async function* fixedBlocks(source: AsyncIterable<Buffer>, size: number) {
  let parts: Buffer[] = [];
  let have = 0;
  for await (const chunk of source) {
    let rest = chunk;
    while (rest.length > 0) {
      if (have === 0 && rest.length >= size) {
        yield rest.subarray(0, size);
        rest = rest.subarray(size);
        continue;
      }
      const take = Math.min(size - have, rest.length);
      parts.push(rest.subarray(0, take));
      have += take;
      rest = rest.subarray(take);
      if (have === size) {
        yield Buffer.concat(parts, size);
        parts = [];
        have = 0;
      }
    }
  }
  if (have > 0) yield Buffer.concat(parts, have);
}

async function openTarget(target: Target): Promise<FileHandle> {
  if (target.kind === 'file') return open(target.path, target.fresh ? 'wx' : 'r+');
  // O_EXCL on a block device: the kernel refuses (EBUSY) if a filesystem on it is mounted.
  return open(target.path, constants.O_RDWR | constants.O_EXCL);
}

async function writeAll(handle: FileHandle, block: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < block.length) {
    const { bytesWritten } = await handle.write(block, done, block.length - done, position + done);
    if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}

/** Writes the image to the target; returns the bytes written and the image's SHA-256. */
async function writeImage(image: Image, target: Target, sparse: boolean, options: FlashOptions) {
  const blockSize = options.blockSize ?? BLOCK_SIZE;
  const fresh = target.kind === 'file' && target.fresh;
  const zeros = Buffer.alloc(blockSize);
  const onTarget = Buffer.alloc(blockSize);
  const hash = createHash('sha256');
  let position = 0;
  let written = 0;
  let handle: FileHandle | undefined;
  try {
    handle = await openTarget(target);
    for await (const block of fixedBlocks(image.read(blockSize), blockSize)) {
      hash.update(block);
      let write = !sparse || !block.equals(zeros.subarray(0, block.length));
      if (!write && !fresh) {
        // Skipping is only right where the target reads as zeros already.
        const { bytesRead } = await handle.read(onTarget, 0, block.length, position);
        write = bytesRead < block.length || !onTarget.subarray(0, block.length).equals(block);
      }
      if (write) {
        await writeAll(handle, block, position);
        written += block.length;
      }
      position += block.length;
      options.onProgress?.({ phase: 'write', done: position, total: image.size, written });
    }
    if (position !== image.size) {
      throw new UserError(`image ${image.path} gave ${position} bytes, not ${image.size}`, {
        hint: 'it changed while flashing or is damaged: download it again',
      });
    }
    if (fresh) await handle.truncate(position);
    await handle.sync();
    await handle.close();
    handle = undefined;
    // A new file's directory entry must survive a power cut as well as its bytes.
    if (fresh) await syncDir(dirname(target.path));
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (fresh && handle !== undefined) await rm(target.path, { force: true });
    throw flashError(error, {
      target: target.path,
      device: target.kind === 'device',
      offset: position,
    });
  }
  return { written, sha256: hash.digest('hex') };
}

/** SHA-256 of the first `size` bytes of path, read back after the write. */
async function readBackHash(target: Target, size: number, options: FlashOptions): Promise<string> {
  const hash = createHash('sha256');
  let done = 0;
  try {
    const stream = createReadStream(target.path, {
      end: size - 1,
      highWaterMark: options.blockSize ?? BLOCK_SIZE,
    });
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      hash.update(chunk);
      done += chunk.length;
      options.onProgress?.({ phase: 'verify', done, total: size, written: 0 });
    }
  } catch (error) {
    throw flashError(error, {
      target: target.path,
      device: target.kind === 'device',
      offset: done,
    });
  }
  if (done !== size) {
    throw new UserError(`verification failed: ${target.path} ends after ${done} of ${size} bytes`);
  }
  return hash.digest('hex');
}

/**
 * Flashes an .img or .img.xz to a disk or a regular file: check the target (refusing the
 * system disk always, and risky targets unless forced) → write in blocks, skipping zeros
 * when sparse → fsync → read back and compare SHA-256 (unless verify is false).
 */
export async function flash(
  imagePath: string,
  targetPath: string,
  options: FlashOptions,
): Promise<FlashResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const image = await openImage(imagePath);
  const target = await resolveTarget(targetPath, { devices: options.devices, image: imagePath });
  const plan = checkTarget(target, image.size, options);
  const refused = refusalError(plan);
  if (refused) throw refused;
  for (const mount of [...plan.unmount].sort((a, b) => b.mountpoint.length - a.mountpoint.length)) {
    await options.devices.unmount(mount);
    options.onUnmount?.(mount);
  }

  const sparse = options.sparse ?? (target.kind === 'file' && target.fresh);
  const { written, sha256 } = await writeImage(image, target, sparse, options);

  let verified = false;
  if (options.verify !== false) {
    if (target.kind === 'device') await options.devices.flushBuffers(target.path);
    await options.beforeVerify?.(target.path);
    const readBack = await readBackHash(target, image.size, options);
    if (readBack !== sha256) {
      throw new UserError(
        `verification failed: ${target.path} does not read back as the image (sha256 ${readBack.slice(0, 12)}…, image ${sha256.slice(0, 12)}…)`,
        {
          hint:
            target.kind === 'device'
              ? 'the card is failing or fake (less space than it claims): flash again, then try another card'
              : 'something changed the file during the flash, or the disk is failing: flash again',
        },
      );
    }
    verified = true;
  }
  return {
    target: target.path,
    imageSize: image.size,
    bytesWritten: written,
    skipped: image.size - written,
    sha256,
    verified,
    seconds: Math.round(now() - started) / 1000,
  };
}
