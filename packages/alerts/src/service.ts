import { createLogger, type Log } from '@pulse/log';
import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, recordAt, type KafkaSettings } from '@pulse/engine';
import { CHANGELOG_MAX_MESSAGE_BYTES, connectionConfig, consumerConfig, describeTopic, ensureTopics, promisify, RdKafka, TOPIC_SPECS, TOPICS, TrackedProducer, type KafkaConsumer, type Message } from '@pulse/kafka';
import { Evaluator, type EvaluatorSnapshot } from './evaluator.js';
import { LagSampler } from './lag.js';
import type { AlertTransition } from './model.js';
import { Notifier, type NotifierSnapshot } from './notifier.js';
import { builtInRules, effectiveRules, loadRulesFile, type Rule } from './rules.js';
import { isSilence, type Silence } from './silences.js';

/** The streams rules read, and the silences. */
const INPUTS = [TOPICS.userActivityCounts, TOPICS.sensorStats, TOPICS.revenue, TOPICS.deadLetters] as const;
const STATE_KEY = 'state';
const SNAPSHOT_VERSION = 1;
const CONSUME_BATCH = 5000;
const LAG_SAMPLE_MS = 5000;

type Offsets = Record<string, Record<number, number>>;

interface Snapshot {
  version: number;
  rules: string[];
  /** Next input offset per topic and partition: the state covers every record before them. */
  offsets: Offsets;
  /** End offset of pulse-alerts when the snapshot was taken: later records came from later input. */
  alertsEnd: number;
  evaluator: EvaluatorSnapshot;
  notifier: NotifierSnapshot;
  takenAt: number;
}

/** The rules a configuration gives: the built-in ones, replaced or added to by alerts.rulesFile. */
export function configuredRules(config: PulseConfig): Rule[] {
  const builtIn = builtInRules({ userActivityThreshold: config.alerts.userActivityThreshold, aggregatorGroup: config.aggregator.groupId });
  return effectiveRules(builtIn, config.alerts.rulesFile === '' ? [] : loadRulesFile(config.alerts.rulesFile));
}

/**
 * A replayed transition matches a recorded one by alert and status: the replay covers at most one
 * snapshot interval, in which one alert does not fire twice. (Its times match too, except where
 * records of several partitions decide together, as for dead_letter_rate; then the recorded ones win.)
 */
const key = (t: AlertTransition): string => `${t.fingerprint}|${t.status}`;

/**
 * `pulse alerts` (docs/alerting.md, "Durability"): reads user-activity-counts, pulse-sensor-stats,
 * pulse-revenue and dead-letters (every partition, assigned), evaluates the rules, writes every transition to
 * pulse-alerts and hands it to the notifier.
 *
 * Every alerts.snapshotIntervalMs it stops between two batches, waits until its transitions so far are
 * acknowledged, and writes one snapshot to the compacted pulse-alerts-state: the evaluator's and the
 * notifier's state, the input offsets they cover, and the end offset of pulse-alerts. A restart
 * restores it, reads the transitions recorded after it (they came from input after the snapshot's
 * offsets), hands them to the notifier again (at least once), and replays the input from the
 * snapshot's offsets: the evaluation is deterministic in the records and their timestamps, so it
 * produces the same transitions again, and each one already recorded is not written again. Hence the
 * same alerts with the same startsAt, no second "firing", and every resolution still sent.
 */
export class AlertsService {
  readonly rules: readonly Rule[];
  private readonly evaluator: Evaluator;
  readonly notifier: Notifier;
  private consumer!: BatchConsumer;
  private producer!: TrackedProducer;
  private reader!: KafkaConsumer;
  private lag: LagSampler | null = null;
  private readonly next: Offsets = {};
  private readonly silences = new Map<string, Silence>();
  /** Transitions recorded after the restored snapshot and not yet met again in the replay. */
  private readonly recorded = new Map<string, AlertTransition>();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private lastSnapshot = 0;
  private caughtUp = false;
  private failure: Error | null = null;
  private readonly log: Log;
  readonly counters = { batches: 0, records: 0, invalid: 0, transitions: 0, replayed: 0, snapshots: 0 };

