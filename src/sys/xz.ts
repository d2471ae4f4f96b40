import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { UserError } from '../errors.js';
import { run } from './process.js';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

function xzMissing(cause: unknown): UserError {
  return new UserError('xz is not installed (it unpacks .xz images)', {
    hint: 'install xz-utils: sudo apt-get install xz-utils',
    cause,
  });
}

function corrupt(path: string, detail: string): UserError {
  return new UserError(`${path} is not a valid .xz file: ${detail}`, {
    hint: 'the download is corrupt or incomplete: download it again and check its SHA-256',
  });
}

/** xz's own words for what went wrong, without its "xz: FILE: " prefix. */
function xzReason(stderr: string, fallback: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.replace(/^xz: (?:.*?: )?/, '').trim())
    .filter(Boolean);
  return lines.length > 0 ? lines.join('; ') : fallback;
}

/** True if the file starts with the xz magic bytes (FD 37 7A 58 5A 00), whatever its name. */
export async function isXz(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(6), 0, 6, 0);
    return bytesRead === 6 && buffer.equals(XZ_MAGIC);
  } finally {
    await handle.close();
  }
}

/**
 * The decompressed bytes of an .xz file, streamed from `xz -dc`. The stream ends only
 * after xz exited 0, so a reader never mistakes a truncated file for a whole one; a
 * missing xz or a corrupt file destroys the stream with a UserError.
 */
export function xzDecompress(path: string): Readable {
  const out = new PassThrough({ highWaterMark: 4 << 20 });
  const child = spawn('xz', ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  child.stdout.pipe(out, { end: false });
  child.on('error', (error: NodeJS.ErrnoException) => {
    out.destroy(error.code === 'ENOENT' ? xzMissing(error) : error);
  });
  child.on('close', (code, signal) => {
    if (out.destroyed) return;
    if (code === 0) out.end();
    else out.destroy(corrupt(path, xzReason(stderr, `xz ended with ${signal ?? `code ${code}`}`)));
  });
  // The reader gave up (a write failed): stop xz instead of leaving it blocked on the pipe.
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  return out;
}

/** The uncompressed size in `xz --robot --list` output (its totals line), or undefined. */
export function parseXzList(text: string): number | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split('\t');
    if (fields[0] !== 'totals') continue;
    const size = Number(fields[4]);
    return Number.isSafeInteger(size) && size >= 0 ? size : undefined;
  }
  return undefined;
}

/** The uncompressed size of an .xz file, read from its index (no decompression). */
export async function xzUncompressedSize(path: string): Promise<number> {
  let result;
  try {
    result = await run('xz', ['--robot', '--list', '--', path], { timeoutMs: 60_000 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw xzMissing(error);
    throw error;
  }
  if (result.code !== 0) throw corrupt(path, xzReason(result.stderr, 'xz --list failed'));
  const size = parseXzList(result.stdout);
  if (size === undefined) throw new Error(`unexpected xz --robot --list output: ${result.stdout}`);
  return size;
}
