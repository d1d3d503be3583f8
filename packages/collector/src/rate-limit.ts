/**
 * Events per second per write key, as a token bucket that holds one second's worth. A request is let
 * through while the bucket is not empty and may take it below zero (a batch is never split); the
 * debt is paid back before the next request passes, so the long-run rate is the configured one.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  /** `perSecond` 0 lets everything through. */
  constructor(readonly perSecond: number) {}

  /** Takes `events` tokens for `key`: 0 when the request may pass, else the seconds to wait. */
  take(key: string, events: number, now: number): number {
    if (this.perSecond <= 0) return 0;
    let bucket = this.buckets.get(key);
    if (bucket === undefined) this.buckets.set(key, (bucket = { tokens: this.perSecond, at: now }));
    bucket.tokens = Math.min(this.perSecond, bucket.tokens + ((now - bucket.at) * this.perSecond) / 1000);
    bucket.at = now;
    if (bucket.tokens <= 0) return Math.max(1, Math.ceil(-bucket.tokens / this.perSecond));
    bucket.tokens -= events;
    return 0;
  }
}
