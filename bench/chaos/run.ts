import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import type { PulseConfig } from '@pulse/config';
import { createLatencyHistogram, percentiles, type Percentiles } from '@pulse/engine';
import { createAdminClient, ensureTopics, promisify, TOPIC_SPECS, TOPICS, topicOffsets } from '@pulse/kafka';
import { killNode, startCluster, startNode, stopCluster } from '@pulse/kafka-local';
import { createShopModel, intendedOffsetMs } from '@pulse/loadgen';
import { openStore } from '@pulse/sink';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { spawnPulse } from '../lib/pulse-cli.js';
import { CollectorLoad } from './collector-load.js';
import { OutputTracker, windowKey } from './output-tracker.js';
import { scanTopic } from './scan.js';
import { availability, longestStall, recoverySeconds, type Sample, type Stall } from './timeline.js';

/** The 5-minute windows of user-activity-counts (docs/specification.md, "Metric topics"). */
const ACTIVITY_WINDOW_MS = 5 * 60_000;
/** The latency target a second must meet to count as available (docs/kafka.md, "Broker failures"). */
const P95_TARGET_MS = 100;
/** The click types the recommender learns from (crates/pulse-engine/src/recs.rs, parse_interactions). */
const LEARNED_CLICK = /"type":"(product_view|click|add_to_cart)"/;
/** How long after a kill its disturbance is looked at (unless the next failure comes first). */
const AROUND_KILL_SEC = 30;

export interface ChaosOptions {
  /** Configuration of a client of the cluster (its bootstrap servers and security settings). */
  config: PulseConfig;
  /** Data dir of the local 3-node cluster (`pulse kafka start --nodes 3`), whose nodes are killed and restarted. */
  clusterDataDir: string;
  /** JVM heap of a restarted node (as the cluster was started). */
  heap?: string;
  /** Scratch directory: the analytics store and the processes' logs. */
  workDir: string;
  /** Generator events/s (`pulse generate --rate`). */
  rate: number;
  /** Events/s sent through the collector's HTTP API, in /v1/batch requests of `collectorBatch`. */
  collectorRate: number;
  collectorBatch?: number;
  /** Seconds of load at least; the load also lasts until the last killed broker is back in sync plus `tailSec`. */
  durationSec: number;
  /** Broker kills: the first at `firstKillSec`, then one every `killEverySec`, each broker down `downSec`. */
  kills: number;
  firstKillSec: number;
  killEverySec: number;
  downSec: number;
  tailSec?: number;
  seed: string;
  /** Environment for every process (e.g. the connection settings of a secured cluster). */
  env?: Record<string, string>;
  log: (line: string) => void;
}

export type ChaosAction = 'kill' | 'restart' | 'in-sync';

export interface ChaosEvent {
  /** Seconds since the load started. */
  t: number;
  action: ChaosAction;
  node: number;
  /** For a kill: what the node led. For a restart: ms until it answered. For in-sync: ms since its restart until every replica was back in sync. */
  detail: string;
}

export interface ProcessStalls {
  generator: Stall & { maxBehindMs: number };
  collector: Stall;
  aggregator: Stall;
  sink: Stall;
  recommender: Stall;
}

export interface AroundKill {
  t: number;
  node: number;
  /** Seconds until the output's p95 stayed under the target (docs/kafka.md). */
  recoverySec: number;
  /** Output latency (event time to user-activity-counts) in the seconds after the kill. */
  outputP99Ms: number;
  /** Collector requests accepted after the kill: time from intended send to 200, retries included. */
  collectorP99Ms: number;
  collectorErrors: number;
  /** Longest standstill of each process's progress in the seconds after the kill. */
  stalls: Record<keyof ProcessStalls, number>;
}

