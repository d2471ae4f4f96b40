import { UserError } from '../errors.js';
import { fsErrorHint } from '../sys/fs.js';
import { formatBytes } from './flash-target.js';

/** Where an error happened: the target, whether it is a disk, and how far the write got. */
export interface FlashErrorPlace {
  target: string;
  device: boolean;
  /** Byte offset of the block being written or read back. */
  offset: number;
}

type Advice = (place: FlashErrorPlace) => { message: string; hint: string } | undefined;

const at = (offset: number) => `byte ${offset} (${formatBytes(offset)})`;

const permission: Advice = ({ target, device }) => ({
  message: `${target}: permission denied`,
  hint: device
    ? "run with sudo, or check the card's write-protect switch"
    : (fsErrorHint('EACCES') ?? 'check the file mode'),
});

const removed: Advice = ({ target, device, offset }) =>
  device
    ? {
        message: `${target}: the card was removed or failed at ${at(offset)}`,
        hint: 'insert it again and flash again; if it fails at the same byte, the card is worn out or fake',
      }
    : undefined;

/** Advice for the errno codes flashing meets, by code; a code without an entry gets none. */
export const FLASH_ERRNO_ADVICE: Readonly<Record<string, Advice>> = {
  EACCES: permission,
  EPERM: permission,
  EROFS: ({ target, device }) => ({
    message: `${target} is read-only`,
    hint: device
      ? 'the card is write-protected: slide its lock switch away from LOCK and insert it again'
      : 'the filesystem holding the file is mounted read-only',
  }),
  ENOSPC: ({ target, device, offset }) => ({
    message: `${target}: no space left at ${at(offset)}`,
    hint: device
      ? 'the card is full/smaller than the image: use a bigger card'
      : 'the disk holding the file is full',
  }),
  EBUSY: ({ target }) => ({
    message: `${target} is in use`,
    hint: 'unmount its partitions (or add --unmount) and close programs using it',
  }),
  EIO: removed,
  ENXIO: removed,
  ENODEV: removed,
  ENOENT: ({ target }) => ({
    message: `${target}: no such file or directory`,
    hint: 'check the path; the directory of a new file must exist',
  }),
};

/** The UserError for an errno failure while flashing, or the error itself if there is no advice. */
export function flashError(error: unknown, place: FlashErrorPlace): unknown {
  if (error instanceof UserError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const advice = code === undefined ? undefined : FLASH_ERRNO_ADVICE[code]?.(place);
  if (!advice) return error;
  return new UserError(`${advice.message} (${code})`, { hint: advice.hint, cause: error });
}
