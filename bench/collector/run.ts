import type { ChildProcess } from 'node:child_process';
import autocannon from 'autocannon';
import type { PulseConfig } from '@pulse/config';
import { ensureTopics, topicOffsets, TOPICS } from '@pulse/kafka';
import { benchBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { ProcessSampler, type ProcessUsage } from '../lib/process-stats.js';
import { spawnPulse } from '../lib/pulse-cli.js';
import { SegmentTraffic } from './segment-traffic.js';

const WRITE_KEY = 'bench-write-key';
const WARMUP_SEC = 3;

export interface CollectorBenchOptions {
  config: PulseConfig;
  /** Seconds of each measured run. */
  durationSec: number;
  /** Concurrent HTTP connections (keep-alive) of the load client, for /v1/batch and for /v1/track. */
  connections: number;
  trackConnections: number;
  /** Events per /v1/batch request, one run each; a run of single-event /v1/track requests follows. */
  batchSizes: readonly number[];
  /** Use this cluster instead of starting a fresh local one. */
  bootstrapServers?: string;
  dataDir: string;
  /** Port of the fresh local broker. */
  port: number;
  /** Port of the collector under test. */
  httpPort: number;
  seed: string;
  log: (line: string) => void;
}

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export interface CollectorRun {
  endpoint: '/v1/batch' | '/v1/track';
  eventsPerRequest: number;
  connections: number;
  durationSec: number;
  /** Requests answered 200: every event of them acknowledged by Kafka. */
  requests: number;
  requestsPerSec: number;
  eventsPerSec: number;
  /** Answers other than 200, and connection errors or timeouts. */
  non2xx: number;
  errors: number;
  /** Mean request body size. */
  bodyBytes: number;
  latencyMs: LatencyMs;
  processes: Record<string, ProcessUsage>;
}

export interface CollectorBenchResult {
  scenario: 'collector';
  runs: CollectorRun[];
  /** Best events/s of the batch runs. */
  batchEventsPerSec: number;
  /** Events answered 200 over the whole benchmark (warm-ups included), against what the collector counted and what the topics hold. */
  check: { answered: number; collectorAccepted: number; inKafka: number };
  settings: Record<string, string | number>;
  machine: MachineInfo;
  startedAt: string;
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`collector did not start in ${timeoutMs / 1000} s:\n${text}`)), timeoutMs);
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[0]);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`collector exited (${code}) before it listened:\n${text}`)));
  });
}

