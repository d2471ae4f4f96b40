import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import {
  Agent,
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { dirname, join, posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listenOnLoopback } from './loopback.js';

/** Where mirrored Debian files are kept: $PIOT_DEBIAN_CACHE or /var/cache/piot/debian. */
export function debianCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PIOT_DEBIAN_CACHE ?? '/var/cache/piot/debian';
}

/** The archives a guest may reach, by the first path segment it asks for. */
export const DEBIAN_UPSTREAMS: Readonly<Record<string, string>> = {
  debian: 'http://deb.debian.org/debian',
  'debian-security': 'http://deb.debian.org/debian-security',
};

/** A caching Debian package source on loopback, for guests that have no internet. */
export interface DebianMirror {
  /** http://127.0.0.1:PORT; the archive is URL/debian, security updates URL/debian-security. */
  url: string;
  port: number;
  /** Requests answered from the cache, and from upstream. */
  stats: { cached: number; upstream: number };
  close(): Promise<void>;
}

export interface DebianMirrorOptions {
  cacheDir?: string;
  upstreams?: Readonly<Record<string, string>>;
  port?: number;
  log?: (line: string) => void;
}

const UPSTREAM_TIMEOUT_MS = 60_000;
const SAFE_PATH = /^[A-Za-z0-9._+~:@%=/-]+$/;

/**
 * Starts a proxy on 127.0.0.1 that passes GET and HEAD for the archives in `upstreams` on to
 * them, and nothing else. Files whose name says what they hold (pool/ packages, by-hash
 * indexes) are kept in the cache and never fetched again; the rest (InRelease and friends)
 * is always asked upstream, the last good copy served when upstream cannot answer.
 * apt checks every file against the archive's signature, so the proxy needs no trust.
 */
export async function startDebianMirror(options: DebianMirrorOptions = {}): Promise<DebianMirror> {
  const cacheDir = options.cacheDir ?? debianCacheDir();
  const upstreams = options.upstreams ?? DEBIAN_UPSTREAMS;
  const log = options.log ?? (() => undefined);
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const stats = { cached: 0, upstream: 0 };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = resolveTarget(req.url ?? '/', upstreams);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (!target) {
      res.writeHead(404).end('not a mirrored archive path\n');
      return;
    }
    const file = join(cacheDir, target.archive, target.path);
    const immutable = target.path.startsWith('pool/') || target.path.includes('/by-hash/');
    if (immutable && (await isFile(file))) {
      stats.cached++;
      log(`cache ${req.method} /${target.archive}/${target.path}`);
      await serveFile(file, req, res);
      return;
    }
    let upstream: IncomingMessage | undefined;
    let failure: string;
    try {
      upstream = await get(target.url, req.method, agent);
      failure = `HTTP ${upstream.statusCode}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    // Upstream down: the last good copy of an index is better than no answer.
    if (!upstream || (upstream.statusCode ?? 500) >= 500) {
      upstream?.resume();
      if (await isFile(file)) {
        stats.cached++;
        log(`stale ${req.method} /${target.archive}/${target.path} (upstream: ${failure})`);
        await serveFile(file, req, res);
      } else {
        log(`fail  ${req.method} ${target.url}: ${failure}`);
        res.writeHead(502).end(`upstream: ${failure}\n`);
      }
      return;
    }
    stats.upstream++;
    log(`${upstream.statusCode} ${req.method} ${target.url}`);
    const headers: Record<string, string> = {};
    for (const name of ['content-type', 'content-length', 'last-modified']) {
      const value = upstream.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    res.writeHead(upstream.statusCode ?? 502, headers);
    if (upstream.statusCode !== 200 || req.method === 'HEAD') {
      upstream.pipe(res);
      return;
    }
    await passAndKeep(upstream, res, file);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: Error) => {
      log(`error ${req.url}: ${error.message}`);
      if (!res.headersSent) res.writeHead(500);
      res.destroy();
    });
  });
  const listening = await listenOnLoopback(server, {
    port: options.port,
    onClose: () => agent.destroy(),
  });
  return { ...listening, stats };
}

/**
 * The apt sources of a Debian suite on a mirror at `base` (main only; as
 * /etc/apt/sources.list, one-line style, which every release reads).
 */
export function aptSources(suite: string, base: string): string {
  return [
    `deb ${base}/debian ${suite} main`,
    `deb ${base}/debian ${suite}-updates main`,
    `deb ${base}/debian-security ${suite}-security main`,
    '',
  ].join('\n');
}

function resolveTarget(
  rawUrl: string,
  upstreams: Readonly<Record<string, string>>,
): { archive: string; path: string; url: string } | undefined {
  const pathname = rawUrl.split('?')[0] ?? '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return undefined;
  }
  if (!SAFE_PATH.test(decoded)) return undefined;
  const normal = posix.normalize(decoded);
  // Anything that normalizes differently (.., //, ./) is refused rather than reinterpreted.
  if (normal !== decoded || !normal.startsWith('/')) return undefined;
  const [, archive = '', ...rest] = normal.split('/');
  const path = rest.join('/');
  const base = Object.hasOwn(upstreams, archive) ? upstreams[archive] : undefined;
  if (!base || !path || path.endsWith('/')) return undefined;
  return { archive, path, url: `${base}/${path}` };
}

function get(url: string, method: string | undefined, agent: Agent): Promise<IncomingMessage> {
  return new Promise((resolveGet, reject) => {
    const req = httpRequest(url, { method, agent, timeout: UPSTREAM_TIMEOUT_MS }, resolveGet);
    req.on('timeout', () => req.destroy(new Error('no answer in 60 s')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Streams an upstream answer to the client and into the cache; keeps it only if complete,
 * and ends the answer only once it is kept, so the next request for it is a cache hit.
 */
async function passAndKeep(
  upstream: IncomingMessage,
  res: ServerResponse,
  file: string,
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temp = `${file}.${randomBytes(4).toString('hex')}.part`;
  const out = createWriteStream(temp);
  const expected = Number(upstream.headers['content-length'] ?? NaN);
  let received = 0;
  upstream.on('data', (chunk: Buffer) => (received += chunk.length));
  upstream.pipe(res, { end: false });
  upstream.pipe(out, { end: false });
  const complete = await new Promise<boolean>((resolveDone) => {
    upstream.on('end', () => resolveDone(upstream.complete));
    upstream.on('error', () => resolveDone(false));
    upstream.on('aborted', () => resolveDone(false));
    res.on('close', () => {
      if (!upstream.complete) upstream.destroy();
    });
  });
  await new Promise<void>((resolveClose) => out.end(() => resolveClose()));
  if (complete && (Number.isNaN(expected) || expected === received)) {
    await rename(temp, file);
    res.end();
  } else {
    await rm(temp, { force: true });
    res.destroy();
  }
}

async function serveFile(file: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const info = await stat(file);
  res.writeHead(200, {
    'content-length': String(info.size),
    'last-modified': info.mtime.toUTCString(),
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((resolveSent) => {
    const stream = createReadStream(file);
    stream.on('error', () => {
      res.destroy();
      resolveSent();
    });
    res.on('close', () => resolveSent());
    stream.pipe(res);
  });
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
