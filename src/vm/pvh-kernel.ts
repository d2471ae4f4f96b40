import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { run } from '../sys/process.js';

/** How each compressed payload of a bzImage is unpacked, by its first bytes. */
const PAYLOADS: { magic: number[]; unpack: (payload: Buffer) => Promise<Buffer | undefined> }[] = [
  { magic: [0x1f, 0x8b], unpack: (payload) => promisify(gunzip)(payload) },
  // The kernel's build appends the uncompressed size (4 bytes) to an xz or zstd payload.
  {
    magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
    unpack: (payload) => tool('xz', ['-dc', '--single-stream'], payload),
  },
  {
    magic: [0x28, 0xb5, 0x2f, 0xfd],
    unpack: (payload) => tool('zstd', ['-dcq'], payload.subarray(0, -4)),
  },
];

async function tool(command: string, args: string[], input: Buffer): Promise<Buffer | undefined> {
  const result = await run(command, args, { input, binary: true, timeoutMs: 60_000 }).catch(
    () => undefined,
  );
  return result?.code === 0 ? result.stdoutBytes : undefined;
}

/**
 * The kernel inside an x86 bzImage, decompressed, when QEMU can start it directly: an ELF
 * with a PVH entry note (Debian's kernels have one). Otherwise undefined, and the bzImage
 * boots as it is. Under TCG the kernel's own decompressor (XZ in Debian's kernels) takes
 * seconds of every boot; on the host it takes a fraction of one. A Pi's firmware likewise
 * unpacks a compressed kernel8.img before it starts the kernel.
 */
export async function pvhKernel(bzImage: Buffer): Promise<Buffer | undefined> {
  // Boot protocol 2.08 or later says where the compressed kernel is (Documentation/x86/boot).
  if (bzImage.length < 0x250 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') return;
  if (bzImage.readUInt16LE(0x206) < 0x208) return;
  const setupSectors = bzImage[0x1f1] || 4;
  const start = (setupSectors + 1) * 512 + bzImage.readUInt32LE(0x248);
  const payload = bzImage.subarray(start, start + bzImage.readUInt32LE(0x24c));
  const format = PAYLOADS.find((p) => p.magic.every((byte, i) => payload[i] === byte));
  const elf = await format?.unpack(payload).catch(() => undefined);
  return elf && hasPvhEntry(elf) ? elf : undefined;
}

/** True for a 64-bit little-endian ELF with a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY). */
export function hasPvhEntry(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1)
    return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  for (let i = 0; i < elf.readUInt16LE(0x38); i++) {
    const ph = phoff + i * phentsize;
    if (ph + 56 > elf.length || elf.readUInt32LE(ph) !== 4) continue; // PT_NOTE
    const offset = Number(elf.readBigUInt64LE(ph + 8));
    const end = Math.min(elf.length, offset + Number(elf.readBigUInt64LE(ph + 32)));
    for (let note = offset; note + 12 <= end;) {
      const nameSize = elf.readUInt32LE(note);
      const descSize = elf.readUInt32LE(note + 4);
      const name = elf.toString('latin1', note + 12, note + 12 + nameSize);
      if (name === 'Xen\0' && elf.readUInt32LE(note + 8) === 18) return true;
      note += 12 + align4(nameSize) + align4(descSize);
    }
  }
  return false;
}

const align4 = (n: number) => (n + 3) & ~3;
