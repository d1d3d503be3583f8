import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BatchConsumer, createLatencyHistogram, decodeHistogram, percentiles, type Histogram, type KafkaSettings, type Percentiles } from '@pulse/engine';
import type { PulseConfig } from '@pulse/config';
import { consumerConfig, deleteTopics, ensureTopics, TOPICS } from '@pulse/kafka';
import { ensureKafkaJars } from '@pulse/kafka-local';
import { startLocalPostgres, type LocalPostgres } from '@pulse/sink';
import { benchBroker, warmBroker } from '../lib/broker.js';
import { tunedProducerEnv } from '../tune/run.js';
import { cpuSpeed, machineInfo, type MachineInfo } from '../lib/machine.js';
import { ProcessSampler, type CpuSecond, type MachineUsage, type ProcessUsage } from '../lib/process-stats.js';
import { clickRecords } from '../lib/events.js';
import { producerPerformance, type ProducerPerformanceResult } from '../kafka-baseline/run.js';
import { spawnPulse } from '../lib/pulse-cli.js';
import { OutputLatency } from './output-latency.js';

const E2E_MIX = 'clicks=1,purchases=0,sensors=0';

export interface E2EOptions {
  config: PulseConfig;
  rate: number;
  durationSec: number;
  /** Seconds at the start whose events are left out of the latency and throughput figures. */
  warmupSec: number;
  /** Seconds of the same traffic through a scratch topic of the fresh broker before the pipeline starts (see `warmBroker`). */
  brokerWarmupSec: number;
  /** Use this cluster instead of starting a fresh local one. */
  bootstrapServers?: string;
  /** Data dir of the fresh local broker the benchmark starts. */
  dataDir: string;
  port: number;
  seed: string;
  /**
   * The producer settings of the generator: what \`pulse tune\` chooses for this rate on the fresh
   * broker, or the configuration as it is (the spec's 16 KB, 10 ms, lz4 unless overridden).
   */
  producer: 'tuned' | 'config';
  /** Extra environment for the aggregator and generator processes (PULSE_* settings). */
  env?: Record<string, string>;
  /**
   * Partitions of user-activity-counts (of its 12, from 0) the measuring consumer reads for the output
   * latency. Keys spread evenly, so a few partitions are a fair sample of the users, and the observer
   * then takes a few percent of the machine instead of a fifth; the state latency covers every event.
   */
  outputPartitions: number;
  /**
   * Records of Apache Kafka's ProducerPerformance to send first, on the same broker with the generator's
   * producer settings and record size, as the ceiling the pipeline's rate is read against (0: none).
   */
  baselineRecords: number;
  /** Also run `pulse sink` into this store (a fresh DuckDB file, or a throwaway local PostgreSQL) and measure it. */
  sink?: 'duckdb' | 'postgres';
  log: (line: string) => void;
}

export interface LatencySummary extends Percentiles {
  /** Events behind the figures (weighted; see `outputLatencyMs`). */
  count: number;
}

export interface E2EResult {
  scenario: 'e2e';
  targetRate: number;
  /** user-clicks events per second through the aggregator during the measured span (after warm-up). */
  achievedRate: number;
  /** Events the generator produced in the whole run (about 1% of them purchases, not aggregated). */
  events: number;
  perTopic: Record<string, number>;
  /** Intended send time → update readable by a separate consumer on user-activity-counts (the stricter of the two). */
  latencyMs: LatencySummary;
  /** Intended send time → event reflected in the aggregator's state. */
  stateLatencyMs: LatencySummary;
  /** The same as latencyMs, named for what it measures. */
  outputLatencyMs: LatencySummary;
  /** Partitions of user-activity-counts (of 12) behind the output latency. */
  outputPartitions: number;
  generatorRate: number;
  generatorMaxBehindMs: number;
  durationSec: number;
  warmupSec: number;
  brokerWarmupSec: number;
  measuredSec: number;
  maxLag: number;
  /**
   * One point per aggregator report (about a second): lag (of which `fetchQueue` records were already in
   * the aggregator's Kafka client, fetched and not yet consumed), throughput and the state latency of
   * the events folded in that second.
   */
  lagSeries: { t: number; lag: number; fetchQueue: number; eventsPerSec: number; stateP50?: number; stateP99?: number }[];
  /** Output latency per second of receive time (s since the generator started), the warm-up included. */
  outputSeries?: { t: number; p99: number; max: number }[];
  /**
   * The generator's own progress each second: how late its next event is (not yet handed to
   * librdkafka) and how many it handed over that Kafka has not acknowledged yet. With the lag above,
   * it tells where a latency was spent: before Kafka, in the producer, or in the aggregator.
   */
  generatorSeries: { t: number; behindMs: number; inFlight: number }[];
  deadLetters: number;
  outputs: number;
  processes: Record<string, ProcessUsage>;
  /** The whole machine's CPU over the measured span: everything it ran, and what the hypervisor took. */
  machineCpu: MachineUsage;
  /** Each measured second: CPU of each process and of the machine (seconds since the generator started). */
  cpuSeries: CpuSecond[];
  /**
   * Apache Kafka's ProducerPerformance at unbounded rate on the same broker just before the pipeline
   * started, with the generator's producer settings and its mean record size; and the pipeline's
   * aggregated rate as a fraction of it.
   */
  kafkaBaseline?: ProducerPerformanceResult & { recordSize: number; fractionReached: number };
  /** The sink, when it ran: rows stored per second over the measured span and its largest lag. */
  sink?: { store: 'duckdb' | 'postgres'; rowsPerSec: number; rows: number; maxLag: number; finalLag: number };
  settings: Record<string, string | number>;
  /** `cpuSpeed()` before the broker started; `machine.cpuSpeedMBps` is after the run. */
  cpuSpeedBeforeMBps: number;
  machine: MachineInfo;
  startedAt: string;
  /** When the generator started: second 0 of the series, to line them up with the broker's log. */
  generatorStartedAt: string;
}

