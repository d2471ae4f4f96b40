import { readdirSync, readFileSync } from 'node:fs';
import type { Sample } from './types.js';

// Codes that mean "this machine has no such file", not "reading it failed".
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ENODEV', 'ENXIO', 'ENODATA']);

/**
 * Natural order of sysfs names: runs of digits compare as numbers (cpu2 before cpu10), the rest
 * as code units. (Not Intl.Collator: it loads ICU's collation data, megabytes for a few names.)
 */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const [x, y] = [pa[i]!, pb[i]!];
    if (x === y) continue;
    const numeric = /^\d/.test(x) && /^\d/.test(y);
    if (numeric && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

const isAbsent = (error: unknown) => ABSENT.has((error as NodeJS.ErrnoException).code ?? '');

// Collectors read /proc and /sys, files the kernel makes up on the spot, and a few small files
// of PioT's own: reading them hardly ever waits on a disk, so they are read synchronously. An asynchronous read costs four trips
// through libuv's thread pool (open, stat, read, close) and their promises, several times the
// read itself; a collection reads dozens of them.

/** A file's text, or undefined when it (or a directory on its path) does not exist. */
export function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/** A number read from a one-value file (sysfs style), or undefined if absent or not a number. */
export function readNumber(path: string): number | undefined {
  const text = readOptional(path)?.trim();
  return text && /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
}

/** Names in a directory matching a pattern, in natural order (cpu2 before cpu10); [] if absent. */
export function listDir(path: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (error) {
    if (isAbsent(error)) return [];
    throw error;
  }
  return names.filter((name) => pattern.test(name)).sort(naturalCompare);
}

type Labels = Record<string, string>;

/** A maker of gauge samples of one family. */
export const gauge =
  (name: string, help: string) =>
  (value: number, labels?: Labels): Sample => ({ name, help, type: 'gauge', value, labels });

/** A maker of counter samples of one family (the name ends in `_total`). */
export const counter =
  (name: string, help: string) =>
  (value: number, labels?: Labels): Sample => ({ name, help, type: 'counter', value, labels });

/** 1 for true, 0 for false: how Prometheus spells a flag. */
export const flag = (value: boolean): number => (value ? 1 : 0);
