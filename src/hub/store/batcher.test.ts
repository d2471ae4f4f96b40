import { describe, expect, it } from 'vitest';
import { batcher } from './batcher.js';

/** A run function whose batches finish only when the test says so. */
function heldRuns() {
  const batches: { inputs: number[]; finish: (outputs?: (number | Error)[]) => void }[] = [];
  const fail: { error?: Error } = {};
  const run = (inputs: number[]) =>
    new Promise<(number | Error)[]>((resolve, reject) => {
      batches.push({
        inputs,
        finish: (outputs) =>
          fail.error ? reject(fail.error) : resolve(outputs ?? inputs.map((i) => i * 10)),
      });
    });
  return { batches, run, fail };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('batcher', () => {
  it('sends a lone call at once, and groups the calls made while batches are out', async () => {
    const { batches, run } = heldRuns();
    const call = batcher(run, { maxInFlight: 2, maxBatch: 100 });
    const a = call(1);
    expect(batches.map((b) => b.inputs)).toEqual([[1]]);
    const b = call(2);
    const rest = [3, 4, 5].map((n) => call(n));
    // Two out: the others wait, and go together once one is done.
    expect(batches.map((x) => x.inputs)).toEqual([[1], [2]]);
    batches[1]!.finish();
    await settle();
    expect(batches.map((x) => x.inputs)).toEqual([[1], [2], [3, 4, 5]]);
    batches[0]!.finish();
    batches[2]!.finish();
    expect(await Promise.all([a, b, ...rest])).toEqual([10, 20, 30, 40, 50]);
  });

  it('sends at most maxBatch calls in one batch', async () => {
    const { batches, run } = heldRuns();
    const call = batcher(run, { maxInFlight: 1, maxBatch: 2 });
    const all = [1, 2, 3, 4, 5, 6].map((n) => call(n));
    for (let i = 0; i < 4; i++) {
      batches[i]!.finish();
      await settle();
    }
    expect(batches.map((x) => x.inputs)).toEqual([[1], [2, 3], [4, 5], [6]]);
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50, 60]);
  });

  it("rejects one call with its own error, and a whole batch with the batch's", async () => {
    const { batches, run, fail } = heldRuns();
    const call = batcher(run, { maxInFlight: 1, maxBatch: 10 });
    const first = call(1);
    const grouped = [2, 3].map((n) => call(n));
    batches[0]!.finish();
    await settle();
    batches[1]!.finish([new Error('no such device'), 30]);
    expect(await first).toBe(10);
    expect(await Promise.allSettled(grouped)).toEqual([
      { status: 'rejected', reason: new Error('no such device') },
      { status: 'fulfilled', value: 30 },
    ]);
    fail.error = new Error('connection lost');
    const lost = call(4);
    batches[2]!.finish();
    await expect(lost).rejects.toThrow('connection lost');
    // A batch with the wrong number of answers fails as a whole, and later calls still go.
    fail.error = undefined;
    await settle();
    const alone = call(5);
    const short = [call(6), call(7)];
    batches[3]!.finish();
    await settle();
    expect(batches[4]!.inputs).toEqual([6, 7]);
    batches[4]!.finish([60]);
    expect(await alone).toBe(50);
    expect(await Promise.allSettled(short)).toEqual([
      { status: 'rejected', reason: new Error('a batch of 2 got 1 answers') },
      { status: 'rejected', reason: new Error('a batch of 2 got 1 answers') },
    ]);
  });
});
