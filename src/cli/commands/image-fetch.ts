import type { Command } from 'commander';
import { resolve } from 'node:path';
import { UserError } from '../../errors.js';
import {
  defaultImageCache,
  downloadImage,
  fetchImageList,
  IMAGE_LIST_URL,
  selectImage,
  SHA256,
  type ImageSource,
  type Progress,
} from '../../image/fetch.js';
import { colors, type CliContext } from '../context.js';

interface FetchOptions {
  release?: string;
  arch?: string;
  url?: string;
  sha256?: string;
  cache?: string;
  listUrl: string;
  json?: boolean;
}

/** Adds `fetch` to the `piot image` command. */
export function addImageFetch(image: Command, ctx: CliContext): void {
  image
    .command('fetch')
    .description('download Raspberry Pi OS Lite (or any image) into the cache, verified by SHA-256')
    .option('--release <name>', 'Raspberry Pi OS release: bookworm, trixie (default: the current)')
    .option('--arch <arch>', 'arm64 (Pi 3, 4, 5, Zero 2 W) or armhf (every Pi) (default: arm64)')
    .option('--url <url>', 'download this image instead of one from the list (needs --sha256)')
    .option('--sha256 <hex>', 'SHA-256 of the file at --url')
    .option(
      '--cache <dir>',
      'where images are kept (default: $PIOT_IMAGE_CACHE, ~/.cache/piot/images)',
    )
    .option('--list-url <url>', 'the Raspberry Pi Imager OS list', IMAGE_LIST_URL)
    .option('--json', 'print path, sha256, bytes and url as JSON')
    .addHelpText(
      'after',
      `
Prints the path of the image on stdout. An interrupted download resumes where it stopped
when the same command runs again.

Examples:
  piot image fetch                          Raspberry Pi OS Lite, current release, 64-bit
  piot image fetch --release bookworm --arch armhf
  piot image fetch --url https://example.com/custom.img.xz --sha256 9f86d0…
  piot image fetch --json                   path, sha256, bytes and url as JSON`,
    )
    .action(async (options: FetchOptions) => {
      const source = await resolveSource(options);
      const c = colors(ctx);
      const what = source.name
        ? `${source.name} (${[source.release, source.arch, source.releaseDate].filter(Boolean).join(', ')})`
        : source.url;
      ctx.err(`${c.dim('fetching')} ${what}\n`);
      const progress = progressReporter(ctx);
      const cacheDir = options.cache ? resolve(ctx.cwd, options.cache) : defaultImageCache(ctx.env);
      const result = await downloadImage(source, { cacheDir, onProgress: progress.update });
      progress.done();
      ctx.err(
        result.cached
          ? `${c.green('✔')} already cached and verified\n`
          : `${c.green('✔')} downloaded and verified (sha256 ${result.sha256.slice(0, 12)}…)\n`,
      );
      if (options.json) {
        const { path, sha256, bytes, url, cached } = result;
        const data = { path, sha256, bytes, url, cached, extractSha256: source.extractSha256 };
        ctx.out(`${JSON.stringify(data, null, 2)}\n`);
      } else {
        ctx.out(`${result.path}\n`);
      }
    });
}

/** Checks the options (every problem at once), then reads the list unless --url is given. */
async function resolveSource(options: FetchOptions): Promise<ImageSource> {
  const problems: string[] = [];
  if (options.url !== undefined) {
    if (!/^https?:\/\//.test(options.url) || !URL.canParse(options.url))
      problems.push(`--url ${options.url} is not an http(s) URL`);
    if (options.sha256 === undefined)
      problems.push('--url needs --sha256 (the SHA-256 of the file, as published with it)');
    if (options.release !== undefined || options.arch !== undefined)
      problems.push('--release and --arch choose from the image list; --url replaces it');
  } else if (options.sha256 !== undefined) {
    problems.push('--sha256 goes with --url (list entries carry their own)');
  }
  if (options.sha256 !== undefined && !SHA256.test(options.sha256))
    problems.push(`--sha256 ${options.sha256} is not a SHA-256 (64 hex digits)`);
  if (problems.length > 0) {
    throw new UserError(problems.join('\n'), {
      hint: 'piot image fetch --url URL --sha256 HEX, or --release/--arch for Raspberry Pi OS Lite',
      exitCode: 2,
    });
  }
  if (options.url !== undefined) return { url: options.url, sha256: options.sha256 ?? '' };
  return selectImage(await fetchImageList(options.listUrl), options);
}

const MB = 1024 * 1024;
const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const clock = (s: number) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;

/** Progress on stderr: one updating line on a terminal, else a line at most every 10%. */
function progressReporter(ctx: CliContext, now = () => Date.now()) {
  // CliContext tells whether output is a terminal only through `color`.
  const tty = ctx.color;
  const start = now();
  let lastDraw = 0;
  let lastTenth = -1;
  let drawn = false;
  let announced = false;
  const line = (p: Progress) => {
    const seconds = Math.max((now() - start) / 1000, 0.001);
    const speed = (p.bytes - p.resumedFrom) / seconds;
    if (p.total === undefined) return `${mb(p.bytes)}  ${mb(speed)}/s`;
    const eta = speed > 0 ? clock((p.total - p.bytes) / speed) : '?';
    const percent = Math.floor((100 * p.bytes) / p.total);
    return `${mb(p.bytes)} / ${mb(p.total)}  ${percent}%  ${mb(speed)}/s  ETA ${eta}`;
  };
  return {
    update: (p: Progress) => {
      if (!announced && p.resumedFrom > 0) ctx.err(`resuming at ${mb(p.resumedFrom)}\n`);
      announced = true;
      const finished = p.total !== undefined && p.bytes >= p.total;
      if (tty) {
        if (!finished && now() - lastDraw < 200) return;
        lastDraw = now();
        ctx.err(`\r${line(p)}\x1b[K`);
      } else {
        if (p.total === undefined) return;
        const tenth = Math.floor((10 * p.bytes) / p.total);
        if (tenth === lastTenth) return;
        lastTenth = tenth;
        ctx.err(`${line(p)}\n`);
      }
      drawn = true;
    },
    done: () => {
      if (tty && drawn) ctx.err('\n');
    },
  };
}
