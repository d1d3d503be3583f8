import type { ChaosResult } from './run.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The Markdown summary of a chaos run (docs/kafka.md, "Broker failures"). */
export function chaosMarkdown(r: ChaosResult, command: string): string {
  const o = r.options;
  const verdict = r.ok ? 'nothing lost, nothing duplicated, every count exact' : `**NOT EXACT**: ${r.failures.join('; ')}`;
  const events = r.events.map((e) => `| ${e.t} | ${e.action} | ${e.node} | ${e.detail} |`).join('\n');
  const kills = r.aroundKills
    .map((k) => `| ${k.t} | ${k.node} | ${k.recoverySec} | ${fmt(k.outputP99Ms)} | ${fmt(k.collectorP99Ms)} | ${k.collectorErrors} | ${k.stalls.generator} / ${k.stalls.collector} / ${k.stalls.aggregator} / ${k.stalls.sink} / ${k.stalls.recommender} |`)
    .join('\n');
  const s = r.stalls;
  const errors = Object.entries(r.collector.errors).map(([status, n]) => `${fmt(n)} × ${status}`).join(', ') || 'none';
  return `# Chaos run — ${r.events.filter((e) => e.action === 'kill').length} broker SIGKILLs under ${fmt(o.rate)} + ${fmt(o.collectorRate)} events/s

\`${command}\`, started ${r.startedAt}, ${r.loadSec} s of load on a local 3-node cluster (replication factor 3,
min.insync.replicas 2) sharing the machine with every Pulse process and with other work (load average
${r.loadAverage.start.join(' ')} at the start, ${r.loadAverage.end.join(' ')} at the end, on ${r.machine.cores} cores of ${r.machine.cpuModel}; Kafka ${r.machine.kafka}, commit ${r.machine.commit}). Result: ${verdict}.

| | sent / acknowledged | on the topics | lost | duplicated |
|---|---|---|---|---|
| generator | ${fmt(r.generator.sent)} / ${fmt(r.generator.acknowledged)} (failed ${fmt(r.generator.failed)}) | ${fmt(r.input.found - r.collectorIds.found)} | ${fmt(Math.max(0, r.input.lost - r.collectorIds.missing))} | ${fmt(r.input.duplicated)} |
| collector (HTTP) | ${fmt(r.collector.eventsAcknowledged)} events answered 200 in ${fmt(r.collector.requests)} requests | ${fmt(r.collectorIds.found)} by message id | ${fmt(r.collectorIds.missing)} | ${fmt(r.collectorIds.doubled)} |

- Collector: error answers ${errors}; ${fmt(r.collector.retries)} retries; ${fmt(r.collector.duplicatesDropped)} retried events dropped as duplicates by its dedup; request latency from intended send to 200 p50 ${fmt(r.collector.latencyMs.p50)} ms, p99 ${fmt(r.collector.latencyMs.p99)} ms.
- Aggregator: ${fmt(r.aggregator.exact)} of ${fmt(r.aggregator.keys)} user × window counts exact (${r.aggregator.under} short, ${r.aggregator.over} over); output latency p50 ${fmt(r.aggregator.outputLatencyMs.p50)} ms, p99 ${fmt(r.aggregator.outputLatencyMs.p99)} ms.
- Sink (DuckDB): ${fmt(r.sink.exact)} of ${fmt(r.sink.rows)} user_activity rows exact (${r.sink.missing} missing, ${r.sink.wrong} wrong, ${r.sink.extra} extra); orders ${fmt(r.sink.orders.stored)} of ${fmt(r.sink.orders.expected)}; sensor readings ${fmt(r.sink.sensorReadings.stored)} of ${fmt(r.sink.sensorReadings.expected)}.
- Recommender: ${fmt(r.recommender.learned)} of ${fmt(r.recommender.expected)} interactions learned.
- Seconds whose output p95 stayed under ${r.availability.targetP95Ms} ms: ${r.availability.good} of ${r.availability.total} (${(r.availability.share * 100).toFixed(1)}%).
- Longest stall of each process's progress over the run: generator ${s.generator.seconds} s (at most ${fmt(s.generator.maxBehindMs)} ms behind its schedule), collector ${s.collector.seconds} s, aggregator ${s.aggregator.seconds} s, sink ${s.sink.seconds} s, recommender ${s.recommender.seconds} s.${Object.keys(r.exits).length > 0 ? `\n- Processes that did not exit cleanly: ${JSON.stringify(r.exits)}.` : ''}

Output p95 by stretch of the load (ms; the median of the seconds' p95): before the first kill ${stretch(r, 0, r.events[0]?.t ?? r.loadSec)}, from it to the end ${stretch(r, r.events[0]?.t ?? r.loadSec, r.loadSec)}.

What happened when (seconds since the load started):

| t | action | node | |
|---|---|---|---|
${events}

Around each kill (until the next one, at most 30 s): time until the output's p95 stayed under ${r.availability.targetP95Ms} ms, p99 latencies, and each process's longest stall (s):

| t | node | recovery s | output p99 ms | collector p99 ms | collector errors | stall generator / collector / aggregator / sink / recommender |
|---|---|---|---|---|---|---|
${kills}
`;
}

function stretch(r: ChaosResult, from: number, to: number): string {
  const p95s = r.series.filter((x) => x.t >= from && x.t < to && x.outputP95 !== null).map((x) => x.outputP95!).sort((a, b) => a - b);
  return p95s.length === 0 ? 'no output' : fmt(p95s[p95s.length >> 1]!);
}
