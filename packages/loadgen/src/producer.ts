import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import type { PulseConfig } from '@pulse/config';
import { BatchProducer, type KafkaSettings } from '@pulse/engine';
import { producerConfig, type ProducerGlobalConfig } from '@pulse/kafka';
import type { PackedEvents } from './model.js';

/** Records librdkafka could not take yet (its queue was full), beyond which `sendPacked` refuses. */
const BACKLOG_LIMIT = 16 * 1024;

/** One topic's records that librdkafka's full queue turned away, kept packed until it has room. */
export class Backlog {
  values: Buffer = Buffer.allocUnsafe(1024 * 1024);
  keys: Buffer = Buffer.allocUnsafe(64 * 1024);
  ends: Uint32Array = new Uint32Array(BACKLOG_LIMIT);
  keyEnds: Uint32Array = new Uint32Array(BACKLOG_LIMIT);
  count = 0;

  /** Appends records `from`… of a packed set. */
  push(r: PackedEvents, from: number): void {
    const n = r.ends.length;
    const v0 = from === 0 ? 0 : r.ends[from - 1]!;
    const k0 = from === 0 ? 0 : r.keyEnds[from - 1]!;
    const at = this.count === 0 ? 0 : this.ends[this.count - 1]!;
    const keyAt = this.count === 0 ? 0 : this.keyEnds[this.count - 1]!;
    if (this.count + n - from > this.ends.length) {
      this.ends = grown(this.ends, this.count + n - from);
      this.keyEnds = grown(this.keyEnds, this.count + n - from);
    }
    this.values = fit(this.values, at + r.ends[n - 1]! - v0);
    this.keys = fit(this.keys, keyAt + r.keyEnds[n - 1]! - k0);
    r.values.copy(this.values, at, v0, r.ends[n - 1]!);
    r.keys.copy(this.keys, keyAt, k0, r.keyEnds[n - 1]!);
    for (let j = from; j < n; j++, this.count++) {
      this.ends[this.count] = at + r.ends[j]! - v0;
      this.keyEnds[this.count] = keyAt + r.keyEnds[j]! - k0;
    }
  }

  /** Drops the first `n` records (librdkafka took them). */
  shift(n: number): void {
    if (n === this.count) {
      this.count = 0;
      return;
    }
    const v0 = this.ends[n - 1]!;
    const k0 = this.keyEnds[n - 1]!;
    this.values.copy(this.values, 0, v0, this.ends[this.count - 1]!);
    this.keys.copy(this.keys, 0, k0, this.keyEnds[this.count - 1]!);
    for (let j = n; j < this.count; j++) {
      this.ends[j - n] = this.ends[j]! - v0;
      this.keyEnds[j - n] = this.keyEnds[j]! - k0;
    }
    this.count -= n;
  }
}

function grown(a: Uint32Array, atLeast: number): Uint32Array {
  const bigger = new Uint32Array(Math.max(atLeast, a.length * 2));
  bigger.set(a);
  return bigger;
}

function fit(b: Buffer, atLeast: number): Buffer {
  if (atLeast <= b.length) return b;
  const bigger = Buffer.allocUnsafe(Math.max(atLeast, b.length * 2));
  b.copy(bigger);
  return bigger;
}

/**
 * The generator's producer: each burst's packed records go to librdkafka (in Rust) in one call per
 * topic. librdkafka reports failures only (`delivery.report.only.error`): what is neither failed nor in
 * its queues was delivered, and 100 000 events/s cost no report each (2.4% of a core). When
 * librdkafka's queue is full, what it turned away waits here, in order, and goes first once there is room.
 */
export class GeneratorProducer {
  private produced = 0;
  private readonly backlogs = new Map<string, Backlog>();
  private retryScheduled = false;
  private error: Error | undefined;

  private constructor(private readonly client: BatchProducer) {}

  static async connect(config: PulseConfig, overrides: ProducerGlobalConfig = {}): Promise<GeneratorProducer> {
    return new GeneratorProducer(new BatchProducer(producerConfig(config, 'loadgen', { 'delivery.report.only.error': true, ...overrides }) as KafkaSettings));
  }

  /** Takes all of `records` (copying what librdkafka cannot take yet); false, taking none, when the backlog is full. */
  sendPacked(records: PackedEvents): boolean {
    let backlog = this.backlogs.get(records.topic);
    if (backlog === undefined) this.backlogs.set(records.topic, (backlog = new Backlog()));
    if (backlog.count > 0 && !this.sendBacklog(records.topic, backlog)) {
      if (backlog.count + records.ends.length > BACKLOG_LIMIT) return false;
      backlog.push(records, 0);
    } else {
      const { next } = this.client.sendPacked(records.topic, records.values, records.ends, records.keys, records.keyEnds, 0);
      if (next < records.ends.length) {
        backlog.push(records, next);
        this.scheduleRetry();
      }
    }
    this.produced += records.ends.length;
    return true;
  }

  /** Offers a topic's backlog to librdkafka; true when it took all of it. */
  private sendBacklog(topic: string, b: Backlog): boolean {
    if (b.count === 0) return true;
    const { next } = this.client.sendPacked(topic, b.values, b.ends.subarray(0, b.count), b.keys, b.keyEnds.subarray(0, b.count), 0);
    if (next > 0) b.shift(next);
    return b.count === 0;
  }

  private sendBacklogs(): boolean {
    let done = true;
    for (const [topic, b] of this.backlogs) done = this.sendBacklog(topic, b) && done;
    return done;
  }

  /** Retries the backlog on its own, so it drains even when no new records come. */
  private scheduleRetry(): void {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    setTimeout(() => {
      this.retryScheduled = false;
      if (!this.sendBacklogs()) this.scheduleRetry();
    }, 1);
  }

  private backlogged(): number {
    let n = 0;
    for (const b of this.backlogs.values()) n += b.count;
    return n;
  }

  /** Records not yet acknowledged, backlog included. */
  inFlight(): number {
    return this.backlogged() + this.client.counts().outstanding;
  }

  stats(): { produced: number; delivered: number; failed: number } {
    const c = this.client.counts();
    return { produced: this.produced, delivered: c.delivered, failed: c.failed };
  }

  /** The first delivery failure, if any. */
  firstError(): Error | undefined {
    const f = this.client.takeFailures()[0];
    if (f !== undefined) this.error ??= new Error(`${f.topic}/${f.partition}: ${f.error}`);
    return this.error;
  }

  /** Sends the backlog and what lingers, and waits until librdkafka has an answer for every record. */
  async flush(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.sendBacklogs()) {
      if (Date.now() > deadline) throw new Error(`flush: ${this.backlogged()} records still waiting after ${timeoutMs} ms (librdkafka's queue stayed full)`);
      await sleep(1);
    }
    await this.client.flush(Math.max(1, deadline - Date.now()));
  }

  async drained(): Promise<void> {
    while (!this.sendBacklogs()) await yieldToIo();
    await this.client.settled(this.client.closeEpoch());
  }

  async close(timeoutMs = 30_000): Promise<void> {
    await this.flush(timeoutMs);
  }
}
