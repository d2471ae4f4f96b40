import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { downloadImage, fetchImageList, selectImage } from './fetch.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const hex = (n: number) => n.toString(16).padStart(64, '0');

/** Shaped like os_list_imagingutility_v4.json (Lite images under "Raspberry Pi OS (other)"). */
function imagerList(base: string, liteArm64Sha = hex(1)) {
  const os = (name: string, description: string, path: string, sha256: string, date: string) => ({
    name,
    description,
    icon: 'https://downloads.raspberrypi.com/raspios_armhf/Raspberry_Pi_OS_(32-bit).png',
    url: `${base}/${path}`,
    extract_size: 2_936_012_800,
    extract_sha256: hex(99),
    image_download_size: 300_000,
    image_download_sha256: sha256,
    release_date: date,
    init_format: 'cloudinit-rpi',
    devices: ['pi5-64bit', 'pi4-64bit', 'pi3-64bit'],
    capabilities: ['rpi_connect'],
  });
  return {
    imager: { latest_version: '1.9.6', url: 'https://www.raspberrypi.com/software/' },
    os_list: [
      os(
        'Raspberry Pi OS (64-bit)',
        'A port of Debian Trixie with the Raspberry Pi Desktop (Recommended)',
        'raspios_arm64/images/raspios_arm64-2025-10-02/2025-10-01-raspios-trixie-arm64.img.xz',
        hex(2),
        '2025-10-01',
      ),
      {
        name: 'Raspberry Pi OS (other)',
        description: 'Other Raspberry Pi OS based images',
        icon: 'https://downloads.raspberrypi.com/raspios_armhf/Raspberry_Pi_OS_(32-bit).png',
        subitems: [
          os(
            'Raspberry Pi OS Lite (64-bit)',
            'A port of Debian Trixie with no desktop environment',
            'raspios_lite_arm64/images/raspios_lite_arm64-2025-10-02/2025-10-01-raspios-trixie-arm64-lite.img.xz',
            liteArm64Sha,
            '2025-10-01',
          ),
          os(
            'Raspberry Pi OS Lite (32-bit)',
            'A port of Debian Trixie with no desktop environment',
            'raspios_lite_armhf/images/raspios_lite_armhf-2025-10-02/2025-10-01-raspios-trixie-armhf-lite.img.xz',
            hex(3),
            '2025-10-01',
          ),
          os(
            'Raspberry Pi OS (Legacy, 64-bit) Lite',
            'A port of Debian Bookworm with security updates and no desktop environment',
            'raspios_oldstable_lite_arm64/images/raspios_oldstable_lite_arm64-2025-05-07/2025-05-06-raspios-bookworm-arm64-lite.img.xz',
            hex(4),
            '2025-05-06',
          ),
          os(
            'Raspberry Pi OS (Legacy, 32-bit) Lite',
            'A port of Debian Bookworm with security updates and no desktop environment',
            'raspios_oldstable_lite_armhf/images/raspios_oldstable_lite_armhf-2025-05-07/2025-05-06-raspios-bookworm-armhf-lite.img.xz',
            hex(5),
            '2025-05-06',
          ),
        ],
      },
      {
        name: 'Other general-purpose OS',
        description: 'Other general-purpose operating systems',
        subitems: [{ name: 'Ubuntu', subitems_url: 'https://example.invalid/ubuntu.json' }],
      },
      { name: 'Erase', description: 'Format card as FAT32', url: 'internal://format' },
    ],
  };
}

describe('selectImage', () => {
  const list = imagerList('https://downloads.raspberrypi.com');
  it('picks the current Lite image for each arch, and legacy ones by release', () => {
    expect(selectImage(list, {})).toMatchObject({
      name: 'Raspberry Pi OS Lite (64-bit)',
      release: 'trixie',
      arch: 'arm64',
      sha256: hex(1),
      size: 300_000,
      extractSha256: hex(99),
    });
    expect(selectImage(list, { arch: 'armhf' }).url).toMatch(/trixie-armhf-lite\.img\.xz$/);
    expect(selectImage(list, { release: 'Bookworm' }).url).toMatch(/bookworm-arm64-lite/);
    expect(selectImage(list, { release: 'bookworm', arch: 'armhf' }).sha256).toBe(hex(5));
  });

  it('names what is available for an unknown release or arch', () => {
    expect(() => selectImage(list, { release: 'bullseye' })).toThrow(
      /no Raspberry Pi OS Lite for bullseye on arm64/,
    );
    try {
      selectImage(list, { release: 'bullseye' });
    } catch (error) {
      expect((error as UserError).hint).toBe(
        'available: --release trixie --arch arm64, --release trixie --arch armhf, ' +
          '--release bookworm --arch arm64, --release bookworm --arch armhf',
      );
    }
    expect(() => selectImage(list, { arch: 'amd64' })).toThrow(/unknown architecture "amd64"/);
    expect(() => selectImage({ os_list: [] }, {})).toThrow(UserError);
  });
});

