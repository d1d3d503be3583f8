import type { PulseConfig } from '@pulse/config';
import { RdKafka, producerConfig, promisify, toError, type LibrdKafkaError, type Producer, type ProducerGlobalConfig } from '@pulse/kafka';

/** librdkafka's local queue is full: wait for deliveries, then produce again. */
const ERR_QUEUE_FULL = -184;

/**
 * The generator's producer. Unlike `TrackedProducer` it asks librdkafka for delivery reports of failed
 * records only (`delivery.report.only.error`): a report per record costs the JavaScript thread about
 * 6 µs (an object, a key Buffer and an event per record; measured), which caps a generator near
 * 80 000 events/s on its own. Delivered records are counted instead as produced − failed − still
 * queued, where "still queued" is librdkafka's `msg_cnt` gauge from its statistics (refreshed every
 * `statsIntervalMs`, exact once `flush()` has returned). Reports are served on librdkafka's
 * background thread, so a busy event loop does not hold up the queue.
 */
export class GeneratorProducer {
  private produced = 0;
  private failed = 0;
  private queued = 0;
  private error: Error | undefined;

  private constructor(readonly client: Producer) {
    client.on('delivery-report', (err: LibrdKafkaError | null | undefined) => {
      if (!err) return;
      this.failed++;
      this.error ??= toError(err);
    });
    client.on('event.stats', (event: { message: string }) => {
      // The gauge is near the top of a document of many kilobytes: no need to parse all of it.
      const m = /"msg_cnt":(\d+)/.exec(event.message.slice(0, 2000));
      if (m) this.queued = Number(m[1]);
    });
  }

  static async connect(config: PulseConfig, overrides: ProducerGlobalConfig = {}, statsIntervalMs = 1000): Promise<GeneratorProducer> {
    const client = new RdKafka.Producer({
      ...producerConfig(config, 'loadgen', overrides),
      'delivery.report.only.error': true,
      'statistics.interval.ms': statsIntervalMs,
      dr_cb: true,
    } as ProducerGlobalConfig);
    await promisify<unknown>((cb) => client.connect({ timeout: 30_000 }, cb as never));
    client.setPollInBackground(true);
    return new GeneratorProducer(client);
  }

  /** Queues one record; false (nothing queued) when librdkafka's queue is full. */
  produce(topic: string, partition: number | null, value: Buffer | null, key: Buffer | string | null): boolean {
    try {
      this.client.produce(topic, partition, value, key);
    } catch (err) {
      if ((err as { code?: number }).code === ERR_QUEUE_FULL) return false;
      throw err;
    }
    this.produced++;
    return true;
  }

  /** Records not yet acknowledged, as of the last statistics (or the last flush). */
  inFlight(): number {
    return Math.min(this.queued, this.produced - this.failed);
  }

  stats(): { produced: number; delivered: number; failed: number } {
    return { produced: this.produced, delivered: this.produced - this.failed - this.inFlight(), failed: this.failed };
  }

  /** The first delivery failure, if any. */
  firstError(): Error | undefined {
    return this.error;
  }

  /** Sends what lingers and waits until librdkafka has an answer for every record. */
  async flush(timeoutMs = 30_000): Promise<void> {
    await promisify<void>((cb) => this.client.flush(timeoutMs, cb as never));
    // librdkafka's queue is empty; failure reports may still be on their way to this thread.
    await new Promise((r) => setTimeout(r, 20));
    this.queued = 0;
  }

  drained(): Promise<void> {
    return this.flush();
  }

  async close(timeoutMs = 30_000): Promise<void> {
    try {
      await this.flush(timeoutMs);
    } finally {
      await promisify<unknown>((cb) => this.client.disconnect(cb as never));
    }
  }
}
