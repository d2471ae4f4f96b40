import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { fsErrorHint, syncDir } from '../sys/fs.js';
import { withLock } from '../sys/lock.js';

/** The OS list Raspberry Pi Imager reads. */
export const IMAGE_LIST_URL = 'https://downloads.raspberrypi.com/os_list_imagingutility_v4.json';
export const SHA256 = /^[0-9a-f]{64}$/i;

/** A file to download and the SHA-256 of its bytes, with what the list says about it. */
export interface ImageSource {
  url: string;
  sha256: string;
  size?: number;
  name?: string;
  release?: string;
  arch?: 'arm64' | 'armhf';
  releaseDate?: string;
  /** SHA-256 of the decompressed image. */
  extractSha256?: string;
}

const Entry = z.object({
  name: z.string(),
  description: z.string().default(''),
  url: z.string(),
  image_download_sha256: z.string().regex(SHA256),
  image_download_size: z.number().int().nonnegative().optional(),
  extract_sha256: z.string().optional(),
  release_date: z.string().optional(),
});
type Entry = z.infer<typeof Entry>;

/** Every downloadable entry of an Imager list, nested `subitems` flattened. */
function* entries(items: unknown): Generator<Entry> {
  if (!Array.isArray(items)) return;
  for (const item of items as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const parsed = Entry.safeParse(item);
    if (parsed.success) yield parsed.data;
    yield* entries((item as { subitems?: unknown }).subitems);
  }
}

/** The Debian release of an entry: from its URL (…-raspios-trixie-arm64-lite…) or "Debian Bookworm". */
function releaseOf(e: Entry): string | undefined {
  const match =
    /-raspios-([a-z]+)-(?:arm64|armhf)/.exec(e.url) ??
    /\bDebian ([A-Za-z]+)/.exec(e.description) ??
    /\b(bullseye|bookworm|trixie|forky)\b/i.exec(e.name);
  return match?.[1]?.toLowerCase();
}

function archOf(e: Entry): 'arm64' | 'armhf' | undefined {
  if (/\b64-bit\b/.test(e.name)) return 'arm64';
  if (/\b32-bit\b/.test(e.name)) return 'armhf';
  return /arm64/.test(e.url) ? 'arm64' : /armhf/.test(e.url) ? 'armhf' : undefined;
}

/**
 * Picks Raspberry Pi OS Lite for an arch (default arm64) and release (default the current one,
 * i.e. not "Legacy") from a parsed Imager list; a UserError lists what is available otherwise.
 */