async function load(url: string, connections: number, durationSec: number, body: () => string): Promise<autocannon.Result> {
  return autocannon({
    url,
    method: 'POST',
    connections,
    duration: durationSec,
    headers: { authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`, 'content-type': 'application/json' },
    // A fresh body per request: new messageIds, so deduplication keeps every event.
    requests: [{ setupRequest: (request) => ({ ...request, body: body() }) }],
  });
}

/** Sum of pulse_collector_events_accepted_total over topics, from the collector's /metrics. */
async function acceptedByCollector(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^pulse_collector_events_accepted_total\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
  return sum;
}

/**
 * HTTP → collector → Kafka on one machine: a fresh local broker, `pulse collect` as its own process
 * and autocannon in this one, all sharing the cores. One run per batch size through /v1/batch, then
 * single events through /v1/track; each after a short warm-up. A request counts only when answered
 * 200, i.e. when Kafka acknowledged all its events; at the end the events answered are checked against
 * the collector's own count and against the records on the topics.
 */
export async function runCollectorBench(o: CollectorBenchOptions): Promise<CollectorBenchResult> {
  const startedAt = new Date().toISOString();
  const broker = await benchBroker(o);
  const bootstrap = broker.bootstrap;
  const brokerPid = broker.pid;
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: bootstrap } };
  let collector: ChildProcess | undefined;
  try {
    await ensureTopics(config);
    const topics = [TOPICS.userClicks, TOPICS.userPurchases];
    const offsetsBefore = await Promise.all(topics.map((t) => topicOffsets(config, t)));
    collector = spawnPulse(['collect', '--port', String(o.httpPort), '--progress', '0'], {
      env: { ...process.env, KAFKA_BOOTSTRAP_SERVERS: bootstrap, PULSE_WRITE_KEYS: WRITE_KEY },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const listening = await waitForLine(collector, /listening on (http:\/\/[^\s"]+)/, 60_000);
    const base = listening.replace('listening on ', '');
    o.log(`collector ${base} (pid ${collector.pid})`);

    const traffic = new SegmentTraffic(o.seed, 20_000, `bench-${Date.now().toString(36)}`);
    const pids: Record<string, number> = { collector: collector.pid!, 'load client': process.pid, ...(brokerPid !== null ? { broker: brokerPid } : {}) };
    const runs: CollectorRun[] = [];
    let answered = 0;
    const scenarios = [...o.batchSizes.map((size) => ({ endpoint: '/v1/batch' as const, size })), { endpoint: '/v1/track' as const, size: 1 }];
    for (const s of scenarios) {
      const connections = s.endpoint === '/v1/batch' ? o.connections : o.trackConnections;
      const body = s.endpoint === '/v1/batch' ? () => traffic.batch(s.size) : () => traffic.track();
      const bodyBytes = Math.round(Array.from({ length: 20 }, () => Buffer.byteLength(body())).reduce((a, b) => a + b) / 20);
      const warm = await load(`${base}${s.endpoint}`, connections, WARMUP_SEC, body);
      answered += warm['2xx'] * s.size;
      o.log(`${s.endpoint} ${s.size} event${s.size > 1 ? 's' : ''}/request, ${connections} connections, ${o.durationSec} s`);
      const sampler = new ProcessSampler(pids);
      sampler.start();
      const r = await load(`${base}${s.endpoint}`, connections, o.durationSec, body);
      const processes = sampler.stop();
      answered += r['2xx'] * s.size;
      const run: CollectorRun = {
        endpoint: s.endpoint,
        eventsPerRequest: s.size,
        connections,
        durationSec: o.durationSec,
        requests: r['2xx'],
        requestsPerSec: Math.round(r['2xx'] / r.duration),
        eventsPerSec: Math.round((r['2xx'] * s.size) / r.duration),
        non2xx: r.non2xx,
        errors: r.errors + r.timeouts,
        bodyBytes,
        latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: Math.round(r.latency.mean * 100) / 100 },
        processes,
      };
      runs.push(run);
      o.log(
        `  ${run.eventsPerSec.toLocaleString('en-US')} events/s (${run.requestsPerSec.toLocaleString('en-US')} requests/s), latency p50 ${run.latencyMs.p50} ms p99 ${run.latencyMs.p99} ms` +
          `${run.non2xx + run.errors > 0 ? `, ${run.non2xx} non-200, ${run.errors} errors` : ''}`,
      );
    }

    const collectorAccepted = await acceptedByCollector(base);
    const offsetsAfter = await Promise.all(topics.map((t) => topicOffsets(config, t)));
    const inKafka = offsetsAfter.flat().reduce((sum, p) => sum + p.high, 0) - offsetsBefore.flat().reduce((sum, p) => sum + p.high, 0);
    return {
      scenario: 'collector',
      runs,
      batchEventsPerSec: Math.max(0, ...runs.filter((r) => r.endpoint === '/v1/batch').map((r) => r.eventsPerSec)),
      check: { answered, collectorAccepted, inKafka },
      settings: {
        'producer.batchSize': config.producer.batchSize,
        'producer.lingerMs': config.producer.lingerMs,
        'producer.compression': config.producer.compression,
        'producer.acks': config.producer.acks,
        'collector.dedupWindowMs': config.collector.dedupWindowMs,
        'collector.maxInFlightEvents': config.collector.maxInFlightEvents,
        warmupSec: WARMUP_SEC,
        seed: o.seed,
      },
      machine: machineInfo(),
      startedAt,
    };
  } finally {
    if (collector !== undefined && collector.exitCode === null) {
      collector.kill('SIGTERM');
      await new Promise((res) => collector!.once('exit', res));
    }
    await broker.stop();
  }
}
