import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aptSources, startDebianMirror, type DebianMirror } from './debian-mirror.js';

const POOL = '/debian/pool/main/n/nodejs/nodejs_18.19.0_amd64.deb';
const DEB = Buffer.alloc(300_000, 7);

let upstream: Server;
let upstreamHits: string[];
let upstreamMode: 'ok' | 'down' | 'truncate';
let mirror: DebianMirror;
let cache: string;

beforeEach(async () => {
  upstreamHits = [];
  upstreamMode = 'ok';
  upstream = createServer((req, res) => {
    upstreamHits.push(`${req.method} ${req.url}`);
    if (upstreamMode === 'down') return void res.writeHead(503).end();
    if (req.url === '/main/pool/main/n/nodejs/nodejs_18.19.0_amd64.deb') {
      res.writeHead(200, { 'content-length': String(DEB.length) });
      if (upstreamMode === 'truncate') {
        res.write(DEB.subarray(0, 1000));
        setTimeout(() => res.destroy(), 50);
        return;
      }
      return void res.end(DEB);
    }
    if (req.url === '/main/dists/bookworm/InRelease') return void res.end(`signed ${Date.now()}`);
    if (req.url === '/security/dists/bookworm-security/InRelease') return void res.end('sec');
    res.writeHead(404).end('no such file');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  cache = mkdtempSync(join(tmpdir(), 'piot-debian-'));
  mirror = await startDebianMirror({
    cacheDir: cache,
    upstreams: { debian: `${base}/main`, 'debian-security': `${base}/security` },
  });
});

afterEach(async () => {
  await mirror.close();
  upstream.closeAllConnections();
  upstream.close();
});

/** A raw request (fetch() would normalise the path before the mirror sees it). */
function get(path: string, method = 'GET'): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${mirror.url}${path}`, { method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the Debian mirror', () => {
  it('fetches a package once and serves it from the cache after that', async () => {
    expect(await get(POOL)).toEqual({ status: 200, body: DEB });
    expect(await get(POOL)).toEqual({ status: 200, body: DEB });
    expect((await get(POOL, 'HEAD')).status).toBe(200);
    expect(upstreamHits).toEqual([`GET /main/pool/main/n/nodejs/nodejs_18.19.0_amd64.deb`]);
    expect(mirror.stats).toEqual({ cached: 2, upstream: 1 });
  });

  it('asks upstream for InRelease every time, and serves the last copy when upstream is down', async () => {
    const first = await get('/debian/dists/bookworm/InRelease');
    await new Promise((r) => setTimeout(r, 5));
    const second = await get('/debian/dists/bookworm/InRelease');
    expect(second.body.toString()).not.toBe(first.body.toString());
    expect(upstreamHits).toHaveLength(2);
    upstreamMode = 'down';
    expect((await get('/debian/dists/bookworm/InRelease')).body).toEqual(second.body);
    expect((await get('/debian-security/dists/bookworm-security/InRelease')).status).toBe(502);
  });

  it('keeps nothing of a download cut short', async () => {
    upstreamMode = 'truncate';
    await get(POOL).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 100));
    const files = readdirSync(join(cache, 'debian/pool/main/n/nodejs'));
    expect(files).toEqual([]);
    upstreamMode = 'ok';
    expect(await get(POOL)).toEqual({ status: 200, body: DEB });
    // The client has every byte (Content-Length) a moment before the file is renamed into place.
    const kept = join(cache, 'debian/pool/main/n/nodejs/nodejs_18.19.0_amd64.deb');
    for (let i = 0; i < 40 && !existsSync(kept); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(kept)).toBe(true);
  });

  it('passes 404 on uncached, and reaches nothing but the mirrored archives', async () => {
    expect((await get('/debian/pool/main/x/none.deb')).status).toBe(404);
    expect(readdirSync(cache)).toEqual([]);
    upstreamHits = [];
    for (const path of [
      '/',
      '/ubuntu/dists/noble/InRelease',
      '/debian/../main/dists/bookworm/InRelease',
      '/debian/%2e%2e/secret',
      '/debian//etc/passwd',
      '/debian/pool/',
      '/constructor/x',
    ])
      expect((await get(path)).status, path).toBe(404);
    expect((await get(POOL, 'POST')).status).toBe(405);
    expect(upstreamHits).toEqual([]);
  });

  it('writes apt sources for a suite on the mirror', () => {
    expect(aptSources('bookworm', 'http://10.0.2.101')).toBe(
      'deb http://10.0.2.101/debian bookworm main\n' +
        'deb http://10.0.2.101/debian bookworm-updates main\n' +
        'deb http://10.0.2.101/debian-security bookworm-security main\n',
    );
  });
});
