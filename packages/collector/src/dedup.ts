/**
 * The messageId/eventId deduplication window. An id is *pending* from the moment its event is handed to
 * Kafka until Kafka acknowledges it, then *seen* for `windowMs`. A failed delivery forgets the id, so a
 * client's retry is written instead of being dropped as a duplicate of an event that never arrived.
 *
 * Memory is bounded: seen ids are kept in the order they were acknowledged and dropped once older than
 * the window or, when more than `maxEntries` are held, oldest first (`evicted` counts those, which
 * shortens the effective window). Pending ids are bounded by the events in flight.
 */
export class DedupWindow<P> {
  /** id → time it was acknowledged; a Map iterates in insertion order, so the oldest come first. */
  private readonly seen = new Map<string, number>();
  private readonly pendingIds = new Map<string, P>();
  private expiredAt = 0;
  /** Ids forgotten before their window ended because the window was full. */
  evicted = 0;

  constructor(
    readonly windowMs: number,
    readonly maxEntries: number,
  ) {}

  /** `'seen'` for an acknowledged duplicate, the owner of a pending one, undefined for a new id. */
  lookup(id: string, now: number): P | 'seen' | undefined {
    const pending = this.pendingIds.get(id);
    if (pending !== undefined) return pending;
    const at = this.seen.get(id);
    return at !== undefined && now - at < this.windowMs ? 'seen' : undefined;
  }

  /** The id's event was handed to Kafka by `owner`. */
  pending(id: string, owner: P): void {
    this.pendingIds.set(id, owner);
  }

  /** Kafka acknowledged the id's event. */
  acknowledged(id: string, now: number): void {
    this.pendingIds.delete(id);
    this.seen.set(id, now);
    // Expiry walks from the oldest entry: once per millisecond is enough, and whenever the cap is hit.
    if (now !== this.expiredAt || this.seen.size > this.maxEntries) this.expire(now);
  }

  /** The id's event was not written: a retry must be accepted. */
  failed(id: string): void {
    this.pendingIds.delete(id);
  }

  size(): { seen: number; pending: number } {
    return { seen: this.seen.size, pending: this.pendingIds.size };
  }

  private expire(now: number): void {
    this.expiredAt = now;
    const cutoff = now - this.windowMs;
    for (const [id, at] of this.seen) {
      if (at > cutoff && this.seen.size <= this.maxEntries) break;
      if (at > cutoff) this.evicted++;
      this.seen.delete(id);
    }
  }
}
