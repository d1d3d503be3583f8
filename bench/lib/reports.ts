import type { E2EResult } from '../e2e/run.js';
import type { EngineBenchResult } from '../engine/run.js';
import type { RecsServingResult } from '../recs/serving.js';
import { KEPT_UP, settingsLabel, type SweepResult, type SweepSeries } from '../sweep/run.js';
import type { MachineInfo } from './machine.js';
import { plotSvg, type PlotSeries } from './plot.js';

/** A scenario's Markdown summary and its SVG plots, keyed by the file suffix each goes under (`""` for FILE.svg). */
export interface Report {
  markdown: string;
  plots: Record<string, string>;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function machineLine(m: MachineInfo): string {
  return `${m.cpuModel} (${m.cores} cores, ${m.memoryGiB} GiB), load average ${m.loadAverage} when the result was taken; Node ${m.node}, Kafka ${m.kafka}, librdkafka ${m.librdkafka}, engine ${m.engine}, commit ${m.commit}`;
}

export function engineReport(r: EngineBenchResult): Report {
  const rows = r.boundary
    .map((b) => `| ${fmt(b.batch)} | ${b.ingestUs} | ${b.ingestNsPerEvent} | ${b.packUs} | ${b.packNsPerEvent} | ${b.tsUs} | ${b.tsNsPerEvent} |`)
    .join('\n');
  const t = (f: EngineBenchResult['rust']) =>
    `${fmt(f.eventsPerCoreSec.median)} (runs ${fmt(f.eventsPerCoreSec.min)}–${fmt(f.eventsPerCoreSec.max)}; wall-clock median ${fmt(f.eventsPerWallSec.median)})`;
  const markdown = `# Pulse engine benchmark — Rust engine and the N-API boundary

Measured ${r.startedAt} on ${machineLine(r.machine)}.
${fmt(r.events)} user-clicks records from the load generator's shop model (~${r.recordBytes} bytes each, 100 000 events/s of
event time), 5-minute tumbling windows per userId with ${r.settings.graceMs / 1000} s grace and a ${r.settings.emitIntervalMs} ms emit interval
on the event clock; ${fmt(r.batchSize)} records a call. Medians of ${r.repeats} runs.

**Events per second of one core (CPU time), parse + window + count + coalesced output:**

| counter | events / core-second |
|---|---|
| Rust engine through the addon (packed batches; also keeps the click metrics: top products, unique users, funnel) | **${t(r.rust)}** |
| plain TypeScript (JSON.parse per record, Map per window) | ${t(r.typescript)} |

**Rust / TypeScript: ${r.ratio}×**, a lower bound: the engine does the click metrics besides. Both accepted all ${fmt(r.rust.accepted)} records and emitted ${fmt(r.rust.outputs)} (Rust) and ${fmt(r.typescript.outputs)} (TypeScript) activity-count records.

Per call, by batch size (µs of CPU per call, mean of tinybench's samples, median of ${r.repeats} rounds; ns per event = per call / batch).
An \`ingest\` call with no records costs **${r.emptyCallUs} µs**: the boundary itself.

| batch | ingest µs | ingest ns/event | packValues µs | pack ns/event | TypeScript µs | TypeScript ns/event |
|---|---|---|---|---|---|---|
${rows}

Packing is the cost of the packed form: the Kafka client hands over one Buffer per record, and
packValues copies them into one Buffer plus a Uint32Array of ends before the call. A Buffer[] form
would skip that copy but pay a napi_get_element and napi_get_buffer_info per record inside the call;
the addon has no entry point that takes a Buffer[], so that side is not measured here.

Harness: ${r.harness}. The design card names \`benchmark\` (benchmark.js), which is archived upstream; tinybench is
maintained, has no dependencies and is what \`vitest bench\` runs on. It is used as a library rather than through
\`vitest bench\` so that \`pnpm pulse bench engine\` runs on the built addon and writes this JSON/Markdown/SVG like every
other scenario, and because its clock can be replaced: on a machine shared with other builds, wall time measures
the neighbours, CPU time (\`process.cpuUsage\`, all threads, so garbage collection counts) measures the code.
`;
  const plots = {
    '': plotSvg({
      title: 'Cost per event by batch size (lower is better)',
      xLabel: 'records per call',
      yLabel: 'ns per event',
      xLog: true,
      yLog: true,
      series: [
        { name: 'Rust ingest (one call, packed batch)', points: r.boundary.map((b) => [b.batch, Math.max(1, b.ingestNsPerEvent)] as const) },
        { name: 'packValues (Buffer[] → packed)', points: r.boundary.map((b) => [b.batch, Math.max(1, b.packNsPerEvent)] as const), dashed: true },
        { name: 'plain TypeScript counter', points: r.boundary.map((b) => [b.batch, Math.max(1, b.tsNsPerEvent)] as const) },
      ],
    }),
  };
  return { markdown, plots };
}

function sweepSeriesPlot(r: SweepResult, pick: (s: SweepSeries['steps'][number]) => number, what: string): string {
  const series: PlotSeries[] = r.series.map((s) => ({
    name: s.label,
    // A step without a single report has no latency to show.
    points: s.steps.filter((step) => step.latencyMs.count > 0).map((step) => [step.deliveredRate, Math.max(0.01, pick(step))] as const),
    ...(s.kind === 'grid' ? { color: '#c8c8c8', width: 1 } : s.kind === 'spec' ? { color: '#d62728', width: 3 } : { color: '#1f77b4', width: 3 }),
  }));
  // Highlighted series last, so they are drawn over the grid.
  series.sort((a, b) => Number(a.color !== '#c8c8c8') - Number(b.color !== '#c8c8c8'));
  return plotSvg({
    title: `Producer ${what} latency vs throughput (grey: the grid)`,
    xLabel: 'acknowledged records/s',
    yLabel: `${what} ms, intended send → delivery report (log)`,
    yLog: true,
    series,
    hideInLegend: (name) => !name.startsWith('tuner') && !name.startsWith('spec'),
  });
}

export function sweepReport(r: SweepResult): Report {
  const rates = r.tunerChoices.map((c) => c.rate);
  const header = `| settings | ${rates.map((x) => `${fmt(x)}/s: p50 / p99 ms, acked/s, rec/batch`).join(' | ')} |`;
  const line = `|---|${rates.map(() => '---').join('|')}|`;
  const ordered = [...r.series].sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'tuner' ? -1 : b.kind === 'tuner' ? 1 : a.kind === 'spec' ? -1 : 1));
  const rows = ordered
    .map((s) => {
      const name = s.kind === 'grid' ? s.label : `**${s.label}**`;
      const cells = s.steps.map((st) => {
        const behind = st.missingReports > 0 ? ` (${fmt(st.missingReports)} reports missing)` : st.deliveredRate < st.targetRate * KEPT_UP ? ' (behind)' : '';
        return `${st.latencyMs.p50} / ${st.latencyMs.p99}, ${fmt(st.deliveredRate)}${behind}, ${st.recordsPerBatch}`;
      });
      return `| ${name} | ${cells.join(' | ')} |`;
    })
    .join('\n');
  const tuner = r.series.find((s) => s.kind === 'tuner')!;
  const spec = r.series.find((s) => s.kind === 'spec');
  const versus = rates
    .map((rate, i) => {
      const a = tuner.steps[i]!;
      const b = spec?.steps[i];
      if (b === undefined) return `- ${fmt(rate)}/s: no spec static run`;
      const same = a.settings.batchSizeBytes === b.settings.batchSizeBytes && a.settings.lingerMs === b.settings.lingerMs;
      const winner = same
        ? 'the same settings: the difference is run-to-run noise'
        : a.latencyMs.p99 < b.latencyMs.p99
          ? 'tuner'
          : a.latencyMs.p99 > b.latencyMs.p99
            ? 'spec static'
            : 'tie';
      const runs = (x: SweepSeries['steps'][number]) => (x.p99Runs === undefined ? '' : ` (p99 of the runs: ${x.p99Runs.join(', ')})`);
      return `- ${fmt(rate)}/s: tuner (${settingsLabel(a.settings)}) p50 ${a.latencyMs.p50} / p99 ${a.latencyMs.p99} ms at ${fmt(a.deliveredRate)}/s${runs(a)} vs spec static p50 ${b.latencyMs.p50} / p99 ${b.latencyMs.p99} ms at ${fmt(b.deliveredRate)}/s${runs(b)} → **${winner}**${same ? '' : ' on the median p99'}`;
    })
    .join('\n');
  const formula = r.optimum
    .map((o, i) => {
      const c = r.tunerChoices[i]!.choice;
      const best = o.bestSettings === null ? 'no setting kept up' : `${o.best} (p99 ${o.p99} ms, ${o.recordsPerBatch} records a batch)`;
      const ratio = (predicted: number) => (o.recordsPerBatch === null ? '-' : `${(o.recordsPerBatch / predicted).toFixed(2)}×`);
      return `| ${fmt(o.rate)} | ${fmt(o.rate / r.partitions)} | ${o.literalFormulaEvents} events, ${fmt(c.formula.literalBytes)} B, ${c.formula.literalFillMs} ms | ${o.formulaEvents} events, ${fmt(c.formula.bytes)} B, ${c.formula.fillMs} ms | ${best} | ${ratio(o.literalFormulaEvents)} / ${ratio(o.formulaEvents)} |`;
    })
    .join('\n');
  const markdown = `# Pulse producer sweep — batch.size × linger.ms × compression × acks

Measured ${r.startedAt} on ${machineLine(r.machine)}; ${r.durationSec} s in all.
A fresh single broker on the same machine; topic \`${r.topic}\` with ${r.partitions} partitions (as user-clicks), the load generator's
user-clicks records (~${r.recordBytes} bytes with key, keyed by userId). Each point: a fresh producer through the project's
producer configuration (packages/kafka \`producerConfig\`), records paced at the rate for 0.5 s of warm-up and ${r.stepSec} s measured;
latency from each record's intended send time to its delivery report (HdrHistogram, µs resolution), so a producer
that falls behind shows it. Round trip to the broker: produce ${r.roundTrips.produceMs.median} ms median (p90 ${r.roundTrips.produceMs.p90}),
metadata ${r.roundTrips.metadataMs.median} ms. A step is "behind" when under ${KEPT_UP * 100}% of its target was acknowledged within it.
On one broker acks=all waits for the same single replica as acks=1.

## Tuner vs the spec's static settings (16 KB, 10 ms, lz4, acks=1)

${r.repeats} runs of each at each rate, taken in turn; the run with the median p99 is the one shown everywhere.

${versus}

## The spec's formula against the measured optimum

√(2·RTT·rate/holding cost) with the measured RTT (${r.roundTrips.produceMs.median} ms), holding cost 0.1 and the rate per partition, as the
spec applies it (its 8 333 events/s is 100 000 over 12 partitions). "As written" puts the rate in events/s against
costs in ms (the spec's 408 events); "consistent units" puts the rate in events/ms.

| rate/s | per partition/s | as written: batch, bytes, time to gather | consistent units | measured optimum (lowest p99 that kept up) | optimum's records a batch / predicted (as written / consistent) |
|---|---|---|---|---|---|
${formula}

## Every point

${header}
${line}
${rows}
`;
  return {
    markdown,
    plots: {
      '': sweepSeriesPlot(r, (s) => s.latencyMs.p99, 'p99'),
      '-p50': sweepSeriesPlot(r, (s) => s.latencyMs.p50, 'p50'),
    },
  };
}

