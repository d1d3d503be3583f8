import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadConfig } from '@pulse/config';
import {
  chaosMarkdown,
  e2eRatePlot,
  e2eTimePlot,
  e2eCpuPlot,
  engineReport,
  recsTimePlot,
  runAlertsBench,
  runChaosBench,
  runCollectorBench,
  runProfile,
  runSinkBench,
  runStateBench,
  stateMarkdown,
  runE2E,
  runEngineBench,
  runKafkaBaseline,
  runRecsServingBench,
  runSweep,
  sweepReport,
  runPeers,
  peersReport,
  PEER_NAMES,
  type PeerName,
  type Acks,
  type CollectorBenchResult,
  type Compression,
  type E2EResult,
  type KafkaBaselineResult,
  type ProcessUsage,
  type ProfileResult,
  type RecsServingResult,
  type SinkBenchResult,
  writebackLine,
} from '@pulse/bench';
import { defineCommand, numberFlag, UsageError } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function niceFlag(raw: string | undefined): number {
  const nice = numberFlag('api-nice', raw, 0, -20);
  if (!Number.isInteger(nice) || nice > 19) throw new UsageError(`--api-nice must be a whole number from -20 to 19, got ${JSON.stringify(raw)}`);
  return nice;
}

/** Each process's CPU and memory, and how long its main thread waited for a core. */
function processTable(processes: Record<string, ProcessUsage>): string {
  const rows = Object.entries(processes).map(([name, u]) => `| ${name} | ${u.cpuPercent} | ${u.mainThreadWaitPercent} | ${u.maxRssMiB} |`);
  return ['| process | CPU % (of one core) | main thread waiting for a core, % of the time | max RSS MiB |', '|---|---|---|---|', ...rows].join('\n');
}

/** The disk's share of an e2e run: how much the kernel held unwritten, how hard it wrote, and the settings that decide both. */
function diskLine(r: E2EResult): string {
  if (r.machine.writeback === null) return '';
  const peak = (pick: (c: E2EResult['cpuSeries'][number]) => number) => Math.max(0, ...r.cpuSeries.map(pick));
  return `\nThe disk: the kernel held at most ${fmt(peak((c) => c.unwrittenMiB))} MiB unwritten and wrote at most ${fmt(peak((c) => c.diskWriteMBps))} MB in one second (${writebackLine(r.machine.writeback)}).`;
}

function markdown(r: E2EResult): string {
  const row = (name: string, l: E2EResult['latencyMs']) => `| ${name} | ${fmt(l.count)} | ${l.p50} | ${l.p95} | ${l.p99} | ${l.p999} | ${l.max} |`;
  return `# Pulse e2e benchmark — ${fmt(r.targetRate)} events/s for ${r.durationSec} s

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Node ${r.machine.node},
Kafka ${r.machine.kafka}, librdkafka ${r.machine.librdkafka}, engine ${r.machine.engine}, commit ${r.machine.commit}.
Generator, single broker, aggregator and this measuring consumer all ran on that machine.${r.brokerWarmupSec > 0 ? ` Before the pipeline started, the fresh broker was warmed up with ${r.brokerWarmupSec} s of the same traffic through a scratch topic.` : ''}

- target ${fmt(r.targetRate)} events/s; generator sent ${fmt(r.events)} events (${Object.entries(r.perTopic)
    .map(([t, n]) => `${t} ${fmt(n)}`)
    .join(', ')}) at ${fmt(r.generatorRate)} events/s (max ${fmt(r.generatorMaxBehindMs)} ms behind schedule)
- **aggregated ${fmt(r.achievedRate)} user-clicks events/s** over the ${r.measuredSec} s after a ${r.warmupSec} s warm-up; max consumer lag ${fmt(r.maxLag)}${
    r.kafkaBaseline === undefined
      ? ''
      : `\n- Kafka's ceiling in this run: Apache Kafka's ProducerPerformance on the same broker just before, with the generator's producer settings and ${r.kafkaBaseline.recordSize}-byte records, sent ${fmt(r.kafkaBaseline.recordsPerSec)} records/s; **the pipeline sustained ${Math.round(r.kafkaBaseline.fractionReached * 1000) / 10}% of it**`
  }
- ${fmt(r.outputs)} output records, ${fmt(r.deadLetters)} dead letters${
    r.sink === undefined
      ? ''
      : `\n- sink into ${r.sink.store === 'postgres' ? 'PostgreSQL' : 'DuckDB'} alongside: **${fmt(r.sink.rowsPerSec)} rows/s** stored over the measured span, max lag ${fmt(r.sink.maxLag)} records, ${fmt(r.sink.finalLag)} at the end (${fmt(r.sink.rows)} rows in all)`
  }

Latency in ms from each event's intended send time (no coordinated omission):

| to | events | p50 | p95 | p99 | p99.9 | max |
|---|---|---|---|---|---|---|
${row('reflected in aggregator state', r.stateLatencyMs)}
${row(r.outputPartitions === 12 ? 'readable on user-activity-counts' : `readable on user-activity-counts (its partitions 0–${r.outputPartitions - 1} of 12)`, r.outputLatencyMs)}

${processTable(r.processes)}

The whole machine was busy ${r.machineCpu.busyPercent}% of its ${r.machine.cores * 100}%; the hypervisor took ${r.machineCpu.stealPercent}% (steal). One core's speed (SHA-256): ${fmt(r.cpuSpeedBeforeMBps)} MB/s before the run, ${fmt(r.machine.cpuSpeedMBps)} after.${diskLine(r)}