export interface ChaosResult {
  scenario: 'chaos';
  startedAt: string;
  /** 1, 5 and 15-minute load averages when the load started and when it stopped: the machine is shared. */
  loadAverage: { start: number[]; end: number[] };
  machine: MachineInfo;
  options: { rate: number; collectorRate: number; durationSec: number; kills: number; firstKillSec: number; killEverySec: number; downSec: number; seed: string };
  loadSec: number;
  events: ChaosEvent[];
  generator: { sent: number; acknowledged: number; failed: number; exitCode: number | null; perTopic: Record<string, number> };
  collector: { requests: number; eventsAcknowledged: number; errors: Record<string, number>; retries: number; abandoned: number; latencyMs: Percentiles; duplicatesDropped: number };
  /** Every input event: what was acknowledged against what the topics hold. */
  input: { expected: number; found: number; lost: number; duplicated: number; perTopic: Record<string, { expected: number; found: number }> };
  /** Each event the collector answered 200 for, by message id. */
  collectorIds: { acknowledged: number; found: number; missing: number; doubled: number; unacknowledgedFound: number };
  aggregator: { keys: number; exact: number; under: number; over: number; examples: { key: string; expected: number; counted: number }[]; outputLatencyMs: Percentiles };
  sink: { rows: number; exact: number; missing: number; wrong: number; extra: number; orders: { expected: number; stored: number }; sensorReadings: { expected: number; stored: number } };
  /** Interactions (a product viewed, clicked, put in the cart, or bought) in the recommender's model. */
  recommender: { expected: number; learned: number };
  stalls: ProcessStalls;
  aroundKills: AroundKill[];
  availability: { good: number; total: number; share: number; targetP95Ms: number };
  /** Each second of the load: output latency (p95, p99, events reflected) and the collector's answers. */
  series: { t: number; outputP95: number | null; outputP99: number | null; outputEvents: number; collectorOk: number; collectorErrors: number }[];
  /** Processes that exited before the run stopped them, or exited with an error when stopped. */
  exits: Record<string, number | null>;
  lost: number;
  duplicated: number;
  /** What was not exact, in words; empty when everything was. */
  failures: string[];
  ok: boolean;
}

interface Proc {
  name: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The exit code, once it exited. */
  code?: number | null;
  stdout: string;
  tail: string;
}

