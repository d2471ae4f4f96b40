/**
 * Group commit: calls made while earlier ones are still at the database go to it together,
 * as one statement. A call made while fewer than `maxInFlight` batches are out goes at once
 * (alone, if nothing else is waiting), so a quiet hub adds no delay; a busy one sends bigger
 * batches instead of more statements.
 */
export interface BatcherOptions {
  /** Batches at the database at once (each holds one pooled connection). */
  maxInFlight: number;
  /** Calls in one batch at most. */
  maxBatch: number;
}

interface Waiting<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (error: unknown) => void;
}

/**
 * A function whose calls are run in batches by `run`, which answers each input of a batch
 * in order: a value, or an Error for that call alone. If `run` throws, every call of that
 * batch rejects with its error.
 */
export function batcher<I, O>(
  run: (inputs: I[]) => Promise<(O | Error)[]>,
  { maxInFlight, maxBatch }: BatcherOptions,
): (input: I) => Promise<O> {
  const queue: Waiting<I, O>[] = [];
  let inFlight = 0;
  const send = () => {
    while (inFlight < maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      inFlight++;
      run(batch.map((w) => w.input))
        .then((outputs) => {
          if (outputs.length !== batch.length) {
            throw new Error(`a batch of ${batch.length} got ${outputs.length} answers`);
          }
          batch.forEach((w, i) => {
            const output = outputs[i]!;
            if (output instanceof Error) w.reject(output);
            else w.resolve(output);
          });
        })
        .catch((error: unknown) => batch.forEach((w) => w.reject(error)))
        .finally(() => {
          inFlight--;
          send();
        });
    }
  };
  return (input) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      send();
    });
}
