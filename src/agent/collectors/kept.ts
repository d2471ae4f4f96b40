/**
 * An answer kept for ttlMs after it arrived; callers meanwhile (and concurrent ones) share it.
 * A failure is not kept: the next caller asks again.
 */
export function keptFor<T>(ask: () => Promise<T>, ttlMs: number, now = Date.now): () => Promise<T> {
  let kept: { at: number; answer: Promise<T> } | undefined;
  return () => {
    if (kept && now() - kept.at < ttlMs) return kept.answer;
    const entry = { at: now(), answer: ask() };
    kept = entry;
    entry.answer.then(
      () => (entry.at = now()),
      () => {
        if (kept === entry) kept = undefined;
      },
    );
    return entry.answer;
  };
}