/**
 * Latency over time of one e2e run (state latency per second, from the aggregator's reports; the output
 * topic's p99 per second where the result has it), with how far behind its schedule the generator was:
 * the part of a latency spent before Kafka.
 */
export function e2eTimePlot(r: E2EResult): string | null {
  const withLatency = r.lagSeries.filter((p) => p.stateP50 !== undefined && p.stateP99 !== undefined);
  if (withLatency.length < 2) return null;
  return plotSvg({
    title: `e2e at ${fmt(r.targetRate)} events/s: latency over time (warm-up ${r.warmupSec} s)`,
    xLabel: 's since the generator started',
    yLabel: 'ms from the intended send time (per second)',
    yLog: true,
    series: [
      { name: 'state p50', points: withLatency.map((p) => [p.t, Math.max(1, p.stateP50!)] as const) },
      { name: 'state p99', points: withLatency.map((p) => [p.t, Math.max(1, p.stateP99!)] as const) },
      ...((r.outputSeries?.length ?? 0) < 2 ? [] : [{ name: 'output p99', points: r.outputSeries!.map((p) => [p.t, Math.max(1, p.p99)] as const) }]),
      ...(r.generatorSeries.length < 2 ? [] : [{ name: 'generator behind', points: r.generatorSeries.map((p) => [p.t, Math.max(1, p.behindMs)] as const), dashed: true }]),
    ],
  });
}

