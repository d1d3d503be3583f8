import type { Log } from '@pulse/log';
import type { PulseConfig } from '@pulse/config';
import { BatchProducer, type KafkaSettings } from '@pulse/engine';
import { producerConfig } from '@pulse/kafka';
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
  /**
   * Hands over the packed records (engine output format, kind = index into the sink's output topics)
   * that start at `starts`, as records 0, 1, … of `delivery`, in one call; returns how many were
   * queued before the producer's queue was full.
   */
  produceOutputs(packed: Buffer, starts: Uint32Array, delivery: Delivery): number;
  /** Sends what is queued, waits for the answers (bounded), disconnects. */
  close(): Promise<void>;
}

const PROBE_INTERVAL_MS = 1000;
/** How long one wait for answers blocks a libuv thread before checking whether the sink is closing. */
const ANSWER_WAIT_MS = 200;

/**
 * The collector's producer: librdkafka driven from Rust (see packages/engine/src/kafka.ts). Each
 * request is a ticket: its records carry the ticket and their index, their delivery reports are
 * gathered natively, and the request hears once, when every record of it has an answer, which ones
 * were written and which failed. So a 200 still promises that every event was acknowledged, without
 * a JavaScript callback per record.
 *
 * The queue is bounded (`collector.maxInFlightEvents`): a full queue is a 503, never unbounded memory.
 * When librdkafka reports that every broker is down, the sink turns unavailable and probes the
 * cluster every second; the first answer (or any acknowledged record) makes it available again.
 */
export class KafkaSink implements RecordSink {
  available = true;
  private readonly open = new Map<number, Delivery>();
  private probe: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly answers: Promise<void>;

  private constructor(
    private readonly client: BatchProducer,
    private readonly probeTopic: string,
    private readonly log: Log,
  ) {
    this.answers = this.deliverAnswers();
  }

  /** `outputTopics`: the topic of each packed record kind (see `outputTopics`); the first is probed. */
  static async connect(config: PulseConfig, outputTopics: readonly string[], log: Log = { info() {}, warn() {}, error() {} }): Promise<KafkaSink> {
    const probeTopic = outputTopics[0]!;
    const client = new BatchProducer({
      ...(producerConfig(config, 'collector') as KafkaSettings),
      // Room for the bounded queue plus one full request admitted just below the bound.
      'queue.buffering.max.messages': config.collector.maxInFlightEvents + MAX_BATCH_EVENTS,
    });
    // Fail at start, as the JavaScript client's connect did, rather than answer 503 to the first requests.
    if (!(await client.probe(probeTopic, 30_000))) throw new Error(`no Kafka broker answered at ${config.kafka.bootstrapServers}`);
    client.routeOutputs({ ...outputTopics });
    return new KafkaSink(client, probeTopic, log);
  }

  /** Hands each finished request its answers, as librdkafka's reports come in (on its own thread). */
  private async deliverAnswers(): Promise<void> {
    for (;;) {
      // Once closing (after the flush), one last look without waiting.
      const last = this.closing;
      const news = await this.client.waitTickets(last ? 0 : ANSWER_WAIT_MS);
      if (news.brokersDown && this.available) this.down();
      for (const done of news.completions) {
        const delivery = this.open.get(done.ticket);
        if (delivery === undefined) continue;
        if (done.failed.length < done.settled.length && !this.available) this.up();
        const error = done.error === null || done.error === undefined ? null : new Error(done.error);
        let f = 0;
        for (const index of done.settled) {
          const failed = f < done.failed.length && done.failed[f] === index;
          if (failed) f++;
          delivery.recordSettled(index, failed ? error : null);
        }
        if (delivery.pendingRecords === 0) this.open.delete(done.ticket);
      }
      if (last) return;
    }
  }

  inFlight(): number {
    return this.client.counts().outstanding;
  }

  produce(topic: string, key: string, value: Buffer, delivery: Delivery, index: number): boolean {
    if (!this.client.sendTicketed(delivery.id, index, topic, Buffer.from(key), value)) return false;
    if (!this.open.has(delivery.id)) this.open.set(delivery.id, delivery);
    return true;
  }

  produceOutputs(packed: Buffer, starts: Uint32Array, delivery: Delivery): number {
    const sent = this.client.sendTicketedOutputs(delivery.id, packed, starts);
    if (sent > 0 && !this.open.has(delivery.id)) this.open.set(delivery.id, delivery);
    return sent;
  }

  async close(timeoutMs = 30_000): Promise<void> {
    clearInterval(this.probe);
    try {
      await this.client.flush(timeoutMs);
    } catch (err) {
      // The HTTP server has closed first, so their requests were answered 503 when Kafka did not answer.
      this.log.error(`${this.inFlight()} events were not acknowledged before shutdown (${(err as Error).message})`);
    } finally {
      this.closing = true;
      await this.answers;
    }
  }

  private down(): void {
    this.available = false;
    this.log.warn('Kafka is unreachable: answering 503 until it is back');
    this.probe = setInterval(() => {
      void this.client.probe(this.probeTopic, PROBE_INTERVAL_MS).then(
        (up) => {
          if (up && !this.available) this.up();
        },
        // A refused login or certificate: say so on every probe, and keep answering 503.
        (err: Error) => this.log.error(err.message),
      );
    }, PROBE_INTERVAL_MS);
  }

  private up(): void {
    clearInterval(this.probe);
    this.available = true;
    this.log.info('Kafka is reachable again');
  }
}