Settings: ${Object.entries(r.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}
`;
}

function collectorMarkdown(r: CollectorBenchResult): string {
  const rows = r.runs
    .map((run) => {
      const cpu = Object.entries(run.processes)
        .map(([name, u]) => `${name} ${u.cpuPercent}%`)
        .join(', ');
      return `| ${run.endpoint} | ${run.eventsPerRequest} | ${fmt(run.bodyBytes)} | ${run.connections} | **${fmt(run.eventsPerSec)}** | ${fmt(run.requestsPerSec)} | ${run.latencyMs.p50} | ${run.latencyMs.p90} | ${run.latencyMs.p99} | ${run.latencyMs.max} | ${run.non2xx + run.errors} | ${cpu} |`;
    })
    .join('\n');
  return `# Pulse collector benchmark — HTTP → collector → Kafka

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Node ${r.machine.node},
Kafka ${r.machine.kafka}, librdkafka ${r.machine.librdkafka}, commit ${r.machine.commit}.
A single local broker, \`pulse collect\` (its own process) and the load client (autocannon, keep-alive
connections) all ran on that machine. Segment calls as analytics.js sends them (browser context, about
${fmt(r.runs[0] === undefined ? 0 : r.runs[0].bodyBytes / r.runs[0].eventsPerRequest)} bytes an event), from the load generator's shoppers; every request has fresh messageIds. A
request counts only when answered 200, which the collector sends once Kafka acknowledged all its events.

**Best through /v1/batch: ${fmt(r.batchEventsPerSec)} events/s.**

| endpoint | events/request | body bytes | connections | events/s | requests/s | p50 ms | p90 ms | p99 ms | max ms | not 200 | CPU (of one core) |
|---|---|---|---|---|---|---|---|---|---|---|---|
${rows}

Check: ${fmt(r.check.answered)} events answered 200 within the runs, ${fmt(r.check.collectorAccepted)} accepted by the collector (the difference: requests
still in flight when a run's clock stopped), ${fmt(r.check.inKafka)} records added to the topics.

Settings: ${Object.entries(r.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}
`;
}

/**
 * Writes FILE (JSON), FILE.md and the plots (FILE<suffix>.svg); without a file, prints the JSON and
 * writes nothing else, since plots need somewhere to go.
 */
function writeResult(file: string | undefined, result: object, summary: string, plots: Record<string, string> = {}): void {
  const json = `${JSON.stringify(result, null, 2)}\n`;
  if (file) {
    const path = resolve(file);
    const base = path.replace(/\.json$/, '');
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, json);
    writeFileSync(`${base}.md`, summary);
    for (const [suffix, svg] of Object.entries(plots)) writeFileSync(`${base}${suffix}.svg`, svg);
    console.error(`bench: wrote ${path}, its .md summary${Object.keys(plots).length > 0 ? ' and .svg plots' : ''}`);
  } else {
    process.stdout.write(json);
  }
  console.error(summary);
}

/** Redraws e2e-rates.svg from every e2e result in the directory: latency against the target rate. */
function refreshE2ERatePlot(dir: string): void {
  const results = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as { scenario?: string })
    .filter((r): r is E2EResult => r.scenario === 'e2e');
  const svg = e2eRatePlot(results);
  if (svg !== null) writeFileSync(join(dir, 'e2e-rates.svg'), svg);
}

/** A comma-separated list flag, each item checked. */
function listFlag<T>(name: string, raw: string | undefined, fallback: T[], parse: (item: string) => T | undefined, what: string): T[] {
  if (raw === undefined) return fallback;
  const items = raw.split(',').map((x) => x.trim());
  const parsed = items.map(parse);
  const bad = items.find((_, i) => parsed[i] === undefined);
  if (bad !== undefined || items.length === 0) throw new UsageError(`--${name} must be a comma-separated list of ${what}, got ${JSON.stringify(raw)}`);
  return parsed as T[];
}

const wholeNumber = (min: number, max: number) => (x: string) => {
  const n = Number(x);
  return x !== '' && Number.isInteger(n) && n >= min && n <= max ? n : undefined;
};

function wholeFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = wholeNumber(min, max)(raw);
  if (n === undefined) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function baselineMarkdown(r: KafkaBaselineResult): string {
  const p = r.producer;
  return `# Kafka baseline (Apache Kafka's own tools)

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Kafka ${r.machine.kafka}, commit ${r.machine.commit}; fresh single broker.
Producer settings: ${Object.entries(r.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}; ${r.recordSize}-byte records.

- ProducerPerformance, unbounded rate: **${fmt(p.recordsPerSec)} records/s** (${p.mbPerSec} MB/s); latency avg ${p.avgLatencyMs} ms, p50 ${p.p50}, p95 ${p.p95}, p99 ${p.p99}, p99.9 ${p.p999}, max ${p.maxLatencyMs} ms
- EndToEndLatency, one record at a time (acks=1), ${fmt(r.endToEnd.messages)} round trips: avg ${r.endToEnd.avgMs} ms, p50 ${r.endToEnd.p50}, p99 ${r.endToEnd.p99}, p99.9 ${r.endToEnd.p999} ms
`;
}

function recsMarkdown(r: RecsServingResult): string {
  return `# Pulse recommendation API under load

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Node ${r.machine.node}, commit ${r.machine.commit}.
Broker, generator (${fmt(r.eventRate)} events/s), \`pulse serve\`${r.apiNice === 0 ? '' : ` (in a session of its own at api.nice ${r.apiNice})`}${r.aggregator ? ', `pulse aggregate`' : ''} and the paced HTTP load on that machine.${r.brokerWarmupSec > 0 ? ` Before anything started, the fresh broker was warmed up with ${r.brokerWarmupSec} s of the same traffic through a scratch topic.` : ''}

- ${fmt(r.achievedRequestRate)} requests/s of ${fmt(r.requestRate)} asked, ${fmt(r.requests)} requests, ${fmt(r.errors)} errors, over ${r.durationSec} s
- request latency ms from the intended send time: p50 ${r.requestLatencyMs.p50}, p95 ${r.requestLatencyMs.p95}, p99 ${r.requestLatencyMs.p99}, p99.9 ${r.requestLatencyMs.p999}, max ${r.requestLatencyMs.max}; the p99 of a second was over 10 ms in ${r.requestSeries.filter((s) => s.p99 > 10).length} of ${r.requestSeries.length} seconds
- freshness ms (event produced → first personalised answer, ${r.probes} probes): p50 ${r.freshnessMs.p50}, p95 ${r.freshnessMs.p95}, p99 ${r.freshnessMs.p99}, max ${r.freshnessMs.max}

${processTable(r.processes)}

Generator producer: ${Object.keys(r.producerSettings).length === 0 ? 'the configuration\'s settings' : `tuned, ${Object.entries(r.producerSettings).map(([k, v]) => `${k}=${v}`).join(' ')}`}.
`;
}

