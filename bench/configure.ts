// Prints how long `piot image configure` takes on a 2.5 GB Raspberry Pi OS–shaped image
// (512 MiB FAT32 boot partition, ~2 GiB ext4 root full of data), as a ratio to `cp` of the
// same image measured in the same run: configure writes only the boot partition's files,
// so it should cost a small fraction of one copy of the image.
// Run: npx tsx bench/configure.ts
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { makePiImage } from '../test/support/pi-image.js';

const dir = mkdtempSync(join(tmpdir(), 'piot-bench-configure-'));
const cli = join(import.meta.dirname, '..', 'dist', 'piot.js');
const seconds = (work: () => void) => {
  const start = performance.now();
  work();
  return (performance.now() - start) / 1000;
};
try {
  const image = join(dir, 'raspios.img');
  const started = performance.now();
  await makePiImage(image, { bootMiB: 512, rootMiB: 1920, rootDataMiB: 1800 });
  const built = (performance.now() - started) / 1000;
  const size = statSync(image).size;
  console.log(`image: ${(size / 1e9).toFixed(2)} GB (made in ${built.toFixed(1)} s)`);
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'ignore' });
  const copy = join(dir, 'copy.img');
  const rows: [string, number][] = [];
  const copyImage = () => execFileSync('cp', ['--sparse=never', '--reflink=never', image, copy]);
  for (let run = 1; run <= 3; run++) {
    rows.push([`cp (run ${run})`, seconds(copyImage)]);
    rmSync(copy);
    // The copy on disk, not only in the page cache, as a card or a new file needs it.
    rows.push([
      `cp + sync (run ${run})`,
      seconds(() => {
        copyImage();
        execFileSync('sync', [copy]);
      }),
    ]);
    rmSync(copy);
    rows.push([
      `piot image configure (run ${run})`,
      seconds(() =>
        execFileSync(process.execPath, [
          cli,
          ...['image', 'configure', image, '--device', 'kitchen', '--no-fleet'],
          ...['--repo', 'https://git.example.com/app.git', '--wifi-country', 'GB'],
          ...['--wifi', 'Home:correct horse battery', '--user', 'ada'],
          ...['--password-hash', '$6$salt$hash'],
        ]),
      ),
    ]);
  }
  const median = (prefix: string) => {
    const values = rows
      .filter(([name]) => name.startsWith(prefix))
      .map(([, s]) => s)
      .sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)]!;
  };
  for (const [name, s] of rows) console.log(`${name.padEnd(34)} ${s.toFixed(2)} s`);
  const cp = median('cp (');
  const cpSync = median('cp + sync');
  const configure = median('piot');
  console.log(
    `median: configure ${configure.toFixed(2)} s; cp ${cp.toFixed(2)} s (configure / cp = ${(configure / cp).toFixed(2)}); ` +
      `cp + sync ${cpSync.toFixed(2)} s (configure / cp+sync = ${(configure / cpSync).toFixed(2)})`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
