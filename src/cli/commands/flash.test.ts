import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BlockDevices, Drive } from '../../sys/drives.js';
import { buildProgram } from '../command.js';
import type { CliContext } from '../context.js';
import { runCli } from '../run.js';
import { progressLine, registerFlash, type FlashDeps } from './flash.js';

const MiB = 1024 ** 2;
const ERASE_LINE = '\x1b[K';

function drive(overrides: Partial<Drive>): Drive {
  return {
    name: 'sdb',
    path: '/dev/sdb',
    devNumber: '8:16',
    size: 29.7 * 1024 * MiB,
    removable: true,
    readOnly: false,
    partitions: [],
    mounts: [],
    system: false,
    ...overrides,
  };
}

const DRIVES = [
  drive({
    name: 'nvme0n1',
    path: '/dev/nvme0n1',
    devNumber: '259:0',
    removable: false,
    transport: 'nvme',
    system: true,
    mounts: [{ device: 'nvme0n1p2', source: '/dev/nvme0n1p2', mountpoint: '/' }],
  }),
  drive({ vendor: 'Generic-', model: 'SD/MMC', transport: 'usb' }),
  drive({ name: 'sdc', path: '/dev/sdc', devNumber: '8:32', size: 0, transport: 'usb' }),
];

function devices(drives: Drive[], nodes: Record<string, string> = {}): BlockDevices {
  return {
    list: () => Promise.resolve(drives),
    deviceNumber: async (path) => nodes[path] ?? (await stat(path), undefined),
    unmount: () => Promise.reject(new Error('not expected')),
    flushBuffers: () => Promise.resolve(),
  };
}

async function piot(args: string[], deps: Partial<FlashDeps> = {}, cwd = tmpdir()) {
  let out = '';
  let err = '';
  const ctx: CliContext = {
    cwd,
    out: (text) => (out += text),
    err: (text) => (err += text),
    color: false,
    env: {},
  };
  let clock = 0;
  const full: FlashDeps = {
    devices: devices(DRIVES),
    progressTty: false,
    now: () => (clock += 250),
    ...deps,
  };
  const code = await runCli(args, ctx, (c) =>
    buildProgram(c, 'test', [(program, c2) => registerFlash(program, c2, full)]),
  );
  return { code, out, err };
}

describe('piot flash', () => {
  it('--list shows removable drives with size and model, not the system disk', async () => {
    const result = await piot(['flash', '--list']);
    expect(result.code).toBe(0);
    expect(result.out).toBe(
      '/dev/sdb       29.7 GiB  Generic- SD/MMC (usb)\ncard readers without a card: /dev/sdc\n',
    );
    const none = await piot(['flash', '--list'], { devices: devices(DRIVES.slice(0, 1)) });
    expect(none.out).toMatch(/^no removable drive found/);
  });

  it('flashes an image into a new file and reports what it wrote as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-flash-cli-'));
    const image = Buffer.alloc(40 * MiB);
    randomBytes(MiB).copy(image, 0);
    randomBytes(MiB).copy(image, 20 * MiB);
    writeFileSync(join(dir, 'pi.img'), image);
    const result = await piot(['flash', 'pi.img', 'card.img', '--json'], {}, dir);
    expect(result.code).toBe(0);
    expect(readFileSync(join(dir, 'card.img')).equals(image)).toBe(true);
    const data = JSON.parse(result.out) as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(
      ['bytesWritten', 'imageSize', 'seconds', 'sha256', 'skipped', 'target', 'verified'].sort(),
    );
    expect(data).toMatchObject({
      target: join(dir, 'card.img'),
      imageSize: 40 * MiB,
      bytesWritten: 8 * MiB,
      skipped: 32 * MiB,
      verified: true,
    });
    // Not a terminal: a line per 10% of each phase.
    const lines = result.err.trimEnd().split('\n');
    expect(lines.filter((l) => l.startsWith('writing')).length).toBe(10);
    expect(lines.filter((l) => l.startsWith('verifying')).length).toBe(10);
    expect(lines.at(-1)).toMatch(
      /^verifying 40 MiB of 40 MiB {2}100% {2}[\d.]+ [KMG]?i?B\/s {2}ETA 0s$/,
    );

    const human = await piot(['flash', 'pi.img', 'again.img', '--no-sparse'], {}, dir);
    expect(human.out).toMatch(
      /^✔ flashed pi\.img to .*again\.img in \d+s\n {2}wrote 40 MiB of 40 MiB\n {2}verified: /,
    );
  });

  it('on a terminal, redraws one progress line per phase', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-flash-cli-'));
    writeFileSync(join(dir, 'pi.img'), randomBytes(12 * MiB));
    const result = await piot(['flash', 'pi.img', 'card.img'], { progressTty: true }, dir);
    expect(result.code).toBe(0);
    const lines = result.err.split('\n');
    expect(lines).toHaveLength(3);
    const draws = (line: string) => line.split('\r');
    const [beforeWrite, ...writes] = draws(lines[0]!);
    const [beforeVerify, ...verifies] = draws(lines[1]!);
    expect([beforeWrite, beforeVerify]).toEqual(['', '']);
    expect(writes).toHaveLength(3); // 3 blocks of 4 MiB
    expect(writes.every((w) => w.startsWith('writing ') && w.endsWith(ERASE_LINE))).toBe(true);
    expect(writes.at(-1)).toMatch(/^writing {3}12 MiB of 12 MiB {2}100% /);
    expect(verifies.every((v) => v.startsWith('verifying ') && v.endsWith(ERASE_LINE))).toBe(true);
    expect(lines[2]).toBe('');
  });

  it('refuses the system disk with a message and a hint, no stack', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-flash-cli-'));
    writeFileSync(join(dir, 'pi.img'), Buffer.alloc(MiB, 1));
    const node = join(dir, 'nvme0n1');
    writeFileSync(node, '');
    const result = await piot(
      ['flash', 'pi.img', node, '--force'],
      {
        devices: devices(DRIVES, { [node]: '259:0' }),
      },
      dir,
    );
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      'error: /dev/nvme0n1 holds the running system (/ (nvme0n1p2))\nhint: see the cards you can flash with `piot flash --list`\n',
    );
    expect(readFileSync(node).length).toBe(0);
  });

  it('asks for both IMAGE and TARGET (usage error, exit 2)', async () => {
    const result = await piot(['flash', 'pi.img']);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/needs an IMAGE and a TARGET/);
  });

  it('formats progress with bytes, percent, speed and ETA', () => {
    const line = progressLine(
      { phase: 'write', done: 512 * MiB, total: 2048 * MiB, written: 0 },
      16,
    );
    expect(line).toBe('writing   512 MiB of 2 GiB  25%  32 MiB/s  ETA 48s');
  });
});
