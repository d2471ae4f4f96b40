import { readdir, readFile } from 'node:fs/promises';
import type { Sample } from './types.js';

// Codes that mean "this machine has no such file", not "reading it failed".
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ENODEV', 'ENXIO', 'ENODATA']);
const natural = new Intl.Collator('en', { numeric: true });

const isAbsent = (error: unknown) => ABSENT.has((error as NodeJS.ErrnoException).code ?? '');

/** A file's text, or undefined when it (or a directory on its path) does not exist. */
export async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (isAbsent(error)) return undefined;
    throw error;
  }
}

/** A number read from a one-value file (sysfs style), or undefined if absent or not a number. */
export async function readNumber(path: string): Promise<number | undefined> {
  const text = (await readOptional(path))?.trim();
  return text && /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : undefined;
}

/** Names in a directory matching a pattern, in natural order (cpu2 before cpu10); [] if absent. */
export async function listDir(path: string, pattern: RegExp): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(path);
  } catch (error) {
    if (isAbsent(error)) return [];
    throw error;
  }
  return names.filter((name) => pattern.test(name)).sort(natural.compare);
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
