/** A token bucket per key (client address): `burst` at once, then `perMinute`. */
export interface RateLimiter {
  /** Takes one token for key; false when the bucket is empty. */
  take(key: string, now: number): boolean;
}

/** An in-memory token bucket limiter; old buckets are dropped so memory stays bounded. */
export function tokenBucket(options: { burst: number; perMinute: number }): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const rate = options.perMinute / 60_000;
  return {
    take(key, now) {
      const bucket = buckets.get(key) ?? { tokens: options.burst, at: now };
      bucket.tokens = Math.min(options.burst, bucket.tokens + (now - bucket.at) * rate);
      bucket.at = now;
      const allowed = bucket.tokens >= 1;
      if (allowed) bucket.tokens -= 1;
      buckets.delete(key);
      buckets.set(key, bucket);
      // A full bucket carries no information, and Map order is least recently used first.
      if (buckets.size > 10_000) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
      }
      return allowed;
    },
  };
}
