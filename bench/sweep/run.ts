import type { PulseConfig } from '@pulse/config';
import hdr from 'hdr-histogram-js';
import { ensureTopics, RdKafka, producerConfig, promisify, toError, type LibrdKafkaError, type ProducerGlobalConfig } from '@pulse/kafka';
import { benchBroker } from '../lib/broker.js';
import { clickRecords } from '../lib/events.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { ProcessSampler } from '../lib/process-stats.js';
import { chooseSettings, SPEC_STATIC, type Compression, type TuneChoice } from '../tune/choose.js';
import { measureRoundTrips, type RoundTrips } from '../tune/measure.js';
import { isLoopback } from '../tune/run.js';

/** The topic the sweep produces to: as many partitions as user-clicks, records keyed by userId like it. */
export const SWEEP_TOPIC = 'pulse-sweep';
const SWEEP_PARTITIONS = 12;

export type Acks = '1' | 'all';

export interface ProducerSettings {
  batchSizeBytes: number;
  lingerMs: number;
  compression: Compression;
  acks: Acks;
}

export interface SweepOptions {
  config: PulseConfig;
  batchSizes: number[];
  lingers: number[];
  compressions: Compression[];
  acks: Acks[];
  /** The ladder of paced rates every setting is measured at, events/s. */
  rates: number[];
  /** Seconds measured at each rate, after a half-second warm-up. */
  stepSec: number;
  /** Runs of the tuner and the spec static settings at each rate (the grid runs once). */
  repeats: number;
  /** The tuner's latency budget. */
  budgetMs: number;
  bootstrapServers?: string;
  dataDir: string;
  port: number;
  seed: string;
  log: (line: string) => void;
}

export interface SweepStep {
  targetRate: number;
  /** Records handed to the producer per second. */
  sentRate: number;
  /** Records acknowledged per second (delivery reports in the step, over its length). */
  deliveredRate: number;
  /** Intended send time → delivery report, ms (HdrHistogram, µs resolution). */
  latencyMs: { count: number; p50: number; p95: number; p99: number; p999: number; max: number };
  failed: number;
  /** Records librdkafka flushed whose delivery report never reached JavaScript within 10 s; a step with any is not ranked. */
  missingReports: number;
  /** librdkafka's statistics over the step: mean records and bytes per batch, produce requests per second. */
  recordsPerBatch: number;
  bytesPerBatch: number;
  requestsPerSec: number;
  /** CPU of this process (JavaScript thread plus librdkafka's) and of the broker, % of one core. */
  clientCpuPercent: number;
  brokerCpuPercent: number | null;
  settings: ProducerSettings;
  /** Tuner and spec static only: the p99 of each repeat, in run order; the step shown is the one with the median p99. */
  p99Runs?: number[];
}

export interface SweepSeries {
  label: string;
  /** grid: one point of the settings grid; spec: the spec's static settings; tuner: `pulse tune`'s choice at each rate. */
  kind: 'grid' | 'spec' | 'tuner';
  steps: SweepStep[];
}

export interface SweepResult {
  scenario: 'sweep';
  topic: string;
  partitions: number;
  recordBytes: number;
  roundTrips: RoundTrips;
  series: SweepSeries[];
  /** The tuner's choice at each rate of the ladder (the `tuner` series ran these). */
  tunerChoices: { rate: number; choice: TuneChoice }[];
  /** Per rate: the grid point with the lowest p99 among those that kept up, and what the formula predicts. */
  optimum: { rate: number; best: string | null; bestSettings: ProducerSettings | null; p99: number | null; recordsPerBatch: number | null; formulaEvents: number; literalFormulaEvents: number }[];
  budgetMs: number;
  stepSec: number;
  repeats: number;
  durationSec: number;
  machine: MachineInfo;
  startedAt: string;
}

const WARMUP_MS = 500;
/** A step "kept up" when at least this share of its target was acknowledged within it. */
export const KEPT_UP = 0.95;