export function selectImage(
  list: unknown,
  wanted: { release?: string; arch?: string },
): ImageSource {
  const arch = wanted.arch ?? 'arm64';
  if (arch !== 'arm64' && arch !== 'armhf') {
    throw new UserError(`unknown architecture "${arch}"`, {
      hint: 'use --arch arm64 (Pi 3, 4, 5, Zero 2 W) or --arch armhf (every Pi, 32-bit)',
      exitCode: 2,
    });
  }
  const seen = new Set<string>();
  const lite = [...entries((list as { os_list?: unknown } | null)?.os_list)]
    .filter(
      (e) => /^Raspberry Pi OS\b.*\bLite\b/.test(e.name) && !seen.has(e.url) && seen.add(e.url),
    )
    .map((e) => ({ e, release: releaseOf(e), arch: archOf(e) }));
  const release = wanted.release?.toLowerCase();
  const [best] = lite
    .filter((c) => c.arch === arch && (release === undefined || c.release === release))
    .sort(
      (a, b) =>
        Number(/legacy/i.test(a.e.name)) - Number(/legacy/i.test(b.e.name)) ||
        (b.e.release_date ?? '').localeCompare(a.e.release_date ?? ''),
    );
  if (!best) {
    const available = [...new Set(lite.map((c) => `--release ${c.release} --arch ${c.arch}`))];
    throw new UserError(
      `the image list has no Raspberry Pi OS Lite for ${release ?? 'the current release'} on ${arch}`,
      {
        hint: available.length
          ? `available: ${available.join(', ')}`
          : 'the list has no Raspberry Pi OS Lite at all: check --list-url',
        exitCode: 2,
      },
    );
  }
  return {
    url: best.e.url,
    sha256: best.e.image_download_sha256.toLowerCase(),
    size: best.e.image_download_size,
    name: best.e.name,
    release: best.release,
    arch,
    releaseDate: best.e.release_date,
    extractSha256: best.e.extract_sha256,
  };
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  try {
    // identity: a transparently decompressed body would break Range offsets and the hash.
    return await fetch(url, { headers: { 'accept-encoding': 'identity', ...headers } });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new UserError(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? String(error)}`, {
      hint: 'check the network connection and the URL',
      cause: error,
    });
  }
}

async function httpError(url: string, res: Response): Promise<UserError> {
  await res.body?.cancel();
  return new UserError(`${url} answered HTTP ${res.status} ${res.statusText}`.trim(), {
    hint: res.status === 404 ? 'check the URL (an old release may have been removed)' : undefined,
  });
}

/** Downloads and parses an Imager OS list; a UserError if it is unreachable or not one. */
export async function fetchImageList(url: string): Promise<unknown> {
  const res = await get(url);
  if (!res.ok) throw await httpError(url, res);
  let data: unknown;
  try {
    data = JSON.parse(await res.text());
  } catch (error) {
    throw new UserError(`${url} is not JSON`, { hint: 'check --list-url', cause: error });
  }
  if (!Array.isArray((data as { os_list?: unknown } | null)?.os_list)) {
    throw new UserError(`${url} is not a Raspberry Pi Imager OS list (no os_list)`, {
      hint: 'check --list-url',
    });
  }
  return data;
}

/** Where images are kept: $PIOT_IMAGE_CACHE, else $XDG_CACHE_HOME or ~/.cache, then piot/images. */
export function defaultImageCache(env: NodeJS.ProcessEnv): string {
  if (env.PIOT_IMAGE_CACHE) return env.PIOT_IMAGE_CACHE;
  return join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'piot', 'images');
}

/** The cache file name for a URL: its last path segment, or one made from the hash. */
export function cacheFileName(url: string, sha256: string): string {
  let base = '';
  try {
    base = decodeURIComponent(posix.basename(new URL(url).pathname));
  } catch {
    // A malformed %-escape: fall back to the hash name.
  }
  return /^\w[\w.+~-]*$/.test(base) && !/\.(part|lock)$/.test(base)
    ? base
    : `image-${sha256.slice(0, 16)}`;
}

/** Download progress: bytes in the .part so far, of total if known. */
export interface Progress {
  bytes: number;
  total: number | undefined;
  resumedFrom: number;
}

/** What `downloadImage` left in the cache. */
export interface FetchedImage {
  path: string;
  sha256: string;
  bytes: number;
  url: string;
  cached: boolean;
  resumedFrom: number;
}

async function hashFile(path: string, hash = createHash('sha256')): Promise<Hash> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

const sizeOf = (path: string) =>
  stat(path).then(
    (s) => s.size,
    () => 0,
  );

/**
 * Puts the file at source.url into cacheDir, named after the URL, unless a file with the right
 * SHA-256 is there. Streams into NAME.part while hashing, resumes an existing .part with a
 * Range request, and renames only a verified file into place. A broken transfer keeps the
 * .part for the next run; a hash mismatch deletes it. Failures are UserErrors.
 */
export async function downloadImage(
  source: { url: string; sha256: string; size?: number },
  options: { cacheDir: string; onProgress?: (progress: Progress) => void },
): Promise<FetchedImage> {
  const sha256 = source.sha256.toLowerCase();
  if (!SHA256.test(sha256))
    throw new UserError(`"${source.sha256}" is not a SHA-256 (64 hex digits)`);
  const path = join(options.cacheDir, cacheFileName(source.url, sha256));
  try {
    await mkdir(options.cacheDir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserError(`cannot create the image cache ${options.cacheDir} (${code})`, {
      hint: fsErrorHint(code),
    });
  }
  let locked = false;
  try {
    return await withLock(
      `${path}.lock`,
      async () => {
        locked = true;
        const result = async (cached: boolean, resumedFrom: number) => {
          const bytes = await sizeOf(path);
          return { path, sha256, bytes, url: source.url, cached, resumedFrom };
        };
        if ((await sizeOf(path)) > 0 && (await hashFile(path)).digest('hex') === sha256) {
          return result(true, 0);
        }
        return result(false, await transfer({ ...source, sha256 }, path, options.onProgress));
      },
      { waitMs: 0 },
    );
  } catch (error) {
    if (locked || error instanceof UserError || (error as NodeJS.ErrnoException).code) throw error;
    throw new UserError(`another piot is downloading ${path}`, {
      hint: 'wait for it to finish, then run the same command again',
      cause: error,
    });
  }
}

/** Downloads (or resumes) into PATH.part, verifies it and renames it to path; the offset resumed from. */
async function transfer(
  source: { url: string; sha256: string; size?: number },
  path: string,
  onProgress?: (progress: Progress) => void,
): Promise<number> {
  const { url, sha256 } = source;
  const part = `${path}.part`;
  let offset = await sizeOf(part);
  let res = await get(url, offset > 0 ? { range: `bytes=${offset}-` } : {});
  const range = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
  if (res.status === 416 || (res.status === 206 && Number(range?.[1]) !== offset)) {
    // The part is complete (416), or the server answered a range we did not ask for.
    await res.body?.cancel();
    if (res.status === 416 && (await hashFile(part)).digest('hex') === sha256) {
      await rename(part, path);
      await syncDir(join(path, '..'));
      return offset;
    }
    await rm(part, { force: true });
    offset = 0;
    res = await get(url);
  }
  if (!res.ok) throw await httpError(url, res);
  // 200 to a Range request: the server starts over, so do we.
  if (res.status !== 206) offset = 0;
  const hash = offset > 0 ? await hashFile(part) : createHash('sha256');
  const length = Number(res.headers.get('content-length') ?? NaN);
  const total = Number.isFinite(length) ? offset + length : source.size;
  const handle = await open(part, offset > 0 ? 'a' : 'w');
  let bytes = offset;
  let interrupted = false;
  try {
    const body: AsyncIterable<Uint8Array> = res.body ?? Readable.from([]);
    for await (const chunk of body) {
      hash.update(chunk);
      await handle.write(chunk).catch((error: NodeJS.ErrnoException) => {
        throw new UserError(`cannot write ${part} (${error.code})`, {
          hint: fsErrorHint(error.code),
        });
      });
      bytes += chunk.length;
      onProgress?.({ bytes, total, resumedFrom: offset });
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    interrupted = true;
  } finally {
    await handle.sync().finally(() => handle.close());
  }
  if (interrupted || (total !== undefined && bytes < total)) {
    throw new UserError(
      `download interrupted at ${bytes} of ${total ?? 'unknown'} bytes; run the same command again to resume`,
      { hint: `the partial file is ${part}` },
    );
  }
  const actual = hash.digest('hex');
  if (actual !== sha256) {
    await rm(part, { force: true });
    throw new UserError(
      `SHA-256 mismatch for ${url}\n  expected ${sha256}\n  actual   ${actual}\nthe download was deleted`,
      {
        hint:
          offset > 0
            ? 'the file may have changed on the server since the interrupted download; run again to start over'
            : 'the file on the server is not the one expected: check --sha256, or try again later',
      },
    );
  }
  await rename(part, path);
  await syncDir(join(path, '..'));
  return offset;
}