  constructor(
    private readonly config: PulseConfig,
    options: { log?: Log; rules?: readonly Rule[] } = {},
  ) {
    this.log = options.log ?? createLogger('alerts', config.log);
    this.rules = options.rules ?? configuredRules(config);
    this.evaluator = new Evaluator(this.rules, config.alerts.maxTrackedKeys);
    const a = config.alerts;
    this.notifier = new Notifier({
      alertmanagerUrls: a.alertmanagerUrls,
      resendIntervalMs: a.resendIntervalMs,
      webhooks: a.webhooks,
      webhookSecret: a.webhookSecret,
      groupBy: a.groupBy,
      groupWaitMs: a.groupWaitMs,
      groupIntervalMs: a.groupIntervalMs,
      repeatIntervalMs: a.repeatIntervalMs,
      webhookTimeoutMs: a.webhookTimeoutMs,
      externalUrl: a.externalUrl,
      log: (line) => this.log.warn(line),
    });
  }

  async start(): Promise<void> {
    const topics: string[] = [...INPUTS, TOPICS.alerts, TOPICS.alertsState, TOPICS.alertSilences];
    await ensureTopics(this.config, TOPIC_SPECS.filter((t) => topics.includes(t.name)));
    this.reader = new RdKafka.KafkaConsumer(consumerConfig(this.config, 'alerts-reader', 'pulse-alerts-reader', { 'fetch.message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES }), {});
    await promisify<unknown>((cb) => this.reader.connect({ timeout: 30_000 }, cb as never));
    this.producer = await TrackedProducer.connect({
      ...connectionConfig(this.config),
      'client.id': `${this.config.kafka.clientId}-alerts`,
      'acks': -1,
      'enable.idempotence': true,
      'linger.ms': 0,
      'message.max.bytes': CHANGELOG_MAX_MESSAGE_BYTES + 1024,
    } as never);

    const snapshot = await this.readSnapshot();
    if (snapshot !== null) {
      const dropped = this.evaluator.restore(snapshot.evaluator);
      for (const d of dropped) this.log.info(`dropped alert ${d}: its rule is no longer configured`);
      this.notifier.restore(snapshot.notifier);
      const tail = await this.readAlerts(snapshot.alertsEnd);
      const byName = new Map(this.rules.map((r) => [r.name, r]));
      for (const t of tail) {
        // Wall-clock rules are not replayed: their recorded transitions are their state.
        if (byName.get(t.rule)?.kind === 'consumer_lag') this.evaluator.adopt(t);
        else this.recorded.set(key(t), t);
        this.notifier.onTransition(t);
      }
      this.log.info(`restored ${snapshot.evaluator.alerts.length} alerts from a snapshot of ${new Date(snapshot.takenAt).toISOString()}, ${tail.length} transitions recorded after it`);
    }

    this.consumer = new BatchConsumer(consumerConfig(this.config, 'alerts', 'pulse-alerts', { 'fetch.wait.max.ms': 50 }) as KafkaSettings);
    const assignment = [];
    for (const topic of INPUTS) {
      this.next[topic] = {};
      for (const { partition } of await describeTopic(this.config, topic)) {
        // Without a snapshot, from the end as it is now (an explicit offset: librdkafka's logical end
        // is resolved later, and records written meanwhile would be skipped).
        const offset = snapshot?.offsets[topic]?.[partition] ?? (await this.endOffset(topic, partition));
        assignment.push({ topic, partition, offset });
        this.next[topic]![partition] = offset;
      }
    }
    // The silences there are now, before any input: a silenced alert must not slip out first.
    const { lowOffset, highOffset } = await promisify<{ lowOffset: number; highOffset: number }>((cb) => this.reader.queryWatermarkOffsets(TOPICS.alertSilences, 0, 10_000, cb as never));
    if (highOffset > lowOffset) {
      for (const m of await this.readRange(TOPICS.alertSilences, lowOffset, highOffset)) this.applySilence(Buffer.from(m.key ?? ''), m.value ?? Buffer.alloc(0));
    }
    assignment.push({ topic: TOPICS.alertSilences, partition: 0, offset: highOffset });
    this.consumer.assign(assignment);
    // A first snapshot at once: a crash before the next one resumes from these ends, not from newer ones.
    if (snapshot === null) await this.writeSnapshot();
    this.lastSnapshot = Date.now();
    this.notifier.start();
    if (this.rules.some((r) => r.kind === 'consumer_lag')) {
      this.lag = new LagSampler(this.config, [...new Set(this.rules.flatMap((r) => (r.kind === 'consumer_lag' ? [r.group] : [])))], LAG_SAMPLE_MS, (group, lag, at) => this.evaluator.observeLag(group, lag, at), (line) => this.log.warn(line));
      this.lag.start();
    }
    this.running = true;
    this.loopDone = this.loop().catch((err: Error) => {
      this.failure = err;
      this.running = false;
    });
    this.log.info(`${this.rules.length} rules (${this.rules.map((r) => r.name).join(', ')}); reading ${INPUTS.join(', ')} ${snapshot ? 'from the snapshot' : 'from their ends'}`);
  }

  private async endOffset(topic: string, partition: number): Promise<number> {
    const { highOffset } = await promisify<{ highOffset: number }>((cb) => this.reader.queryWatermarkOffsets(topic, partition, 10_000, cb as never));
    return highOffset;
  }

  private async readSnapshot(): Promise<Snapshot | null> {
    const { lowOffset, highOffset } = await promisify<{ lowOffset: number; highOffset: number }>((cb) => this.reader.queryWatermarkOffsets(TOPICS.alertsState, 0, 10_000, cb as never));
    if (highOffset <= lowOffset) return null;
    const [m] = await this.readRange(TOPICS.alertsState, highOffset - 1, highOffset);
    if (m?.value == null) throw new Error(`${TOPICS.alertsState}: the latest snapshot is empty`);
    const s = JSON.parse(m.value.toString('utf8')) as Snapshot;
    if (s.version !== SNAPSHOT_VERSION) throw new Error(`${TOPICS.alertsState}: snapshot version ${s.version}, this build reads ${SNAPSHOT_VERSION}`);
    return s;
  }

  private async readAlerts(from: number): Promise<AlertTransition[]> {
    const highOffset = await this.endOffset(TOPICS.alerts, 0);
    if (highOffset <= from) return [];
    return (await this.readRange(TOPICS.alerts, from, highOffset)).map((m) => JSON.parse(m.value!.toString('utf8')) as AlertTransition);
  }

  /** Records [from, to) of partition 0 of a topic. */
  private async readRange(topic: string, from: number, to: number): Promise<Message[]> {
    const out: Message[] = [];
    this.reader.setDefaultConsumeTimeout(200);
    this.reader.assign([{ topic, partition: 0, offset: from }]);
    const deadline = Date.now() + 60_000;
    try {
      while (Date.now() < deadline) {
        const batch = await promisify<Message[]>((cb) => this.reader.consume(1000, cb as never));
        for (const m of batch) if (m.topic === topic && m.offset >= from && m.offset < to) out.push(m);
        if (batch.length > 0 && batch[batch.length - 1]!.offset >= to - 1) return out;
      }
      throw new Error(`timed out reading ${topic} offsets ${from}..${to}`);
    } finally {
      this.reader.unassign();
    }
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const batch = await this.consumer.poll(CONSUME_BATCH, 100);
      const topics = this.consumer.topics();
      for (const run of batch.runs) {
        const topic = topics[run.topic]!;
        for (let i = run.start; i < run.end; i++) {
          const { value, key: recordKey } = recordAt(batch, run, i);
          const ts = batch.timestamps[i]! >= 0 ? batch.timestamps[i]! : Date.now();
          this.ingest(topic, value, recordKey, ts, run.partition);
        }
        if (topic !== TOPICS.alertSilences) this.next[topic]![run.partition] = batch.offsets[run.end - 1]! + 1;
      }
      this.counters.batches++;
      this.counters.records += batch.ends.length;
      this.evaluator.tick(this.evaluator.streamTime(), Date.now());
      await this.publish();
      if (batch.ends.length < CONSUME_BATCH) this.caughtUp = true;
      if (Date.now() - this.lastSnapshot >= this.config.alerts.snapshotIntervalMs) await this.writeSnapshot();
    }
  }

  private ingest(topic: string, value: Buffer, recordKey: Buffer, ts: number, partition: number): void {
    if (topic === TOPICS.deadLetters) {
      this.evaluator.observeDeadLetter(ts);
      return;
    }
    if (topic === TOPICS.alertSilences) {
      this.applySilence(recordKey, value);
      return;
    }
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(value.toString('utf8')) as Record<string, unknown>;
    } catch {
      this.counters.invalid++;
      return;
    }
    if (topic === TOPICS.userActivityCounts) {
      if (typeof r.userId !== 'string' || typeof r.windowStart !== 'number' || typeof r.windowEnd !== 'number' || typeof r.count !== 'number') this.counters.invalid++;
      else
        this.evaluator.observeActivity(
          { userId: r.userId, windowStart: r.windowStart, windowEnd: r.windowEnd, count: r.count, final: r.final === true, ...(typeof r.oldestEventTs === 'number' ? { oldestEventTs: r.oldestEventTs } : {}) },
          ts,
          partition,
        );
    } else if (topic === TOPICS.revenue) {
      if (typeof r.partition !== 'number' || typeof r.currency !== 'string' || typeof r.windowStart !== 'number' || typeof r.revenue !== 'number') this.counters.invalid++;
      else this.evaluator.observeRevenue({ partition: r.partition, currency: r.currency, windowStart: r.windowStart, revenue: r.revenue }, ts);
    } else if (typeof r.sensorId !== 'string' || typeof r.metric !== 'string' || typeof r.windowStart !== 'number') {
      this.counters.invalid++;
    } else {
      this.evaluator.observeSensor(
        { sensorId: r.sensorId, metric: r.metric, windowStart: r.windowStart, min: Number(r.min), max: Number(r.max), anomalyScore: Number(r.anomalyScore ?? 0), final: r.final === true },
        ts,
      );
    }
  }

  private applySilence(key: Buffer, value: Buffer): void {
    const id = key.toString('utf8');
    if (value.length === 0) {
      this.silences.delete(id);
    } else {
      let silence: unknown;
      try {
        silence = JSON.parse(value.toString('utf8'));
      } catch {
        silence = null;
      }
      if (!isSilence(silence)) {
        this.counters.invalid++;
        return;
      }
      this.silences.set(id, silence);
    }
    this.notifier.setSilences([...this.silences.values()]);
  }

  /** Records the evaluator's new transitions on pulse-alerts and notifies them, skipping those recorded before a restart. */
  private async publish(): Promise<void> {
    for (const t of this.evaluator.takeTransitions()) {
      const recorded = this.recorded.get(key(t));
      if (recorded !== undefined) {
        this.recorded.delete(key(t));
        this.evaluator.reconcile(recorded);
        this.counters.replayed++;
        continue;
      }
      this.counters.transitions++;
      const value = Buffer.from(JSON.stringify(t));
      while (!this.producer.produce(TOPICS.alerts, 0, value, t.fingerprint)) await this.producer.drained();
      this.notifier.onTransition(t);
    }
  }

  private async writeSnapshot(): Promise<void> {
    this.lastSnapshot = Date.now();
    // Transitions first: the snapshot must not cover input whose transitions are not recorded.
    await this.producer.flush();
    await this.producer.drained();
    const failures = this.producer.takeFailures();
    if (failures.length > 0) throw new Error(`writing to ${TOPICS.alerts} failed: ${failures[0]!.message}`);
    const highOffset = await this.endOffset(TOPICS.alerts, 0);
    const s: Snapshot = {
      version: SNAPSHOT_VERSION,
      rules: this.rules.map((r) => r.name),
      offsets: this.next,
      alertsEnd: highOffset,
      evaluator: this.evaluator.snapshot(),
      notifier: this.notifier.snapshot(),
      takenAt: Date.now(),
    };
    await this.producer.send(TOPICS.alertsState, 0, Buffer.from(JSON.stringify(s)), STATE_KEY);
    await this.producer.flush();
    await this.producer.drained();
    const failed = this.producer.takeFailures();
    if (failed.length > 0) throw new Error(`writing the snapshot to ${TOPICS.alertsState} failed: ${failed[0]!.message}`);
    this.counters.snapshots++;
  }

  /** Pending and firing alerts as this process sees them. */
  active(): AlertTransition[] {
    return this.evaluator.active();
  }

  /** True once the consumer has read what there was when it started. */
  ready(): boolean {
    return this.caughtUp;
  }

  /** Rejects when the evaluation loop stops on an error. */
  async done(): Promise<void> {
    await this.loopDone;
    if (this.failure !== null) throw this.failure;
  }

  prometheus(): string[] {
    const c = this.counters;
    const n = this.notifier.counters;
    const metric = (name: string, type: string, help: string, value: number) => [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`];
    return [
      ...metric('pulse_alerts_records_total', 'counter', 'Input records evaluated.', c.records),
      ...metric('pulse_alerts_invalid_records_total', 'counter', 'Input records that were not valid JSON of the expected shape.', c.invalid),
      ...metric('pulse_alerts_transitions_total', 'counter', 'Alert transitions written to pulse-alerts.', c.transitions),
      ...metric('pulse_alerts_active', 'gauge', 'Pending and firing alerts.', this.evaluator.active().length),
      ...metric('pulse_alerts_untracked_keys_total', 'counter', 'Sensors not tracked by sensor_silent because the key limit was reached.', this.evaluator.counters.untrackedKeys),
      ...metric('pulse_alerts_snapshots_total', 'counter', 'State snapshots written.', c.snapshots),
      ...metric('pulse_alerts_alertmanager_posts_total', 'counter', 'Successful posts to Alertmanager.', n.amPosts),
      ...metric('pulse_alerts_alertmanager_failures_total', 'counter', 'Failed posts to Alertmanager.', n.amFailures),
      ...metric('pulse_alerts_notifications_total', 'counter', 'Webhook notifications created (per group flush).', n.notifications),
      ...metric('pulse_alerts_webhook_sent_total', 'counter', 'Webhook requests answered 2xx.', n.webhookSent),
      ...metric('pulse_alerts_webhook_failures_total', 'counter', 'Webhook attempts that failed (retried).', n.webhookFailures),
      ...metric('pulse_alerts_webhook_dropped_total', 'counter', 'Webhook deliveries given up.', n.webhookDropped),
      ...metric('pulse_alerts_webhook_queued', 'gauge', 'Webhook deliveries waiting for their receiver.', this.notifier.queued()),
    ];
  }

  /** Stops after the batch in hand and writes a last snapshot. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loopDone;
    await this.lag?.stop();
    await this.notifier.stop();
    if (this.failure === null) await this.writeSnapshot().catch((err: Error) => this.log.warn(`last snapshot not written: ${err.message}`));
    await this.consumer.close().catch(() => {});
    await this.producer.close().catch(() => {});
    await promisify<unknown>((cb) => this.reader.disconnect(cb as never)).catch(() => {});
  }
}
