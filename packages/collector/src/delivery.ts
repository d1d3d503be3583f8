import type { DedupWindow } from './dedup.js';

/**
 * One request's events on their way to Kafka. It settles when Kafka has answered for every record
 * handed over (and every earlier delivery of a duplicate this request waits for); it fails if any of
 * them failed. Each answer also moves the record's dedup id from pending to seen, or forgets it.
 */
export class Delivery {
  private static nextId = 1;
  readonly id = Delivery.nextId++;
  /** Records handed to Kafka and not yet answered. */
  pendingRecords = 0;
  private waiting = 0;
  private sealed = false;
  private settled = false;
  private error: Error | null = null;
  private listeners: ((error: Error | null) => void)[] = [];
  /** Dedup id of each record, by its index in the request. */
  private readonly ids: (string | undefined)[] = [];

  constructor(
    private readonly dedup: DedupWindow<Delivery> | null,
    private readonly now: () => number,
  ) {}

  /** Record `index` was handed to Kafka. */
  added(index: number, dedupId: string | undefined): void {
    this.pendingRecords++;
    this.waiting++;
    if (dedupId !== undefined && this.dedup !== null) {
      this.ids[index] = dedupId;
      this.dedup.pending(dedupId, this);
    }
  }

  /** Record `index` was counted by `added` but not handed over after all (the queue was full). */
  withdrawn(index: number): void {
    this.pendingRecords--;
    this.waiting--;
    const id = this.ids[index];
    if (id !== undefined) {
      this.ids[index] = undefined;
      this.dedup!.failed(id);
    }
  }

  /** Kafka's answer for record `index`. */
  recordSettled(index: number, error: Error | null): void {
    this.pendingRecords--;
    const id = this.ids[index];
    if (id !== undefined) {
      if (error === null) this.dedup!.acknowledged(id, this.now());
      else this.dedup!.failed(id);
    }
    this.done(error);
  }

  /** This request carries a duplicate of an event that `other` has in flight: it is written when that is. */
  after(other: Delivery): void {
    this.waiting++;
    other.onSettled((error) => this.done(error));
  }

  /** Nothing more will be added; resolves when everything is acknowledged, rejects on the first failure. */
  seal(): Promise<void> {
    this.sealed = true;
    const result = new Promise<void>((resolve, reject) => this.onSettled((error) => (error === null ? resolve() : reject(error))));
    this.check();
    return result;
  }

  private onSettled(listener: (error: Error | null) => void): void {
    if (this.settled) listener(this.error);
    else this.listeners.push(listener);
  }

  private done(error: Error | null): void {
    this.waiting--;
    if (error !== null) this.error ??= error;
    this.check();
  }

  private check(): void {
    if (this.settled || !this.sealed || this.waiting > 0) return;
    this.settled = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const l of listeners) l(this.error);
  }
}