/**
 * One chaos run (docs/kafka.md, "Broker failures"): the pipeline as users run it — `pulse aggregate`,
 * `pulse serve` (the recommender, and the sink into DuckDB in its analytics process), `pulse collect` and
 * `pulse generate` — on a 3-node cluster, with events sent by the generator and through the collector's
 * HTTP API while brokers are SIGKILLed and restarted one at a time. Afterwards every count is compared
 * with the truth: the topics against what was acknowledged, each user's count per window (aggregator
 * output and the store's rows) against the events, the recommender's events read against the topics.
 */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const startedAt = new Date().toISOString();
  const config = o.config;
  const log = o.log;
  // Absolute: a relative store path would be taken as relative to the data dir by the sink.
  const workDir = resolve(o.workDir);
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  await ensureTopics(config);

  const stamp = Date.now().toString(36);
  const writeKey = `chaos-${stamp}`;
  const [aggPort, apiPort, collectorPort] = [await freePort(), await freePort(), await freePort()];
  const store = join(workDir, 'store.duckdb');
  const env: Record<string, string> = {
    ...o.env,
    KAFKA_BOOTSTRAP_SERVERS: config.kafka.bootstrapServers,
    PULSE_AGGREGATOR_GROUP_ID: `pulse-chaos-${stamp}`,
    PULSE_SINK_GROUP_ID: `pulse-chaos-sink-${stamp}`,
    PULSE_SINK_DUCKDB_FILE: store,
    PULSE_WRITE_KEYS: writeKey,
  };
  const procs: Proc[] = [];
  const start = (name: string, args: string[]): Proc => {
    const logFile = createWriteStream(join(workDir, `${name}.log`));
    const child = spawnPulse(args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const p: Proc = { name, child, stdout: '', tail: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) };
    void p.exited.then((code) => (p.code = code));
    const keep = (d: Buffer) => {
      logFile.write(d);
      p.tail = (p.tail + d.toString()).slice(-20_000);
    };
    child.stdout!.on('data', (d: Buffer) => {
      p.stdout += d.toString();
      keep(d);
    });
    child.stderr!.on('data', keep);
    child.once('exit', () => logFile.end());
    procs.push(p);
    return p;
  };
  const stopAll = async () => {
    for (const p of procs) if (p.code === undefined) p.child.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
  };

  const admin = createAdminClient(config, 'chaos-admin');
  let tracker: OutputTracker | null = null;
  try {
    const aggregator = start('aggregator', ['aggregate', '--progress', '0', '--metrics-port', String(aggPort)]);
    const serve = start('serve', ['serve', '--port', String(apiPort)]);
    const collector = start('collector', ['collect', '--port', String(collectorPort), '--progress', '0']);
    await Promise.all([
      waitReady(aggregator, `http://127.0.0.1:${aggPort}/readyz`),
      waitReady(serve, `http://127.0.0.1:${apiPort}/readyz`),
      waitReady(collector, `http://127.0.0.1:${collectorPort}/readyz`),
    ]);
    log('aggregator, serve (recommender and sink) and collector are ready');

    const generator = start('generator', ['generate', '--rate', String(o.rate), '--duration', '0', '--seed', o.seed, '--json']);
    const generatorSamples: Sample[] = [];
    let maxBehindMs = 0;
    let origin = Date.now();
    const since = (at = Date.now()) => Math.round((at - origin) / 100) / 10;
    generator.child.stderr!.on('data', (d: Buffer) => {
      // Progress lines: `generate  12s  2,000 ev/s  total 24,000  behind 3 ms  in-flight 1,234`.
      for (const m of d.toString().matchAll(/total\s+([\d,]+)\s+behind\s+([\d,]+) ms/g)) {
        generatorSamples.push({ t: since(), value: Number(m[1]!.replaceAll(',', '')) });
        maxBehindMs = Math.max(maxBehindMs, Number(m[2]!.replaceAll(',', '')));
      }
    });
    // The clock starts once the generator produces (its first progress line, a second in).
    await waitFor('the generator to produce', () => generatorSamples.length > 0, 120_000, procs);
    origin = Date.now() - 1000;
    generatorSamples.splice(0, generatorSamples.length, { t: 1, value: generatorSamples[0]!.value });
    const clicksPartitions = TOPIC_SPECS.find((t) => t.name === TOPICS.userClicks)!.partitions;
    const outputPartitions = TOPIC_SPECS.find((t) => t.name === TOPICS.userActivityCounts)!.partitions;
    tracker = new OutputTracker(config, `pulse-chaos-output-${stamp}`, outputPartitions, origin);
    const loadAtStart = loadavg().map((x) => Math.round(x * 100) / 100);
    const load = new CollectorLoad({ url: `http://127.0.0.1:${collectorPort}`, writeKey, rate: o.collectorRate, batchSize: o.collectorBatch ?? 20, concurrency: 8, prefix: `chaos-${stamp}`, users: 200, origin });
    load.start();
    log(`load: ${o.rate.toLocaleString('en-US')} events/s from the generator, ${o.collectorRate.toLocaleString('en-US')} events/s through the collector`);

    // Each process's progress, once a second.
    const samples: Record<'collector' | 'aggregator' | 'sink' | 'recommender', Sample[]> = { collector: [], aggregator: [], sink: [], recommender: [] };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const t = since();
        const [agg, api] = await Promise.all([scrape(`http://127.0.0.1:${aggPort}/metrics`), scrape(`http://127.0.0.1:${apiPort}/metrics`)]);
        samples.collector.push({ t, value: load.events });
        if (agg.pulse_aggregator_records_consumed_total !== undefined) samples.aggregator.push({ t, value: agg.pulse_aggregator_records_consumed_total });
        if (api.pulse_sink_records_total !== undefined) samples.sink.push({ t, value: api.pulse_sink_records_total });
        if (api.pulse_recs_events_total !== undefined) samples.recommender.push({ t, value: api.pulse_recs_events_total });
        await sleep(1000 - ((Date.now() - origin) % 1000));
      }
    })();

    // The schedule: kill the broker leading a busy partition, restart it, wait until it is back in sync.
    const events: ChaosEvent[] = [];
    let lastKilled = -1;
    for (let k = 0; k < o.kills; k++) {
      await watch(origin + (o.firstKillSec + k * o.killEverySec) * 1000 - Date.now(), procs);
      const clicks = await describe(admin, [TOPICS.userClicks]);
      // The leader of user-clicks partition 0, unless that broker was the last one killed: then another busy leader.
      const busy = clicks.find((p) => p.partition === 0 && p.leader !== lastKilled) ?? clicks.find((p) => p.leader !== lastKilled && p.leader >= 0)!;
      const node = busy.leader;
      const led = clicks.filter((p) => p.leader === node).map((p) => p.partition);
      await killNode(o.clusterDataDir, node, 'SIGKILL');
      lastKilled = node;
      events.push({ t: since(), action: 'kill', node, detail: `SIGKILL; it led user-clicks partitions ${led.join(', ')} of ${clicksPartitions}` });
      log(`t=${since()}s: SIGKILLed Kafka node ${node} (leader of user-clicks ${led.join(', ')})`);
      await watch(o.downSec * 1000, procs);
      const restarting = Date.now();
      await startNode(o.clusterDataDir, node, { heap: o.heap ?? '512m' });
      events.push({ t: since(restarting), action: 'restart', node, detail: `answered after ${Date.now() - restarting} ms` });
      log(`t=${since()}s: node ${node} restarted (${Date.now() - restarting} ms)`);
      const upAt = Date.now();
      await waitInSync(admin, 180_000);
      events.push({ t: since(), action: 'in-sync', node, detail: `every replica in sync ${Date.now() - upAt} ms after the restart` });
      log(`t=${since()}s: every partition has all 3 replicas in sync again`);
    }
    await watch(Math.max(origin + o.durationSec * 1000 - Date.now(), (o.tailSec ?? 5) * 1000), procs);

    // Stop the load: the generator flushes what it sent; the collector's open requests are retried until accepted.
    const loadEnd = since();
    const loadAtEnd = loadavg().map((x) => Math.round(x * 100) / 100);
    generator.child.kill('SIGTERM');
    await Promise.all([generator.exited, load.stop(60_000)]);
    sampling = false;
    await sampler;
    const gen = JSON.parse(generator.stdout.trim().split('\n').pop() ?? '{}') as { events: number; delivered: number; failed: number; startTs: number; perTopic: Record<string, number> };
    if (typeof gen.events !== 'number') throw new Error(`the generator printed no statistics (exit ${generator.code}):\n${generator.tail}`);
    log(`load stopped at t=${loadEnd}s: generator sent ${gen.events}, delivered ${gen.delivered}; collector accepted ${load.events} events (${load.retries} retries)`);

    // The input topics against what was acknowledged.
    const found: Record<string, number> = {};
    for (const topic of [TOPICS.userClicks, TOPICS.userPurchases, TOPICS.sensorData]) {
      found[topic] = (await topicOffsets(config, topic)).reduce((n, p) => n + p.high - p.low, 0);
    }
    // The collector's events on user-clicks, by message id, and the windows they count in.
    const prefix = Buffer.from(`chaos-${stamp}-`);
    const seen = new Map<string, number>();
    const expected = new Map<string, number>();
    await scanTopic(config, TOPICS.userClicks, (key, value) => {
      if (!key.subarray(0, prefix.length).equals(prefix)) return;
      const e = JSON.parse(value.toString('utf8')) as { eventId: string; userId: string; ts: number };
      const n = (seen.get(e.eventId) ?? 0) + 1;
      seen.set(e.eventId, n);
      if (n > 1) return;
      const k = windowKey(e.userId, e.ts - (e.ts % ACTIVITY_WINDOW_MS));
      expected.set(k, (expected.get(k) ?? 0) + 1);
    });
    let missing = 0;
    for (const id of load.accepted) if (!seen.has(id)) missing++;
    let doubled = 0;
    let unacknowledgedFound = 0;
    for (const [id, n] of seen) {
      if (n > 1) doubled += n - 1;
      if (!load.accepted.has(id)) unacknowledgedFound++;
    }
    // The generator's events: the model is deterministic for a seed, rate and start time. The
    // recommender learns one interaction per product viewed, clicked or put in the cart, and one per
    // product of a purchase (docs/recommendations.md); every collector event is a product view.
    const model = createShopModel(o.seed);
    let interactions = seen.size;
    for (let i = 0; i < gen.events; i++) {
      const ts = gen.startTs + intendedOffsetMs(i, o.rate);
      const e = model.next(ts);
      if (e.topic === TOPICS.userPurchases) interactions += e.value.split('"productId":').length - 1;
      if (e.topic !== TOPICS.userClicks) continue;
      if (LEARNED_CLICK.test(e.value) && e.value.includes('"productId":')) interactions++;
      const k = windowKey(e.key, ts - (ts % ACTIVITY_WINDOW_MS));
      expected.set(k, (expected.get(k) ?? 0) + 1);
    }
    const perTopic: ChaosResult['input']['perTopic'] = {};
    for (const topic of Object.keys(found)) {
      perTopic[topic] = { expected: (gen.perTopic[topic] ?? 0) + (topic === TOPICS.userClicks ? seen.size : 0), found: found[topic]! };
    }
    const inputExpected = Object.values(perTopic).reduce((n, t) => n + t.expected, 0);
    const inputFound = Object.values(perTopic).reduce((n, t) => n + t.found, 0);
    // A record beyond what was sent is a duplicate; one short of it, lost (the collector's are known by id).
    const inputLost = Object.values(perTopic).reduce((n, t) => n + Math.max(0, t.expected - t.found), 0) + missing;
    const inputDuplicated = Object.values(perTopic).reduce((n, t) => n + Math.max(0, t.found - t.expected), 0);

    // The aggregator: every user's count in every window, once its output stops changing.
    const diff = await settle('the aggregator\'s counts', () => tracker!.differences(expected), (d) => d.length === 0, 120_000, () => tracker!.records, log);
    const outputLatencyMs = percentiles(tracker.histogram(0, Math.ceil(loadEnd)));
    const secondsOut = tracker.seconds();

    // The recommender: every interaction of every click and purchase learned once.
    const recsExpected = interactions;
    const learned = await settle('the recommender', async () => (await scrape(`http://127.0.0.1:${apiPort}/metrics`)).pulse_recs_events_total ?? -1, (n) => n === recsExpected, 60_000, (n) => n, log);

    // The sink: every output record in the store, then the store's rows against the truth.
    const outputTopics = [TOPICS.userActivityCounts, TOPICS.revenue, TOPICS.topProducts, TOPICS.uniqueUsers, TOPICS.funnel, TOPICS.sensorStats];
    const outputRecords = async () => {
      let n = 0;
      for (const topic of outputTopics) n += (await topicOffsets(config, topic)).reduce((s, p) => s + p.high - p.low, 0);
      return n;
    };
    await settle('the sink', async () => ((await scrape(`http://127.0.0.1:${apiPort}/metrics`)).pulse_sink_records_total ?? -1) - (await outputRecords()), (behind) => behind === 0, 60_000, (b) => -b, log);
    serve.child.kill('SIGTERM');
    const serveCode = await serve.exited;
    const db = await openStore({ ...config, sink: { ...config.sink, duckdbFile: store }, database: { ...config.database, url: '' } });
    let rows = 0;
    let exactRows = 0;
    let wrongRows = 0;
    let extraRows = 0;
    let orders = 0;
    let sensorReadings = 0;
    try {
      const stored = new Map<string, number>();
      for (const r of await db.query('SELECT user_id, window_start, count FROM user_activity', [])) stored.set(windowKey(String(r.user_id), Number(r.window_start)), Number(r.count));
      rows = stored.size;
      for (const [k, n] of expected) {
        const s = stored.get(k);
        if (s === n) exactRows++;
        else if (s !== undefined) wrongRows++;
      }
      for (const k of stored.keys()) if (!expected.has(k)) extraRows++;
      orders = Number((await db.query('SELECT CAST(COALESCE(SUM(orders), 0) AS BIGINT) AS n FROM revenue', []))[0]!.n);
      sensorReadings = Number((await db.query('SELECT CAST(COALESCE(SUM(count), 0) AS BIGINT) AS n FROM sensor_stats', []))[0]!.n);
    } finally {
      await db.close();
    }
    const missingRows = expected.size - exactRows - wrongRows;

    const duplicatesDropped = (await scrape(`http://127.0.0.1:${collectorPort}/metrics`)).pulse_collector_events_duplicate_total ?? 0;
    aggregator.child.kill('SIGTERM');
    collector.child.kill('SIGTERM');
    const [aggCode, collectorCode] = await Promise.all([aggregator.exited, collector.exited]);
    const exits: Record<string, number | null> = {};
    for (const [name, code] of [['aggregator', aggCode], ['serve', serveCode], ['collector', collectorCode], ['generator', generator.code ?? null]] as const) if (code !== 0) exits[name] = code;

    // Samples stop with the load: a process still behind then stalls until its last sample.
    const stalls: ProcessStalls = {
      generator: { ...longestStall(generatorSamples, gen.events), maxBehindMs },
      collector: longestStall(samples.collector, load.events),
      aggregator: longestStall(samples.aggregator, inputFound),
      sink: longestStall(samples.sink, samples.sink[samples.sink.length - 1]?.value ?? 0),
      recommender: longestStall(samples.recommender, recsExpected),
    };
    const kills = events.filter((e) => e.action === 'kill');
    const aroundKills: AroundKill[] = kills.map((kill, i) => {
      const until = Math.min(kills[i + 1]?.t ?? loadEnd, kill.t + AROUND_KILL_SEC, loadEnd);
      const within = (s: readonly Sample[]) => s.filter((x) => x.t >= kill.t - 1 && x.t <= until);
      const requests = [...load.seconds].filter(([t]) => t >= Math.floor(kill.t) && t < until);
      const collectorHist = requests.reduce((h, [, s]) => (h.add(s.histogram), h), createLatencyHistogram());
      return {
        t: kill.t,
        node: kill.node,
        recoverySec: recoverySeconds(secondsOut, kill.t, until, P95_TARGET_MS),
        outputP99Ms: tracker!.histogram(Math.floor(kill.t), Math.ceil(until)).getValueAtPercentile(99),
        collectorP99Ms: collectorHist.getValueAtPercentile(99),
        collectorErrors: requests.reduce((n, [, s]) => n + s.errors, 0),
        stalls: {
          generator: longestStall(within(generatorSamples), Infinity).seconds,
          collector: longestStall(within(samples.collector), Infinity).seconds,
          aggregator: longestStall(within(samples.aggregator), Infinity).seconds,
          sink: longestStall(within(samples.sink), Infinity).seconds,
          recommender: longestStall(within(samples.recommender), Infinity).seconds,
        },
      };
    });
    const under = diff.filter((d) => d.counted < d.expected).length;
    const over = diff.filter((d) => d.counted > d.expected).length;
    const lost = inputLost + under + missingRows + Math.max(0, recsExpected - learned);
    const duplicated = inputDuplicated + doubled + over + Math.max(0, learned - recsExpected);
    const result: ChaosResult = {
      scenario: 'chaos',
      startedAt,
      loadAverage: { start: loadAtStart, end: loadAtEnd },
      machine: machineInfo(),
      options: { rate: o.rate, collectorRate: o.collectorRate, durationSec: o.durationSec, kills: o.kills, firstKillSec: o.firstKillSec, killEverySec: o.killEverySec, downSec: o.downSec, seed: o.seed },
      loadSec: loadEnd,
      events,
      generator: { sent: gen.events, acknowledged: gen.delivered, failed: gen.failed, exitCode: generator.code ?? null, perTopic: gen.perTopic },
      collector: { requests: load.requests, eventsAcknowledged: load.events, errors: load.errors, retries: load.retries, abandoned: load.abandoned, latencyMs: percentiles(load.latency), duplicatesDropped },
      input: { expected: inputExpected, found: inputFound, lost: inputLost, duplicated: inputDuplicated, perTopic },
      collectorIds: { acknowledged: load.accepted.size, found: seen.size, missing, doubled, unacknowledgedFound },
      aggregator: { keys: expected.size, exact: expected.size - diff.filter((d) => d.expected > 0).length, under, over, examples: diff.slice(0, 10).map((d) => ({ ...d, key: d.key.replace('\u0000', '@') })), outputLatencyMs },
      sink: { rows, exact: exactRows, missing: missingRows, wrong: wrongRows, extra: extraRows, orders: { expected: gen.perTopic[TOPICS.userPurchases] ?? 0, stored: orders }, sensorReadings: { expected: gen.perTopic[TOPICS.sensorData] ?? 0, stored: sensorReadings } },
      recommender: { expected: recsExpected, learned },
      stalls,
      aroundKills,
      availability: { ...availability(secondsOut, 0, loadEnd, P95_TARGET_MS), targetP95Ms: P95_TARGET_MS },
      series: Array.from({ length: Math.floor(loadEnd) }, (_, t) => {
        const out = secondsOut.get(t);
        const req = load.seconds.get(t);
        return { t, outputP95: out?.p95 ?? null, outputP99: out?.p99 ?? null, outputEvents: out?.count ?? 0, collectorOk: req?.ok ?? 0, collectorErrors: req?.errors ?? 0 };
      }),
      exits,
      lost,
      duplicated,
      failures: [],
      ok: false,
    };
    const failures = [
      lost > 0 && `${lost} lost`,
      duplicated > 0 && `${duplicated} duplicated`,
      wrongRows > 0 && `${wrongRows} store rows wrong`,
      extraRows > 0 && `${extraRows} store rows extra`,
      orders !== result.sink.orders.expected && `${orders} orders stored of ${result.sink.orders.expected}`,
      sensorReadings !== result.sink.sensorReadings.expected && `${sensorReadings} sensor readings stored of ${result.sink.sensorReadings.expected}`,
      gen.delivered !== gen.events && `${gen.events - gen.delivered} generated events not acknowledged`,
      load.abandoned > 0 && `${load.abandoned} collector requests never accepted`,
      Object.keys(exits).length > 0 && `exits ${JSON.stringify(exits)}`,
    ].filter((f): f is string => typeof f === 'string');
    result.failures = failures;
    result.ok = failures.length === 0;
    return result;
  } catch (err) {
    const tails = procs.map((p) => `--- ${p.name} (${p.code === undefined ? 'running' : `exited ${p.code}`}):\n${p.tail.slice(-3000)}`).join('\n');
    throw new Error(`${(err as Error).message}\n${tails}`, { cause: err });
  } finally {
    await tracker?.close().catch(() => {});
    admin.disconnect();
    await stopAll();
  }
}