/** CPU over time of one e2e run: the whole machine (busy, steal) and each process, in % of one core. */
export function e2eCpuPlot(r: E2EResult): string | null {
  const seconds = r.cpuSeries;
  if (seconds.length < 2) return null;
  const names = Object.keys(seconds[seconds.length - 1]!.processes);
  return plotSvg({
    title: `e2e at ${fmt(r.targetRate)} events/s: CPU over time (${r.machine.cores} cores = ${r.machine.cores * 100}%)`,
    xLabel: 's since the generator started',
    yLabel: '% of one core',
    series: [
      { name: 'machine busy', points: seconds.map((c) => [c.t, c.busyPercent] as const) },
      { name: 'steal', points: seconds.map((c) => [c.t, c.stealPercent] as const), dashed: true },
      ...names.map((name) => ({ name, points: seconds.map((c) => [c.t, c.processes[name] ?? 0] as const) })),
    ],
  });
}

/** Latency percentiles against the target rate, over several e2e results (one per rate). */
export function e2eRatePlot(results: readonly E2EResult[]): string | null {
  const sorted = [...results].sort((a, b) => a.targetRate - b.targetRate);
  if (sorted.length === 0) return null;
  const line = (name: string, pick: (r: E2EResult) => number, dashed = false): PlotSeries => ({ name, points: sorted.map((r) => [r.targetRate, Math.max(1, pick(r))] as const), dashed });
  return plotSvg({
    title: 'e2e latency vs target rate (one run per rate)',
    xLabel: 'target events/s',
    yLabel: 'ms from intended send time (log)',
    yLog: true,
    series: [
      line('state p50', (r) => r.stateLatencyMs.p50),
      line('state p95', (r) => r.stateLatencyMs.p95),
      line('state p99', (r) => r.stateLatencyMs.p99),
      line('output p50', (r) => r.outputLatencyMs.p50, true),
      line('output p95', (r) => r.outputLatencyMs.p95, true),
      line('output p99', (r) => r.outputLatencyMs.p99, true),
    ],
  });
}

/** The recommendation API's request latency per second of one recs run, with each freshness probe. */
export function recsTimePlot(r: RecsServingResult): string {
  return plotSvg({
    title: `recommendation API at ${fmt(r.requestRate)} requests/s beside ${fmt(r.eventRate)} events/s: latency over time`,
    xLabel: 's since the measured load began',
    yLabel: 'ms (log)',
    yLog: true,
    series: [
      { name: 'request p99 (per second)', points: r.requestSeries.map((p) => [p.t, Math.max(1, p.p99)] as const) },
      { name: 'request max (per second)', points: r.requestSeries.map((p) => [p.t, Math.max(1, p.max)] as const), dashed: true },
      { name: 'freshness (each probe)', points: r.freshnessSeries.map((p) => [p.t, Math.max(1, p.ms)] as const), line: false },
    ],
  });
}
