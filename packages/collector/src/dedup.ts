/**
 * The messageId/eventId deduplication window. An id is *pending* from the moment its event is handed to
 * Kafka until Kafka acknowledges it, then *seen*. A failed delivery forgets the id, so a client's
 * retry is written instead of being dropped as a duplicate of an event that never arrived.
 *
 * Seen ids are kept as 63-bit fingerprints in two generations of fixed-size open-addressing tables:
 * ids acknowledged during one `windowMs` go to the current table; when the window has passed, the
 * current table becomes the previous one and the old previous one is cleared. So an id is recognised
 * for at least `windowMs` (and at most twice that), memory is fixed by `maxEntries` (8 bytes a slot,
 * two slots an entry), and nothing is allocated per event. When the current table fills before its
 * window has passed, the generations turn early and `evicted` counts the ids forgotten too soon.
 * Two different ids share a fingerprint with a probability of about entries / 2^63.
 * Pending ids are few (bounded by the events in flight) and kept as strings.
 */
export class DedupWindow<P> {
  private readonly pendingIds = new Map<string, P>();
  private current: FingerprintTable;
  private previous: FingerprintTable;
  private generationStart: number | undefined;
  /** The fingerprint of the id hashed last, as two 32-bit halves (fields: no allocation per id). */
  private h1 = 0;
  private h2 = 0;
  /** Ids forgotten before their window ended because the window was full. */
  evicted = 0;

  constructor(
    readonly windowMs: number,
    readonly maxEntries: number,
  ) {
    const perGeneration = Math.max(1, Math.ceil(maxEntries / 2));
    this.current = new FingerprintTable(perGeneration);
    this.previous = new FingerprintTable(perGeneration);
  }

  /** `'seen'` for an acknowledged duplicate, the owner of a pending one, undefined for a new id. */
  lookup(id: string, now: number): P | 'seen' | undefined {
    const pending = this.pendingIds.get(id);
    if (pending !== undefined) return pending;
    this.turn(now);
    this.hash(id);
    return this.current.has(this.h1, this.h2) || this.previous.has(this.h1, this.h2) ? 'seen' : undefined;
  }

  /** The id's event was handed to Kafka by `owner`. */
  pending(id: string, owner: P): void {
    this.pendingIds.set(id, owner);
  }

  /** Kafka acknowledged the id's event. */
  acknowledged(id: string, now: number): void {
    this.pendingIds.delete(id);
    this.turn(now);
    if (this.current.full()) this.startGeneration(now, true);
    this.hash(id);
    this.current.add(this.h1, this.h2);
  }

  /** The id's event was not written: a retry must be accepted. */
  failed(id: string): void {
    this.pendingIds.delete(id);
  }

  size(): { seen: number; pending: number } {
    return { seen: this.current.count + this.previous.count, pending: this.pendingIds.size };
  }

  /** FNV-1a and a multiplicative hash with another seed, over the UTF-16 code units of `id`. */
  private hash(id: string): void {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    this.h1 = a | 0;
    // Never 0, so that (0, 0) marks an empty slot.
    this.h2 = (b ^ id.length) | 1;
  }

  private turn(now: number): void {
    if (this.generationStart === undefined) this.generationStart = now;
    else if (now - this.generationStart >= this.windowMs) this.startGeneration(now, false);
  }

  private startGeneration(now: number, early: boolean): void {
    if (early) this.evicted += this.previous.count;
    const cleared = this.previous;
    cleared.clear();
    this.previous = this.current;
    this.current = cleared;
    this.generationStart = now;
  }
}

/** Fingerprints in a power-of-two table with linear probing, filled at most half. */
class FingerprintTable {
  count = 0;
  private readonly lo: Int32Array;
  private readonly hi: Int32Array;
  private readonly mask: number;

  constructor(readonly capacity: number) {
    let slots = 2;
    while (slots < capacity * 2) slots *= 2;
    this.lo = new Int32Array(slots);
    this.hi = new Int32Array(slots);
    this.mask = slots - 1;
  }

  full(): boolean {
    return this.count >= this.capacity;
  }

  has(a: number, b: number): boolean {
    for (let i = a & this.mask; ; i = (i + 1) & this.mask) {
      const hi = this.hi[i]!;
      if (hi === 0) return false;
      if (hi === b && this.lo[i] === a) return true;
    }
  }

  add(a: number, b: number): void {
    let i = a & this.mask;
    for (; this.hi[i] !== 0; i = (i + 1) & this.mask) if (this.hi[i] === b && this.lo[i] === a) return;
    this.lo[i] = a;
    this.hi[i] = b;
    this.count++;
  }

  clear(): void {
    this.lo.fill(0);
    this.hi.fill(0);
    this.count = 0;
  }
}