function sinkMarkdown(r: SinkBenchResult): string {
  const row = (name: string, f: SinkBenchResult['duckdb']) =>
    `| ${name} | **${fmt(f.storeRowsPerSec)}** | ${f.storeRuns.map(fmt).join(', ')} | **${fmt(f.sinkRowsPerSec)}** | ${f.sinkRuns.map(fmt).join(', ')} |`;
  return `# Pulse sink benchmark — rows/s into the analytics store

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Node ${r.machine.node},
Kafka ${r.machine.kafka}, librdkafka ${r.machine.librdkafka}, DuckDB ${r.versions.duckdb}, PostgreSQL ${r.versions.postgres} (${r.postgres.server}), commit ${r.machine.commit}.
Broker, PostgreSQL and the sink on that machine (1-minute load average ${r.loadAverage.start} at the start, ${r.loadAverage.end} at the end). ${fmt(r.records)} user-activity-counts records updating ${fmt(r.keys)} (user, window)
keys, transactions of at most ${fmt(r.batchSize)} records (sink.batchSize) with their offsets; medians of ${r.runs} runs, each on a fresh store.

- store: Store.write alone (decoded rows → upsert + offsets, one transaction per batch)
- sink: the whole sink from the beginning of the topic (consume → decode → store transaction → offset commit)

| store | store rows/s | runs | sink rows/s | runs |
|---|---|---|---|---|
${row('DuckDB (appender → staging table → INSERT … ON CONFLICT)', r.duckdb)}
${row('PostgreSQL (INSERT … SELECT FROM unnest(arrays) ON CONFLICT)', r.postgres)}
`;
}

function producerFlag(value: unknown): 'tuned' | 'config' {
  const mode = (value as string | undefined) ?? 'tuned';
  if (mode !== 'tuned' && mode !== 'config') throw new UsageError('--producer must be tuned or config');
  return mode;
}

/** Flags that only some scenarios take; any other scenario refuses them rather than ignoring them. */
const SCENARIO_FLAGS: readonly (readonly [string, readonly string[]])[] = [
  ['e2e', ['rate', 'rates', 'warmup', 'broker-warmup', 'baseline-records', 'producer', 'output-partitions', 'seed', 'bootstrap-servers', 'sink']],
  ['collector', ['connections', 'track-connections', 'batch-sizes', 'http-port', 'seed', 'bootstrap-servers']],
  ['recs', ['rate', 'warmup', 'broker-warmup', 'producer', 'aggregator', 'request-rate', 'http-port', 'api-nice']],
  ['kafka-baseline', ['records', 'record-size', 'bootstrap-servers']],
  ['alerts', ['rate', 'warmup', 'threshold', 'bootstrap-servers']],
  ['profile', ['rate', 'warmup', 'broker-warmup', 'role', 'frequency', 'svg']],
  ['sink', ['records', 'keys', 'runs', 'database-url', 'bootstrap-servers']],
  ['state', ['users', 'steady', 'trickle-rate', 'max-deltas', 'bootstrap-servers']],
  ['engine', ['events', 'batch-size', 'repeats', 'boundary-sizes', 'task-time', 'seed']],
  ['peers', ['rate', 'rates', 'warmup', 'broker-warmup', 'peer-warmup', 'peers', 'partitions', 'streams-threads', 'streams-commit-interval', 'seed']],
  ['sweep', ['batch-sizes', 'linger-ms', 'compression', 'acks', 'rates', 'step', 'repeats', 'budget-ms', 'seed', 'bootstrap-servers']],
  ['chaos', ['rate', 'collector-rate', 'kills', 'first-kill', 'kill-every', 'down', 'seed']],
];

function profileMarkdown(r: ProfileResult): string {
  const rows = Object.entries(r.shares)
    .sort((a, b) => b[1] - a[1])
    .map(([part, share]) => `| ${part} | ${share} |`)
    .join('\n');
  return `# Where the ${r.role}'s CPU goes at ${fmt(r.rate)} events/s

Sampled with perf for ${r.durationSec} s after the warm-up on ${r.machine.cpuModel} (${r.machine.cores} cores), commit ${r.machine.commit}.
Flame graph: \`${r.svgFile}\` (folded stacks beside it). Share of CPU time by the innermost frame of a part we can name:

| part | % of CPU time |
|---|---|
${rows}
`;
}

