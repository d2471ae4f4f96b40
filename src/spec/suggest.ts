/** Edit distance between two strings (insert, delete, substitute, transpose). */
export function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate closest to `word`, if it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const other = candidate.toLowerCase();
    // A truncated or inflected key ("retry" for "retries") is as likely as a typo.
    const prefix =
      other.length > lower.length && lower.length >= 4
        ? distance(lower, other.slice(0, lower.length)) + 0.5
        : Infinity;
    const dist = Math.min(distance(lower, other), prefix);
    if (dist < bestDistance) {
      best = candidate;
      bestDistance = dist;
    }
  }
  const limit = Math.max(1, Math.round(word.length * 0.4));
  return bestDistance <= limit ? best : undefined;
}

/** "did you mean …?" for a likely typo, or a list of what is allowed. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const match = closest(word, candidates);
  if (match !== undefined) return `did you mean "${match}"?`;
  if (candidates.length === 0) return undefined;
  return `allowed: ${candidates.join(', ')}`;
}
