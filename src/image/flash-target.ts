import { stat } from 'node:fs/promises';
import { UserError } from '../errors.js';
import {
  isSystemMount,
  SWAP,
  type BlockDevices,
  type Drive,
  type Mount,
  type Partition,
} from '../sys/drives.js';
import { fsErrorHint } from '../sys/fs.js';

/** What TARGET turned out to be. */
export type Target =
  | {
      kind: 'file';
      path: string;
      /** The file does not exist yet: PioT creates it, so unwritten ranges read as zeros. */
      fresh: boolean;
      /** TARGET is the image file itself. */
      sameAsImage: boolean;
    }
  | { kind: 'device'; path: string; drive: Drive; partition?: Partition };

/** Why a flash must not go ahead; `forceable` ones give way to --force. */
export interface Refusal {
  reason:
    | 'same-file'
    | 'system'
    | 'partition'
    | 'read-only'
    | 'mounted'
    | 'no-medium'
    | 'too-small'
    | 'not-removable';
  message: string;
  hint: string;
  forceable: boolean;
}

/** The checks' verdict: what stops the flash, and what to unmount before it. */
export interface TargetPlan {
  refusals: Refusal[];
  unmount: Mount[];
}

/** Bytes for people: 512 B, 3.5 KiB, 312 MiB, 29.7 GiB (one decimal under 100). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(1);
  return `${shown.replace(/\.0$/, '')} ${units[unit]}`;
}

/** Finds what a TARGET path is: a new or existing regular file, or a disk (or partition) here. */
export async function resolveTarget(
  path: string,
  options: { devices: BlockDevices; image: string },
): Promise<Target> {
  let number: string | undefined;
  try {
    number = await options.devices.deviceNumber(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { kind: 'file', path, fresh: true, sameAsImage: false };
    throw new UserError(`target ${path} cannot be read (${code ?? String(error)})`, {
      hint: fsErrorHint(code),
      cause: error,
    });
  }
  if (number === undefined) {
    const [info, image] = await Promise.all([stat(path), stat(options.image)]);
    if (!info.isFile()) {
      throw new UserError(`target ${path} is neither a disk nor a regular file`, {
        hint: 'give the card, such as /dev/sdb (see `piot flash --list`), or a file name to write',
      });
    }
    const same = info.dev === image.dev && info.ino === image.ino;
    return { kind: 'file', path, fresh: false, sameAsImage: same };
  }
  for (const drive of await options.devices.list()) {
    if (drive.devNumber === number) return { kind: 'device', path, drive };
    const partition = drive.partitions.find((p) => p.devNumber === number);
    if (partition) return { kind: 'device', path, drive, partition };
  }
  throw new UserError(`${path} is a block device but not a disk PioT knows (loop, RAM, LVM?)`, {
    hint: 'give a whole disk from `piot flash --list`',
  });
}

function describeMounts(mounts: Mount[]): string {
  return mounts.map((m) => `${m.mountpoint} (${m.device})`).join(', ');
}

function unmountCommand(mounts: Mount[]): string {
  const swaps = mounts.filter((m) => m.mountpoint === SWAP).map((m) => m.source);
  const points = mounts.filter((m) => m.mountpoint !== SWAP).map((m) => m.mountpoint);
  const quote = (text: string) => (/^[\w./@:+-]+$/.test(text) ? text : `'${text}'`);
  const commands = [];
  if (points.length > 0) commands.push(`sudo umount ${points.map(quote).join(' ')}`);
  if (swaps.length > 0) commands.push(`sudo swapoff ${swaps.map(quote).join(' ')}`);
  return commands.join(' and ');
}

const FORCEABLE = new Set<Refusal['reason']>(['partition', 'too-small', 'not-removable']);

function deviceRefusals(target: Extract<Target, { kind: 'device' }>, imageSize: number): Refusal[] {
  const { drive, partition } = target;
  const refusals: Refusal[] = [];
  const refuse = (reason: Refusal['reason'], message: string, hint: string) =>
    refusals.push({ reason, message, hint, forceable: FORCEABLE.has(reason) });
  const list = 'see the cards you can flash with `piot flash --list`';
  if (drive.system) {
    const system = drive.mounts.filter(isSystemMount);
    refuse('system', `${drive.path} holds the running system (${describeMounts(system)})`, list);
    return refusals;
  }
  if (partition) {
    refuse(
      'partition',
      `${target.path} is partition ${partition.name} of ${drive.path}; an image goes on the whole disk`,
      `piot flash IMAGE ${drive.path}`,
    );
  }
  if (drive.readOnly) {
    refuse(
      'read-only',
      `${drive.path} is read-only`,
      "slide the card's write-protect switch away from LOCK and insert it again",
    );
  }
  if (drive.mounts.length > 0) {
    refuse(
      'mounted',
      `${drive.path} has mounted partitions: ${describeMounts(drive.mounts)}`,
      `${unmountCommand(drive.mounts)}, or add --unmount to let PioT unmount them`,
    );
  }
  const size = partition?.size ?? drive.size;
  if (size === 0) {
    refuse('no-medium', `${target.path} has no medium (a card reader without a card?)`, list);
  } else if (size < imageSize) {
    refuse(
      'too-small',
      `${target.path} (${formatBytes(size)}) is smaller than the image (${formatBytes(imageSize)})`,
      'use a bigger card, or --force to write what fits (the write then fails at the end of the card)',
    );
  }
  if (!drive.removable && drive.transport !== 'usb' && drive.transport !== 'mmc') {
    const what = [drive.transport, drive.vendor, drive.model].filter(Boolean).join(' ');
    refuse(
      'not-removable',
      `${drive.path} is not a removable drive${what ? ` (${what})` : ''}`,
      `check it is the card you mean (${list}); --force writes to it anyway`,
    );
  }
  return refusals;
}

/**
 * What stops flashing an image of imageSize bytes to target, and what to unmount first.
 * The system disk and a mounted disk (unless options.unmount) are refused even with
 * --force: writing under a mounted filesystem lets its later writes corrupt the image.
 */
export function checkTarget(
  target: Target,
  imageSize: number,
  options: { force?: boolean; unmount?: boolean } = {},
): TargetPlan {
  if (target.kind === 'file') {
    const refusals: Refusal[] = target.sameAsImage
      ? [
          {
            reason: 'same-file',
            message: `${target.path} is the image itself`,
            hint: 'give another file or a card',
            forceable: false,
          },
        ]
      : [];
    return { refusals, unmount: [] };
  }
  const unmount = options.unmount && !target.drive.system ? target.drive.mounts : [];
  const refusals = deviceRefusals(target, imageSize).filter(
    (r) => !(r.reason === 'mounted' && unmount.length > 0) && !(r.forceable && options.force),
  );
  return { refusals, unmount };
}

/** One UserError listing every refusal with its hint, or undefined when there are none. */
export function refusalError(plan: TargetPlan): UserError | undefined {
  if (plan.refusals.length === 0) return undefined;
  const [first, ...rest] = plan.refusals;
  if (rest.length === 0) return new UserError(first!.message, { hint: first!.hint });
  return new UserError(
    `refusing to flash:\n${plan.refusals.map((r) => `  - ${r.message}`).join('\n')}`,
    { hint: plan.refusals.map((r) => r.hint).join('\n      ') },
  );
}