interface PartitionState {
  topic: string;
  partition: number;
  leader: number;
  replicas: number;
  isr: number;
}

async function describe(admin: ReturnType<typeof createAdminClient>, topics: string[]): Promise<PartitionState[]> {
  const described = await promisify<{ name: string; error?: { message: string }; partitions: { partition: number; leader?: { id: number } | null; replicas: unknown[]; isr: unknown[] }[] }[]>((cb) =>
    admin.describeTopics(topics, { timeout: 10_000 }, cb as never),
  );
  return described.flatMap((t) => (t.error ? [] : t.partitions.map((p) => ({ topic: t.name, partition: p.partition, leader: p.leader?.id ?? -1, replicas: p.replicas.length, isr: p.isr.length }))));
}

/** Until every partition of Pulse's topics and of the consumer offsets has all its replicas in sync. */
async function waitInSync(admin: ReturnType<typeof createAdminClient>, timeoutMs: number): Promise<void> {
  const topics = [...TOPIC_SPECS.map((t) => t.name), '__consumer_offsets'];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await describe(admin, topics).catch(() => []);
    const behind = states.filter((p) => p.isr < p.replicas || p.leader < 0);
    if (states.length > 0 && behind.length === 0) return;
    if (Date.now() > deadline) throw new Error(`replicas not back in sync after ${timeoutMs / 1000} s: ${behind.slice(0, 5).map((p) => `${p.topic}/${p.partition} ${p.isr} of ${p.replicas}`).join(', ')}`);
    await sleep(500);
  }
}

