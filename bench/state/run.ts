import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Aggregator, type AggregatorProgress } from '@pulse/aggregator';
import type { PulseConfig } from '@pulse/config';
import { BatchProducer, packValues, type KafkaSettings } from '@pulse/engine';
import { ensureTopics, producerConfig, TOPIC_SPECS, TOPICS } from '@pulse/kafka';
import { benchBroker } from '../lib/broker.js';
import { median } from '../lib/stats.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';

export interface StateBenchOptions {
  config: PulseConfig;
  /** Distinct users, one click each, all in one 5-minute window. */
  users: number;
  /** Seconds of steady trickle after the catch-up, during which checkpoints are watched. */
  steadySec: number;
  /** Clicks per second of the trickle, from users already counted. */
  trickleRate: number;
  /** `aggregator.maxDeltas` of each variant; 0 is the whole-snapshot-every-time baseline. */
  variants: number[];
  bootstrapServers?: string;
  dataDir: string;
  port: number;
  log: (line: string) => void;
}

export interface StateVariant {
  maxDeltas: number;
  /** From the aggregator's start until every click is counted. */
  catchUpSec: number;
  /** The event loop's longest stall and its p99 (ms), during the catch-up and during the steady trickle. */
  catchUpStallMs: { max: number; p99: number };
  steadyStallMs: { max: number; p99: number };
  /** During the steady trickle: checkpoints, whole snapshots and deltas written, and compressed MB/s to the changelog. */
  steady: {
    checkpoints: number;
    wholeSnapshots: number;
    deltas: number;
    changelogMBPerSec: number;
    /** The longest synchronous encode of one partition's checkpoint, ms. */
    longestEncodeMs: number;
    /** A checkpoint from its start to its offsets committed (compression, acknowledgements), ms: median and max. */
    checkpointMs: { median: number; max: number };
  };
  stateKeys: number;
  stateMB: number;
  rssMB: number;
  /** A second aggregator restoring every partition from the changelog: time until all are restored, and the keys found. */
  restoreSec: number;
  restoredKeys: number;
  exact: boolean;
}

