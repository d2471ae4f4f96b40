import { open } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { run } from './process.js';

async function qemuImg(args: string[]): Promise<string> {
  let result;
  try {
    result = await run('qemu-img', args, { timeoutMs: 120_000 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError('qemu-img is not installed', { hint: 'sudo apt-get install qemu-utils' });
    }
    throw error;
  }
  if (result.code !== 0) throw new Error(`qemu-img ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}

/** True if the file starts with the qcow2 magic. */
export async function isQcow2(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString('latin1') === 'QFI\xfb';
  } finally {
    await handle.close();
  }
}

/** Creates a copy-on-write qcow2 overlay whose backing file is the (raw) base image. */
export async function createOverlay(base: string, overlay: string): Promise<void> {
  await qemuImg(['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay]);
}

/** Copies bytes [offset, offset+length) of a qcow2 disk into a raw file. */
export async function extractRange(
  disk: string,
  out: string,
  offset: number,
  length: number,
): Promise<void> {
  const bs = offset % 1048576 === 0 && length % 1048576 === 0 ? 1048576 : 512;
  // qemu-img dd counts `count` from the start of the input, skipped blocks included.
  await qemuImg([
    'dd',
    '-f',
    'qcow2',
    '-O',
    'raw',
    `bs=${bs}`,
    `skip=${offset / bs}`,
    `count=${(offset + length) / bs}`,
    `if=${disk}`,
    `of=${out}`,
  ]);
}
