// Prints, for each virtual Pi variant in the cache: its build time (recorded by the
// recipe), its size, and the time from QEMU start to a working SSH login under TCG.
// Run: npm run bench:vm [-- VARIANT…]
import { readFileSync, statSync } from 'node:fs';
import { cachedImage, parseVariant, VARIANTS, variantName } from '../src/vm/images.js';
import { VirtualPi } from '../src/vm/machine.js';

const wanted = process.argv.slice(2);
const variants = wanted.length ? wanted.map(parseVariant) : VARIANTS;
const rows: string[][] = [
  ['variant', 'build s', 'size (apparent/allocated MiB)', 'boot→SSH s', 'accel'],
];
for (const variant of variants) {
  const name = variantName(variant);
  let path: string;
  try {
    path = await cachedImage(variant);
  } catch {
    rows.push([name, '-', '-', 'not built', '-']);
    continue;
  }
  const info = readFileSync(`${path}.info`, 'utf8');
  const build = /^BUILD_SECONDS=(\d+)/m.exec(info)?.[1] ?? '?';
  const stat = statSync(path);
  const size = `${(stat.size / 2 ** 20).toFixed(0)}/${((stat.blocks * 512) / 2 ** 20).toFixed(0)}`;
  const started = Date.now();
  const vm = await VirtualPi.start({ image: path, accel: 'tcg', console: 'file' });
  try {
    await vm.waitForSsh(600_000);
    rows.push([name, build, size, ((Date.now() - started) / 1000).toFixed(1), vm.accel]);
  } finally {
    await vm.stop();
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
