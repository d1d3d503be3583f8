import type { PulseConfig } from '@pulse/config';
import { RdKafka, producerConfig, promisify, toError, type LibrdKafkaError, type Producer, type ProducerGlobalConfig } from '@pulse/kafka';
import { MAX_BATCH_EVENTS } from './body.js';
import type { Delivery } from './delivery.js';

/** Where accepted events go: Kafka in production, a fake in unit tests. */
export interface RecordSink {
  /** False while no broker is reachable: requests are refused at once instead of queued. */
  readonly available: boolean;
  /** Records handed over and not yet answered. */
  inFlight(): number;
  /**
   * Hands one record over; false (nothing queued) when the producer's queue is full. The answer goes
   * to `delivery.recordSettled(index, error)`.
   */
  produce(topic: string, key: string, value: Buffer, delivery: Delivery, index: number): boolean;
  /** Sends what is queued, waits for the answers (bounded), disconnects. */
  close(): Promise<void>;
}

/** librdkafka's local queue is full. */
const ERR_QUEUE_FULL = -184;
/**
 * librdkafka lost its connection to every broker. The binding hands error events over as a message
 * with code -1, so the message is what identifies it.
 */
const ERR_ALL_BROKERS_DOWN = -187;
const ALL_BROKERS_DOWN = 'all broker connections are down';
/** A record's opaque is delivery id × SLOTS + its index in the request. */
const SLOTS = 4096;
const PROBE_INTERVAL_MS = 1000;

/**
 * The collector's producer. Unlike the load generator's, it asks for a delivery report per record:
 * a 200 promises that every event of the request was acknowledged, so each answer must reach its
 * request. The report's opaque says which request and which record.
 *
 * The queue is bounded (`collector.maxInFlightEvents`): a full queue is a 503, never unbounded memory.
 * When librdkafka reports that every broker is down, the sink turns unavailable and probes the
 * cluster every second; the first answer (or any acknowledged record) makes it available again.
 */
export class KafkaSink implements RecordSink {
  available = true;
  private readonly open = new Map<number, Delivery>();
  private produced = 0;
  private settled = 0;
  private probe: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: Producer,
    private readonly probeTopic: string,
    private readonly log: (line: string) => void,
  ) {
    client.on('delivery-report', (err: LibrdKafkaError | null | undefined, report: { opaque?: unknown }) => {
      this.settled++;
      const opaque = report.opaque as number;
      const id = Math.floor(opaque / SLOTS);
      const delivery = this.open.get(id);
      if (delivery === undefined) return;
      if (!err && !this.available) this.up();
      delivery.recordSettled(opaque - id * SLOTS, err ? toError(err) : null);
      if (delivery.pendingRecords === 0) this.open.delete(id);
    });
    client.on('event.error', (err: LibrdKafkaError) => {
      if ((err.code === ERR_ALL_BROKERS_DOWN || err.message === ALL_BROKERS_DOWN) && this.available) this.down();
    });
  }

  static async connect(config: PulseConfig, probeTopic: string, log: (line: string) => void = () => {}): Promise<KafkaSink> {
    const client = new RdKafka.Producer({
      ...producerConfig(config, 'collector'),
      // Room for the bounded queue plus one full request admitted just below the bound.
      'queue.buffering.max.messages': config.collector.maxInFlightEvents + MAX_BATCH_EVENTS,
      'dr_cb': true,
    } as ProducerGlobalConfig);
    await promisify<unknown>((cb) => client.connect({ timeout: 30_000 }, cb as never));
    // Reports are served by librdkafka's background thread, however busy the event loop is.
    client.setPollInBackground(true);
    return new KafkaSink(client, probeTopic, log);
  }

  inFlight(): number {
    return this.produced - this.settled;
  }

  produce(topic: string, key: string, value: Buffer, delivery: Delivery, index: number): boolean {
    try {
      this.client.produce(topic, null, value, key, null, delivery.id * SLOTS + index);
    } catch (err) {
      if ((err as { code?: number }).code === ERR_QUEUE_FULL) return false;
      throw err;
    }
    this.produced++;
    // A request's records are produced in one synchronous loop, before any of their reports arrives.
    if (delivery.pendingRecords === 0) this.open.set(delivery.id, delivery);
    return true;
  }

  async close(timeoutMs = 30_000): Promise<void> {
    clearInterval(this.probe);
    try {
      await promisify<void>((cb) => this.client.flush(timeoutMs, cb as never));
    } catch (err) {
      // The HTTP server has closed first, so their requests were answered 503 when Kafka did not answer.
      this.log(`${this.inFlight()} events were not acknowledged before shutdown (${(err as Error).message})`);
    } finally {
      await promisify<unknown>((cb) => this.client.disconnect(cb as never));
    }
  }

  private down(): void {
    this.available = false;
    this.log('Kafka is unreachable: answering 503 until it is back');
    this.probe = setInterval(() => {
      this.client.getMetadata({ topic: this.probeTopic, timeout: PROBE_INTERVAL_MS }, (err) => {
        if (!err && !this.available) this.up();
      });
    }, PROBE_INTERVAL_MS);
  }

  private up(): void {
    clearInterval(this.probe);
    this.available = true;
    this.log('Kafka is reachable again');
  }
}
