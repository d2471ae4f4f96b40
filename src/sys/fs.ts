import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, symlink } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { UserError } from '../errors.js';

/** Advice for a failed file operation, by errno code. */
export function fsErrorHint(code: string | undefined): string | undefined {
  switch (code) {
    case 'ENOENT':
      return 'check the path';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: check the file mode, a write-protect switch on the card, or run with sudo';
    case 'EISDIR':
      return 'that is a directory; give a file';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a directory';
    case 'ENOSPC':
      return 'the disk is full';
    case 'EROFS':
      return 'the filesystem is read-only';
    default:
      return undefined;
  }
}

/** Reads a file, or throws a UserError that names it and says what to do. */
export async function readUserFile(path: string, what = 'file'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'does not exist' : `cannot be read (${code ?? String(error)})`;
    throw new UserError(`${what} ${path} ${reason}`, { hint: fsErrorHint(code), cause: error });
  }
}

/** A file's text, or undefined if there is none; any other failure is a UserError naming it. */
export async function readOptionalUserFile(
  path: string,
  what = 'file',
): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new UserError(`cannot read ${what} ${path} (${code ?? String(error)})`, {
      hint: fsErrorHint(code),
    });
  }
}

/** True if the path exists (any type). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Writes a file so that readers (and a power cut) see the old or the new content,
 * never a mix: write a temp file beside it, fsync, rename over, fsync the directory.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number } = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'w', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDir(dir);
}

/** Points a symlink at target atomically: a new link renamed over the old one. */
export async function replaceSymlink(link: string, target: string): Promise<void> {
  const temp = `${link}.new`;
  await rm(temp, { force: true });
  await symlink(target, temp);
  await rename(temp, link);
  await syncDir(dirname(link));
}

/** fsyncs a directory, so renames and new entries in it survive a power cut. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