/** Waits `ms`, failing as soon as one of the processes exits: the load would have stopped without a word. */
async function watch(ms: number, procs: readonly Proc[]): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const gone = procs.find((p) => p.code !== undefined);
    if (gone !== undefined) throw new Error(`${gone.name} exited (${gone.code}) while the load ran`);
    if (Date.now() >= until) return;
    await sleep(Math.min(250, until - Date.now()));
  }
}

async function waitFor(what: string, done: () => boolean, timeoutMs: number, procs: readonly Proc[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await watch(100, procs);
  }
}

/**
 * Polls `probe` until `done` holds, or until its progress (`progressOf`) has not moved for `stallMs`;
 * returns the last value either way, so that a shortfall is reported as a number, not a timeout.
 */
async function settle<T>(what: string, probe: () => T | Promise<T>, done: (v: T) => boolean, stallMs: number, progressOf: (v: T) => number, log: (line: string) => void): Promise<T> {
  let value = await probe();
  let progress = progressOf(value);
  let movedAt = Date.now();
  while (!done(value)) {
    if (Date.now() - movedAt > stallMs) {
      log(`${what}: no progress for ${stallMs / 1000} s; taking the state as it is`);
      return value;
    }
    await sleep(500);
    value = await probe();
    if (progressOf(value) !== progress) {
      progress = progressOf(value);
      movedAt = Date.now();
    }
  }
  return value;
}

