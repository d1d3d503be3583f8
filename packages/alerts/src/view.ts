import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, recordAt, type KafkaSettings } from '@pulse/engine';
import { connectionConfig, consumerConfig, ensureTopics, TOPIC_SPECS, TOPICS, TrackedProducer } from '@pulse/kafka';
import type { AlertTransition } from './model.js';
import { isSilence, type Silence } from './silences.js';

/** Transitions the view keeps for GET /api/v1/alerts/history, newest last; older ones are dropped. */
export const HISTORY_MAX = 10_000;
const OFFSET_BEGINNING = -2;

/** What the API needs of alerting (AlertsView, or a fake in unit tests). */
export interface AlertsSource {
  /** Pending and firing alerts. */
  active(): AlertTransition[];
  /** Transitions, oldest first (at most HISTORY_MAX). */
  history(): readonly AlertTransition[];
  silences(): Silence[];
  /** Records a silence; resolves once Kafka has acknowledged it. */
  addSilence(silence: Silence): Promise<void>;
  ready(): boolean;
}

/**
 * How `pulse serve` knows the alerts (docs/alerting.md, "API"): it reads pulse-alerts, the record of
 * every transition, from the beginning, and keeps the latest state of each alert and the recent
 * transitions; and it reads and writes pulse-alert-silences, which `pulse alerts` reads too. No call
 * between the two processes: the topics are the interface, as for the rest of the pipeline.
 */
export class AlertsView implements AlertsSource {
  private consumer!: BatchConsumer;
  private producer: TrackedProducer | null = null;
  private readonly current = new Map<string, AlertTransition>();
  private readonly recent: AlertTransition[] = [];
  private readonly silenceMap = new Map<string, Silence>();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private caughtUp = false;
  /** Records of pulse-alerts or pulse-alert-silences that were not JSON. */
  invalid = 0;

  constructor(private readonly config: PulseConfig) {}

  async start(): Promise<void> {
    await ensureTopics(this.config, TOPIC_SPECS.filter((t) => t.name === TOPICS.alerts || t.name === TOPICS.alertSilences));
    this.consumer = new BatchConsumer(consumerConfig(this.config, 'alerts-view', 'pulse-alerts-view', { 'fetch.wait.max.ms': 100 }) as KafkaSettings);
    this.consumer.assign([
      { topic: TOPICS.alerts, partition: 0, offset: OFFSET_BEGINNING },
      { topic: TOPICS.alertSilences, partition: 0, offset: OFFSET_BEGINNING },
    ]);
    this.running = true;
    this.loopDone = this.loop();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const batch = await this.consumer.poll(5000, 100);
      const topics = this.consumer.topics();
      for (const run of batch.runs) {
        const topic = topics[run.topic];
        for (let i = run.start; i < run.end; i++) {
          const { value, key } = recordAt(batch, run, i);
          try {
            if (topic === TOPICS.alertSilences) {
              if (value.length === 0) this.silenceMap.delete(key.toString('utf8'));
              else {
                const silence: unknown = JSON.parse(value.toString('utf8'));
                if (isSilence(silence)) this.silenceMap.set(key.toString('utf8'), silence);
                else this.invalid++;
              }
            } else {
              this.apply(JSON.parse(value.toString('utf8')) as AlertTransition);
            }
          } catch {
            this.invalid++; // not written by Pulse; the API must go on serving
          }
        }
      }
      if (batch.ends.length < 5000) this.caughtUp = true;
    }
  }

  private apply(t: AlertTransition): void {
    if (t.status === 'pending' || t.status === 'firing') this.current.set(t.fingerprint, t);
    else this.current.delete(t.fingerprint);
    this.recent.push(t);
    if (this.recent.length > HISTORY_MAX) this.recent.splice(0, this.recent.length - HISTORY_MAX);
  }

  active(): AlertTransition[] {
    return [...this.current.values()];
  }

  history(): readonly AlertTransition[] {
    return this.recent;
  }

  silences(): Silence[] {
    return [...this.silenceMap.values()];
  }

  async addSilence(silence: Silence): Promise<void> {
    this.producer ??= await TrackedProducer.connect({ ...connectionConfig(this.config), 'client.id': `${this.config.kafka.clientId}-silences`, 'acks': -1 } as never);
    await this.producer.send(TOPICS.alertSilences, 0, Buffer.from(JSON.stringify(silence)), silence.id);
    await this.producer.flush();
    await this.producer.drained();
    const failures = this.producer.takeFailures();
    if (failures.length > 0) throw failures[0]!;
    this.silenceMap.set(silence.id, silence);
  }

  ready(): boolean {
    return this.caughtUp;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
    await this.consumer?.close().catch(() => {});
    await this.producer?.close().catch(() => {});
  }
}
