// Prints `piot flash` figures on this machine: a 256 MiB image holding 8 MiB of random
// data in 16 runs spread through it (the rest zeros, like a freshly built Pi image),
// flashed to a new file with and without sparse writing, to an existing all-zero file
// with --sparse, and from .img.xz; each against `cp` of the same image in the same run.
// Files stay in the page cache, so this measures PioT's own cost, not a card's speed.
// Run: npx tsx bench/flash.ts
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { flash, type FlashOptions } from '../src/image/flash.js';
import { formatBytes } from '../src/image/flash-target.js';
import { createBlockDevices } from '../src/sys/drives.js';

const MiB = 1024 * 1024;
const IMAGE_SIZE = 256 * MiB;
const RUNS = 16;

const dir = mkdtempSync(join(tmpdir(), 'piot-bench-flash-'));
const image = join(dir, 'bench.img');
try {
  // Written in full (no holes), as an image unpacked by a download tool would be.
  const handle = await open(image, 'w');
  const zeros = Buffer.alloc(4 * MiB);
  for (let offset = 0; offset < IMAGE_SIZE; offset += zeros.length) {
    await handle.write(zeros, 0, zeros.length, offset);
  }
  for (let run = 0; run < RUNS; run++) {
    await handle.write(randomBytes(MiB / 2), 0, MiB / 2, run * (IMAGE_SIZE / RUNS) + 3 * MiB);
  }
  await handle.close();
  execFileSync('xz', ['-k', '-1', '-T0', image]);

  let n = 0;
  const fresh = () => join(dir, `out-${n++}.img`);
  const time = async <T>(work: () => Promise<T> | T): Promise<[T, number]> => {
    const start = performance.now();
    const result = await work();
    return [result, (performance.now() - start) / 1000];
  };

  const [, cpSeconds] = await time(() => execFileSync('cp', [image, fresh()]));
  // flash fsyncs before it returns; cp does not, so also time cp followed by sync(1) of the copy.
  const copy = fresh();
  const [, cpSyncSeconds] = await time(() => {
    execFileSync('cp', [image, copy]);
    execFileSync('sync', [copy]);
  });
  const base: FlashOptions = { devices: createBlockDevices() };
  const zeroTarget = fresh();
  writeFileSync(zeroTarget, Buffer.alloc(IMAGE_SIZE));
  const cases: [string, string, string, FlashOptions][] = [
    ['new file (sparse by default)', image, fresh(), base],
    ['new file, --no-sparse', image, fresh(), { ...base, sparse: false }],
    ['new file, --no-verify', image, fresh(), { ...base, verify: false }],
    ['existing zero file, --sparse', image, zeroTarget, { ...base, sparse: true }],
    ['.img.xz to a new file', `${image}.xz`, fresh(), base],
  ];

  console.log(
    `image: ${formatBytes(IMAGE_SIZE)}, ${formatBytes(RUNS * (MiB / 2))} of it random data`,
  );
  console.log(`cp: ${cpSeconds.toFixed(2)} s, cp + sync: ${cpSyncSeconds.toFixed(2)} s\n`);
  console.log('case                              written   seconds    ÷ cp  ÷ cp+sync');
  for (const [name, source, target, options] of cases) {
    const [result, seconds] = await time(() => flash(source, target, options));
    console.log(
      [
        name.padEnd(32),
        formatBytes(result.bytesWritten).padStart(9),
        seconds.toFixed(2).padStart(9),
        (seconds / cpSeconds).toFixed(1).padStart(7),
        (seconds / cpSyncSeconds).toFixed(1).padStart(10),
      ].join(' '),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
