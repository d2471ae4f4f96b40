import { UserError } from '../errors.js';
import { run } from './process.js';

/**
 * A FAT file system inside an image file, written with GNU mtools: no root, no mounting,
 * and (unlike JavaScript FAT writers) correct FAT mirrors, FSInfo and directory entries.
 */
export interface FatImage {
  image: string;
  /** Byte offset of the partition in the image. */
  offset: number;
}

const target = (fat: FatImage) => `${fat.image}@@${fat.offset}`;

async function mtools(command: string, args: string[], binary = false) {
  try {
    // MTOOLS_SKIP_CHECK: images made by other tools may have harmless geometry quirks.
    return await run(command, args, {
      binary,
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1', MTOOLS_NO_VFAT: '' },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(
        'mtools is not installed (it writes the boot partition without mounting it)',
        {
          hint: 'sudo apt-get install mtools   (macOS: brew install mtools)',
        },
      );
    }
    throw error;
  }
}

function failed(what: string, stderr: string): Error {
  return new UserError(
    `${what}: ${stderr.trim().split('\n').slice(-2).join('; ') || 'mtools failed'}`,
  );
}

/** A file's bytes, or undefined when it is not there. */
export async function fatRead(fat: FatImage, path: string): Promise<Buffer | undefined> {
  const result = await mtools('mcopy', ['-n', '-i', target(fat), `::/${path}`, '-'], true);
  if (result.code !== 0) {
    if (/not found/i.test(result.stderr)) return undefined;
    throw failed(`cannot read ${path} from the boot partition`, result.stderr);
  }
  return result.stdoutBytes;
}

/** Copies a local directory's contents into `dir` on the FAT (made if missing), overwriting. */
export async function fatCopyDir(fat: FatImage, local: string, dir: string): Promise<void> {
  const result = await mtools('mcopy', ['-s', '-o', '-Q', '-i', target(fat), local, `::/${dir}`]);
  if (result.code !== 0) throw failed(`cannot write ${dir} to the boot partition`, result.stderr);
}

/** Copies one local file to `path` on the FAT, overwriting. */
export async function fatCopyFile(fat: FatImage, local: string, path: string): Promise<void> {
  const result = await mtools('mcopy', ['-o', '-Q', '-i', target(fat), local, `::/${path}`]);
  if (result.code !== 0) throw failed(`cannot write ${path} to the boot partition`, result.stderr);
}

/** Removes a directory tree from the FAT if it is there. */
export async function fatRemoveTree(fat: FatImage, dir: string): Promise<void> {
  const result = await mtools('mdeltree', ['-i', target(fat), `::/${dir}`]);
  if (result.code !== 0 && !/not found/i.test(result.stderr)) {
    throw failed(`cannot remove ${dir} from the boot partition`, result.stderr);
  }
}
