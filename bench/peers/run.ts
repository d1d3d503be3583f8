import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, kafkaPartition, type KafkaSettings, type Percentiles } from '@pulse/engine';
import { consumerConfig, ensureTopics, highWatermarks, producerConfig, TOPICS, TrackedProducer } from '@pulse/kafka';
import { benchBroker, warmBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { ProcessSampler, type ProcessUsage } from '../lib/process-stats.js';
import { spawnPulse } from '../lib/pulse-cli.js';
import { analyse, InputIndex, OutputLog, WINDOW_MS, type CountCheck } from './counts.js';
import { buildStreamsApp, startStreamsApp, type StreamsApp } from './streams-app.js';

/**
 * The stream processors measured (docs/peers.md): Pulse's aggregator, and the spec's topology as a
 * Kafka Streams application with RocksDB or in-memory window stores, writing updates (as Pulse does)
 * or only finals (`emitStrategy(onWindowClose)`).
 */
export const PEERS = {
  pulse: { updates: true, finals: true },
  'streams-rocksdb': { updates: true, finals: false, store: 'rocksdb', emit: 'updates' },
  'streams-memory': { updates: true, finals: false, store: 'memory', emit: 'updates' },
  'streams-rocksdb-final': { updates: false, finals: true, store: 'rocksdb', emit: 'final' },
} as const;
export type PeerName = keyof typeof PEERS;
export const PEER_NAMES = Object.keys(PEERS) as PeerName[];

/** The generator's traffic: clicks only (about 1% purchases follow from the funnel), as in `pulse bench e2e`. */
const MIX = 'clicks=1,purchases=0,sensors=0';
const PARTITIONS = 12;
/** Pulse's windows close by stream time plus this grace; the Kafka Streams application uses the same. */
const GRACE_MS = 60_000;

export interface PeersOptions {
  config: PulseConfig;
  peers: PeerName[];
  /** Ascending; a peer's ladder stops after the first rate it does not keep up with. */
  rates: number[];
  durationSec: number;
  /** Seconds at the start whose events are left out of the figures. */
  warmupSec: number;
  /** Seconds of the same traffic through a scratch topic before each peer starts (see `warmBroker`). */
  brokerWarmupSec: number;
  /**
   * Seconds of the same traffic through the peer once it runs, drained before the measured run: a
   * deployed stream processor is warm (its JIT has compiled the hot path, its stores are open).
   */
  peerWarmupSec: number;
  /** Kafka Streams' commit.interval.ms: under exactly-once, how often its updates become readable. */
  streamsCommitIntervalMs: number;
  /** Partitions of user-clicks and user-activity-counts (from 0) whose events are measured and checked. */
  partitions: number;
  /** Kafka Streams' num.stream.threads. */
  streamsThreads: number;
  dataDir: string;
  port: number;
  seed: string;
  log: (line: string) => void;
}

export interface PeerRun {
  peer: PeerName;
  rate: number;
  /** The generator's achieved rate over its whole run. */
  generatorRate: number;
  /** Events first reflected in an update during the measured span, per second (all partitions). */
  reflectedPerSec: number;
  /** Events (all partitions) sent before the generator stopped that no update had reflected by then. */
  behindAtEnd: number;
  /** Behind by less than a second of events when the generator stopped. */
  keptUp: boolean;
  /** Null for a peer that writes finals only: an event reaches the output when its window closes. */
  latencyMs: Percentiles | null;
  /** CPU-seconds per million events of the peer, and of the broker serving it (its changelog and transactions included). */
  cpuSecPerMillion: { peer: number; broker: number };
  processes: Record<string, ProcessUsage>;
  /** Per second since the generator started (the warm-up included): events first reflected (of the partitions read) and their p99. */
  series: { t: number; reflected: number; p99: number }[];
  check: CountCheck;
  outputRecords: number;
  measuredSec: number;
  settings: Record<string, string | number>;
}

export interface PeersResult {
  scenario: 'peers';
  runs: PeerRun[];
  durationSec: number;
  warmupSec: number;
  brokerWarmupSec: number;
  peerWarmupSec: number;
  partitions: number;
  streamsKafkaVersion: string | null;
  machine: MachineInfo;
  startedAt: string;
}

function lines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.on('data', (d: Buffer) => {
    rest += d.toString();
    for (let nl = rest.indexOf('\n'); nl >= 0; nl = rest.indexOf('\n')) {
      onLine(rest.slice(0, nl));
      rest = rest.slice(nl + 1);
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `done()` holds, checking every 200 ms; false after `timeoutMs`. */
async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
  return true;
}

/** One key per partition that Kafka's default partitioner puts there: the records that close the windows. */
function closingKeys(): string[] {
  const keys: string[] = new Array(PARTITIONS);
  let found = 0;
  for (let i = 0; found < PARTITIONS; i++) {
    const key = `pulse-bench-close-${i}`;
    const p = kafkaPartition(key, PARTITIONS);
    if (keys[p] === undefined) {
      keys[p] = key;
      found++;
    }
  }
  return keys;
}

/** A running peer: its process, and the settings it runs with. */
interface Started {
  child: ChildProcess;
  settings: Record<string, string | number>;
}

async function startPulse(bootstrap: string, log: (line: string) => void): Promise<Started> {
  const env = {
    KAFKA_BOOTSTRAP_SERVERS: bootstrap,
    PULSE_AGGREGATOR_GROUP_ID: `pulse-peers-${Date.now()}`,
    // The records that close the windows at the end are stamped up to 6 minutes ahead (see `closeWindows`).
    PULSE_AGGREGATOR_MAX_FUTURE_MS: String(10 * 60_000),
  };
  const child = spawnPulse(['aggregate', '--progress', '0'], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let restored = 0;
  const ready = new Promise<void>((resolve, reject) => {
    lines(child.stderr!, (l) => {
      stderr = (stderr + l + '\n').slice(-20_000);
      const m = /restored (\d+) partitions/.exec(l);
      // user-clicks (12), user-purchases (6) and sensor-data (24).
      if (m !== null && (restored += Number(m[1])) >= 42) resolve();
    });
    child.once('exit', (code) => reject(new Error(`pulse aggregate exited (${code}) before it was ready:\n${stderr}`)));
  });
  await Promise.race([ready, sleep(90_000).then(() => Promise.reject(new Error(`pulse aggregate did not restore its partitions in 90 s:\n${stderr}`)))]);
  log('pulse aggregate ready: all 42 input partitions restored');
  return { child, settings: { 'aggregator.emitIntervalMs': 25, 'aggregator.commitIntervalMs': 1000, 'aggregator.outputLingerMs': 5 } };
}

async function startStreams(app: StreamsApp, peer: Exclude<PeerName, 'pulse'>, bootstrap: string, o: PeersOptions): Promise<Started> {
  const spec = PEERS[peer];
  const stateDir = join(o.dataDir, 'kafka-streams-state');
  // Each run is a new application on a fresh broker: nothing of an earlier run's stores applies.
  rmSync(stateDir, { recursive: true, force: true });
  const options = {
    'bootstrap-servers': bootstrap,
    'application-id': `pulse-peer-${peer}-${Date.now()}`,
    store: spec.store,
    emit: spec.emit,
    'state-dir': stateDir,
    'num.stream.threads': String(o.streamsThreads),
    'commit.interval.ms': String(o.streamsCommitIntervalMs),
  };
  const run = startStreamsApp(app, options);
  await Promise.race([run.running, sleep(120_000).then(() => Promise.reject(new Error('the Kafka Streams application was not RUNNING after 120 s')))]);
  o.log(`${peer} RUNNING`);
  return {
    child: run.child,
    settings: {
      store: spec.store,
      emit: spec.emit,
      'processing.guarantee': 'exactly_once_v2',
      'commit.interval.ms': o.streamsCommitIntervalMs,
      'statestore.cache.max.bytes': 10 * 1024 * 1024,
      'num.stream.threads': o.streamsThreads,
      'producer linger.ms': 5,
      heap: 'max 512m',
    },
  };
}

/**
 * Sends one record per user-clicks partition stamped past the end (plus grace) of every window open
 * now, so that stream time closes them all and the peers that write finals write them: without it a
 * run would have to last the window and its grace. Its keys are left out of the check. Pulse refuses
 * events stamped further ahead than aggregator.maxFutureMs, so the benchmark raises that for it.
 */
async function closeWindows(config: PulseConfig, keys: string[]): Promise<void> {
  const now = Date.now();
  const ts = now - (now % WINDOW_MS) + WINDOW_MS + GRACE_MS + 1000;
  const producer = await TrackedProducer.connect(producerConfig(config, 'bench-close'));
  try {
    for (const [partition, key] of keys.entries()) {
      const event = { eventId: `close-${partition}-${now}`, type: 'page_view', userId: key, sessionId: 'close', source: 'bench', ts, properties: {} };
      await producer.send(TOPICS.userClicks, partition, Buffer.from(JSON.stringify(event)), key);
    }
    await producer.drained();
    const failures = producer.takeFailures();
    if (failures.length > 0) throw new Error(`closing the windows failed: ${failures[0]!.message}`);
  } finally {
    await producer.close();
  }
}

/** Reads user-clicks partitions [0, partitions) from the start to `ends` into an index by window and user. */
async function readInput(config: PulseConfig, partitions: number, ends: number[], skip: ReadonlySet<string>): Promise<InputIndex> {
  const index = new InputIndex();
  const consumer = new BatchConsumer(consumerConfig(config, 'bench-peers-input', `pulse-peers-input-${Date.now()}`) as KafkaSettings);
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: TOPICS.userClicks, partition, offset: 0 })));
  const next = new Array<number>(partitions).fill(0);
  const deadline = Date.now() + 300_000;
  try {
    while (next.some((n, p) => n < ends[p]!)) {
      if (Date.now() > deadline) throw new Error(`reading user-clicks back took over 5 minutes (at offsets ${next.join(',')} of ${ends.join(',')})`);
      const batch = await consumer.poll(5000, 200);
      index.add(batch, skip);
      for (const run of batch.runs) next[run.partition] = batch.offsets[run.end - 1]! + 1;
    }
  } finally {
    await consumer.close().catch(() => {});
  }
  return index;
}

