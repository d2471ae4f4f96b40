import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import type { BlockDevices, Drive, Mount } from '../sys/drives.js';
import { fixedBlocks, flash, type FlashOptions } from './flash.js';

const BLOCK = 64 * 1024;
const tempDir = () => mkdtempSync(join(tmpdir(), 'piot-flash-'));

/** 16 blocks + a partial one: data, zero runs, data, and a zero tail. */
function makeImage(): Buffer {
  const data = (n: number) => randomBytes(n);
  const zero = (n: number) => Buffer.alloc(n);
  return Buffer.concat([
    data(BLOCK),
    zero(3 * BLOCK),
    data(BLOCK / 2),
    zero(BLOCK / 2),
    zero(5 * BLOCK),
    data(100),
    zero(BLOCK - 100),
    zero(5 * BLOCK),
    zero(1000),
  ]);
}
const NONZERO_BLOCKS = 3;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Block devices with nothing but the given drives; `nodes` maps a path to a drive's device number. */
function fakeDevices(drives: Drive[] = [], nodes: Record<string, string> = {}) {
  const calls: string[] = [];
  const devices: BlockDevices = {
    list: () => Promise.resolve(drives),
    deviceNumber: async (path) => nodes[path] ?? (await stat(path), undefined),
    unmount: (mount: Mount) => {
      calls.push(`unmount ${mount.mountpoint}`);
      return Promise.resolve();
    },
    flushBuffers: (device) => {
      calls.push(`flush ${device}`);
      return Promise.resolve();
    },
  };
  return { devices, calls };
}

function usbCard(overrides: Partial<Drive> = {}): Drive {
  return {
    name: 'sdb',
    path: '/dev/sdb',
    devNumber: '8:16',
    size: 32 << 20,
    removable: true,
    readOnly: false,
    transport: 'usb',
    model: 'SD/MMC',
    partitions: [],
    mounts: [],
    system: false,
    ...overrides,
  };
}

function setup(image = makeImage()) {
  const dir = tempDir();
  const imagePath = join(dir, 'pi.img');
  writeFileSync(imagePath, image);
  return { dir, image, imagePath, target: join(dir, 'card.img') };
}

const base = (extra: Partial<FlashOptions> = {}): FlashOptions => ({
  devices: fakeDevices().devices,
  blockSize: BLOCK,
  ...extra,
});

describe('flash to a regular file', () => {
  it('copies an .img byte for byte into a new file, skipping zero blocks', async () => {
    const { image, imagePath, target } = setup();
    const result = await flash(imagePath, target, base());
    expect(readFileSync(target).equals(image)).toBe(true);
    expect(result).toMatchObject({
      target,
      imageSize: image.length,
      bytesWritten: NONZERO_BLOCKS * BLOCK,
      skipped: image.length - NONZERO_BLOCKS * BLOCK,
      sha256: sha256(image),
      verified: true,
    });
    expect(result.bytesWritten).toBeLessThan(image.length);
  });

  it('unpacks an .img.xz, recognised by content even without the .xz name', async () => {
    const { dir, image, imagePath } = setup();
    execFileSync('xz', ['-0', '-k', imagePath]);
    const renamed = join(dir, 'download.bin');
    writeFileSync(renamed, readFileSync(`${imagePath}.xz`));
    for (const source of [`${imagePath}.xz`, renamed]) {
      const target = join(dir, `from-${source.endsWith('.xz') ? 'xz' : 'bin'}.img`);
      const result = await flash(source, target, base());
      expect(readFileSync(target).equals(image), source).toBe(true);
      expect(result.imageSize).toBe(image.length);
      expect(result.sha256).toBe(sha256(image));
    }
  });

  it('writes every block with sparse: false', async () => {
    const { image, imagePath, target } = setup();
    const result = await flash(imagePath, target, base({ sparse: false }));
    expect(result.bytesWritten).toBe(image.length);
    expect(result.skipped).toBe(0);
    expect(readFileSync(target).equals(image)).toBe(true);
  });

  it('overwrites an existing file in full by default, keeping what lies past the image', async () => {
    const { image, imagePath, target } = setup();
    const old = randomBytes(image.length + 5000);
    writeFileSync(target, old);
    const result = await flash(imagePath, target, base());
    const after = readFileSync(target);
    expect(after.subarray(0, image.length).equals(image)).toBe(true);
    expect(after.subarray(image.length).equals(old.subarray(image.length))).toBe(true);
    expect(result.bytesWritten).toBe(image.length);
  });

  it('sparse on a used target zero-fills where the old data is not zero', async () => {
    const { image, imagePath, target } = setup();
    writeFileSync(target, randomBytes(image.length));
    const result = await flash(imagePath, target, base({ sparse: true }));
    expect(readFileSync(target).equals(image)).toBe(true);
    expect(result.bytesWritten).toBe(image.length);
  });

  it('sparse on a blank target skips blocks that are zero already', async () => {
    const { image, imagePath, target } = setup();
    const blank = Buffer.alloc(image.length);
    randomBytes(10).copy(blank, 6 * BLOCK); // stale data in one block the image has as zeros
    writeFileSync(target, blank);
    const result = await flash(imagePath, target, base({ sparse: true }));
    expect(readFileSync(target).equals(image)).toBe(true);
    expect(result.bytesWritten).toBe((NONZERO_BLOCKS + 1) * BLOCK);
  });

  it('fails verification when the target does not read back as the image', async () => {
    const { imagePath, target } = setup();
    const corrupt = (path: string) => {
      const bytes = readFileSync(path);
      bytes[7 * BLOCK + 3] = 0x5a; // the image has zeros there
      writeFileSync(path, bytes);
      return Promise.resolve();
    };
    const error = await flash(imagePath, target, base({ beforeVerify: corrupt })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(
      /^verification failed: .*card\.img does not read back/,
    );
    const unchecked = await flash(imagePath, join(tempDir(), 'x.img'), {
      ...base({ beforeVerify: corrupt }),
      verify: false,
    });
    expect(unchecked.verified).toBe(false);
  });

  it('refuses the image itself, compressed formats it cannot read, and a fake .xz', async () => {
    const { dir, imagePath } = setup();
    await expect(flash(imagePath, imagePath, base())).rejects.toThrow(/is the image itself/);
    const gz = join(dir, 'pi.img.gz');
    writeFileSync(gz, Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]));
    await expect(flash(gz, join(dir, 'a.img'), base())).rejects.toThrow(/gzip-compressed/);
    const fake = join(dir, 'pi.img.xz');
    writeFileSync(fake, '<html>404</html>');
    await expect(flash(fake, join(dir, 'b.img'), base())).rejects.toThrow(/not an xz file/);
  });

  it('removes the new file when a corrupt .xz stops the write', async () => {
    const { dir, imagePath } = setup(Buffer.concat([randomBytes(4 * BLOCK), Buffer.alloc(BLOCK)]));
    execFileSync('xz', ['-0', '-k', imagePath]);
    const packed = readFileSync(`${imagePath}.xz`);
    const middle = Math.floor(packed.length / 2);
    packed[middle] = packed[middle]! ^ 0xff;
    const broken = join(dir, 'broken.img.xz');
    writeFileSync(broken, packed);
    const target = join(dir, 'out.img');
    await expect(flash(broken, target, base())).rejects.toThrow(/is not a valid \.xz file/);
    expect(existsSync(target)).toBe(false);
  });
});

