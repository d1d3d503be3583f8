import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadConfig, type PulseConfig } from '@pulse/config';
import {
  RdKafka,
  TrackedProducer,
  consumerConfig,
  deleteTopics,
  ensureTopics,
  highWatermarks,
  promisify,
  TOPIC_SPECS,
  type Message,
} from '@pulse/kafka';

const CLI = fileURLToPath(new URL('../../../packages/cli/dist/main.js', import.meta.url));

/** Environment of a Pulse process talking to the test broker, with the given overrides. */
export function pulseEnv(bootstrap: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('PULSE_')) env[k] = v;
  return { ...env, KAFKA_BOOTSTRAP_SERVERS: bootstrap, ...extra };
}

export function pulseConfig(bootstrap: string, extra: Record<string, string> = {}): PulseConfig {
  return loadConfig({ env: pulseEnv(bootstrap, extra), file: undefined });
}

/** Deletes and recreates every Pulse topic, so that a test starts from empty topics. */
export async function resetTopics(config: PulseConfig): Promise<void> {
  await deleteTopics(config, TOPIC_SPECS.map((t) => t.name)).catch(() => {});
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await ensureTopics(config);
      return;
    } catch (err) {
      // A deleted topic lingers briefly ("marked for deletion"); retry until it is gone.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export interface RawRecord {
  partition: number;
  key: string;
  value: string | Buffer;
}

/** Produces records in order with a plain producer (acks=all) and waits until all are acknowledged. */
export async function produceRecords(config: PulseConfig, topic: string, records: readonly RawRecord[]): Promise<void> {
  const producer = await TrackedProducer.connect({ 'bootstrap.servers': config.kafka.bootstrapServers, 'acks': -1, 'linger.ms': 5, 'enable.idempotence': true } as never);
  try {
    for (const r of records) await producer.send(topic, r.partition, Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value), r.key);
    await producer.flush();
    const failures = producer.takeFailures();
    if (failures.length > 0) throw failures[0];
  } finally {
    await producer.close();
  }
}

/** Every record of a topic, from the beginning up to its current high watermarks. */
export async function readTopic(config: PulseConfig, topic: string): Promise<Message[]> {
  const highs = await highWatermarks(config, topic);
  const remaining = new Map<number, number>();
  highs.forEach((h, p) => {
    if (h > 0) remaining.set(p, h);
  });
  const out: Message[] = [];
  if (remaining.size === 0) return out;
  const consumer = new RdKafka.KafkaConsumer(consumerConfig(config, 'test-reader', `test-reader-${process.pid}-${Date.now()}`, { 'enable.partition.eof': false }), {});
  await promisify<unknown>((cb) => consumer.connect({ timeout: 30_000 }, cb as never));
  consumer.setDefaultConsumeTimeout(200);
  consumer.assign([...remaining.keys()].map((partition) => ({ topic, partition, offset: 0 })));
  const deadline = Date.now() + 60_000;
  try {
    while (remaining.size > 0) {
      if (Date.now() > deadline) throw new Error(`reading ${topic}: partitions ${[...remaining.keys()].join(', ')} did not reach their high watermark`);
      const batch = await promisify<Message[]>((cb) => consumer.consume(1000, cb as never));
      for (const m of batch) {
        const high = remaining.get(m.partition);
        if (high === undefined) continue;
        out.push(m);
        if (m.offset + 1 >= high) remaining.delete(m.partition);
      }
    }
  } finally {
    await promisify<unknown>((cb) => consumer.disconnect(cb as never)).catch(() => {});
  }
  return out;
}

/** A `pulse <command>` child process with its output collected. */
export interface PulseProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when a line matching `pattern` has been printed. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

export function spawnPulse(args: string[], env: Record<string, string>): PulseProcess {
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern} in output:\n${text.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