/** The unlabelled samples of a Prometheus text page, by name; empty when the page cannot be had. */
async function scrape(url: string): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(url, { signal: AbortSignal.timeout(2_000) })).text();
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^([a-z_]+) ([0-9.e+-]+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  } catch {
    return {};
  }
}

async function waitReady(p: Proc, url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.code !== undefined) throw new Error(`${p.name} exited (${p.code}) before it was ready`);
    const ok = await fetch(url, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${p.name} not ready within ${timeoutMs / 1000} s (${url})`);
    await sleep(250);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

export interface ChaosBenchOptions extends Omit<ChaosOptions, 'clusterDataDir' | 'workDir'> {
  /** Pulse's data dir: the cluster lives in `<dataDir>/bench-chaos`, the run's files in `<dataDir>/bench-chaos/run`. */
  dataDir: string;
  /** Broker port of node 1 (nodes 2 and 3 follow, two ports apart). */
  port: number;
}

/** `pulse bench chaos`: a fresh local 3-node cluster, one chaos run on it, the cluster stopped. */
export async function runChaosBench(o: ChaosBenchOptions): Promise<ChaosResult> {
  const clusterDataDir = resolve(o.dataDir, 'bench-chaos');
  const heap = o.heap ?? '512m';
  const cluster = await startCluster({ dataDir: clusterDataDir, nodes: 3, port: o.port, fresh: true, heap, log: o.log });
  try {
    const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: cluster.bootstrap! } };
    return await runChaos({ ...o, config, heap, clusterDataDir, workDir: join(clusterDataDir, 'run') });
  } finally {
    await stopCluster({ dataDir: clusterDataDir, log: o.log });
  }
}
