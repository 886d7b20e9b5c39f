/**
 * Slack's per-method, per-channel limit on chat.postMessage: about one message a second, with short
 * bursts allowed (Slack API docs, "Rate limits": "chat.postMessage ... 1 per second per channel").
 * A token bucket per key; a refused call learns how many whole seconds to wait (`Retry-After`).
 */
export interface RateLimit {
  /** Sustained calls per second. */
  perSecond: number;
  /** Calls allowed at once before the limit applies. */
  burst: number;
}

export const SLACK_POST_MESSAGE_LIMIT: RateLimit = { perSecond: 1, burst: 4 };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one call for `key`; null when allowed, else the seconds to wait (at least 1). */
  take(key: string): number | null {
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    bucket.tokens = Math.min(this.limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.limit.perSecond);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return null;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.limit.perSecond));
  }
}
