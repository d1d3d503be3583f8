import type { SegmentBatch } from '@pulse/engine';
import { CollectorError } from './errors.js';
import { DedupWindow } from './dedup.js';
import { Delivery } from './delivery.js';
import type { CollectorMetrics } from './metrics.js';
import type { RecordSink } from './sink.js';

/** One event as it will be written: topic, key (userId or sensorId) and the JSON value. */
export interface OutRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: string;
  /** The client's messageId/eventId; undefined when the collector made the eventId up. */
  readonly dedupId: string | undefined;
}

export interface IngestOptions {
  /** 0 turns deduplication off. */
  dedupWindowMs: number;
  dedupMaxEntries: number;
  ackTimeoutMs: number;
  maxInFlightEvents: number;
  now?: () => number;
}

interface Handover {
  perTopic: Map<string, number>;
  duplicates: number;
  /** The producer's queue filled up before every record was handed over. */
  full: boolean;
}

/** Seconds a client should wait: Kafka down, or the queue full / answers slow. */
const RETRY_AFTER_DOWN_SEC = 5;
const RETRY_AFTER_BUSY_SEC = 1;

/**
 * Writes a request's events to Kafka and resolves only when Kafka has acknowledged every one of them;
 * otherwise it throws a 503. Events whose messageId/eventId was acknowledged within the dedup window
 * are not written again; a duplicate of an event still in flight makes the request wait for that one.
 */
export class Ingest {
  private readonly dedup: DedupWindow<Delivery> | null;
  private readonly now: () => number;

  constructor(
    readonly sink: RecordSink,
    private readonly options: IngestOptions,
    private readonly metrics: CollectorMetrics,
  ) {
    this.now = options.now ?? Date.now;
    this.dedup = options.dedupWindowMs > 0 ? new DedupWindow(options.dedupWindowMs, options.dedupMaxEntries) : null;
  }

  dedupStats(): { seen: number; pending: number; evicted: number } | null {
    return this.dedup === null ? null : { ...this.dedup.size(), evicted: this.dedup.evicted };
  }

  async write(records: readonly OutRecord[]): Promise<void> {
    await this.deliver(records.length, (delivery) => this.handOver(records, delivery));
  }

  /** As `write`, for records mapped natively; `outputTopics` names the topic of each record kind. */
  async writePacked(batch: SegmentBatch, outputTopics: readonly string[]): Promise<void> {
    await this.deliver(batch.ids.length, (delivery) => this.handOverPacked(batch, outputTopics, delivery));
  }

  private async deliver(records: number, handOver: (delivery: Delivery) => Handover): Promise<void> {
    if (!this.sink.available) throw unavailable(RETRY_AFTER_DOWN_SEC, 'Kafka is unreachable; nothing of this request was written');
    if (this.sink.inFlight() + records > this.options.maxInFlightEvents) {
      throw unavailable(RETRY_AFTER_BUSY_SEC, `Kafka is behind: ${this.sink.inFlight()} events await acknowledgement; nothing of this request was written`);
    }
    const started = performance.now();
    const delivery = new Delivery(this.dedup, this.now);
    let handed: Handover;
    try {
      handed = handOver(delivery);
    } catch (err) {
      // Sealed all the same, so that requests waiting for the records already handed over get an answer.
      delivery.seal().catch(() => {});
      throw err;
    }
    const settled = delivery.seal();
    if (handed.full) {
      // What was queued is still written, and its ids are pending: the client's retry skips them.
      settled.catch(() => {});
      throw unavailable(RETRY_AFTER_BUSY_SEC, "Kafka's producer queue is full; retry the request (events already queued are not written twice)");
    }
    await this.settle(settled);
    this.metrics.produced(handed.perTopic, handed.duplicates, (performance.now() - started) / 1000);
  }

  /** Hands each record to the sink unless it is a duplicate; stops at a full queue. */
  private handOver(records: readonly OutRecord[], delivery: Delivery): Handover {
    const now = this.now();
    const perTopic = new Map<string, number>();
    let duplicates = 0;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      if (r.dedupId !== undefined && this.dedup !== null && this.isDuplicate(r.dedupId, now, delivery)) {
        duplicates++;
        continue;
      }
      if (!this.sink.produce(r.topic, r.key, Buffer.from(r.value, 'utf8'), delivery, i)) return { perTopic, duplicates, full: true };
      delivery.added(i, r.dedupId);
      perTopic.set(r.topic, (perTopic.get(r.topic) ?? 0) + 1);
    }
    return { perTopic, duplicates, full: false };
  }

  /**
   * Whether an event with this id was written or is being written; if it is still in flight in another
   * request, this request's answer waits for that one.
   */
  private isDuplicate(id: string, now: number, delivery: Delivery): boolean {
    const earlier = this.dedup!.lookup(id, now);
    if (earlier === undefined) return false;
    if (earlier !== 'seen' && earlier !== delivery) delivery.after(earlier);
    return true;
  }

  /** As `handOver`, with one call to the sink for all the records that are not duplicates. */
  private handOverPacked(batch: SegmentBatch, outputTopics: readonly string[], delivery: Delivery): Handover {
    const { packed, starts, ids } = batch;
    let send = starts;
    let duplicates = 0;
    if (this.dedup !== null) {
      const now = this.now();
      const fresh = new Uint32Array(starts.length);
      let kept = 0;
      for (let i = 0; i < starts.length; i++) {
        const id = ids[i]!;
        if (this.isDuplicate(id, now, delivery)) {
          duplicates++;
          continue;
        }
        // Pending from here, so that a repeat later in this request is seen as a duplicate.
        delivery.added(kept, id);
        fresh[kept++] = starts[i]!;
      }
      send = fresh.subarray(0, kept);
    } else {
      for (let i = 0; i < starts.length; i++) delivery.added(i, undefined);
    }
    let sent = 0;
    try {
      if (send.length > 0) sent = this.sink.produceOutputs(packed, send, delivery);
    } finally {
      // A refused send queued nothing; the records after a full queue were not queued either.
      for (let k = sent; k < send.length; k++) delivery.withdrawn(k);
    }
    const perKind: number[] = [];
    for (let k = 0; k < sent; k++) {
      const kind = packed[send[k]!]!;
      perKind[kind] = (perKind[kind] ?? 0) + 1;
    }
    const perTopic = new Map<string, number>();
    perKind.forEach((n, kind) => perTopic.set(outputTopics[kind]!, n));
    return { perTopic, duplicates, full: sent < send.length };
  }

  private async settle(settled: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(unavailable(RETRY_AFTER_BUSY_SEC, `Kafka did not acknowledge the events within ${this.options.ackTimeoutMs} ms; retry (events written meanwhile are not written twice)`)),
        this.options.ackTimeoutMs,
      );
    });
    try {
      await Promise.race([settled, timeout]);
    } catch (err) {
      settled.catch(() => {});
      if (err instanceof CollectorError) throw err;
      throw unavailable(RETRY_AFTER_DOWN_SEC, `Kafka refused an event: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

function unavailable(retryAfterSec: number, message: string): CollectorError {
  return new CollectorError(503, 'unavailable', message, undefined, retryAfterSec);
}

