/**
 * The engine's activity counting (5-minute tumbling windows per userId, coalesced updates every emit
 * interval, a final record per user once stream time passes window end + grace, late events
 * rejected) written in plain TypeScript, record by record with JSON.parse, as the aggregator would
 * without the addon. It exists to put a number on the addon's worth; the pipeline does not use it.
 */

export interface TsCounterOptions {
  windowSizeMs: number;
  graceMs: number;
  emitIntervalMs: number;
}

interface UserCount {
  count: number;
  /** Event time of the oldest increment not reported yet; -1 when nothing is pending. */
  pendingSince: number;
}

interface Bucket {
  start: number;
  users: Map<string, UserCount>;
  pending: string[];
}

export interface TsOutput {
  key: Buffer;
  value: Buffer;
}

export class TsActivityCounter {
  private readonly buckets: Bucket[] = [];
  private streamTime = -Infinity;
  private lastEmitMs = -Infinity;
  private readonly output: TsOutput[] = [];
  accepted = 0;
  rejected = 0;

  constructor(private readonly options: TsCounterOptions) {}

  /** Counts a batch of `user-clicks` record values; returns how many were accepted. */
  ingest(values: readonly Buffer[]): number {
    let accepted = 0;
    for (const value of values) {
      const ts = this.countRecord(value);
      if (ts === null) this.rejected++;
      else accepted++;
    }
    this.accepted += accepted;
    return accepted;
  }

  private countRecord(value: Buffer): number | null {
    let event: unknown;
    try {
      event = JSON.parse(value.toString('utf8'));
    } catch {
      return null;
    }
    if (typeof event !== 'object' || event === null) return null;
    const { userId, ts } = event as { userId?: unknown; ts?: unknown };
    if (typeof userId !== 'string' || userId.length === 0 || typeof ts !== 'number' || !Number.isSafeInteger(ts)) return null;
    const { windowSizeMs, graceMs } = this.options;
    const start = ts - (((ts % windowSizeMs) + windowSizeMs) % windowSizeMs);
    const streamTime = Math.max(this.streamTime, ts);
    if (start + windowSizeMs + graceMs <= streamTime) return null; // late: its window has closed
    let at = this.buckets.findIndex((b) => b.start >= start);
    if (at < 0) {
      at = this.buckets.length;
      this.buckets.push({ start, users: new Map(), pending: [] });
    } else if (this.buckets[at]!.start !== start) {
      this.buckets.splice(at, 0, { start, users: new Map(), pending: [] });
    }
    const bucket = this.buckets[at]!;
    let user = bucket.users.get(userId);
    if (user === undefined) {
      user = { count: 0, pendingSince: -1 };
      bucket.users.set(userId, user);
    }
    user.count++;
    if (user.pendingSince < 0) {
      bucket.pending.push(userId);
      user.pendingSince = ts;
    } else if (ts < user.pendingSince) {
      user.pendingSince = ts;
    }
    if (streamTime > this.streamTime) {
      this.streamTime = streamTime;
      this.closeWindows();
    }
    return ts;
  }

  private closeWindows(): void {
    const { windowSizeMs, graceMs } = this.options;
    while (this.buckets.length > 0 && this.buckets[0]!.start + windowSizeMs + graceMs <= this.streamTime) {
      const bucket = this.buckets.shift()!;
      for (const [userId, user] of bucket.users) this.write(userId, bucket.start, user, true);
    }
  }

  private write(userId: string, windowStart: number, user: UserCount, final: boolean): void {
    const value = JSON.stringify({
      userId,
      windowStart,
      windowEnd: windowStart + this.options.windowSizeMs,
      count: user.count,
      final,
      ...(user.pendingSince >= 0 ? { oldestEventTs: user.pendingSince } : {}),
    });
    this.output.push({ key: Buffer.from(userId), value: Buffer.from(value) });
  }

  /** Queues an update for every user with unreported increments, once per emit interval; returns how many. */
  flushDue(nowMs: number): number {
    if (nowMs - this.lastEmitMs < this.options.emitIntervalMs) return 0;
    this.lastEmitMs = nowMs;
    let emitted = 0;
    for (const bucket of this.buckets) {
      for (const userId of bucket.pending) {
        const user = bucket.users.get(userId)!;
        this.write(userId, bucket.start, user, false);
        user.pendingSince = -1;
      }
      emitted += bucket.pending.length;
      bucket.pending.length = 0;
    }
    return emitted;
  }

  takeOutput(): TsOutput[] {
    return this.output.splice(0);
  }
}
