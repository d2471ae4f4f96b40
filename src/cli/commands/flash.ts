import type { Command } from 'commander';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { flash, type FlashProgress, type FlashResult } from '../../image/flash.js';
import { formatBytes } from '../../image/flash-target.js';
import {
  createBlockDevices,
  isFlashCandidate,
  type BlockDevices,
  type Drive,
} from '../../sys/drives.js';
import { colors, type CliContext } from '../context.js';
import {
  addDeviceSettingsOptions,
  configureImage,
  deviceSettings,
  type DeviceSettingsOptions,
} from '../image-settings.js';

/** What `piot flash` uses of the machine; tests pass fixture drives. */
export interface FlashDeps {
  devices: BlockDevices;
  /** stderr is a terminal: progress is one line updated in place. */
  progressTty: boolean;
  now: () => number;
}

interface FlashCliOptions extends DeviceSettingsOptions {
  list?: boolean;
  force?: boolean;
  unmount?: boolean;
  sparse?: boolean;
  verify: boolean;
  json?: boolean;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** A progress line: bytes, percent, speed, ETA. */
export function progressLine(progress: FlashProgress, seconds: number): string {
  const { phase, done, total } = progress;
  const percent = total === 0 ? 100 : Math.floor((done / total) * 100);
  const speed = seconds > 0 ? done / seconds : 0;
  const eta = speed > 0 ? formatDuration((total - done) / speed) : '?';
  const verb = phase === 'write' ? 'writing  ' : 'verifying';
  return `${verb} ${formatBytes(done)} of ${formatBytes(total)}  ${percent}%  ${formatBytes(speed)}/s  ETA ${eta}`;
}

/** Prints progress on stderr: one line redrawn on a terminal (at most 5 a second), else a line per 10%. */
function progressPrinter(ctx: CliContext, tty: boolean, now: () => number) {
  let phase: FlashProgress['phase'] | undefined;
  let started = 0;
  let lastDraw = 0;
  let lastTenth = 0;
  let open = false;
  const finishLine = () => {
    if (open) ctx.err('\n');
    open = false;
  };
  return {
    update(progress: FlashProgress) {
      const time = now();
      if (progress.phase !== phase) {
        finishLine();
        phase = progress.phase;
        started = time;
        lastDraw = 0;
        lastTenth = 0;
      }
      const line = progressLine(progress, (time - started) / 1000);
      const complete = progress.done >= progress.total;
      if (tty) {
        if (time - lastDraw < 200 && !complete) return;
        lastDraw = time;
        ctx.err(`\r${line}\x1b[K`);
        open = true;
      } else {
        const tenth = Math.floor((progress.done / progress.total) * 10);
        if (tenth <= lastTenth) return;
        lastTenth = tenth;
        ctx.err(`${line}\n`);
      }
    },
    finish: finishLine,
  };
}

function describeDrive(drive: Drive): string {
  const model = [drive.vendor, drive.model].filter(Boolean).join(' ') || 'unknown model';
  const mounted = drive.mounts.map((m) => m.mountpoint).join(', ');
  return [
    drive.path.padEnd(14),
    formatBytes(drive.size).padStart(9),
    `  ${model}${drive.transport ? ` (${drive.transport})` : ''}`,
    mounted ? `  mounted: ${mounted}` : '',
  ].join('');
}

async function listCandidates(ctx: CliContext, devices: BlockDevices, json: boolean) {
  const candidates = (await devices.list()).filter(isFlashCandidate);
  const cards = candidates.filter((d) => d.size > 0);
  const empty = candidates.filter((d) => d.size === 0);
  if (json) {
    ctx.out(`${JSON.stringify(cards, null, 2)}\n`);
    return;
  }
  for (const drive of cards) ctx.out(`${describeDrive(drive)}\n`);
  if (cards.length === 0) {
    ctx.out('no removable drive found: insert the card (or its USB reader) and run this again\n');
  }
  if (empty.length > 0) {
    ctx.out(`card readers without a card: ${empty.map((d) => d.path).join(', ')}\n`);
  }
}

function report(ctx: CliContext, image: string, result: FlashResult) {
  const c = colors(ctx);
  const skipped = result.skipped > 0 ? ` (skipped ${formatBytes(result.skipped)} of zeros)` : '';
  ctx.out(
    `${c.green('✔')} flashed ${image} to ${result.target} in ${formatDuration(result.seconds)}\n`,
  );
  ctx.out(
    `  wrote ${formatBytes(result.bytesWritten)} of ${formatBytes(result.imageSize)}${skipped}\n`,
  );
  ctx.out(
    result.verified
      ? `  verified: the read-back matches sha256 ${result.sha256}\n`
      : `  ${c.yellow('not verified')} (--no-verify); image sha256 ${result.sha256}\n`,
  );
}

export function registerFlash(
  program: Command,
  ctx: CliContext,
  deps: FlashDeps = {
    devices: createBlockDevices(),
    progressTty: Boolean(process.stderr.isTTY),
    now: Date.now,
  },
): void {
  const command = program
    .command('flash')
    .description('write an .img or .img.xz to an SD card (or a file), then read it back to verify')
    .argument('[image]', 'a raw .img, or .img.xz (recognised by content)')
    .argument('[target]', 'the card, such as /dev/sdb, or a file to write')
    .option('--list', 'list the removable drives one could flash')
    .option('--force', 'also write to a non-removable disk, a partition or a too-small target')
    .option('--unmount', "unmount the target's mounted partitions first")
    .option(
      '--sparse',
      'skip zero blocks the target already reads as zero (default for a new file)',
    )
    .option('--no-sparse', 'write every block, zeros included')
    .option('--no-verify', 'do not read the target back to compare SHA-256')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The system disk is always refused, --force or not. A disk with mounted partitions is
refused until they are unmounted (--unmount does it). Blocks of zeros are skipped when
the target is a new file (it gets holes) or with --sparse (a zero block is read from the
target first and written only if the target has something else there).

Examples:
  piot flash --list                           find the card
  piot flash raspios.img.xz /dev/sdb          flash and verify
  piot flash raspios.img.xz /dev/sdb --unmount   unmount the card's partitions first
  piot flash raspios.img.xz pi.img --json     unpack into a (sparse) file
  piot flash raspios.img.xz /dev/sdb --device kitchen --repo https://… --wifi-country GB \\
    --wifi 'Home:secret'                      configure on the fly (see piot image configure)

With --device (or --from), the card gets a configured copy of IMAGE, made in $TMPDIR
($PIOT_FLASH_TMPDIR to choose), as \`piot image configure\` would write it.`,
    )
    .action(
      async (image: string | undefined, target: string | undefined, options: FlashCliOptions) => {
        if (options.list) {
          await listCandidates(ctx, deps.devices, Boolean(options.json));
          return;
        }
        if (!image || !target) {
          throw new UserError('piot flash needs an IMAGE and a TARGET', {
            hint: 'piot flash raspios.img.xz /dev/sdb (find the card with `piot flash --list`)',
            exitCode: 2,
          });
        }
        // With device options, the card gets a configured copy: every setting is checked
        // before anything is written, and the image itself stays as it was.
        let source = resolve(ctx.cwd, image);
        let scratch: string | undefined;
        if (options.device !== undefined || options.from !== undefined) {
          const settings = await deviceSettings(options, ctx);
          scratch = await mkdtemp(join(ctx.env.PIOT_FLASH_TMPDIR ?? tmpdir(), 'piot-flash-'));
          const configured = join(scratch, 'configured.img');
          // With --json, stdout is for the flash result alone.
          const report = options.json ? { ...ctx, out: ctx.err } : ctx;
          await configureImage(source, settings, { out: configured, fleet: options.fleet }, report);
          source = configured;
        }
        const progress = progressPrinter(ctx, deps.progressTty, deps.now);
        let result;
        try {
          result = await flash(source, resolve(ctx.cwd, target), {
            devices: deps.devices,
            force: options.force,
            unmount: options.unmount,
            sparse: options.sparse,
            verify: options.verify,
            now: deps.now,
            onProgress: (p) => progress.update(p),
            onUnmount: (mount) => {
              progress.finish();
              ctx.err(`unmounted ${mount.mountpoint} (${mount.source})\n`);
            },
          });
        } finally {
          progress.finish();
          if (scratch) await rm(scratch, { recursive: true, force: true });
        }
        if (options.json) {
          const { bytesWritten, imageSize, skipped, sha256, verified, seconds } = result;
          const data = {
            target: result.target,
            bytesWritten,
            imageSize,
            skipped,
            sha256,
            verified,
            seconds,
          };
          ctx.out(`${JSON.stringify(data, null, 2)}\n`);
        } else {
          report(ctx, image, result);
        }
      },
    );
  addDeviceSettingsOptions(command);
}
