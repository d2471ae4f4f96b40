import { Command } from 'commander';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../context.js';
import { runCli } from '../run.js';
import { addImageFetch } from './image-fetch.js';

const payload = randomBytes(200_000);
const sha256 = createHash('sha256').update(payload).digest('hex');
let server: Server;
let base: string;
let hits = 0;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits++;
    if (req.url === '/os_list.json') {
      const lite = {
        name: 'Raspberry Pi OS Lite (64-bit)',
        description: 'A port of Debian Trixie with no desktop environment',
        url: `${base}/2025-10-01-raspios-trixie-arm64-lite.img.xz`,
        extract_sha256: '0'.repeat(64),
        image_download_size: payload.length,
        image_download_sha256: sha256,
        release_date: '2025-10-01',
      };
      const other = { name: 'Raspberry Pi OS (other)', description: '', subitems: [lite] };
      return void res.end(JSON.stringify({ os_list: [other] }));
    }
    if (req.url?.endsWith('.img.xz')) return void res.end(payload);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => {
  server.closeAllConnections();
  server.close();
});

async function image(args: string[], color = false) {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    cwd: tmpdir(),
    out: (text) => out.push(text),
    err: (text) => err.push(text),
    color,
    env: {},
  };
  const program = (c: CliContext) => {
    const command = new Command('image').exitOverride();
    addImageFetch(command, c);
    return command;
  };
  const code = await runCli(['fetch', ...args], ctx, program);
  return { code, stdout: out.join(''), stderr: err.join('') };
}

describe('piot image fetch', () => {
  it('downloads Lite from the list, prints its path, then finds it cached', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'piot-image-cli-'));
    const args = ['--list-url', `${base}/os_list.json`, '--cache', cache];
    const first = await image(args);
    expect(first.code, first.stderr).toBe(0);
    const path = join(cache, '2025-10-01-raspios-trixie-arm64-lite.img.xz');
    expect(first.stdout).toBe(`${path}\n`);
    expect(readFileSync(path).equals(payload)).toBe(true);
    const progress = first.stderr.split('\n').filter((line) => line.includes('%'));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.length).toBeLessThanOrEqual(11);
    expect(progress.at(-1)).toMatch(/^0\.2 MB \/ 0\.2 MB {2}100% /);

    const hitsBefore = hits;
    const second = await image([...args, '--json']);
    expect(hits - hitsBefore).toBe(1); // the list only
    expect(second.stderr).toContain('already cached and verified');
    expect(JSON.parse(second.stdout)).toMatchObject({
      path,
      sha256,
      bytes: payload.length,
      url: `${base}/2025-10-01-raspios-trixie-arm64-lite.img.xz`,
      cached: true,
    });
  });

  it('draws progress as one updating line on a terminal', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'piot-image-cli-'));
    const result = await image(['--list-url', `${base}/os_list.json`, '--cache', cache], true);
    expect(result.code, result.stderr).toBe(0);
    const progress = result.stderr.split('\n').filter((line) => line.includes('%'));
    expect(progress).toHaveLength(1);
    const last = progress[0]?.split('\r').at(-1) ?? '';
    expect(last).toMatch(/^0\.2 MB \/ 0\.2 MB {2}100% .* ETA 0:00/);
    expect(last.endsWith('\x1b[K')).toBe(true);
  });

  it('refuses --url without --sha256 and a malformed --sha256, before any request', async () => {
    const hitsBefore = hits;
    const result = await image(['--url', `${base}/x.img.xz`, '--sha256', 'abc', '--arch', 'armhf']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--sha256 abc is not a SHA-256 (64 hex digits)');
    expect(result.stderr).toContain('--release and --arch choose from the image list');
    expect((await image(['--url', `${base}/x.img.xz`])).stderr).toContain('--url needs --sha256');
    expect(hits).toBe(hitsBefore);
  });

  it('reports a 404 with the URL and status', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'piot-image-cli-'));
    const url = `${base}/gone.iso`;
    const result = await image(['--url', url, '--sha256', sha256, '--cache', cache]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`error: ${url} answered HTTP 404 Not Found`);
  });
});
