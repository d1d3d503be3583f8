import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PulseConfig } from '@pulse/config';
import { ensureTopics, javaConnectionProperties } from '@pulse/kafka';
import { ensureKafkaJars } from '@pulse/kafka-local';
import { benchBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';

const exec = promisify(execFile);

export interface KafkaBaselineOptions {
  config: PulseConfig;
  records: number;
  recordSize: number;
  /** Round trips EndToEndLatency measures. */
  latencyMessages: number;
  bootstrapServers?: string;
  dataDir: string;
  port: number;
  log: (line: string) => void;
}

export interface KafkaBaselineResult {
  scenario: 'kafka-baseline';
  /** Apache Kafka's ProducerPerformance at unbounded rate with the spec's producer settings. */
  producer: ProducerPerformanceResult;
  /** Apache Kafka's EndToEndLatency: one record produced and consumed at a time (acks=1). */
  endToEnd: { messages: number; avgMs: number; p50: number; p99: number; p999: number };
  recordSize: number;
  settings: Record<string, string | number>;
  machine: MachineInfo;
  startedAt: string;
}

/** Runs one of Kafka's tools (a main class of the kafka-tools jar) in a JVM of its own. */
function kafkaTool(classpath: string, main: string, args: string[]): Promise<{ stdout: string }> {
  return exec('java', ['-Xms512m', '-Xmx512m', '-cp', classpath, main, ...args], { maxBuffer: 64 * 1024 * 1024 });
}

export interface ProducerPerformanceResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  maxLatencyMs: number;
}

/**
 * Apache Kafka's own ProducerPerformance (kafka-tools jar): `records` records of `recordSize` bytes to
 * `topic` of the cluster `config` connects to (secured or not) at unbounded rate with the given producer
 * settings; its final summary line, parsed.
 */
export async function producerPerformance(
  classpath: string,
  config: PulseConfig,
  topic: string,
  records: number,
  recordSize: number,
  settings: Record<string, string | number>,
): Promise<ProducerPerformanceResult> {
  // The connection goes in a file readable by its owner only: a password on the command line is in ps.
  const dir = mkdtempSync(join(tmpdir(), 'pulse-perf-'));
  const connection = join(dir, 'client.properties');
  const lines = Object.entries(javaConnectionProperties(config)).map(([k, v]) => `${k}=${v.replace(/\\/g, '\\\\')}\n`);
  writeFileSync(connection, lines.join(''), { mode: 0o600 });
  const perf = await kafkaTool(classpath, 'org.apache.kafka.tools.ProducerPerformance', [
    '--topic', topic, '--num-records', String(records), '--record-size', String(recordSize), '--throughput', '-1',
    '--producer.config', connection, '--producer-props', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`),
  ]).finally(() => rmSync(dir, { recursive: true, force: true }));
  const last = perf.stdout.trim().split('\n').pop() ?? '';
  const p = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th/.exec(last);
  if (p === null) throw new Error(`unexpected ProducerPerformance output: ${last}`);
  const n = (s: string | undefined) => Number(s);
  return {
    records: n(p[1]), recordsPerSec: Math.round(n(p[2])), mbPerSec: n(p[3]), avgLatencyMs: n(p[4]), maxLatencyMs: n(p[5]),
    p50: n(p[6]), p95: n(p[7]), p99: n(p[8]), p999: n(p[9]),
  };
}

/**
 * The ceiling this machine gives: Kafka's own producer benchmark and end-to-end latency tool, from the
 * kafka-tools jar, against a fresh broker of the same kind the pipeline benchmarks use. Pipeline results
 * are read as a fraction of these.
 */
export async function runKafkaBaseline(o: KafkaBaselineOptions): Promise<KafkaBaselineResult> {
  const startedAt = new Date().toISOString();
  const jars = await ensureKafkaJars({ log: o.log });
  const broker = await benchBroker(o);
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap } };
  try {
    // As many partitions as user-clicks, and a single one for the one-at-a-time round trips.
    await ensureTopics(config, [
      { name: 'pulse-baseline', partitions: 12, config: {}, doc: 'producer baseline' },
      { name: 'pulse-baseline-e2e', partitions: 1, config: {}, doc: 'end-to-end latency baseline' },
    ]);
    const settings = {
      'batch.size': config.producer.batchSize,
      'linger.ms': config.producer.lingerMs,
      'compression.type': config.producer.compression,
      'acks': config.producer.acks,
    };
    o.log(`ProducerPerformance: ${o.records.toLocaleString('en-US')} records of ${o.recordSize} bytes, unbounded rate`);
    const producer = await producerPerformance(jars.classpath, config, 'pulse-baseline', o.records, o.recordSize, settings);
    o.log(`EndToEndLatency: ${o.latencyMessages.toLocaleString('en-US')} round trips`);
    const e2e = await kafkaTool(jars.classpath, 'org.apache.kafka.tools.EndToEndLatency', [broker.bootstrap, 'pulse-baseline-e2e', String(o.latencyMessages), '1', String(o.recordSize)]);
    const avg = /Avg latency: ([\d.]+) ms/.exec(e2e.stdout);
    const pct = /Percentiles: 50th = (\d+), 99th = (\d+), 99.9th = (\d+)/.exec(e2e.stdout);
    if (avg === null || pct === null) throw new Error(`unexpected EndToEndLatency output: ${e2e.stdout.slice(-500)}`);
    const n = (s: string | undefined) => Number(s);
    return {
      scenario: 'kafka-baseline',
      producer,
      endToEnd: { messages: o.latencyMessages, avgMs: n(avg[1]), p50: n(pct[1]), p99: n(pct[2]), p999: n(pct[3]) },
      recordSize: o.recordSize,
      settings,
      machine: machineInfo(),
      startedAt,
    };
  } finally {
    await broker.stop();
  }
}
