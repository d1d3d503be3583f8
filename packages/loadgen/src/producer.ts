import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import type { PulseConfig } from '@pulse/config';
import { BatchProducer, type KafkaSettings } from '@pulse/engine';
import { producerConfig, type ProducerGlobalConfig } from '@pulse/kafka';

/** Records staged per topic before they are handed to librdkafka in one native call. */
const STAGE_RECORDS = 1024;
const STAGE_BYTES = 512 * 1024;
/** Staged records beyond which `produce` refuses (the caller waits): librdkafka's queue is full. */
const STAGE_LIMIT = 16 * STAGE_RECORDS;

/** Records of one topic waiting to cross into the native producer, packed as it takes them. */
class Stage {
  values: Buffer = Buffer.allocUnsafe(STAGE_BYTES * 2);
  keys: Buffer = Buffer.allocUnsafe(64 * 1024);
  ends = new Uint32Array(STAGE_LIMIT + STAGE_RECORDS);
  keyEnds = new Uint32Array(STAGE_LIMIT + STAGE_RECORDS);
  count = 0;
  /** Records before `sent` were already handed over (a send stopped at a full queue). */
  sent = 0;

  get bytes(): number {
    return this.count === 0 ? 0 : this.ends[this.count - 1]!;
  }

  push(value: Buffer, key: Buffer): void {
    const at = this.bytes;
    const keyAt = this.count === 0 ? 0 : this.keyEnds[this.count - 1]!;
    if (at + value.length > this.values.length) this.values = grow(this.values, at + value.length);
    if (keyAt + key.length > this.keys.length) this.keys = grow(this.keys, keyAt + key.length);
    value.copy(this.values, at);
    key.copy(this.keys, keyAt);
    this.ends[this.count] = at + value.length;
    this.keyEnds[this.count] = keyAt + key.length;
    this.count++;
  }

  reset(): void {
    this.count = 0;
    this.sent = 0;
  }
}

function grow(b: Buffer, atLeast: number): Buffer {
  const bigger = Buffer.allocUnsafe(Math.max(atLeast, b.length * 2));
  b.copy(bigger);
  return bigger;
}

/**
 * The generator's producer: records are staged per topic in packed buffers and handed to librdkafka
 * (in Rust) a thousand at a time; delivery reports are counted natively, so none reaches JavaScript.
 * That leaves the generator's thread free for making events: the JavaScript client cost about 4 µs of
 * main-thread CPU per record even without delivery reports.
 */
export class GeneratorProducer {
  private produced = 0;
  private readonly stages = new Map<string, Stage>();
  private sendScheduled = false;
  private error: Error | undefined;

  private constructor(private readonly client: BatchProducer) {}

  static async connect(config: PulseConfig, overrides: ProducerGlobalConfig = {}): Promise<GeneratorProducer> {
    return new GeneratorProducer(new BatchProducer(producerConfig(config, 'loadgen', overrides) as KafkaSettings));
  }

  /** Stages one record (copied at once); false (nothing staged) when librdkafka's queue is full. */
  produce(topic: string, partition: number | null, value: Buffer | null, key: Buffer | string | null): boolean {
    if (partition !== null) throw new Error('the generator partitions by key');
    let stage = this.stages.get(topic);
    if (stage === undefined) this.stages.set(topic, (stage = new Stage()));
    if (stage.count >= STAGE_LIMIT) {
      this.send(topic, stage);
      if (stage.count >= STAGE_LIMIT) return false;
    }
    stage.push(value ?? EMPTY, typeof key === 'string' ? Buffer.from(key) : (key ?? EMPTY));
    this.produced++;
    if (stage.count - stage.sent >= STAGE_RECORDS || stage.bytes >= STAGE_BYTES) this.send(topic, stage);
    else if (!this.sendScheduled) {
      // The rest goes out once the current burst of events is over.
      this.sendScheduled = true;
      setImmediate(() => {
        this.sendScheduled = false;
        this.sendAll();
      });
    }
    return true;
  }

  private send(topic: string, stage: Stage): void {
    if (stage.count === stage.sent) return;
    const r = this.client.sendPacked(topic, stage.values, stage.ends.subarray(0, stage.count), stage.keys, stage.keyEnds.subarray(0, stage.count), stage.sent);
    stage.sent = r.next;
    if (stage.sent === stage.count) stage.reset();
  }

  /** Hands every staged record to librdkafka; true if all were taken. */
  private sendAll(): boolean {
    let done = true;
    for (const [topic, stage] of this.stages) {
      this.send(topic, stage);
      if (stage.count > 0) done = false;
    }
    return done;
  }

  private staged(): number {
    let n = 0;
    for (const s of this.stages.values()) n += s.count - s.sent;
    return n;
  }

  /** Records staged or not yet acknowledged. */
  inFlight(): number {
    return this.staged() + this.client.counts().outstanding;
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

  /** Sends what is staged or lingers, and waits until librdkafka has an answer for every record. */
  async flush(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.sendAll()) {
      if (Date.now() > deadline) throw new Error(`flush: ${this.staged()} records still staged after ${timeoutMs} ms (librdkafka's queue stayed full)`);
      await sleep(1);
    }
    await this.client.flush(Math.max(1, deadline - Date.now()));
  }

  async drained(): Promise<void> {
    while (!this.sendAll()) await yieldToIo();
    await this.client.settled(this.client.closeEpoch());
  }

  async close(timeoutMs = 30_000): Promise<void> {
    await this.flush(timeoutMs);
  }
}

const EMPTY = Buffer.alloc(0);