async function runOne(o: PeersOptions, peer: PeerName, rate: number, app: StreamsApp | null): Promise<PeerRun> {
  const spec = PEERS[peer];
  const broker = await benchBroker({ dataDir: join(o.dataDir, 'broker'), port: o.port, log: o.log });
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap } };
  const children: ChildProcess[] = [];
  try {
    await ensureTopics(config);
    if (o.brokerWarmupSec > 0) await warmBroker(config, rate, o.brokerWarmupSec, o.log);
    const started = peer === 'pulse' ? await startPulse(broker.bootstrap, o.log) : await startStreams(app!, peer, broker.bootstrap, o);
    children.push(started.child);

    const out = new OutputLog();
    const consumer = new BatchConsumer(consumerConfig(config, 'bench-peers-output', `pulse-peers-output-${Date.now()}`, { 'fetch.wait.max.ms': 5 }) as KafkaSettings);
    consumer.assign(Array.from({ length: o.partitions }, (_, partition) => ({ topic: TOPICS.userActivityCounts, partition, offset: -1 })));
    let consuming = true;
    const consumeLoop = (async () => {
      while (consuming) out.add(await consumer.poll(5000, 50), Date.now());
    })();

    const generate = (seconds: number, seed: string) => {
      const child = spawnPulse(['generate', '--rate', String(rate), '--duration', String(seconds), '--seed', seed, '--mix', MIX, '--json'], {
        env: { ...process.env, KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      return child;
    };
    if (o.peerWarmupSec > 0) {
      o.log(`${peer}: warming up with ${rate.toLocaleString('en-US')} events/s for ${o.peerWarmupSec} s`);
      const warm = generate(o.peerWarmupSec, `${o.seed}-peer-warmup`);
      warm.stdout!.resume();
      warm.stderr!.resume();
      const code = await new Promise<number | null>((resolve) => warm.once('exit', resolve));
      if (code !== 0) throw new Error(`pulse generate (peer warm-up) exited with ${code}`);
      const sent = (await highWatermarks(config, TOPICS.userClicks)).slice(0, o.partitions).reduce((a, b) => a + b, 0);
      // Peers that write finals only show nothing until a window closes: give them the same few seconds.
      const drained = spec.updates ? await until(() => out.reflected >= sent, 60_000) : (await sleep(5000), true);
      o.log(`${peer}: warm${drained ? '' : `, but its updates reflect ${out.reflected} of ${sent} warm-up events after 60 s`}`);
    }

    const generatorStart = Date.now();
    const from = generatorStart + o.warmupSec * 1000;
    const generator = generate(o.durationSec, o.seed);
    let generatorOut = '';
    let generatorErr = '';
    generator.stdout!.on('data', (d: Buffer) => (generatorOut += d.toString()));
    lines(generator.stderr!, (l) => {
      if (!/behind\s+[\d,]+ ms/.test(l)) generatorErr = (generatorErr + l + '\n').slice(-20_000);
    });
    o.log(`${peer}: generating ${rate.toLocaleString('en-US')} events/s for ${o.durationSec} s (warm-up ${o.warmupSec} s excluded)`);
    const sampler = new ProcessSampler({ [peer]: started.child.pid!, broker: broker.pid!, generator: generator.pid!, bench: process.pid });
    const samplerTimer = setTimeout(() => sampler.start(generatorStart), o.warmupSec * 1000);
    const scale = PARTITIONS / o.partitions;
    const progress = setInterval(() => o.log(`${peer}: t=${Math.round((Date.now() - generatorStart) / 1000)}s  reflected ${Math.round(out.reflected * scale).toLocaleString('en-US')} events, ${out.records.toLocaleString('en-US')} output records read`), 10_000);
    const code = await new Promise<number | null>((resolve) => generator.once('exit', resolve));
    const to = Date.now();
    clearTimeout(samplerTimer);
    const processes = sampler.stop();
    clearInterval(progress);
    if (code !== 0) throw new Error(`pulse generate exited with ${code}:\n${generatorErr}`);
    const generated = JSON.parse(generatorOut) as { achievedRate: number };

    const ends = (await highWatermarks(config, TOPICS.userClicks)).slice(0, o.partitions);
    const produced = ends.reduce((a, b) => a + b, 0);
    // Drain: every event read into an update (peers that write them), bounded.
    if (spec.updates && !(await until(() => out.reflected >= produced, 60_000))) o.log(`${peer}: updates reflect ${out.reflected} of ${produced} events 60 s after the generator stopped`);
    const keys = closingKeys();
    await closeWindows(config, keys);
    // Kafka Streams looks for closed windows when a record arrives, at most once a second
    // (emit.interval.ms.kstreams.windowed.aggregation): a closing record that comes sooner after the
    // last look closes nothing until the next one, so they are repeated until the finals are in.
    for (let tries = 0; spec.finals && out.finalSum < produced && tries < 30; tries++) {
      if (await until(() => out.finalSum >= produced, 2000)) break;
      await closeWindows(config, keys);
    }
    if (spec.finals && out.finalSum < produced) o.log(`${peer}: finals count ${out.finalSum} of ${produced} events a minute after the windows were closed`);
    await sleep(1000);
    consuming = false;
    await consumeLoop;
    await consumer.close().catch(() => {});
    started.child.kill('SIGTERM');

    const input = await readInput(config, o.partitions, ends, new Set(keys));
    const a = analyse(out, input, { origin: generatorStart, from, to, updates: spec.updates, finals: spec.finals, skipKeys: new Set(keys) });
    const reflectedPerSec = Math.round(a.reflectedPerSec * scale);
    const cpuPerMillion = (name: string) => {
      const u = processes[name];
      const rateForCpu = spec.updates ? reflectedPerSec : rate;
      return u === undefined || rateForCpu === 0 ? NaN : Math.round((u.cpuPercent / 100 / rateForCpu) * 1e6 * 100) / 100;
    };
    const behindAtEnd = Math.round(a.behindAtEnd * scale);
    const run: PeerRun = {
      peer,
      rate,
      generatorRate: Math.round(generated.achievedRate),
      reflectedPerSec,
      behindAtEnd,
      keptUp: spec.updates ? behindAtEnd < rate : a.check.exact,
      latencyMs: spec.updates ? a.latencyMs : null,
      cpuSecPerMillion: { peer: cpuPerMillion(peer), broker: cpuPerMillion('broker') },
      processes,
      series: a.series,
      check: a.check,
      outputRecords: out.records,
      measuredSec: Math.round((to - from) / 100) / 10,
      settings: started.settings,
    };
    o.log(
      `${peer} at ${rate.toLocaleString('en-US')}/s: p95 ${run.latencyMs?.p95 ?? '-'} ms, p99 ${run.latencyMs?.p99 ?? '-'} ms, reflected ${reflectedPerSec.toLocaleString('en-US')}/s, ` +
        `${run.cpuSecPerMillion.peer} CPU-s per million events, counts ${a.check.exact ? 'exact' : `NOT exact (${a.check.examples.join('; ')})`}`,
    );
    await new Promise((r) => (started.child.exitCode === null && started.child.signalCode === null ? started.child.once('exit', r) : r(null)));
    return run;
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await broker.stop();
  }
}

/**
 * Each peer in turn, at each rate, on a fresh broker: the load generator at the rate, the peer between
 * user-clicks and user-activity-counts, and this process reading both topics. Latency runs from each
 * event's intended send time (its `ts`) to the first update on the output topic that counts it; CPU and
 * memory of every process are sampled each second; after the run, every window is closed and each
 * (user, window)'s updates and finals are checked against the events read back from user-clicks.
 */
export async function runPeers(o: PeersOptions): Promise<PeersResult> {
  const startedAt = new Date().toISOString();
  const app = o.peers.some((p) => p !== 'pulse') ? await buildStreamsApp(o.log) : null;
  const runs: PeerRun[] = [];
  for (const peer of o.peers) {
    for (const rate of o.rates) {
      const run = await runOne(o, peer, rate, app);
      runs.push(run);
      if (!run.keptUp) {
        o.log(`${peer} fell behind at ${rate.toLocaleString('en-US')} events/s: higher rates skipped`);
        break;
      }
    }
  }
  return {
    scenario: 'peers',
    runs,
    durationSec: o.durationSec,
    warmupSec: o.warmupSec,
    brokerWarmupSec: o.brokerWarmupSec,
    peerWarmupSec: o.peerWarmupSec,
    partitions: o.partitions,
    streamsKafkaVersion: app?.kafkaVersion ?? null,
    machine: machineInfo(),
    startedAt,
  };
}