export interface StateBenchResult {
  scenario: 'state';
  users: number;
  steadySec: number;
  trickleRate: number;
  variants: StateVariant[];
  loadAverage: { start: number; end: number };
  machine: MachineInfo;
  startedAt: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** One click of `user` at event time `ts`. */
const click = (user: string, ts: number, i: number) =>
  Buffer.from(`{"eventId":"b-${i}","type":"product_view","userId":"${user}","productId":"p-${i % 5000}","ts":${ts}}`);

/**
 * User `i`'s id: UUID-shaped, as shops key users, and derived from `i`, so that neither the producer nor
 * the trickle keeps millions of strings on the heap of the process whose event loop is measured.
 */
function userId(i: number): string {
  const h = createHash('md5').update(String(i)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Produces `users` distinct users' clicks, all stamped `ts`. */
async function produceUsers(config: PulseConfig, users: number, ts: number, log: (line: string) => void): Promise<void> {
  const producer = new BatchProducer(producerConfig(config, 'bench-state', { 'linger.ms': 20, 'batch.size': 1_000_000, 'compression.type': 'lz4' }) as KafkaSettings);
  const started = performance.now();
  const chunk = 10_000;
  for (let from = 0; from < users; from += chunk) {
    const n = Math.min(chunk, users - from);
    const keys: Buffer[] = [];
    const values: Buffer[] = [];
    for (let i = from; i < from + n; i++) {
      const id = userId(i);
      keys.push(Buffer.from(id));
      values.push(click(id, ts, i));
    }
    const v = packValues(values);
    const k = packValues(keys);
    for (let next = 0; next < n; ) {
      next = producer.sendPacked(TOPICS.userClicks, v.values, v.ends, k.values, k.ends, next).next;
      if (next < n) await sleep(2);
    }
    if ((from / chunk) % 100 === 99) log(`produced ${(from + n).toLocaleString('en-US')} users' clicks`);
  }
  await producer.flush();
  log(`produced ${users.toLocaleString('en-US')} clicks of distinct users in ${round((performance.now() - started) / 1000)} s`);
}

function stall(h: ReturnType<typeof monitorEventLoopDelay>): { max: number; p99: number } {
  return { max: round(h.max / 1e6), p99: round(h.percentile(99) / 1e6) };
}

async function until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function runVariant(o: StateBenchOptions, maxDeltas: number): Promise<StateVariant> {
  const broker = await benchBroker({ ...o, dataDir: resolve(o.dataDir, `deltas-${maxDeltas}`) });
  try {
    const config: PulseConfig = {
      ...o.config,
      kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap },
      aggregator: { ...o.config.aggregator, maxDeltas, maxFutureMs: 3_600_000, maxKeysPerWindow: Math.max(o.config.aggregator.maxKeysPerWindow, o.users) },
    };
    await ensureTopics(config, TOPIC_SPECS);
    const ts = Date.now();
    await produceUsers(config, o.users, ts, o.log);
    const quiet = { info() {}, warn: o.log, error: o.log };
    const aggregator = new Aggregator(config, quiet);
    const catchUp = monitorEventLoopDelay({ resolution: 5 });
    catchUp.enable();
    const started = performance.now();
    await aggregator.start();
    await until(() => aggregator.counters.accepted >= o.users, 30 * 60_000, 'the aggregator to count every click');
    catchUp.disable();
    const catchUpSec = round((performance.now() - started) / 1000);
    o.log(`maxDeltas ${maxDeltas}: counted ${o.users.toLocaleString('en-US')} clicks in ${catchUpSec} s; longest stall ${stall(catchUp).max} ms`);
    // Steady state: a trickle of clicks from users already counted, and the checkpoints it causes.
    await sleep(2 * config.aggregator.commitIntervalMs);
    aggregator.counters.longestEncodeMs = 0;
    const before = { ...aggregator.counters };
    const checkpointMs: number[] = [];
    const steady = monitorEventLoopDelay({ resolution: 5 });
    steady.enable();
    const producer = new BatchProducer(producerConfig(config, 'bench-state-trickle') as KafkaSettings);
    const steadyStart = performance.now();
    let sent = 0;
    while (performance.now() - steadyStart < o.steadySec * 1000) {
      const due = Math.floor(((performance.now() - steadyStart) / 1000) * o.trickleRate);
      const keys: Buffer[] = [];
      const values: Buffer[] = [];
      for (; sent < due; sent++) {
        const id = userId((sent * 7919) % o.users);
        keys.push(Buffer.from(id));
        values.push(click(id, ts, o.users + sent));
      }
      if (aggregator.counters.checkpoints > before.checkpoints + checkpointMs.length) checkpointMs.push(aggregator.counters.lastCheckpointMs);
      if (keys.length > 0) {
        const v = packValues(values);
        const k = packValues(keys);
        producer.sendPacked(TOPICS.userClicks, v.values, v.ends, k.values, k.ends, 0);
      }
      await sleep(10);
    }
    await producer.flush();
    const steadySec = (performance.now() - steadyStart) / 1000;
    steady.disable();
    await until(() => aggregator.counters.accepted >= o.users + sent, 120_000, 'the trickle to be counted');
    const after = aggregator.counters;
    const progress: AggregatorProgress = aggregator.progress();
    await aggregator.stop();
    // A second member restores everything from the changelog.
    const restorer = new Aggregator(config, quiet);
    const restoreStart = performance.now();
    await restorer.start();
    await until(() => {
      const r = restorer.readiness();
      return r.partitions >= 42 && r.restoring === 0;
    }, 10 * 60_000, 'every partition to be restored');
    const restoreSec = round((performance.now() - restoreStart) / 1000);
    const restoredKeys = restorer.progress().stateKeys;
    await restorer.stop();
    const variant: StateVariant = {
      maxDeltas,
      catchUpSec,
      catchUpStallMs: stall(catchUp),
      steadyStallMs: stall(steady),
      steady: {
        checkpoints: after.checkpoints - before.checkpoints,
        wholeSnapshots: after.wholeSnapshots - before.wholeSnapshots,
        deltas: after.deltas - before.deltas,
        changelogMBPerSec: round((after.checkpointBytes - before.checkpointBytes) / 2 ** 20 / steadySec, 2),
        longestEncodeMs: round(after.longestEncodeMs),
        checkpointMs: { median: round(median(checkpointMs)), max: round(Math.max(0, ...checkpointMs)) },
      },
      stateKeys: progress.stateKeys,
      stateMB: round(progress.stateBytes / 2 ** 20),
      rssMB: round(progress.rssBytes / 2 ** 20),
      restoreSec,
      restoredKeys,
      exact: progress.stateKeys === o.users && restoredKeys === o.users && after.accepted === o.users + sent,
    };
    o.log(`maxDeltas ${maxDeltas}: ${JSON.stringify(variant)}`);
    return variant;
  } finally {
    await broker.stop();
  }
}

/**
 * State at scale: `users` distinct users in one window through the real aggregator and broker, once
 * per `aggregator.maxDeltas` variant (0: a whole snapshot at every checkpoint, the baseline). Reports
 * the event loop's longest stalls, what the checkpoints write in a steady trickle, and how long a
 * second aggregator takes to restore it all, with the counts checked.
 */
export async function runStateBench(o: StateBenchOptions): Promise<StateBenchResult> {
  const startedAt = new Date().toISOString();
  const loadAtStart = loadavg()[0]!;
  const variants: StateVariant[] = [];
  for (const maxDeltas of o.variants) variants.push(await runVariant(o, maxDeltas));
  return {
    scenario: 'state',
    users: o.users,
    steadySec: o.steadySec,
    trickleRate: o.trickleRate,
    variants,
    loadAverage: { start: round(loadAtStart, 2), end: round(loadavg()[0]!, 2) },
    machine: machineInfo(),
    startedAt,
  };
}

export function stateMarkdown(r: StateBenchResult): string {
  const fmt = (n: number) => n.toLocaleString('en-US');
  const rows = r.variants
    .map(
      (v) =>
        `| ${v.maxDeltas === 0 ? '0 (every checkpoint whole)' : v.maxDeltas} | ${v.catchUpSec} | ${v.catchUpStallMs.max} / ${v.catchUpStallMs.p99} | **${v.steadyStallMs.max}** / ${v.steadyStallMs.p99} | ${v.steady.wholeSnapshots} / ${v.steady.deltas} in ${v.steady.checkpoints} | ${v.steady.longestEncodeMs} | ${v.steady.checkpointMs.median} / ${v.steady.checkpointMs.max} | **${v.steady.changelogMBPerSec}** | ${v.stateMB} / ${v.rssMB} | **${v.restoreSec}** | ${v.exact ? 'yes' : `**no**: ${fmt(v.stateKeys)} keys, ${fmt(v.restoredKeys)} restored`} |`,
    )
    .join('\n');
  return `# State at scale: ${fmt(r.users)} distinct users in one window

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Node ${r.machine.node}, Kafka ${r.machine.kafka}, commit ${r.machine.commit};
1-minute load average ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end. Each variant on a fresh local broker: ${fmt(r.users)} clicks of distinct
users (UUIDs) in one 5-minute window through the aggregator (12 user-clicks partitions), then ${fmt(r.trickleRate)} clicks/s from those users for
${r.steadySec} s, then a second aggregator restoring all of it. Stalls: the event loop's delay (monitorEventLoopDelay, 5 ms resolution).

| aggregator.maxDeltas | catch-up s | catch-up stall max / p99 ms | steady stall max / p99 ms | whole / deltas in checkpoints (steady) | longest encode ms (steady) | checkpoint median / max ms (steady) | changelog MB/s (steady) | state / RSS MB | restore s | counts exact |
|---|---|---|---|---|---|---|---|---|---|---|
${rows}
`;
}