export const bench = defineCommand({
  name: 'bench',
  summary: 'benchmarks: e2e (generator → Kafka → aggregator), peers (Pulse against Kafka Streams), collector (HTTP → Kafka), recs (the API), alerts (event → webhook), sink (rows/s into the store), state (10 M users), kafka-baseline, engine, sweep, profile (flame graphs), chaos (broker failures under load)',
  allowPositionals: true,
  help: `Usage: pulse bench e2e --rate N | --rates LIST --duration S [--json FILE] [options]
       pulse bench peers [--rates LIST] [--duration S] [--peers LIST] [--partitions N] [--streams-threads N] [--json FILE]
       pulse bench collector [--duration S] [--connections N] [--batch-sizes LIST] [--json FILE] [options]
       pulse bench recs [--rate N] [--request-rate R] [--duration S] [--aggregator] [--api-nice=N] [--json FILE]
       pulse bench alerts [--rate N] [--duration S] [--threshold T] [--json FILE]
       pulse bench kafka-baseline [--records N] [--record-size B] [--json FILE]
       pulse bench profile [--role aggregator|generator] [--rate N] [--duration S] [--svg FILE]
       pulse bench sink [--records N] [--keys K] [--runs R] [--database-url URL] [--json FILE]
       pulse bench state [--users N] [--steady S] [--trickle-rate R] [--max-deltas LIST] [--json FILE]
       pulse bench engine [--events N] [--batch-size N] [--repeats N] [--json FILE]
       pulse bench sweep [--rates LIST] [--batch-sizes LIST] [--linger-ms LIST] [--compression LIST] [--acks LIST] [--step S] [--json FILE]
       pulse bench chaos [--rate N] [--collector-rate N] [--duration S] [--kills K] [--kill-every S] [--down S] [--json FILE]

peers: the same workload through Pulse and through the spec's topology as a Kafka Streams
application (bench/peers/kafka-streams, docs/peers.md), each on a fresh local broker: the generator
at each rate of --rates (default 20000,50000,100000; or --rate N) for --duration S (default 60,
--warmup 10 left out, --broker-warmup 10 before), latency from each event's intended send time to
the first update on user-activity-counts that counts it, CPU-seconds per million events, RSS, and
every (user, window)'s last update and final checked against the events read back. A peer's ladder
stops at the first rate it falls behind at. --peers from ${PEER_NAMES.join(', ')}
(default the first three); --partitions N: measure partitions 0..N-1 of 12 (default 4);
--peer-warmup S: the same traffic through the peer first, drained before the measured run (default
20); --streams-threads N: Kafka Streams' num.stream.threads (default 1); --streams-commit-interval MS:
its commit.interval.ms, which under exactly-once paces its output (default 100); --port P (default 9592).
Writes FILE, FILE.md (table, highest rate with p95 < 100 ms, ratios) and FILE.svg (p95 by rate).

e2e: starts a fresh local Kafka broker (unless --bootstrap-servers), an aggregator process and a
generator process at the target rate, and measures, from each event's intended send time, the
latency until (a) the aggregator's state reflects it and (b) its update can be read from
user-activity-counts by a separate consumer; HdrHistogram percentiles, throughput after warm-up,
consumer lag over time, CPU and RSS per process. Writes the JSON result to FILE, a Markdown
summary beside it (FILE with .md) and an SVG plot of the latency over time (FILE with .svg), and
redraws e2e-rates.svg in that directory from every e2e result there (latency against the rate).

Options:
  --rate N               target events/s (default 100000)
  --sink STORE           also run \`pulse sink\` into a fresh duckdb file or a throwaway local postgres
                         cluster, and report the rows/s it stores while the pipeline runs
  --rates LIST           a ladder instead, e.g. 50000,100000,150000,200000: one run per rate, each on
                         a fresh broker, writing FILE with the rate in its name (e2e-100000.json for
                         --json e2e.json); stops at the first rate where the pipeline aggregates
                         less than 95% of the target
  --duration S           seconds of load (default 60)
  --warmup S             seconds excluded from the figures (default: a fifth of the duration, at most 15)
  --broker-warmup S      before the pipeline starts, run the generator's traffic at the rate through a
                         scratch topic of the fresh broker for S seconds, so that the JVM is compiled
                         (default 20; 0 measures a cold broker)
  --baseline-records N   first, Apache Kafka's ProducerPerformance sends N records (default 3000000,
                         ~15 s, so that its own JVM's warm-up weighs little; 0 skips it) of the
                         generator's mean event size, at unbounded rate with the generator's producer
                         settings, to the same broker: the ceiling the result reads the pipeline's
                         sustained rate against (kafkaBaseline.fractionReached)
  --producer MODE        the generator's producer settings. tuned (default): the batch.size, linger.ms
                         and compression \`pulse tune\` chooses for the rate on this broker (see
                         \`pulse tune --help\`); config: the configuration's producer.* as they are
                         (the spec's 16 KB, 10 ms, lz4 unless overridden)
  --output-partitions N  partitions of user-activity-counts (0 to N-1 of its 12) the measuring consumer
                         reads for the output latency (default 3: keys spread evenly, so they are a
                         fair sample, and the observer takes ~8% of a core instead of ~21%)
  --json FILE            where to write the result (default: print it on stdout)
  --seed X               generator seed (default bench)
  --bootstrap-servers B  use this cluster instead of a fresh local broker
  --port P               port of the fresh local broker (default 9192)

collector: starts a fresh local Kafka broker (unless --bootstrap-servers) and \`pulse collect\` as its
own process, and drives it with autocannon: one run per batch size through /v1/batch, then single
events through /v1/track, each after a 3 s warm-up. Bodies are Segment calls as analytics.js sends
them, from the load generator's shoppers, with fresh messageIds. Reports events/s and requests/s
answered 200 (Kafka acknowledged every event), request latency p50/p90/p99/max, CPU per process,
and checks the events answered against the collector's count and the records on the topics.

Options (collector):
  --duration S           seconds of each measured run (default 20)
  --connections N        concurrent keep-alive connections for /v1/batch (default 16)
  --track-connections N  concurrent connections for /v1/track (default 128: single events are many
                         small requests, each waiting out the producer's linger)
  --batch-sizes LIST     events per /v1/batch request, comma-separated (default 20,100,500)
  --http-port P          port of the collector under test (default 8188)
  --json FILE, --seed X, --bootstrap-servers B, --port P as for e2e

alerts: event → webhook latency of an alert rule without \`for\` (docs/alerting.md): a fresh broker, an
aggregator, \`pulse alerts\` with a webhook to a receiver in the benchmark, and the shop's traffic at
--rate events/s (default 20000). After --warmup S (default 10), every second for --duration S (default
30) a new user sends --threshold (default 1000, UserActivitySpike's threshold for the run: above what
the shop's own users reach, which the result counts as otherAlerts) page views at once; the latency of
each runs from the crossing event's intended send time to the webhook request naming that user.
Reports p50/p95/p99/max, probes delivered, and the backlog of the aggregator and of alerting at the end.

kafka-baseline: Apache Kafka's ProducerPerformance (unbounded rate, the configured producer settings,
--records N records of --record-size B bytes; defaults 2000000 and 230, the size of a generated
event) and EndToEndLatency (10000 round trips) from the kafka-tools jar, on a fresh broker: the
ceiling the pipeline's figures are read against.

recs: the recommendation API under load: a fresh broker, the generator at --rate events/s (default
20000), \`pulse serve\` folding them into the model, and a paced HTTP load asking random users'
recommendations at --request-rate requests/s (default 1000), each timed from its intended send time,
for --duration S (default 30) after --warmup S (default 15). Meanwhile probes measure freshness: a new
user's view produced to Kafka → the API's first personalised answer for that user. As in e2e, the
fresh broker first carries the generator's traffic for --broker-warmup S (default 20), and the
generator runs with --producer tuned|config (default tuned). --aggregator also runs \`pulse aggregate\`
on the same traffic, so that the API is measured beside the whole pipeline. --api-nice=N (default 0)
starts \`pulse serve\` in a session of its own at api.nice N, as a service with a higher CPU priority
than the pipeline, and runs the HTTP load at the same priority (below 0 needs root or CAP_SYS_NICE).
--http-port P (default 8180), --json FILE; the .svg beside it plots the latencies over time.

profile: a flame graph of one process of the e2e pipeline (--role, default aggregator) under load
(--rate, default 100000, for --duration S, default 30, after --warmup S, default 10), with the broker
warmed up (--broker-warmup S, default 20) and the generator's producer tuned as in e2e: perf samples at
--frequency Hz (default 499) with Node's --perf-basic-prof, so JavaScript, Rust and C frames show
together; folded and drawn with inferno into --svg FILE (default
bench/results/flamegraph-<role>.svg), with a summary of the shares. Needs perf (Debian linux-perf)
and inferno (\`cargo install inferno\`).

sink: rows/s into DuckDB and into PostgreSQL: --records N user-activity-counts records (default
200000) updating --keys K (user, window) keys (default 100000) are produced to a fresh broker; then,
--runs R times (default 3) on fresh stores, Store.write alone and the whole sink (Kafka → store, from
the beginning) are timed; medians reported. PostgreSQL: a throwaway local cluster (Debian's
postgresql package), or the database at --database-url URL (its Pulse tables are dropped first).

state: state at scale. --users N distinct users (default 10000000), one click each, all in one
5-minute window, are produced to a fresh broker; the aggregator counts them, then a trickle of
--trickle-rate R clicks/s (default 20000) from those users runs for --steady S seconds (default 30);
then a second aggregator restores every partition from the changelog. Once per --max-deltas value
(default 0,60; 0 writes every checkpoint whole, the baseline): the event loop's longest stall, the
changelog MB/s of the checkpoints, restore time, and the counts checked.

engine: the Rust engine alone, no Kafka: events per core-second (CPU time) of parsing + 5-minute
windowed counting on the load generator's user-clicks records, against the same counting in plain
TypeScript (JSON.parse per record), and the boundary: one ingest call and packValues by batch size
(tinybench). Medians of --repeats runs (default 5). Writes FILE, FILE.md and FILE.svg.

Options (engine):
  --events N             records per throughput run (default 200000)
  --batch-size N         records per engine call in the throughput runs (default 2000)
  --repeats N            runs, and tinybench rounds, to take the median of (default 5)
  --boundary-sizes LIST  batch sizes of the boundary measurement (default 1,10,100,1000,10000)
  --task-time MS         tinybench time per task and round (default 200)
  --seed X               generator seed (default bench)

sweep: producer batch.size × linger.ms × compression × acks, plus \`pulse tune\`'s choice at each
rate and the spec's static settings (16 KB, 10 ms, lz4, acks=1), each at a ladder of paced rates
against a fresh local broker (topic pulse-sweep, 12 partitions): throughput acknowledged and latency
from intended send time to delivery report (HdrHistogram), records per batch and requests/s from
librdkafka's statistics. Checks the spec's batch formula against the measured optimum. Writes FILE,
FILE.md and latency-throughput plots FILE.svg (p99) and FILE-p50.svg. The default grid takes about
9 minutes.

Options (sweep):
  --rates LIST           paced rates, events/s (default 10000,30000,60000)
  --batch-sizes LIST     batch.size values, bytes (default 16384,131072)
  --linger-ms LIST       linger.ms values (default 1,10,50)
  --compression LIST     lz4 and/or none (default lz4,none)
  --acks LIST            1 and/or all (default 1,all)
  --step S               seconds measured per rate (default 4)
  --repeats N            runs of the tuner and the spec static settings per rate, the median p99
                         one reported (default 3; the grid runs once)
  --budget-ms MS         latency budget the tuner chooses for (default 100)
  --port P               port of the fresh local broker (default 9392)
  --json FILE, --seed X, --bootstrap-servers B as for e2e

chaos: broker failures under load (docs/kafka.md, "Broker failures"). Starts a fresh local 3-node
cluster (replication factor 3, min.insync.replicas 2) and the pipeline as users run it — aggregate,
serve (recommender, and the sink into DuckDB), collect — with \`pulse generate\` and a Segment-style
client of the collector sending events, then SIGKILLs the broker leading user-clicks partition 0
(another one than last time), restarts it after --down seconds, waits until every replica is back in
sync, and again, --kills times. Then checks every count against the truth: events lost and duplicated
on the topics (the collector's by message id), each user's count per window in the aggregator's
output and in the store, orders and sensor readings in the store, the recommender's interactions.
Reports the collector's error answers and retries, each process's longest stall, latency and time to
recover around each kill, and the share of seconds whose output p95 stayed under 100 ms. Exits 1 when
anything was lost or duplicated.

Options (chaos):
  --rate N               generator events/s (default 5000)
  --collector-rate N     events/s through the collector, in /v1/batch requests of 20 (default 500)
  --duration S           seconds of load at least; it lasts until the last broker is back (default 120)
  --kills K              brokers killed, one after another (default 2)
  --first-kill S         seconds into the load of the first kill (default 15)
  --kill-every S         seconds between kills (default 60)
  --down S               seconds a killed broker stays down (default 10)
  --port P               broker port of node 1 of the fresh cluster (default 9692; nodes use P..P+5)
  --json FILE, --seed X as for e2e`,
  options: {
    rate: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    'broker-warmup': { type: 'string' },
    'baseline-records': { type: 'string' },
    aggregator: { type: 'boolean' },
    producer: { type: 'string' },
    'output-partitions': { type: 'string' },
    json: { type: 'string' },
    seed: { type: 'string' },
    'bootstrap-servers': { type: 'string' },
    port: { type: 'string' },
    connections: { type: 'string' },
    'track-connections': { type: 'string' },
    'batch-sizes': { type: 'string' },
    'http-port': { type: 'string' },
    'request-rate': { type: 'string' },
    'api-nice': { type: 'string' },
    records: { type: 'string' },
    'record-size': { type: 'string' },
    role: { type: 'string' },
    frequency: { type: 'string' },
    svg: { type: 'string' },
    sink: { type: 'string' },
    keys: { type: 'string' },
    runs: { type: 'string' },
    'database-url': { type: 'string' },
    events: { type: 'string' },
    'batch-size': { type: 'string' },
    repeats: { type: 'string' },
    'boundary-sizes': { type: 'string' },
    'task-time': { type: 'string' },
    'linger-ms': { type: 'string' },
    compression: { type: 'string' },
    acks: { type: 'string' },
    rates: { type: 'string' },
    step: { type: 'string' },
    'budget-ms': { type: 'string' },
    users: { type: 'string' },
    steady: { type: 'string' },
    'trickle-rate': { type: 'string' },
    'max-deltas': { type: 'string' },
    threshold: { type: 'string' },
    'collector-rate': { type: 'string' },
    kills: { type: 'string' },
    'first-kill': { type: 'string' },
    'kill-every': { type: 'string' },
    down: { type: 'string' },
    peers: { type: 'string' },
    partitions: { type: 'string' },
    'streams-threads': { type: 'string' },
    'streams-commit-interval': { type: 'string' },
    'peer-warmup': { type: 'string' },
  },
  async run(values, positionals) {
    const [scenario, ...extra] = positionals;
    if (!SCENARIO_FLAGS.some(([s]) => s === scenario) || extra.length > 0) {
      throw new UsageError(`unknown benchmark ${JSON.stringify(positionals.join(' '))}; available: ${SCENARIO_FLAGS.map(([s]) => s).join(', ')}`);
    }
    const foreign = SCENARIO_FLAGS.filter(([s]) => s !== scenario)
      .flatMap(([, flags]) => flags)
      .filter((f) => !SCENARIO_FLAGS.find(([s]) => s === scenario)![1].includes(f))
      .find((f) => values[f as keyof typeof values] !== undefined);
    if (foreign !== undefined) throw new UsageError(`--${foreign} does not apply to \`bench ${scenario}\``);
    const config = loadConfig();
    const log = (line: string) => console.error(`bench: ${line}`);
    if (scenario === 'state') {
      const result = await runStateBench({
        config,
        users: numberFlag('users', values.users, 10_000_000, 1000),
        steadySec: numberFlag('steady', values.steady, 30, 5),
        trickleRate: numberFlag('trickle-rate', values['trickle-rate'], 20_000, 1),
        variants: listFlag('max-deltas', values['max-deltas'] as string | undefined, [0, 60], wholeNumber(0, 10_000), 'whole numbers from 0 to 10000'),
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        dataDir: resolve(config.dataDir, 'bench-state'),
        port: numberFlag('port', values.port, 9492, 1024),
        log,
      });
      writeResult(values.json as string | undefined, result, stateMarkdown(result));
      return 0;
    }
    if (scenario === 'peers') {
      const result = await runPeers({
        config,
        peers: listFlag<PeerName>('peers', values.peers as string | undefined, PEER_NAMES.slice(0, 3), (x) => PEER_NAMES.find((p) => p === x), PEER_NAMES.join(', ')),
        rates: values.rates !== undefined || values.rate === undefined
          ? listFlag('rates', values.rates as string | undefined, [20_000, 50_000, 100_000], wholeNumber(1, 10_000_000), 'rates in events/s').sort((a, b) => a - b)
          : [numberFlag('rate', values.rate, 20_000, 1)],
        durationSec: numberFlag('duration', values.duration, 60, 5),
        warmupSec: numberFlag('warmup', values.warmup, 10, 0),
        brokerWarmupSec: numberFlag('broker-warmup', values['broker-warmup'], 10, 0),
        peerWarmupSec: numberFlag('peer-warmup', values['peer-warmup'], 20, 0),
        streamsCommitIntervalMs: wholeFlag('streams-commit-interval', values['streams-commit-interval'] as string | undefined, 100, 1, 60_000),
        partitions: wholeFlag('partitions', values.partitions as string | undefined, 4, 1, 12),
        streamsThreads: wholeFlag('streams-threads', values['streams-threads'] as string | undefined, 1, 1, 16),
        dataDir: resolve(config.dataDir, 'bench-peers'),
        port: numberFlag('port', values.port, 9592, 1024),
        seed: (values.seed as string | undefined) ?? 'bench',
        log,
      });
      const report = peersReport(result);
      writeResult(values.json as string | undefined, result, report.markdown, report.plots);
      return 0;
    }
    if (scenario === 'engine') {
      const result = await runEngineBench({
        events: numberFlag('events', values.events, 200_000, 1000),
        batchSize: numberFlag('batch-size', values['batch-size'], 2000, 1),
        repeats: numberFlag('repeats', values.repeats, 5, 1),
        boundarySizes: listFlag('boundary-sizes', values['boundary-sizes'] as string | undefined, [1, 10, 100, 1000, 10_000], wholeNumber(1, 100_000), 'batch sizes from 1 to 100000'),
        taskTimeMs: numberFlag('task-time', values['task-time'], 200, 10),
        seed: (values.seed as string | undefined) ?? 'bench',
        log,
      });
      const report = engineReport(result);
      writeResult(values.json as string | undefined, result, report.markdown, report.plots);
      return 0;
    }
    if (scenario === 'sweep') {
      const result = await runSweep({
        config,
        rates: listFlag('rates', values.rates as string | undefined, [10_000, 30_000, 60_000], wholeNumber(1, 10_000_000), 'rates in events/s'),
        batchSizes: listFlag('batch-sizes', values['batch-sizes'] as string | undefined, [16_384, 131_072], wholeNumber(1, 2_147_483_647), 'batch sizes in bytes'),
        lingers: listFlag('linger-ms', values['linger-ms'] as string | undefined, [1, 10, 50], wholeNumber(0, 900_000), 'linger times in ms'),
        compressions: listFlag<Compression>('compression', values.compression as string | undefined, ['lz4', 'none'], (x) => (x === 'lz4' || x === 'none' ? x : undefined), 'lz4 or none'),
        acks: listFlag<Acks>('acks', values.acks as string | undefined, ['1', 'all'], (x) => (x === '1' || x === 'all' ? x : undefined), '1 or all'),
        stepSec: numberFlag('step', values.step, 4, 1),
        repeats: numberFlag('repeats', values.repeats, 3, 1),
        budgetMs: numberFlag('budget-ms', values['budget-ms'], 100, 1),
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        // A broker of its own, apart from the other benchmarks'.
        dataDir: resolve(config.dataDir, 'bench-sweep'),
        port: numberFlag('port', values.port, 9392, 1024),
        seed: (values.seed as string | undefined) ?? 'bench',
        log,
      });
      const report = sweepReport(result);
      writeResult(values.json as string | undefined, result, report.markdown, report.plots);
      return 0;
    }
    if (scenario === 'chaos') {
      const result = await runChaosBench({
        config,
        rate: numberFlag('rate', values.rate, 5000, 1),
        collectorRate: numberFlag('collector-rate', values['collector-rate'], 500, 1),
        durationSec: numberFlag('duration', values.duration, 120, 1),
        kills: numberFlag('kills', values.kills, 2, 0),
        firstKillSec: numberFlag('first-kill', values['first-kill'], 15, 0),
        killEverySec: numberFlag('kill-every', values['kill-every'], 60, 1),
        downSec: numberFlag('down', values.down, 10, 0),
        seed: (values.seed as string | undefined) ?? 'chaos',
        dataDir: config.dataDir,
        port: numberFlag('port', values.port, 9692, 1024),
        log,
      });
      writeResult(values.json as string | undefined, result, chaosMarkdown(result, `pulse ${process.argv.slice(2).join(' ')}`));
      return result.ok ? 0 : 1;
    }
    if (scenario === 'kafka-baseline') {
      const result = await runKafkaBaseline({
        config,
        records: numberFlag('records', values.records, 2_000_000, 1000),
        recordSize: numberFlag('record-size', values['record-size'], 230, 1),
        latencyMessages: 10_000,
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        dataDir: resolve(config.dataDir, 'bench'),
        port: numberFlag('port', values.port, 9192, 1024),
        log: (line) => console.error(`bench: ${line}`),
      });
      writeResult(values.json as string | undefined, result, baselineMarkdown(result));
      return 0;
    }
    if (scenario === 'profile') {
      const role = (values.role as string | undefined) ?? 'aggregator';
      if (role !== 'aggregator' && role !== 'generator') throw new UsageError('--role must be aggregator or generator');
      const result = await runProfile({
        config,
        role,
        rate: numberFlag('rate', values.rate, 100_000, 1),
        durationSec: numberFlag('duration', values.duration, 30, 1),
        warmupSec: numberFlag('warmup', values.warmup, 10, 0),
        brokerWarmupSec: numberFlag('broker-warmup', values['broker-warmup'], 20, 0),
        frequency: numberFlag('frequency', values.frequency, 499, 1),
        svgFile: (values.svg as string | undefined) ?? `bench/results/flamegraph-${role}.svg`,
        dataDir: resolve(config.dataDir, 'bench'),
        port: numberFlag('port', values.port, 9192, 1024),
        log: (line) => console.error(`bench: ${line}`),
      });
      writeResult(values.json as string | undefined, result, profileMarkdown(result));
      return 0;
    }
    if (scenario === 'alerts') {
      const result = await runAlertsBench({
        config,
        rate: numberFlag('rate', values.rate, 20_000, 1),
        durationSec: numberFlag('duration', values.duration, 30, 1),
        warmupSec: numberFlag('warmup', values.warmup, 10, 0),
        threshold: numberFlag('threshold', values.threshold, 1000, 1),
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        dataDir: resolve(config.dataDir, 'bench-alerts'),
        port: numberFlag('port', values.port, 9492, 1024),
        log: (line) => console.error(`bench: ${line}`),
      });
      const l = result.latencyMs;
      writeResult(
        values.json as string | undefined,
        result,
        `# Event → webhook latency at ${fmt(result.rate)} events/s\n\n${result.delivered} of ${result.probes} probes delivered; p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms, max ${l.max} ms (${result.machine.cpuModel}, ${result.machine.cores} cores, load average ${result.loadAverage.join(' ')}, commit ${result.machine.commit}). Behind at the end: the aggregator ${fmt(result.behindAtEnd.aggregator)} events, alerting ${fmt(result.behindAtEnd.alerts)} records. Alerts of the shop's own users: ${result.otherAlerts}.\n`,
      );
      return 0;
    }
    if (scenario === 'sink') {
      const result = await runSinkBench({
        config,
        records: numberFlag('records', values.records, 200_000, 1000),
        keys: numberFlag('keys', values.keys, 100_000, 1),
        runs: numberFlag('runs', values.runs, 3, 1),
        databaseUrl: values['database-url'] as string | undefined,
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        dataDir: resolve(config.dataDir, 'bench-sink'),
        port: numberFlag('port', values.port, 9392, 1024),
        log: (line) => console.error(`bench: ${line}`),
      });
      writeResult(values.json as string | undefined, result, sinkMarkdown(result));
      return 0;
    }
    if (scenario === 'recs') {
      const result = await runRecsServingBench({
        config,
        eventRate: numberFlag('rate', values.rate, 20_000, 1),
        requestRate: numberFlag('request-rate', values['request-rate'], 1000, 1),
        durationSec: numberFlag('duration', values.duration, 30, 1),
        warmupSec: numberFlag('warmup', values.warmup, 15, 0),
        brokerWarmupSec: numberFlag('broker-warmup', values['broker-warmup'], 20, 0),
        aggregator: values.aggregator === true,
        apiNice: niceFlag(values['api-nice']),
        producer: producerFlag(values.producer),
        dataDir: resolve(config.dataDir, 'bench'),
        port: numberFlag('port', values.port, 9192, 1024),
        httpPort: numberFlag('http-port', values['http-port'], 8180, 1024),
        log: (line) => console.error(`bench: ${line}`),
      });
      writeResult(values.json as string | undefined, result, recsMarkdown(result), { '': recsTimePlot(result) });
      return 0;
    }
    if (scenario === 'collector') {
      const batchSizes = ((values['batch-sizes'] as string | undefined) ?? '20,100,500').split(',').map((x) => numberFlag('batch-sizes', x.trim(), 0, 1));
      if (batchSizes.some((n) => !Number.isInteger(n) || n > 2500)) throw new UsageError('--batch-sizes must be whole numbers from 1 to 2500');
      const result = await runCollectorBench({
        config,
        durationSec: numberFlag('duration', values.duration, 20, 1),
        connections: numberFlag('connections', values.connections, 16, 1),
        trackConnections: numberFlag('track-connections', values['track-connections'], 128, 1),
        batchSizes,
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        // A broker of its own, apart from the e2e benchmark's.
        dataDir: resolve(config.dataDir, 'bench-collector'),
        port: numberFlag('port', values.port, 9292, 1024),
        httpPort: numberFlag('http-port', values['http-port'], 8188, 1024),
        seed: (values.seed as string | undefined) ?? 'bench',
        log: (line) => console.error(`bench: ${line}`),
      });
      writeResult(values.json as string | undefined, result, collectorMarkdown(result));
      return 0;
    }
    const durationSec = numberFlag('duration', values.duration, 60, 1);
    const ladder = values.rates as string | undefined;
    if (ladder !== undefined && values.rate !== undefined) throw new UsageError('give --rate or --rates, not both');
    if (ladder !== undefined && values.json === undefined) throw new UsageError('--rates needs --json FILE: each rate writes FILE with the rate in its name');
    const rates = ladder === undefined ? [numberFlag('rate', values.rate, 100_000, 1)] : listFlag('rates', ladder, [], wholeNumber(1, 10_000_000), 'rates in events/s');
    const producerMode = producerFlag(values.producer);
    const outputPartitions = numberFlag('output-partitions', values['output-partitions'] as string | undefined, 3, 1);
    if (!Number.isInteger(outputPartitions) || outputPartitions > 12) throw new UsageError('--output-partitions must be a whole number from 1 to 12');
    const sinkStore = values.sink as string | undefined;
    if (sinkStore !== undefined && sinkStore !== 'duckdb' && sinkStore !== 'postgres') throw new UsageError('--sink must be duckdb or postgres');
    for (const rate of rates) {
      const result = await runE2E({
        config,
        rate,
        ...(sinkStore === undefined ? {} : { sink: sinkStore }),
        durationSec,
        warmupSec: numberFlag('warmup', values.warmup, Math.min(15, Math.floor(durationSec / 5)), 0),
        brokerWarmupSec: numberFlag('broker-warmup', values['broker-warmup'], 20, 0),
        baselineRecords: numberFlag('baseline-records', values['baseline-records'] as string | undefined, 3_000_000, 0),
        producer: producerMode,
        outputPartitions,
        bootstrapServers: values['bootstrap-servers'] as string | undefined,
        dataDir: resolve(config.dataDir, 'bench'),
        port: numberFlag('port', values.port, 9192, 1024),
        seed: (values.seed as string | undefined) ?? 'bench',
        log: (line) => console.error(`bench: ${line}`),
      });
      const timePlot = e2eTimePlot(result);
      const cpuPlot = e2eCpuPlot(result);
      const file = ladder === undefined ? (values.json as string | undefined) : (values.json as string).replace(/(\.json)?$/, `-${rate}.json`);
      writeResult(file, result, markdown(result), { ...(timePlot === null ? {} : { '': timePlot }), ...(cpuPlot === null ? {} : { '-cpu': cpuPlot }) });
      if (file !== undefined) refreshE2ERatePlot(dirname(resolve(file)));
      // The ladder ends at the first rate the pipeline cannot keep up with.
      if (ladder !== undefined && result.achievedRate < 0.95 * rate) {
        console.error(`bench: the pipeline fell behind at ${fmt(rate)} events/s (${fmt(result.achievedRate)} aggregated); the ladder stops here`);
        break;
      }
    }
    return 0;
  },
});