interface AggregatorReport {
  at: number;
  consumed: number;
  outputs: number;
  deadLetters: number;
  lag: number;
  fetchQueue: number;
  /** Owned input partitions as `topic/partition`. */
  partitions: string[];
  latency: string;
}

function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  return spawnPulse(args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.on('data', (d: Buffer) => {
    rest += d.toString();
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  });
}

/**
 * generator → Kafka → aggregator → user-activity-counts, each a separate process, on a fresh local
 * broker. Latency is counted from each event's intended send time (its `ts`), so a generator or
 * pipeline that falls behind shows up in the figures instead of hiding (no coordinated omission).
 *
 * (a) state latency: the aggregator records, per event, the wall clock when the event was folded into
 *     its state minus the event's ts; it reports the histogram every second.
 * (b) output latency: this process consumes user-activity-counts and records, for the events each
 *     update adds, receive time minus the oldest of them (`OutputLatency`).
 *
 * Before the pipeline starts, Kafka's own ProducerPerformance measures the broker's ceiling with the
 * generator's settings (`kafkaBaseline`); while it runs, every process's CPU and the machine's (busy,
 * steal) are sampled each second.
 */
export async function runE2E(o: E2EOptions): Promise<E2EResult> {
  const startedAt = new Date().toISOString();
  const cpuSpeedBefore = cpuSpeed();
  const broker = await benchBroker(o);
  const bootstrap = broker.bootstrap;
  const brokerPid = broker.pid;
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: bootstrap } };
  const children: ChildProcess[] = [];
  let postgres: LocalPostgres | null = null;
  try {
    await ensureTopics(config);
    // Only a broker this run started is cold; an external cluster is taken as it is.
    const brokerWarmupSec = brokerPid === null ? 0 : o.brokerWarmupSec;
    if (brokerWarmupSec > 0) await warmBroker(config, o.rate, brokerWarmupSec, o.log);
    const tuned = o.producer === 'tuned' ? await tunedProducerEnv(config, o.rate, o.log) : {};
    const group = `pulse-bench-${Date.now()}`;
    const env = { ...tuned, ...o.env, KAFKA_BOOTSTRAP_SERVERS: bootstrap, PULSE_AGGREGATOR_GROUP_ID: group };
    // What the pipeline's processes run with: the environment given to them over the configuration.
    const effective = (name: string, configured: string | number) => env[name as keyof typeof env] ?? configured;
    const producerSettings = {
      'batch.size': Number(effective('PULSE_PRODUCER_BATCH_SIZE', config.producer.batchSize)),
      'linger.ms': Number(effective('PULSE_PRODUCER_LINGER_MS', config.producer.lingerMs)),
      'compression.type': effective('PULSE_PRODUCER_COMPRESSION', config.producer.compression),
      'acks': effective('PULSE_PRODUCER_ACKS', config.producer.acks),
    };
    const baseline = o.baselineRecords > 0 ? await kafkaBaseline(config, o.baselineRecords, o.seed, producerSettings, o.log) : undefined;

    const aggregator = spawnCli(['aggregate', '--report', '--progress', '0'], env);
    children.push(aggregator);
    const reports: AggregatorReport[] = [];
    let aggregatorLog = '';
    lines(aggregator.stdout!, (l) => l.startsWith('{') && reports.push(JSON.parse(l) as AggregatorReport));
    lines(aggregator.stderr!, (l) => (aggregatorLog += `${l}\n`));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`aggregator did not restore its partitions in 90 s:\n${aggregatorLog}`)), 90_000);
      const check = setInterval(() => {
        const restored = [...aggregatorLog.matchAll(/restored (\d+) partitions/g)].reduce((n, m) => n + Number(m[1]), 0);
        // user-clicks (12), user-purchases (6) and sensor-data (24).
        if (restored >= 42) {
          clearTimeout(timer);
          clearInterval(check);
          resolve();
        }
      }, 100);
      aggregator.once('exit', (code) => reject(new Error(`aggregator exited (${code}) before it was ready:\n${aggregatorLog}`)));
    });
    o.log('aggregator ready: all 42 input partitions restored');

    if (o.sink === 'postgres') postgres = await startLocalPostgres(join(o.dataDir, 'e2e-postgres'));
    const sink = o.sink === undefined ? null : await startSink(o.sink, o.dataDir, postgres, env, children, o.log);

    // (b): a consumer of the output topic in this process, from the end of the topic.
    // The same native client as the aggregator's, so that measuring costs the machine little.
    const outputConsumer = new BatchConsumer(consumerConfig(config, 'bench-output', `${group}-output`, { 'fetch.wait.max.ms': 5 }) as KafkaSettings);
    outputConsumer.assign(Array.from({ length: o.outputPartitions }, (_, partition) => ({ topic: TOPICS.userActivityCounts, partition, offset: -1 })));

    const generatorStart = Date.now();
    const measureFrom = generatorStart + o.warmupSec * 1000;
    const output = new OutputLatency(measureFrom, generatorStart);
    let consuming = true;
    const consumeLoop = (async () => {
      while (consuming) {
        const batch = await outputConsumer.poll(5000, 50);
        output.add(batch, Date.now());
      }
    })();

    // User events only: the aggregator consumes user-clicks; sensor readings would only load the broker.
    // The funnel still turns about 1% of the events into purchases (user-purchases, not aggregated yet).
    const generator = spawnCli(
      ['generate', '--rate', String(o.rate), '--duration', String(o.durationSec), '--seed', o.seed, '--mix', E2E_MIX, '--json'],
      env,
    );
    children.push(generator);
    let generatorOut = '';
    let generatorErr = '';
    const generatorSeries: E2EResult['generatorSeries'] = [];
    generator.stdout!.on('data', (d: Buffer) => (generatorOut += d.toString()));
    lines(generator.stderr!, (l) => {
      // A progress line: `generate  12s  100,002 ev/s  total 1,200,000  behind 3 ms  in-flight 1,234`.
      const m = /behind\s+([\d,]+) ms\s+in-flight\s+([\d,]+)/.exec(l);
      if (m === null) generatorErr += `${l}\n`;
      else generatorSeries.push({ t: Math.round((Date.now() - generatorStart) / 100) / 10, behindMs: Number(m[1]!.replaceAll(',', '')), inFlight: Number(m[2]!.replaceAll(',', '')) });
    });
    o.log(`generating ${o.rate.toLocaleString('en-US')} events/s for ${o.durationSec} s (warm-up ${o.warmupSec} s excluded)`);

    const sampler = new ProcessSampler({
      aggregator: aggregator.pid!,
      generator: generator.pid!,
      bench: process.pid,
      ...(brokerPid !== null ? { broker: brokerPid } : {}),
      ...(sink !== null ? { sink: sink.pid } : {}),
    });
    const progress = setInterval(() => {
      const r = reports[reports.length - 1];
      const prev = reports[reports.length - 2];
      if (r && prev) o.log(`t=${Math.round((r.at - generatorStart) / 1000)}s  aggregated ${Math.round(((r.consumed - prev.consumed) * 1000) / (r.at - prev.at)).toLocaleString('en-US')} ev/s  lag ${r.lag.toLocaleString('en-US')}`);
    }, 5000);
    let samplerStarted = false;
    const samplerTimer = setTimeout(() => {
      sampler.start(generatorStart);
      samplerStarted = true;
    }, o.warmupSec * 1000);

    const generatorCode = await new Promise<number | null>((resolve) => generator.once('exit', resolve));
    const generatorEnd = Date.now();
    clearTimeout(samplerTimer);
    const processes = samplerStarted ? sampler.stop() : {};
    const machineCpu = sampler.machine();
    if (generatorCode !== 0) throw new Error(`generator exited with ${generatorCode}:\n${generatorErr}`);
    const genStats = JSON.parse(generatorOut) as { events: number; achievedRate: number; maxBehindMs: number; perTopic: Record<string, number> };

    // Drain: let the aggregator catch up (bounded), so that late events still count in the latency.
    const drainDeadline = Date.now() + 30_000;
    while (Date.now() < drainDeadline) {
      const r = reports[reports.length - 1];
      if (r && r.at > generatorEnd && r.lag === 0) break;
      await new Promise((res) => setTimeout(res, 250));
    }
    await new Promise((res) => setTimeout(res, 500));
    clearInterval(progress);
    consuming = false;
    await consumeLoop;
    output.endSecond();
    await outputConsumer.close().catch(() => {});

    const stateLatency: Histogram = createLatencyHistogram();
    for (const r of reports) if (r.at > measureFrom + 1000) stateLatency.add(decodeHistogram(r.latency));
    const inWindow = reports.filter((r) => r.at >= measureFrom && r.at <= generatorEnd);
    const first = inWindow[0];
    const last = inWindow[inWindow.length - 1];
    const measuredSec = first && last ? (last.at - first.at) / 1000 : 0;
    const achievedRate = first && last && measuredSec > 0 ? (last.consumed - first.consumed) / measuredSec : 0;
    const final = reports[reports.length - 1];
    aggregator.kill('SIGTERM');
    await new Promise((res) => aggregator.once('exit', res));
    const sinkResult = sink === null ? undefined : await sink.finish(measureFrom, generatorEnd);

    const lagSeries = reports.map((r, i) => {
      const second = decodeHistogram(r.latency);
      return {
        t: Math.round((r.at - generatorStart) / 100) / 10,
        lag: r.lag,
        fetchQueue: r.fetchQueue,
        eventsPerSec: i === 0 ? 0 : Math.round(((r.consumed - reports[i - 1]!.consumed) * 1000) / (r.at - reports[i - 1]!.at)),
        ...(second.totalCount > 0 ? { stateP50: second.getValueAtPercentile(50), stateP99: second.getValueAtPercentile(99) } : {}),
      };
    });
    const out = percentiles(output.histogram);
    return {
      scenario: 'e2e',
      targetRate: o.rate,
      achievedRate: Math.round(achievedRate),
      events: genStats.events,
      perTopic: genStats.perTopic,
      latencyMs: out,
      stateLatencyMs: percentiles(stateLatency),
      outputLatencyMs: out,
      outputSeries: output.series,
      outputPartitions: o.outputPartitions,
      generatorRate: Math.round(genStats.achievedRate),
      generatorMaxBehindMs: genStats.maxBehindMs,
      durationSec: o.durationSec,
      warmupSec: o.warmupSec,
      brokerWarmupSec,
      measuredSec: Math.round(measuredSec * 10) / 10,
      maxLag: Math.max(0, ...reports.filter((r) => r.at >= measureFrom).map((r) => r.lag)),
      lagSeries,
      generatorSeries,
      deadLetters: final?.deadLetters ?? 0,
      outputs: output.records,
      processes,
      machineCpu,
      cpuSeries: sampler.series(),
      ...(baseline === undefined ? {} : { kafkaBaseline: { ...baseline, fractionReached: Math.round((achievedRate / baseline.recordsPerSec) * 1000) / 1000 } }),
      ...(sinkResult === undefined ? {} : { sink: sinkResult }),
      settings: {
        producer: o.producer,
        'producer.batchSize': producerSettings['batch.size'],
        'producer.lingerMs': producerSettings['linger.ms'],
        'producer.compression': producerSettings['compression.type'],
        'producer.acks': producerSettings.acks,
        'aggregator.consumeBatchSize': Number(effective('PULSE_AGGREGATOR_CONSUME_BATCH_SIZE', config.aggregator.consumeBatchSize)),
        'aggregator.emitIntervalMs': Number(effective('PULSE_AGGREGATOR_EMIT_INTERVAL_MS', config.aggregator.emitIntervalMs)),
        'aggregator.commitIntervalMs': Number(effective('PULSE_AGGREGATOR_COMMIT_INTERVAL_MS', config.aggregator.commitIntervalMs)),
        'aggregator.fetchMinBytes': Number(effective('PULSE_AGGREGATOR_FETCH_MIN_BYTES', config.aggregator.fetchMinBytes)),
        'aggregator.outputLingerMs': Number(effective('PULSE_AGGREGATOR_OUTPUT_LINGER_MS', config.aggregator.outputLingerMs)),
        seed: o.seed,
        mix: E2E_MIX,
      },
      cpuSpeedBeforeMBps: cpuSpeedBefore,
      machine: machineInfo(),
      startedAt,
      generatorStartedAt: new Date(generatorStart).toISOString(),
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await postgres?.stop().catch(() => {});
    await broker.stop();
  }
}

