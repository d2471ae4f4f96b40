import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../errors.js';
import { isFatType, parseMbr } from '../image/mbr.js';
import { extractRange, isQcow2 } from '../sys/qemu-img.js';
import { pvhKernel } from './pvh-kernel.js';

/** What the Pi firmware would load: kernel, initramfs, command line and the machine it suits. */
export interface BootFiles {
  kernel: Buffer;
  kernelName: string;
  initrd?: Buffer;
  cmdline: string;
  arch: 'amd64' | 'arm64';
  /** A real Raspberry Pi OS image (kernel8.img + device trees) rather than a virtual Pi image. */
  raspberryPi: boolean;
  deviceTree?: Buffer;
}

/** The kernel's architecture from its header (x86 bzImage or arm64 Image, possibly gzipped). */
export function kernelArch(kernel: Buffer): 'amd64' | 'arm64' | undefined {
  let image = kernel;
  if (image[0] === 0x1f && image[1] === 0x8b) image = gunzipSync(image);
  if (image.toString('latin1', 0x202, 0x206) === 'HdrS') return 'amd64';
  if (image.toString('latin1', 0x38, 0x3c) === 'ARM\x64') return 'arm64';
  return undefined;
}

/** `kernel=` and `initramfs NAME` from config.txt ([all] and unconditional lines only). */
export function parseConfigTxt(text: string): { kernel?: string; initramfs?: string } {
  const result: { kernel?: string; initramfs?: string } = {};
  let section = 'all';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!.toLowerCase();
      continue;
    }
    if (section !== 'all' && section !== 'pi4' && section !== 'pi3') continue;
    const kernel = /^kernel=(\S+)$/.exec(line);
    if (kernel) result.kernel = kernel[1];
    const initramfs = /^initramfs\s+(\S+)/.exec(line);
    if (initramfs) result.initramfs = initramfs[1];
  }
  return result;
}

/** Reads the raw disk's first sector, from a raw image or a qcow2 overlay. */
async function firstSector(disk: string, qcow2: boolean, scratch: string): Promise<Buffer> {
  if (qcow2) {
    const out = join(scratch, 'mbr.raw');
    await extractRange(disk, out, 0, 512);
    return readFile(out);
  }
  const handle = await open(disk, 'r');
  try {
    const { buffer } = await handle.read(Buffer.alloc(512), 0, 512, 0);
    return buffer;
  } finally {
    await handle.close();
  }
}

/**
 * Reads the boot partition (partition 1, FAT) of a Raspberry Pi OS–shaped disk,
 * raw or qcow2, without mounting: the files the firmware would boot from.
 */
export async function readBootFiles(disk: string): Promise<BootFiles> {
  const scratch = await mkdtemp(join(tmpdir(), 'piot-boot-'));
  try {
    const qcow2 = await isQcow2(disk);
    const mbr = parseMbr(await firstSector(disk, qcow2, scratch));
    const boot = mbr?.partitions.find((p) => p.index === 1);
    if (!mbr || !boot || !isFatType(boot.type)) {
      throw new UserError(`${disk} has no FAT boot partition`, {
        hint: 'give a Raspberry Pi OS image (.img) or a virtual Pi image built by PioT',
      });
    }
    let source = disk;
    let partition: number | undefined = 1;
    if (qcow2) {
      source = join(scratch, 'bootfs.raw');
      await extractRange(disk, source, boot.offset, boot.size);
      partition = undefined;
    }
    // Loaded on demand: its WebAssembly module installs process-wide error handlers.
    const { interact } = await import('balena-image-fs');
    return await interact(source, partition, async (fs) => {
      const read = promisify(fs.readFile) as (path: string) => Promise<Buffer>;
      const list = (await promisify(fs.readdir)('/')).map((name) => name.toLowerCase());
      const has = (name: string) => list.includes(name.toLowerCase());
      const config = has('config.txt')
        ? parseConfigTxt((await read('/config.txt')).toString('utf8'))
        : {};
      const kernelName =
        config.kernel ??
        (has('vmlinuz') ? 'vmlinuz' : has('kernel8.img') ? 'kernel8.img' : undefined);
      if (!kernelName || !has(kernelName)) {
        throw new UserError(`no kernel on the boot partition of ${disk}`, {
          hint: 'expected kernel= in config.txt, vmlinuz or kernel8.img',
        });
      }
      if (!has('cmdline.txt'))
        throw new UserError(`no cmdline.txt on the boot partition of ${disk}`);
      const kernel = await read(`/${kernelName}`);
      const initrdName = config.initramfs ?? (has('initrd.img') ? 'initrd.img' : undefined);
      const raspberryPi = kernelName === 'kernel8.img' || has('bcm2710-rpi-3-b.dtb');
      const arch = kernelArch(kernel) ?? (raspberryPi ? 'arm64' : undefined);
      if (!arch) throw new UserError(`cannot tell the architecture of ${kernelName} in ${disk}`);
      return {
        kernel,
        kernelName,
        initrd: initrdName && has(initrdName) ? await read(`/${initrdName}`) : undefined,
        cmdline: (await read('/cmdline.txt')).toString('utf8').split('\n')[0]!.trim(),
        arch,
        raspberryPi,
        deviceTree:
          raspberryPi && has('bcm2710-rpi-3-b.dtb')
            ? await read('/bcm2710-rpi-3-b.dtb')
            : undefined,
      };
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Writes boot files into dir; returns their paths for QEMU's -kernel, -initrd and -dtb. An x86
 * kernel is written decompressed where QEMU can start it so (see pvhKernel); dir keeps that
 * until the kernel on the boot partition changes.
 */
export async function writeBootFiles(
  files: BootFiles,
  dir: string,
): Promise<{ kernel: string; initrd?: string; dtb?: string }> {
  const kernel = join(dir, 'kernel');
  const source = createHash('sha256').update(files.kernel).digest('hex');
  const marker = join(dir, 'kernel.source');
  if ((await readFile(marker, 'utf8').catch(() => '')) !== source) {
    const direct = files.arch === 'amd64' && !files.raspberryPi && (await pvhKernel(files.kernel));
    await writeFile(kernel, direct || files.kernel);
    await writeFile(marker, source);
  }
  const paths: { kernel: string; initrd?: string; dtb?: string } = { kernel };
  if (files.initrd) {
    paths.initrd = join(dir, 'initrd');
    await writeFile(paths.initrd, files.initrd);
  }
  if (files.deviceTree) {
    paths.dtb = join(dir, 'board.dtb');
    await writeFile(paths.dtb, files.deviceTree);
  }
  return paths;
}
