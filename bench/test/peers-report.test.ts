import { describe, expect, it } from 'vitest';
import { peerSummary, peersReport } from '../peers/report.js';
import type { PeerName, PeerRun, PeersResult } from '../peers/run.js';

function run(peer: PeerName, rate: number, p95: number | null, keptUp = true, cpu = 10): PeerRun {
  return {
    peer,
    rate,
    generatorRate: rate,
    reflectedPerSec: keptUp ? rate : rate / 2,
    behindAtEnd: keptUp ? 0 : rate * 10,
    keptUp,
    latencyMs: p95 === null ? null : { count: 1000, p50: p95 / 2, p95, p99: p95 * 2, p999: p95 * 3, max: p95 * 4 },
    cpuSecPerMillion: { peer: cpu, broker: 5 },
    processes: { [peer]: { cpuPercent: 50, maxRssMiB: 300, mainThreadWaitPercent: 0 } },
    series: [],
    check: { keys: 10, events: 100, updateMismatches: 0, finalMismatches: 0, unexplained: 0, examples: [], exact: true },
    outputRecords: 100,
    measuredSec: 50,
    settings: { store: 'rocksdb' },
  };
}

const result = (runs: PeerRun[]): PeersResult => ({
  scenario: 'peers',
  runs,
  durationSec: 60,
  warmupSec: 10,
  brokerWarmupSec: 10,
  peerWarmupSec: 20,
  partitions: 4,
  streamsKafkaVersion: '4.1.1',
  machine: { cpuModel: 'cpu', cores: 2, memoryGiB: 24, loadAverage: '1', node: 'v20', kafka: '4.1.1', librdkafka: '2', engine: 'e', commit: 'c' } as unknown as PeersResult['machine'],
  startedAt: '2026-01-01T00:00:00Z',
});

describe('peers report', () => {
  const r = result([
    run('pulse', 20_000, 60, true, 10),
    run('pulse', 50_000, 90, true, 5),
    run('streams-rocksdb', 20_000, 300, true, 25),
    run('streams-rocksdb', 50_000, 400, false, 14),
  ]);

  it('finds the highest rate under 100 ms p95 and the highest kept up, per peer', () => {
    expect(peerSummary(r)).toEqual([
      { peer: 'pulse', bestRate: 50_000, sustained: 50_000 },
      { peer: 'streams-rocksdb', bestRate: null, sustained: 20_000 },
    ]);
  });

  it('compares p95 and CPU only at rates every peer kept up with', () => {
    const md = peersReport(r).markdown;
    expect(md).toContain('| 20,000 | Kafka Streams, RocksDB, updates | 60 / 300 | 5× | 10 / 25 | 2.5× |');
    expect(md).not.toContain('| 50,000 | Kafka Streams, RocksDB, updates | 90 / 400');
    expect(md).toContain('| no (500,000 behind) |');
    expect(Object.keys(peersReport(r).plots)).toEqual(['']);
  });
});
