import { RdKafka, promisify, toError, type LibrdKafkaError, type Producer, type ProducerGlobalConfig } from './clients.js';
import { connectClient } from './refusal.js';

export type Headers = { [key: string]: string | Buffer }[];

/** librdkafka's local queue is full: wait for deliveries, then produce again. */
const ERR_QUEUE_FULL = -184;

/**
 * A producer that knows what it has in flight. `produce` never drops a record: when librdkafka's local
 * queue is full it reports `false` and the caller awaits `drained()`. Delivery failures are counted and
 * kept, so a checkpoint can refuse to commit offsets past an output that was never acknowledged.
 *
 * Records are grouped in epochs (the epoch number rides along as the record's opaque): `closeEpoch()`
 * starts a new one and `settled(epoch)` resolves once every record of that epoch and the ones before is
 * acknowledged, without waiting for records produced later — so a checkpoint can wait for exactly the
 * outputs it covers while the producer keeps working.
 */
export class TrackedProducer {
  private produced = 0;
  private delivered = 0;
  private failures: Error[] = [];
  private readonly waiters: (() => void)[] = [];
  private epoch = 0;
  /** Records in flight per epoch; an epoch's entry is deleted when it reaches zero. */
  private readonly outstanding = new Map<number, number>();
  private epochWaiters: { epoch: number; resolve: () => void }[] = [];

  private constructor(readonly client: Producer) {
    client.on('delivery-report', (err: LibrdKafkaError | null | undefined, report?: { opaque?: unknown }) => {
      if (err) this.failures.push(toError(err));
      else this.delivered++;
      const epoch = report?.opaque;
      if (typeof epoch === 'number') {
        const left = (this.outstanding.get(epoch) ?? 1) - 1;
        if (left > 0) this.outstanding.set(epoch, left);
        else this.outstanding.delete(epoch);
      }
      if (this.waiters.length > 0 && this.inFlight() === 0) for (const w of this.waiters.splice(0)) w();
      if (this.epochWaiters.length > 0) this.wakeEpochWaiters();
    });
  }

  private wakeEpochWaiters(): void {
    const failed = this.failures.length > 0;
    let oldest = Infinity;
    for (const e of this.outstanding.keys()) oldest = Math.min(oldest, e);
    this.epochWaiters = this.epochWaiters.filter((w) => {
      if (!failed && w.epoch >= oldest) return true;
      w.resolve();
      return false;
    });
  }

  /** Ends the current epoch and returns its number; later records belong to the next one. */
  closeEpoch(): number {
    return this.epoch++;
  }

  /**
   * Resolves when every record of `epoch` and earlier epochs is acknowledged — or as soon as any delivery
   * has failed, so that the caller can look at `takeFailures()` instead of waiting forever.
   */
  settled(epoch: number): Promise<void> {
    return new Promise((resolve) => {
      this.epochWaiters.push({ epoch, resolve });
      this.wakeEpochWaiters();
    });
  }

  static async connect(config: ProducerGlobalConfig, pollIntervalMs = 5): Promise<TrackedProducer> {
    const client = new RdKafka.Producer({ ...config, dr_cb: true });
    await connectClient(client);
    client.setPollInterval(pollIntervalMs);
    return new TrackedProducer(client);
  }

  /** Records handed to librdkafka and not yet acknowledged or failed. */
  inFlight(): number {
    return this.produced - this.delivered - this.failures.length;
  }

  stats(): { produced: number; delivered: number; failed: number } {
    return { produced: this.produced, delivered: this.delivered, failed: this.failures.length };
  }

  /** Failures since the last call; the caller decides whether they are fatal. */
  takeFailures(): Error[] {
    return this.failures.splice(0);
  }

  /**
   * Queues one record. Returns false (and queues nothing) when librdkafka's queue is full; any other
   * error throws.
   */
  produce(topic: string, partition: number | null, value: Buffer | null, key: Buffer | string | null, headers?: Headers, timestamp?: number): boolean {
    try {
      this.client.produce(topic, partition, value, key, timestamp ?? null, this.epoch, headers);
    } catch (err) {
      if ((err as { code?: number }).code === ERR_QUEUE_FULL) return false;
      throw err;
    }
    this.produced++;
    this.outstanding.set(this.epoch, (this.outstanding.get(this.epoch) ?? 0) + 1);
    return true;
  }

  /** Produces, waiting for room in the local queue as long as it takes. */
  async send(topic: string, partition: number | null, value: Buffer | null, key: Buffer | string | null, headers?: Headers): Promise<void> {
    while (!this.produce(topic, partition, value, key, headers)) {
      this.client.poll();
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  /** Resolves when every record produced so far is acknowledged or failed. */
  drained(): Promise<void> {
    if (this.inFlight() === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** librdkafka's flush: sends what lingers and waits for it, up to the timeout. */
  async flush(timeoutMs = 30_000): Promise<void> {
    await promisify<void>((cb) => this.client.flush(timeoutMs, cb as never));
  }

  async close(timeoutMs = 30_000): Promise<void> {
    try {
      await this.flush(timeoutMs);
    } finally {
      await promisify<unknown>((cb) => this.client.disconnect(cb as never));
    }
  }
}