export function settingsLabel(s: ProducerSettings): string {
  return `${s.batchSizeBytes >= 1024 ? `${s.batchSizeBytes / 1024} KB` : `${s.batchSizeBytes} B`}, ${s.lingerMs} ms, ${s.compression}, acks=${s.acks}`;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const yieldToIo = () => new Promise<void>((r) => setImmediate(r));

interface StatsWindow {
  batchCnt: number;
  batchRecords: number;
  batchBytes: number;
  tx: number;
  at: number;
}

/** Reads the numbers the sweep reports from one librdkafka statistics document. */
function readStats(json: string, topic: string): StatsWindow {
  const s = JSON.parse(json) as {
    ts: number;
    topics?: Record<string, { batchcnt?: { sum: number; cnt: number }; batchsize?: { sum: number } }>;
    brokers?: Record<string, { tx: number; nodeid: number }>;
  };
  const t = s.topics?.[topic];
  let tx = 0;
  for (const b of Object.values(s.brokers ?? {})) if (b.nodeid >= 0) tx += b.tx;
  return { batchCnt: t?.batchcnt?.cnt ?? 0, batchRecords: t?.batchcnt?.sum ?? 0, batchBytes: t?.batchsize?.sum ?? 0, tx, at: s.ts / 1000 };
}

/**
 * One step: a fresh producer with `settings` (through the project's producer configuration), records
 * paced at `rate` for the warm-up plus `stepSec`, each carrying its intended send time as the opaque of
 * its delivery report. Latency counts from the intended time, so a producer that falls behind shows it.
 */
async function runStep(config: PulseConfig, settings: ProducerSettings, rate: number, stepSec: number, records: { keys: Buffer[]; values: Buffer[] }, brokerPid: number | null): Promise<SweepStep> {
  const producer = new RdKafka.Producer({
    ...producerConfig({ ...config, producer: { ...config.producer, batchSize: settings.batchSizeBytes, lingerMs: settings.lingerMs, compression: settings.compression, acks: settings.acks } }, 'sweep'),
    'statistics.interval.ms': 1000,
    dr_cb: true,
  } as ProducerGlobalConfig);
  await promisify<unknown>((cb) => producer.connect({ timeout: 30_000 }, cb as never));
  producer.setPollInBackground(true);
  // Leaders known and connections open before the clock starts: a fresh producer's first records
  // would otherwise wait for metadata, which is not what the settings under test cost.
  for (let p = 0; p < SWEEP_PARTITIONS; p++) producer.produce(SWEEP_TOPIC, p, records.values[p % records.values.length]!, null, null, -1);
  await promisify<void>((cb) => producer.flush(30_000, cb as never));
  // Microseconds from 1 µs to 60 s at 3 significant digits.
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  let delivered = 0;
  let failed = 0;
  let firstError: Error | undefined;
  const start = performance.now();
  const measureFrom = start + WARMUP_MS;
  const end = measureFrom + stepSec * 1000;
  let reports = 0;
  producer.on('delivery-report', (err: LibrdKafkaError | null | undefined, report: { opaque?: unknown } | undefined) => {
    const intended = report?.opaque as number | undefined;
    if (intended === -1) return; // a connection probe
    reports++;
    if (err) {
      failed++;
      firstError ??= toError(err);
      return;
    }
    if (intended === undefined || intended < measureFrom) return; // a warm-up record
    const now = performance.now();
    if (now <= end) delivered++;
    histogram.recordValue(Math.max(1, Math.round((now - intended) * 1000)));
  });
  const stats: StatsWindow[] = [];
  producer.on('event.stats', (event: { message: string }) => {
    if (performance.now() >= measureFrom) stats.push(readStats(event.message, SWEEP_TOPIC));
  });
  const sampler = new ProcessSampler({ client: process.pid, ...(brokerPid !== null ? { broker: brokerPid } : {}) });
  let samplerStarted = false;

  const total = Math.round((rate * (WARMUP_MS + stepSec * 1000)) / 1000);
  let i = 0;
  let sentInStep = 0;
  try {
    while (i < total) {
      const now = performance.now();
      if (!samplerStarted && now >= measureFrom) {
        sampler.start();
        samplerStarted = true;
      }
      for (let burst = 0; burst < 10_000 && i < total; burst++) {
        const intended = start + (i * 1000) / rate;
        if (intended > now) break;
        const r = i % records.keys.length;
        try {
          producer.produce(SWEEP_TOPIC, null, records.values[r]!, records.keys[r]!, null, intended);
        } catch (err) {
          // librdkafka's queue is full: the producer is behind; retry after deliveries made room.
          if ((err as { code?: number }).code === -184) break;
          throw err;
        }
        if (intended >= measureFrom) sentInStep++;
        i++;
      }
      const wait = start + (i * 1000) / rate - performance.now();
      if (wait > 1) await sleep(Math.min(wait, 50));
      else await yieldToIo();
    }
    await promisify<void>((cb) => producer.flush(30_000, cb as never));
    // librdkafka is done; its reports reach this thread a little later. Wait for all of them (bounded).
    const deadline = performance.now() + 10_000;
    while (reports < i && performance.now() < deadline) await sleep(10);
  } finally {
    await promisify<unknown>((cb) => producer.disconnect(cb as never)).catch(() => {});
  }
  const usage = samplerStarted ? sampler.stop() : {};
  if (firstError !== undefined && failed > 0 && delivered === 0) throw new Error(`every record failed: ${firstError.message}`);
  const batches = stats.reduce((n, s) => n + s.batchCnt, 0);
  const first = stats[0];
  const last = stats[stats.length - 1];
  const ms = (v: number) => Math.round(v / 10) / 100;
  return {
    targetRate: rate,
    sentRate: Math.round(sentInStep / stepSec),
    deliveredRate: Math.round(delivered / stepSec),
    latencyMs: {
      count: histogram.totalCount,
      p50: ms(histogram.getValueAtPercentile(50)),
      p95: ms(histogram.getValueAtPercentile(95)),
      p99: ms(histogram.getValueAtPercentile(99)),
      p999: ms(histogram.getValueAtPercentile(99.9)),
      max: ms(histogram.maxValue),
    },
    failed,
    missingReports: Math.max(0, i - reports),
    recordsPerBatch: batches > 0 ? Math.round((stats.reduce((n, s) => n + s.batchRecords, 0) / batches) * 10) / 10 : 0,
    bytesPerBatch: batches > 0 ? Math.round(stats.reduce((n, s) => n + s.batchBytes, 0) / batches) : 0,
    requestsPerSec: first && last && last.at > first.at ? Math.round(((last.tx - first.tx) * 1000) / (last.at - first.at)) : 0,
    clientCpuPercent: usage.client?.cpuPercent ?? 0,
    brokerCpuPercent: usage.broker?.cpuPercent ?? null,
    settings,
  };
}

const sameSettings = (a: ProducerSettings, b: ProducerSettings) =>
  a.batchSizeBytes === b.batchSizeBytes && a.lingerMs === b.lingerMs && a.compression === b.compression && a.acks === b.acks;

/**
 * The producer sweep: every point of batch.size × linger.ms × compression × acks, plus the tuner's
 * choice at each rate and the spec's static settings, each measured at the same ladder of paced
 * rates against a fresh local broker (unless given a cluster).
 */
export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const startedAt = new Date().toISOString();
  const began = performance.now();
  const broker = await benchBroker(o);
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap } };
  try {
    await ensureTopics(config, [{ name: SWEEP_TOPIC, partitions: SWEEP_PARTITIONS, config: { 'retention.ms': '600000' }, doc: 'producer sweep' }]);
    const records = clickRecords(20_000, o.seed, Date.now(), 1);
    const recordBytes = Math.round(records.meanBytes);
    const roundTrips = await measureRoundTrips(config, 50);
    o.log(`produce round trip ${roundTrips.produceMs.median} ms (median of ${roundTrips.produceMs.samples}), metadata ${roundTrips.metadataMs.median} ms; records ~${recordBytes} bytes`);

    const spec: ProducerSettings = { ...SPEC_STATIC, acks: '1' };
    const grid: ProducerSettings[] = [];
    for (const batchSizeBytes of o.batchSizes)
      for (const lingerMs of o.lingers) for (const compression of o.compressions) for (const acks of o.acks) grid.push({ batchSizeBytes, lingerMs, compression, acks });
    if (!grid.some((g) => sameSettings(g, spec))) grid.push(spec);
    const tunerChoices = o.rates.map((rate) => ({
      rate,
      choice: chooseSettings({ rttMs: roundTrips.produceMs.median, ratePerSec: rate, partitions: SWEEP_PARTITIONS, recordBytes, budgetMs: o.budgetMs, loopback: isLoopback(config.kafka.bootstrapServers) }),
    }));

    const series: SweepSeries[] = [
      { label: `tuner (budget ${o.budgetMs} ms)`, kind: 'tuner', steps: [] },
      ...grid.map((g): SweepSeries => (sameSettings(g, spec) ? { label: `spec static (${settingsLabel(g)})`, kind: 'spec', steps: [] } : { label: settingsLabel(g), kind: 'grid', steps: [] })),
    ];
    const settingsOf = (i: number, rateIndex: number): ProducerSettings => {
      if (i > 0) return grid[i - 1]!;
      const choice = tunerChoices[rateIndex]!.choice;
      return { batchSizeBytes: choice.batchSizeBytes, lingerMs: choice.lingerMs, compression: choice.compression, acks: '1' };
    };
    const steps = (series.length + 2 * (o.repeats - 1)) * o.rates.length;
    o.log(`${steps} steps (${series.length} settings × ${o.rates.length} rates, tuner and spec ${o.repeats} times) of ${o.stepSec + WARMUP_MS / 1000} s ≈ ${Math.ceil((steps * (o.stepSec + WARMUP_MS / 1000 + 0.7)) / 60)} min`);
    // A throwaway step first: the broker's JIT and page cache warm up on it, not on the first series.
    await runStep(config, spec, o.rates[0]!, 1, records, broker.pid);
    // Rate by rate, every setting in turn, starting one further along at each rate: the settings
    // compared at one rate are measured close together, and none always runs first.
    for (let r = 0; r < o.rates.length; r++) {
      const rate = o.rates[r]!;
      for (let k = 0; k < series.length; k++) {
        const i = (k + r) % series.length;
        const s = series[i]!;
        const step = await runStep(config, settingsOf(i, r), rate, o.stepSec, records, broker.pid);
        o.log(`${s.kind === 'tuner' ? `tuner ${settingsLabel(step.settings)}` : s.label} @ ${rate}/s: p50 ${step.latencyMs.p50} / p99 ${step.latencyMs.p99} ms, acked ${step.deliveredRate}/s, ${step.recordsPerBatch} records/batch`);
        s.steps[r] = step;
      }
      // The comparison that matters, repeated back to back: tuner and spec static in turn, the run
      // with the median p99 kept, so that one burst of load from elsewhere does not decide it.
      const pair = [0, series.findIndex((s) => s.kind === 'spec')];
      const runs = new Map<number, SweepStep[]>(pair.map((i) => [i, [series[i]!.steps[r]!]]));
      for (let rep = 1; rep < o.repeats; rep++) {
        for (const i of rep % 2 === 0 ? pair : [...pair].reverse()) {
          const step = await runStep(config, settingsOf(i, r), rate, o.stepSec, records, broker.pid);
          o.log(`${series[i]!.kind} repeat ${rep + 1}/${o.repeats} @ ${rate}/s: p50 ${step.latencyMs.p50} / p99 ${step.latencyMs.p99} ms, acked ${step.deliveredRate}/s`);
          runs.get(i)!.push(step);
        }
      }
      for (const [i, list] of runs) {
        const sorted = [...list].sort((a, b) => a.latencyMs.p99 - b.latencyMs.p99);
        series[i]!.steps[r] = { ...sorted[(sorted.length - 1) >> 1]!, p99Runs: list.map((x) => x.latencyMs.p99) };
      }
    }

    const optimum = o.rates.map((rate, r) => {
      const kept = series
        .filter((s) => s.kind !== 'tuner')
        .map((s) => ({ s, step: s.steps[r]! }))
        .filter(({ step }) => step.deliveredRate >= rate * KEPT_UP && step.failed === 0 && step.missingReports === 0);
      const best = kept.sort((a, b) => a.step.latencyMs.p99 - b.step.latencyMs.p99)[0];
      const choice = tunerChoices[r]!.choice;
      return {
        rate,
        best: best?.s.label ?? null,
        bestSettings: best?.step.settings ?? null,
        p99: best?.step.latencyMs.p99 ?? null,
        recordsPerBatch: best?.step.recordsPerBatch ?? null,
        formulaEvents: choice.formula.events,
        literalFormulaEvents: choice.formula.literalEvents,
      };
    });
    return {
      scenario: 'sweep',
      topic: SWEEP_TOPIC,
      partitions: SWEEP_PARTITIONS,
      recordBytes,
      roundTrips,
      series,
      tunerChoices,
      optimum,
      budgetMs: o.budgetMs,
      stepSec: o.stepSec,
      repeats: o.repeats,
      durationSec: Math.round((performance.now() - began) / 1000),
      machine: machineInfo(),
      startedAt,
    };
  } finally {
    await broker.stop();
  }
}