describe('downloadImage against a local server', () => {
  const payload = randomBytes(300_000);
  let server: Server;
  let base: string;
  let cacheDir: string;
  let requests: { url: string; range: string | undefined }[];
  let mode: { corrupt?: boolean; truncateAt?: number; ignoreRange?: boolean };

  beforeEach(async () => {
    requests = [];
    mode = {};
    server = createServer((req, res) => {
      requests.push({ url: req.url ?? '', range: req.headers.range });
      if (req.url === '/list.json')
        return void res.end(JSON.stringify(imagerList(base, sha(payload))));
      if (!req.url?.endsWith('.img.xz')) return void res.writeHead(404).end('no such file');
      const body = mode.corrupt ? Buffer.from(payload).fill(0, 1000, 1010) : payload;
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = range && !mode.ignoreRange ? Number(range[1]) : 0;
      if (start >= body.length) {
        return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      }
      const headers = { 'content-length': String(body.length - start) };
      if (start > 0) {
        res.writeHead(206, {
          ...headers,
          'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
        });
      } else res.writeHead(200, headers);
      if (mode.truncateAt !== undefined) {
        res.write(body.subarray(start, mode.truncateAt));
        mode.truncateAt = undefined;
        return void setTimeout(() => res.destroy(), 50);
      }
      res.end(body.subarray(start));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    cacheDir = mkdtempSync(join(tmpdir(), 'piot-image-'));
  });

  afterEach(() => {
    server.closeAllConnections();
    server.close();
  });

  const source = () => ({ url: `${base}/img/test.img.xz`, sha256: sha(payload) });
  const cached = () => readFileSync(join(cacheDir, 'test.img.xz'));

  it('downloads, verifies and names the file after the URL; a second run makes no request', async () => {
    const result = await downloadImage(source(), { cacheDir });
    expect(result).toEqual({
      path: join(cacheDir, 'test.img.xz'),
      sha256: sha(payload),
      bytes: payload.length,
      url: source().url,
      cached: false,
      resumedFrom: 0,
    });
    expect(cached().equals(payload)).toBe(true);
    expect(readdirSync(cacheDir)).toEqual(['test.img.xz']);
    const again = await downloadImage(source(), { cacheDir });
    expect(again.cached).toBe(true);
    expect(requests).toHaveLength(1);
  });

  it('deletes a download whose hash does not match and caches nothing', async () => {
    mode.corrupt = true;
    const error = await downloadImage(source(), { cacheDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    const message = (error as Error).message;
    expect(message).toContain(`SHA-256 mismatch for ${source().url}`);
    expect(message).toContain(`expected ${sha(payload)}`);
    expect(message).toMatch(/actual {3}[0-9a-f]{64}/);
    expect(message).not.toContain(`actual   ${sha(payload)}`);
    expect(readdirSync(cacheDir)).toEqual([]);
  });

  it('keeps a truncated download and resumes it with a Range request', async () => {
    mode.truncateAt = 100_000;
    const progress: number[] = [];
    await expect(
      downloadImage(source(), { cacheDir, onProgress: (p) => progress.push(p.bytes) }),
    ).rejects.toThrow(
      /^download interrupted at 100000 of 300000 bytes; run the same command again to resume$/,
    );
    expect(statSync(join(cacheDir, 'test.img.xz.part')).size).toBe(100_000);
    expect(existsSync(join(cacheDir, 'test.img.xz'))).toBe(false);
    const result = await downloadImage(source(), { cacheDir });
    expect(requests.map((r) => r.range)).toEqual([undefined, 'bytes=100000-']);
    expect(result.resumedFrom).toBe(100_000);
    expect(cached().equals(payload)).toBe(true);
    expect(readdirSync(cacheDir)).toEqual(['test.img.xz']);
    expect(progress.at(-1)).toBe(100_000);
  });

  it('starts over when the server ignores Range', async () => {
    writeFileSync(join(cacheDir, 'test.img.xz.part'), randomBytes(50_000));
    mode.ignoreRange = true;
    const result = await downloadImage(source(), { cacheDir });
    expect(requests.map((r) => r.range)).toEqual(['bytes=50000-']);
    expect(result.resumedFrom).toBe(0);
    expect(cached().equals(payload)).toBe(true);
  });

  it('keeps a complete .part left by a run that stopped before the rename', async () => {
    writeFileSync(join(cacheDir, 'test.img.xz.part'), payload);
    await downloadImage(source(), { cacheDir });
    expect(requests.map((r) => r.range)).toEqual(['bytes=300000-']);
    expect(cached().equals(payload)).toBe(true);
    expect(readdirSync(cacheDir)).toEqual(['test.img.xz']);
  });

  it('names the URL and status of a 404, and an unreachable server', async () => {
    const url = `${base}/img/missing.iso`;
    await expect(downloadImage({ url, sha256: sha(payload) }, { cacheDir })).rejects.toThrow(
      `${url} answered HTTP 404 Not Found`,
    );
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await expect(downloadImage(source(), { cacheDir })).rejects.toThrow(
      `cannot reach ${source().url}: ECONNREFUSED`,
    );
    await expect(fetchImageList(`${base}/list.json`)).rejects.toThrow(
      /cannot reach .*ECONNREFUSED/,
    );
  });

  it('fetches the list, selects Lite and downloads it', async () => {
    const image = selectImage(await fetchImageList(`${base}/list.json`), {});
    const result = await downloadImage(image, { cacheDir });
    expect(result.path).toBe(join(cacheDir, '2025-10-01-raspios-trixie-arm64-lite.img.xz'));
    expect(readFileSync(result.path).equals(payload)).toBe(true);
    await expect(fetchImageList(`${base}/nothing.json`)).rejects.toThrow(/HTTP 404/);
  });
});