/** Where the in-run baseline writes; deleted afterwards, so that the pipeline's broker carries nothing more. */
const BASELINE_TOPIC = 'pulse-bench-baseline';

/**
 * The ceiling of this run: ProducerPerformance sends `records` records of the generator's mean click
 * size to a 12-partition topic of the same broker, with the same producer settings, as fast as it can.
 */
async function kafkaBaseline(
  config: PulseConfig,
  records: number,
  seed: string,
  settings: Record<string, string | number>,
  log: (line: string) => void,
): Promise<ProducerPerformanceResult & { recordSize: number }> {
  const recordSize = Math.round(clickRecords(10_000, seed, Date.now(), 1).meanBytes);
  const jars = await ensureKafkaJars({ log });
  await ensureTopics(config, [{ name: BASELINE_TOPIC, partitions: 12, config: {}, doc: 'in-run producer baseline' }]);
  log(`Kafka baseline: ProducerPerformance, ${records.toLocaleString('en-US')} records of ${recordSize} bytes at unbounded rate, ${Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  const result = await producerPerformance(jars.classpath, config, BASELINE_TOPIC, records, recordSize, settings);
  await deleteTopics(config, [BASELINE_TOPIC]);
  log(`Kafka baseline: ${result.recordsPerSec.toLocaleString('en-US')} records/s`);
  return { ...result, recordSize };
}

interface RunningSink {
  pid: number;
  /** Stops sampling and the sink; rows/s over [from, to] and its lag. */
  finish(from: number, to: number): Promise<NonNullable<E2EResult['sink']>>;
}

/** `pulse sink` into a fresh store, its row count and lag read from its /metrics every second. */
async function startSink(
  store: 'duckdb' | 'postgres',
  dataDir: string,
  postgres: LocalPostgres | null,
  env: Record<string, string>,
  children: ChildProcess[],
  log: (line: string) => void,
): Promise<RunningSink> {
  const duckdbFile = join(dataDir, 'e2e-sink.duckdb');
  rmSync(duckdbFile, { force: true });
  rmSync(`${duckdbFile}.wal`, { force: true });
  const url = postgres === null ? '' : await postgres.freshDatabase(`e2e_${Date.now()}`);
  const port = 9480;
  const child = spawnCli(['sink', '--progress', '0', '--metrics-port', String(port)], {
    ...env,
    ...(store === 'postgres' ? { PULSE_DATABASE_URL: url } : { PULSE_SINK_DUCKDB_FILE: duckdbFile }),
  });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const samples: { at: number; rows: number; lag: number }[] = [];
  const metric = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  const sample = async () => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      samples.push({ at: Date.now(), rows: metric(text, 'pulse_sink_rows_total'), lag: metric(text, 'pulse_sink_lag') });
    } catch {
      // Not listening yet.
    }
  };
  const deadline = Date.now() + 60_000;
  while (samples.length === 0) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`pulse sink did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 250));
    await sample();
  }
  log(`sink running into ${store === 'postgres' ? 'PostgreSQL (a throwaway local cluster)' : `DuckDB ${duckdbFile}`}`);
  const timer = setInterval(() => void sample(), 1000);
  return {
    pid: child.pid!,
    async finish(from, to) {
      // Let it store what the aggregator wrote (bounded), then stop it.
      const drainDeadline = Date.now() + 30_000;
      while (Date.now() < drainDeadline && (samples[samples.length - 1]?.lag ?? 1) > 0) await new Promise((r) => setTimeout(r, 500));
      clearInterval(timer);
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      const span = samples.filter((s) => s.at >= from && s.at <= to);
      const a = span[0];
      const b = span[span.length - 1];
      const last = samples[samples.length - 1]!;
      return {
        store,
        rowsPerSec: a && b && b.at > a.at ? Math.round(((b.rows - a.rows) * 1000) / (b.at - a.at)) : 0,
        rows: last.rows,
        maxLag: Math.max(0, ...span.map((s) => s.lag).filter(Number.isFinite)),
        finalLag: last.lag,
      };
    },
  };
}
