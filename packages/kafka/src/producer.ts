import { RdKafka, promisify, toError, type LibrdKafkaError, type Producer, type ProducerGlobalConfig } from './clients.js';

export type Headers = { [key: string]: string | Buffer }[];

/** librdkafka's local queue is full: wait for deliveries, then produce again. */
const ERR_QUEUE_FULL = -184;

/**
 * A producer that knows what it has in flight. `produce` never drops a record: when librdkafka's local
 * queue is full it reports `false` and the caller awaits `drained()`. Delivery failures are counted and
 * kept, so a checkpoint can refuse to commit offsets past an output that was never acknowledged.
 */
export class TrackedProducer {
  private produced = 0;
  private delivered = 0;
  private failures: Error[] = [];
  private readonly waiters: (() => void)[] = [];

  private constructor(readonly client: Producer) {
    client.on('delivery-report', (err: LibrdKafkaError | null | undefined) => {
      if (err) this.failures.push(toError(err));
      else this.delivered++;
      if (this.waiters.length > 0 && this.inFlight() === 0) for (const w of this.waiters.splice(0)) w();
    });
  }

  static async connect(config: ProducerGlobalConfig, pollIntervalMs = 5): Promise<TrackedProducer> {
    const client = new RdKafka.Producer({ ...config, dr_cb: true });
    await promisify<unknown>((cb) => client.connect({ timeout: 30_000 }, cb as never));
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
      this.client.produce(topic, partition, value, key, timestamp ?? null, undefined, headers);
    } catch (err) {
      if ((err as { code?: number }).code === ERR_QUEUE_FULL) return false;
      throw err;
    }
    this.produced++;
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
