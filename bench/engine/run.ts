import { cpuUsage } from 'node:process';
import { Bench } from 'tinybench';
import { ActivityState, forEachOutput, packValues, OutputKind, type ActivityOptions, type PackedBatch } from '@pulse/engine';
import { clickRecords } from '../lib/events.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { median, spread, type Spread } from '../lib/stats.js';
import { TsActivityCounter } from './ts-counter.js';

export interface EngineBenchOptions {
  /** user-clicks events per throughput run. */
  events: number;
  /** Records per engine call in the throughput runs (the aggregator's consumeBatchSize). */
  batchSize: number;
  /** Throughput runs and boundary rounds; figures are their medians. */
  repeats: number;
  /** Batch sizes of the boundary measurement. */
  boundarySizes: number[];
  /** Milliseconds tinybench spends on each boundary task per round. */
  taskTimeMs: number;
  seed: string;
  log: (line: string) => void;
}

export interface ThroughputFigures {
  /** Events per second of CPU time (all threads of the process): events/s one core sustains. */
  eventsPerCoreSec: Spread;
  /** Events per second of wall time, for reference; on a shared machine the CPU figure is the fair one. */
  eventsPerWallSec: Spread;
  accepted: number;
  outputs: number;
}

export interface BoundaryRow {
  batch: number;
  /** One `ingest` call (the addon takes the packed form), µs of CPU: mean per call, median over rounds. */
  ingestUs: number;
  ingestNsPerEvent: number;
  /** packValues: Buffer[] (as the Kafka client hands records over) → one Buffer + Uint32Array ends, µs. */
  packUs: number;
  packNsPerEvent: number;
  /** The plain TypeScript counter on the same records (JSON.parse each), µs. */
  tsUs: number;
  tsNsPerEvent: number;
}

export interface EngineBenchResult {
  scenario: 'engine';
  events: number;
  recordBytes: number;
  batchSize: number;
  repeats: number;
  rust: ThroughputFigures;
  typescript: ThroughputFigures;
  /** Rust events per core-second over TypeScript's (medians). */
  ratio: number;
  boundary: BoundaryRow[];
  /** An `ingest` call with no records: the cost of crossing the boundary alone, µs. */
  emptyCallUs: number;
  harness: string;
  settings: ActivityOptions & { seed: string };
  machine: MachineInfo;
  startedAt: string;
}

const WINDOW: ActivityOptions = { windowSizeMs: 300_000, graceMs: 60_000, emitIntervalMs: 50, maxKeysPerWindow: 1_000_000 };
/** Event time of the first record; 10 µs apart, i.e. 100 000 events/s of event time. */
const T0 = 1_764_100_000_000;
const INTERVAL_MS = 0.01;

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The event time of a batch's last record, which the emit clock follows (as replaying a topic would). */
const lastTs = (batchIndex: number, batchSize: number) => Math.floor(T0 + ((batchIndex + 1) * batchSize - 1) * INTERVAL_MS);

/** CPU time of the whole process (all threads), ms: the clock both measurements use. */
function cpuNowMs(): number {
  const u = cpuUsage();
  return (u.user + u.system) / 1000;
}

function timed(run: () => { accepted: number; outputs: number }): { cpuSec: number; wallSec: number; accepted: number; outputs: number } {
  const cpu0 = cpuUsage();
  const wall0 = performance.now();
  const r = run();
  const wallSec = (performance.now() - wall0) / 1000;
  const cpu = cpuUsage(cpu0);
  return { cpuSec: (cpu.user + cpu.system) / 1e6, wallSec, ...r };
}

function figures(events: number, runs: { cpuSec: number; wallSec: number; accepted: number; outputs: number }[]): ThroughputFigures {
  return {
    eventsPerCoreSec: spread(runs.map((r) => Math.round(events / r.cpuSec))),
    eventsPerWallSec: spread(runs.map((r) => Math.round(events / r.wallSec))),
    accepted: runs[0]!.accepted,
    outputs: runs[0]!.outputs,
  };
}

/**
 * The Rust engine alone, and the boundary: events/s per core of parsing + windowing on the load
 * generator's user-clicks records (packed batches, as the aggregator hands them over), against the
 * same counting in plain TypeScript; and the cost of one call and of packing by batch size.
 */
