import type { Report } from '../lib/reports.js';
import { plotSvg, type PlotSeries } from '../lib/plot.js';
import type { PeerName, PeerRun, PeersResult } from './run.js';

const fmt = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
/** The p95 to the output topic a rate must hold to count (the spec's latency target). */
export const P95_BUDGET_MS = 100;

const LABELS: Record<PeerName, string> = {
  pulse: 'Pulse',
  'streams-rocksdb': 'Kafka Streams, RocksDB, updates',
  'streams-memory': 'Kafka Streams, in-memory store, updates',
  'streams-rocksdb-final': 'Kafka Streams, RocksDB, finals on window close',
};

const holds = (r: PeerRun) => r.keptUp && r.check.exact && r.latencyMs !== null && r.latencyMs.p95 < P95_BUDGET_MS;

/** Per peer: the highest rate run that held p95 < 100 ms with exact counts, and the highest it kept up with. */
export function peerSummary(result: PeersResult): { peer: PeerName; bestRate: number | null; sustained: number | null }[] {
  const peers = [...new Set(result.runs.map((r) => r.peer))];
  return peers.map((peer) => {
    const runs = result.runs.filter((r) => r.peer === peer);
    const best = runs.filter(holds).sort((a, b) => b.rate - a.rate)[0];
    const sustained = runs.filter((r) => r.keptUp && r.check.exact).sort((a, b) => b.rate - a.rate)[0];
    return { peer, bestRate: best?.rate ?? null, sustained: sustained?.rate ?? null };
  });
}

/** The rates every peer that writes updates kept up with, with exact counts: where p95 and CPU compare like for like. */
function commonRates(result: PeersResult): number[] {
  const runs = result.runs.filter((r) => r.latencyMs !== null);
  const peers = new Set(runs.map((r) => r.peer));
  const rates = [...new Set(runs.map((r) => r.rate))].sort((a, b) => a - b);
  return rates.filter((rate) => [...peers].every((p) => runs.some((r) => r.peer === p && r.rate === rate && r.keptUp && r.check.exact)));
}

function ratio(a: number | null | undefined, b: number | null | undefined): string {
  return a == null || b == null || b === 0 || !Number.isFinite(a / b) ? '–' : `${(Math.round((a / b) * 10) / 10).toString()}×`;
}

export function peersReport(r: PeersResult): Report {
  const rows = r.runs.map((x) => {
    const l = x.latencyMs;
    const check = x.check.exact ? 'exact' : `**not exact**: ${x.check.updateMismatches} updates, ${x.check.finalMismatches} finals, ${x.check.unexplained} unexplained`;
    const proc = x.processes[x.peer];
    return `| ${LABELS[x.peer]} | ${fmt(x.rate)} | ${fmt(x.reflectedPerSec)} | ${l === null ? '– | – | –' : `${l.p50} | ${l.p95} | ${l.p99}`} | ${x.keptUp ? 'yes' : `no (${fmt(x.behindAtEnd)} behind)`} | ${x.cpuSecPerMillion.peer} | ${x.cpuSecPerMillion.broker} | ${fmt(proc?.maxRssMiB ?? NaN)} | ${check} (${fmt(x.check.keys)} user-windows) |`;
  });
  const summary = peerSummary(r);
  const pulse = summary.find((s) => s.peer === 'pulse');
  const summaryRows = summary.map(
    (s) =>
      `| ${LABELS[s.peer]} | ${s.bestRate === null ? 'none' : fmt(s.bestRate)} | ${s.sustained === null ? 'none' : fmt(s.sustained)} | ${s.peer === 'pulse' ? '–' : ratio(pulse?.bestRate, s.bestRate)} |`,
  );
  const common = commonRates(r);
  const at = (peer: PeerName, rate: number) => r.runs.find((x) => x.peer === peer && x.rate === rate);
  const equalRows = common.flatMap((rate) =>
    summary
      .filter((s) => s.peer !== 'pulse' && at(s.peer, rate)?.latencyMs != null)
      .map((s) => {
        const peer = at(s.peer, rate)!;
        const own = at('pulse', rate);
        return `| ${fmt(rate)} | ${LABELS[s.peer]} | ${own?.latencyMs?.p95 ?? '–'} / ${peer.latencyMs!.p95} | ${ratio(peer.latencyMs!.p95, own?.latencyMs?.p95)} | ${own?.cpuSecPerMillion.peer ?? '–'} / ${peer.cpuSecPerMillion.peer} | ${ratio(peer.cpuSecPerMillion.peer, own?.cpuSecPerMillion.peer)} |`;
      }),
  );
  const settings = [...new Set(r.runs.map((x) => `- ${LABELS[x.peer]}: ${Object.entries(x.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`))].join('\n');
  const markdown = `# Pulse against Kafka Streams — the same events, the same measurement

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), load average ${r.machine.loadAverage} at the end;
Node ${r.machine.node}, Kafka ${r.machine.kafka} broker${r.streamsKafkaVersion === null ? '' : `, Kafka Streams ${r.streamsKafkaVersion}`}, engine ${r.machine.engine}, commit ${r.machine.commit}.
Each run: a fresh single broker${r.brokerWarmupSec > 0 ? ` warmed up with ${r.brokerWarmupSec} s of the same traffic` : ''}, the peer${r.peerWarmupSec > 0 ? ` warmed up with ${r.peerWarmupSec} s of it (drained before the measurement)` : ''}, the generator for ${r.durationSec} s (the first ${r.warmupSec} s left out),
the peer, and the measuring consumer on partitions 0–${r.partitions - 1} of 12 of user-clicks and user-activity-counts, all on this machine.
Latency: from each event's intended send time to the first update on user-activity-counts that counts it (read committed).
CPU: CPU-seconds per million events of the peer's process, and of the broker while serving it.
Counts: after the run every window is closed, and each (user, window)'s last update and final are compared with its events read back.

| peer | target events/s | reflected events/s | p50 ms | p95 ms | p99 ms | kept up | CPU-s / M events | broker CPU-s / M events | max RSS MiB | counts |
|---|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

| peer | highest rate with p95 < ${P95_BUDGET_MS} ms | highest rate kept up | Pulse's rate / peer's (p95 < ${P95_BUDGET_MS} ms) |
|---|---|---|---|
${summaryRows.join('\n')}

At the rates every peer kept up with (exact counts):

| events/s | peer | p95 ms, Pulse / peer | peer's p95 / Pulse's | CPU-s / M events, Pulse / peer | peer's CPU / Pulse's |
|---|---|---|---|---|---|
${equalRows.join('\n')}

Settings:
${settings}
`;
  const plots: Record<string, string> = {};
  const series: PlotSeries[] = [];
  for (const s of summary) {
    const points = r.runs.filter((x) => x.peer === s.peer && x.latencyMs !== null).map((x) => [x.rate, Math.max(1, x.latencyMs!.p95)] as const);
    if (points.length > 0) series.push({ name: `${LABELS[s.peer]} p95`, points });
  }
  if (series.length > 0) {
    series.push({ name: `${P95_BUDGET_MS} ms`, points: [[Math.min(...r.runs.map((x) => x.rate)), P95_BUDGET_MS], [Math.max(...r.runs.map((x) => x.rate)), P95_BUDGET_MS]], dashed: true, color: '#7f7f7f' });
    plots[''] = plotSvg({ title: 'p95 to user-activity-counts against the rate', xLabel: 'events/s', yLabel: 'p95 ms from intended send time (log)', yLog: true, series });
  }
  return { markdown, plots };
}
