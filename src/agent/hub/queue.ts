import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../sys/fs.js';
import type { HubMetrics } from './summary.js';

/** A sample the hub has not received yet, with the time it was taken. */
export interface QueuedSample {
  at: number;
  metrics: HubMetrics;
}

/** Samples kept while the hub is unreachable: a day of heartbeats every 30 s. */
export const QUEUE_LIMIT = 2880;

/**
 * A bounded on-disk queue of samples, oldest first. Each sample is one appended line (a
 * small write while the hub is away, not a rewrite of the whole queue); when it holds more
 * than `limit`, the oldest quarter is dropped. A torn last line (a power cut mid-append) is
 * skipped when read.
 */
export interface SampleQueue {
  push(sample: QueuedSample): Promise<void>;
  /** Up to `max` of the oldest samples (the queue is unchanged until `drop`). */
  peek(max: number): Promise<QueuedSample[]>;
  /** Removes the `count` oldest samples, once the hub has stored them. */
  drop(count: number): Promise<void>;
  size(): Promise<number>;
  /** Samples dropped because the queue was full, since this process started. */
  readonly overflowed: number;
}

export function sampleQueue(path: string, limit = QUEUE_LIMIT): SampleQueue {
  let overflowed = 0;
  let lines: QueuedSample[] | undefined;

  async function load(): Promise<QueuedSample[]> {
    if (lines) return lines;
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    lines = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        const value = JSON.parse(line) as QueuedSample;
        if (typeof value.at === 'number' && typeof value.metrics === 'object') lines.push(value);
      } catch {
        // A line cut short by a power cut: the sample is lost, the rest is kept.
      }
    }
    // Start the next append on a line of its own.
    if (text !== '' && !text.endsWith('\n')) await rewrite(lines);
    return lines;
  }

  async function rewrite(kept: QueuedSample[]): Promise<void> {
    lines = kept;
    if (kept.length === 0) await rm(path, { force: true });
    else await writeFileAtomic(path, kept.map((s) => `${JSON.stringify(s)}\n`).join(''));
  }

  return {
    get overflowed() {
      return overflowed;
    },
    async push(sample) {
      const all = await load();
      all.push(sample);
      if (all.length > limit) {
        const cut = all.length - Math.floor((limit * 3) / 4);
        overflowed += cut;
        await rewrite(all.slice(cut));
        return;
      }
      await mkdir(dirname(path), { recursive: true });
      await appendFile(path, `${JSON.stringify(sample)}\n`);
    },
    async peek(max) {
      return (await load()).slice(0, max);
    },
    async drop(count) {
      const all = await load();
      if (count > 0) await rewrite(all.slice(count));
    },
    async size() {
      return (await load()).length;
    },
  };
}