export async function runEngineBench(o: EngineBenchOptions): Promise<EngineBenchResult> {
  const startedAt = new Date().toISOString();
  const { values } = clickRecords(o.events, o.seed, T0, INTERVAL_MS);
  const recordBytes = Math.round(values.reduce((n, v) => n + v.length, 0) / values.length);
  const batches = chunk(values, o.batchSize);
  const packed = batches.map((b) => packValues(b));

  // The engine's clicks partition also keeps the click metrics (top products, unique users, funnel)
  // in the same pass, so it does more than the TypeScript counter: the ratio is a lower bound. Its
  // outputs are counted by kind in an untimed run only, so that walking them is not timed.
  const rustRun = (countActivity = false) => {
    const state = ActivityState.create(WINDOW);
    let outputs = 0;
    let accepted = 0;
    packed.forEach((batch, i) => {
      accepted += state.ingest(batch, 0).accepted;
      state.flushDue(lastTs(i, o.batchSize));
      const out = state.takeOutput();
      if (countActivity) forEachOutput(out, (kind) => (outputs += kind === OutputKind.ActivityCount ? 1 : 0));
    });
    return { accepted, outputs };
  };
  const tsRun = () => {
    const counter = new TsActivityCounter(WINDOW);
    let outputs = 0;
    let accepted = 0;
    batches.forEach((batch, i) => {
      accepted += counter.ingest(batch);
      outputs += counter.flushDue(lastTs(i, o.batchSize));
      counter.takeOutput();
    });
    return { accepted, outputs };
  };
  // One untimed run each lets the JIT and the allocator settle.
  rustRun();
  tsRun();
  const rustRuns = [];
  const tsRuns = [];
  for (let r = 0; r < o.repeats; r++) {
    rustRuns.push(timed(rustRun));
    tsRuns.push(timed(tsRun));
    o.log(`throughput run ${r + 1}/${o.repeats}: Rust ${Math.round(o.events / rustRuns[r]!.cpuSec).toLocaleString('en-US')} events/core-s, TypeScript ${Math.round(o.events / tsRuns[r]!.cpuSec).toLocaleString('en-US')}`);
  }
  const rust = { ...figures(o.events, rustRuns), outputs: rustRun(true).outputs };
  const typescript = figures(o.events, tsRuns);
  if (rust.accepted !== typescript.accepted || rust.accepted !== o.events) {
    throw new Error(`the two counters disagree: Rust accepted ${rust.accepted}, TypeScript ${typescript.accepted} of ${o.events}`);
  }

  // Boundary: tinybench on a CPU-time clock (the machine is shared: wall time would measure the
  // neighbours). Small batches repeat inside a sample so that the clock's own cost (a getrusage call)
  // stays under 1% of it. Every round is a fresh Bench; the figure is the median of the rounds.
  const state = ActivityState.create(WINDOW);
  const counter = new TsActivityCounter(WINDOW);
  const empty: PackedBatch = { values: Buffer.alloc(0), ends: new Uint32Array(0) };
  const repsOf = (n: number) => Math.max(1, Math.ceil(2000 / (n + 1)));
  const reps = new Map<string, number>();
  const add = (bench: Bench, name: string, n: number, op: () => unknown) => {
    const k = repsOf(n);
    reps.set(name, k);
    bench.add(name, () => {
      for (let i = 0; i < k; i++) op();
    });
  };
  const rounds = new Map<string, number[]>();
  for (let r = 0; r < o.repeats; r++) {
    const bench = new Bench({ time: o.taskTimeMs, warmupTime: Math.min(50, o.taskTimeMs), now: cpuNowMs });
    add(bench, 'empty', 0, () => state.ingest(empty, 0));
    for (const n of o.boundarySizes) {
      const records = values.slice(0, n);
      const batch = packValues(records);
      add(bench, `ingest ${n}`, n, () => state.ingest(batch, 0));
      add(bench, `pack ${n}`, n, () => packValues(records));
      add(bench, `ts ${n}`, n, () => counter.ingest(records));
    }
    await bench.warmup();
    await bench.run();
    for (const task of bench.tasks) {
      if (task.result?.error) throw task.result.error;
      const list = rounds.get(task.name) ?? [];
      list.push((task.result!.mean * 1000) / reps.get(task.name)!);
      rounds.set(task.name, list);
    }
    o.log(`boundary round ${r + 1}/${o.repeats} done`);
  }
  const us = (name: string) => Math.round(median(rounds.get(name)!) * 1000) / 1000;
  const boundary = o.boundarySizes.map((batch) => ({
    batch,
    ingestUs: us(`ingest ${batch}`),
    ingestNsPerEvent: Math.round((us(`ingest ${batch}`) * 1000) / batch),
    packUs: us(`pack ${batch}`),
    packNsPerEvent: Math.round((us(`pack ${batch}`) * 1000) / batch),
    tsUs: us(`ts ${batch}`),
    tsNsPerEvent: Math.round((us(`ts ${batch}`) * 1000) / batch),
  }));

  return {
    scenario: 'engine',
    events: o.events,
    recordBytes,
    batchSize: o.batchSize,
    repeats: o.repeats,
    rust,
    typescript,
    ratio: Math.round((rust.eventsPerCoreSec.median / typescript.eventsPerCoreSec.median) * 100) / 100,
    boundary,
    emptyCallUs: us('empty'),
    harness: 'tinybench 2.9.0 on a CPU-time clock (boundary); a CPU-timed loop over the whole stream (throughput)',
    settings: { ...WINDOW, seed: o.seed },
    machine: machineInfo(),
    startedAt,
  };
}
