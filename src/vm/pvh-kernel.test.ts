import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { writeBootFiles } from './boot-files.js';
import { hasPvhEntry, pvhKernel } from './pvh-kernel.js';

/** A 64-bit ELF with one PT_NOTE segment holding the given notes. */
function elf(notes: { name: string; type: number; desc: Buffer }[]): Buffer {
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
  const body = Buffer.concat(
    notes.map((n) => {
      const name = Buffer.from(`${n.name}\0`, 'latin1');
      const head = Buffer.alloc(12);
      head.writeUInt32LE(name.length, 0);
      head.writeUInt32LE(n.desc.length, 4);
      head.writeUInt32LE(n.type, 8);
      return Buffer.concat([head, pad(name), pad(n.desc)]);
    }),
  );
  const header = Buffer.alloc(64 + 56);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // 64-bit
  header[5] = 1; // little-endian
  header.writeBigUInt64LE(64n, 0x20); // e_phoff
  header.writeUInt16LE(56, 0x36); // e_phentsize
  header.writeUInt16LE(1, 0x38); // e_phnum
  header.writeUInt32LE(4, 64); // PT_NOTE
  header.writeBigUInt64LE(BigInt(header.length), 64 + 8); // p_offset
  header.writeBigUInt64LE(BigInt(body.length), 64 + 32); // p_filesz
  return Buffer.concat([header, body, Buffer.from('kernel text')]);
}

const PVH = { name: 'Xen', type: 18, desc: Buffer.from([0, 0x10, 0, 1]) };
const OTHER = { name: 'GNU', type: 3, desc: Buffer.alloc(20, 7) };

/** An x86 bzImage (boot protocol 2.15) whose protected-mode part carries payload. */
function bzImage(payload: Buffer, setupSectors = 4): Buffer {
  const setup = Buffer.alloc((setupSectors + 1) * 512);
  setup[0x1f1] = setupSectors;
  setup.write('HdrS', 0x202, 'latin1');
  setup.writeUInt16LE(0x20f, 0x206);
  const decompressor = Buffer.alloc(300, 0x90);
  setup.writeUInt32LE(decompressor.length, 0x248); // payload_offset
  setup.writeUInt32LE(payload.length, 0x24c); // payload_length
  return Buffer.concat([setup, decompressor, payload, Buffer.alloc(100, 0xcc)]);
}

/** xz or zstd as the kernel's build makes them: the stream, then the size in 4 bytes. */
function withSize(command: string, args: string[], data: Buffer): Buffer {
  const out = spawnSync(command, args, { input: data });
  if (out.status !== 0) throw new Error(`${command} failed: ${out.stderr.toString()}`);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(data.length);
  return Buffer.concat([out.stdout, size]);
}

describe('pvhKernel', () => {
  const kernel = elf([OTHER, PVH]);

  it('unpacks an xz, zstd or gzip payload that has a PVH entry', async () => {
    const xz = withSize('xz', ['-c', '--check=crc32'], kernel);
    expect(await pvhKernel(bzImage(xz))).toEqual(kernel);
    const zstd = withSize('zstd', ['-c', '-q'], kernel);
    expect(await pvhKernel(bzImage(zstd, 30))).toEqual(kernel);
    expect(await pvhKernel(bzImage(gzipSync(kernel)))).toEqual(kernel);
  });

  it('leaves alone what it cannot start directly', async () => {
    // No PVH note: QEMU would refuse the ELF.
    expect(await pvhKernel(bzImage(gzipSync(elf([OTHER]))))).toBeUndefined();
    // A payload it does not know, a corrupt one, and no bzImage at all.
    expect(await pvhKernel(bzImage(Buffer.from('BZh91AY&SY')))).toBeUndefined();
    const broken = withSize('xz', ['-c'], kernel);
    broken[40] = broken[40]! ^ 0xff;
    expect(await pvhKernel(bzImage(broken))).toBeUndefined();
    expect(await pvhKernel(Buffer.alloc(4096))).toBeUndefined();
    expect(hasPvhEntry(Buffer.from('not an elf'))).toBe(false);
  });

  it('is what writeBootFiles writes for an x86 kernel, done once per kernel', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-pvh-'));
    const files = {
      kernel: bzImage(gzipSync(kernel)),
      kernelName: 'vmlinuz',
      cmdline: 'root=/dev/vda2',
      arch: 'amd64' as const,
      raspberryPi: false,
    };
    const paths = await writeBootFiles(files, dir);
    expect(readFileSync(paths.kernel)).toEqual(kernel);
    // An arm64 kernel is QEMU's to unpack; it is written as it is.
    const arm = { ...files, kernel: Buffer.from('arm64 Image'), arch: 'arm64' as const };
    expect(readFileSync((await writeBootFiles(arm, dir)).kernel)).toEqual(arm.kernel);
    const other = elf([PVH, OTHER]);
    const changed = { ...files, kernel: bzImage(gzipSync(other)) };
    expect(readFileSync((await writeBootFiles(changed, dir)).kernel)).toEqual(other);
  });
});
