import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCollectorContext } from './index.js';
import type { CollectorContext, FsStats, Sample } from './types.js';

/** The fixture trees (copies of real /sys and /proc), one folder per machine. */
export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

/** 2024-12-11T10:30:10Z, the moment the fixtures were taken. */
export const NOW = 1733913010_000;

/** statfs answers of the Pi 4's 32 GB card, by mount point; any other path fails like ENOENT. */
export const PI4_STATFS: Record<string, FsStats> = {
  '/': {
    bsize: 4096,
    blocks: 7562176,
    bfree: 6543210,
    bavail: 6158188,
    files: 1905008,
    ffree: 1781923,
  },
  '/boot/firmware': {
    bsize: 512,
    blocks: 1048064,
    bfree: 936238,
    bavail: 936238,
    files: 0,
    ffree: 0,
  },
  '/run': {
    bsize: 4096,
    blocks: 194035,
    bfree: 192698,
    bavail: 192698,
    files: 819200,
    ffree: 818511,
  },
  '/run/lock': {
    bsize: 4096,
    blocks: 1280,
    bfree: 1278,
    bavail: 1278,
    files: 969948,
    ffree: 969945,
  },
  '/run/user/1000': {
    bsize: 4096,
    blocks: 97017,
    bfree: 97012,
    bavail: 97012,
    files: 97017,
    ffree: 96987,
  },
};

/** A context reading a fixture tree, with fakes for everything that would ask the real OS. */
export function fixtureContext(
  name: string,
  overrides: Partial<CollectorContext> = {},
): CollectorContext {
  const root = join(FIXTURES, name);
  return defaultCollectorContext({
    root,
    statfs(path) {
      const stats = PI4_STATFS[`/${relative(root, path)}`];
      if (stats) return Promise.resolve(stats);
      return Promise.reject(Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' }));
    },
    networkInterfaces: () => ({}),
    timeSynchronized: () => Promise.resolve(undefined),
    units: {
      services: () => Promise.resolve(undefined),
      failedUnits: () => Promise.resolve(undefined),
    },
    now: () => NOW,
    ...overrides,
  });
}

/** The value of the one sample with this name and (at least) these labels; throws unless exactly one. */
export function valueOf(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels?.[k] === v),
  );
  if (found.length !== 1) {
    throw new Error(`${found.length} samples ${name} ${JSON.stringify(labels)}`);
  }
  return found[0]!.value;
}

/** The names of the metric families among the samples, sorted, each once. */
export const familyNames = (samples: Sample[]): string[] =>
  [...new Set(samples.map((s) => s.name))].sort();