describe('flash to a disk', () => {
  // The "disk" is a regular file the fake reports as block device 8:16.
  function disk(drive: Drive) {
    const paths = setup();
    writeFileSync(paths.target, Buffer.alloc(2 << 20, 0xaa));
    const fake = fakeDevices([drive], { [paths.target]: '8:16' });
    return { ...paths, ...fake };
  }

  it('refuses a disk with mounted partitions, listing them and how to unmount', async () => {
    const mounts = [
      { device: 'sdb1', source: '/dev/sdb1', mountpoint: '/media/me/bootfs' },
      { device: 'sdb2', source: '/dev/sdb2', mountpoint: '/media/me/rootfs' },
    ];
    const { imagePath, target, devices, calls } = disk(usbCard({ mounts }));
    const error = (await flash(imagePath, target, base({ devices, force: true })).catch(
      (e: unknown) => e,
    )) as UserError;
    expect(error.message).toBe(
      '/dev/sdb has mounted partitions: /media/me/bootfs (sdb1), /media/me/rootfs (sdb2)',
    );
    expect(error.hint).toBe(
      'sudo umount /media/me/bootfs /media/me/rootfs, or add --unmount to let PioT unmount them',
    );
    expect(readFileSync(target)[0]).toBe(0xaa);
    expect(calls).toEqual([]);
  });

  it('with unmount, unmounts each partition, writes every block, flushes and verifies', async () => {
    const mounts = [
      { device: 'sdb1', source: '/dev/sdb1', mountpoint: '/media/me/a' },
      { device: 'sdb2', source: '/dev/sdb2', mountpoint: '/media/me/a/nested' },
    ];
    const { image, imagePath, target, devices, calls } = disk(usbCard({ mounts }));
    const result = await flash(imagePath, target, base({ devices, unmount: true }));
    expect(calls).toEqual(['unmount /media/me/a/nested', 'unmount /media/me/a', `flush ${target}`]);
    expect(readFileSync(target).subarray(0, image.length).equals(image)).toBe(true);
    expect(result).toMatchObject({ bytesWritten: image.length, verified: true });
  });

  it('refuses the system disk even with --force and --unmount', async () => {
    const mounts = [
      { device: 'sdb2', source: '/dev/sdb2', mountpoint: '/' },
      { device: 'sdb1', source: '/dev/sdb1', mountpoint: '/boot/firmware' },
    ];
    const { imagePath, target, devices, calls } = disk(usbCard({ mounts, system: true }));
    const attempt = flash(imagePath, target, base({ devices, force: true, unmount: true }));
    await expect(attempt).rejects.toThrow(
      '/dev/sdb holds the running system (/ (sdb2), /boot/firmware (sdb1))',
    );
    expect(calls).toEqual([]);
    expect(readFileSync(target)[0]).toBe(0xaa);
  });

  it('refuses a disk smaller than the image unless forced', async () => {
    const { image, imagePath, target, devices } = disk(usbCard({ size: 512 * 1024 }));
    expect(image.length).toBe(16 * BLOCK + 1000);
    await expect(flash(imagePath, target, base({ devices }))).rejects.toThrow(
      `${target} (512 KiB) is smaller than the image (1 MiB)`,
    );
    const forced = await flash(imagePath, target, base({ devices, force: true }));
    expect(forced.verified).toBe(true);
  });
});

describe('fixedBlocks', () => {
  it('regroups any chunking into blocks of the given size', async () => {
    const data = randomBytes(10_000);
    const sizes = [1, 4095, 4096, 1, 8191, 1000];
    async function* chunks() {
      for (const size of sizes) yield Promise.resolve(Buffer.from(data.subarray(0, size)));
    }
    const input = Buffer.concat(sizes.map((n) => data.subarray(0, n)));
    const blocks: Buffer[] = [];
    for await (const block of fixedBlocks(chunks(), 4096)) blocks.push(block);
    expect(input.length).toBe(17_384);
    expect(blocks.map((b) => b.length)).toEqual([4096, 4096, 4096, 4096, 1000]);
    expect(Buffer.concat(blocks).equals(input)).toBe(true);
  });
});
