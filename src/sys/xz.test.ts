import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UserError } from '../errors.js';
import { isXz, parseXzList, xzDecompress, xzUncompressedSize } from './xz.js';

const dir = mkdtempSync(join(tmpdir(), 'piot-xz-'));
const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(200_000), randomBytes(1000)]);
const plain = join(dir, 'disk.img');
writeFileSync(plain, data);
execFileSync('xz', ['-k', '-0', plain]);
const packed = `${plain}.xz`;

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('xz', () => {
  it('recognises xz by its magic bytes, not its name', async () => {
    const renamed = join(dir, 'disk.bin');
    writeFileSync(renamed, readFileSync(packed));
    const fake = join(dir, 'fake.img.xz');
    writeFileSync(fake, 'not xz at all');
    expect(await isXz(packed)).toBe(true);
    expect(await isXz(renamed)).toBe(true);
    expect(await isXz(fake)).toBe(false);
    expect(await isXz(plain)).toBe(false);
  });

  it('streams the decompressed bytes', async () => {
    expect((await buffer(xzDecompress(packed))).equals(data)).toBe(true);
  });

  it('reads the uncompressed size from the index', async () => {
    expect(await xzUncompressedSize(packed)).toBe(data.length);
    expect(
      parseXzList(
        'name\tx.xz\nfile\t1\t1\t10\t4096\t0.002\tCRC64\t0\ntotals\t1\t1\t10\t4096\t0.002\tCRC64\t0\t1\n',
      ),
    ).toBe(4096);
    expect(parseXzList('garbage')).toBeUndefined();
  });

  it('fails a truncated file with xz’s reason instead of ending the stream early', async () => {
    const truncated = join(dir, 'truncated.img.xz');
    writeFileSync(truncated, readFileSync(packed).subarray(0, 20_000));
    const error = await buffer(xzDecompress(truncated)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(
      /truncated\.img\.xz is not a valid \.xz file: .*(corrupt|Unexpected end)/,
    );
    expect((error as UserError).hint).toMatch(/download it again/);
    await expect(xzUncompressedSize(truncated)).rejects.toThrow(/is not a valid \.xz file/);
  });

  it('says to install xz-utils when xz is missing', async () => {
    vi.stubEnv('PATH', mkdtempSync(join(tmpdir(), 'piot-empty-path-')));
    const error = await buffer(xzDecompress(packed)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(/xz is not installed/);
    expect((error as UserError).hint).toMatch(/xz-utils/);
    await expect(xzUncompressedSize(packed)).rejects.toThrow(/xz is not installed/);
  });
});
