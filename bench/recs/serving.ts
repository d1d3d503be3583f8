import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import type { PulseConfig } from '@pulse/config';
import { createLatencyHistogram, percentiles, type Percentiles } from '@pulse/engine';
import { TrackedProducer, connectionConfig, ensureTopics, TOPICS, PARTITIONER } from '@pulse/kafka';
import { benchBroker, warmBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { pacedGetLoad } from '../lib/http-load.js';
import { tunedProducerEnv } from '../tune/run.js';
import { childPids, ProcessSampler, statFields, type ProcessUsage } from '../lib/process-stats.js';
import { spawnPulse } from '../lib/pulse-cli.js';

export interface RecsServingOptions {
  config: PulseConfig;
  /** Events/s the load generator writes meanwhile. */
  eventRate: number;
  /** Requests/s asked of the API. */
  requestRate: number;
  durationSec: number;
  warmupSec: number;
  /** Seconds of the generator's traffic through a scratch topic of the fresh broker before anything starts (see `warmBroker`). */
  brokerWarmupSec: number;
  /** Also run `pulse aggregate` on the same traffic, so that the API is measured beside the whole pipeline. */
  aggregator: boolean;
  /**
   * `api.nice` of `pulse serve`; other than 0, serve runs in a session of its own, so that with
   * autogroups its priority counts against the broker and the pipeline (as for a service of its own).
   */
  apiNice: number;
  /** The generator's producer settings: what `pulse tune` chooses for the event rate, or the configuration's (as in e2e). */
  producer: 'tuned' | 'config';
  dataDir: string;
  port: number;
  httpPort: number;
  log: (line: string) => void;
}

export interface RecsServingResult {
  scenario: 'recs';
  eventRate: number;
  requestRate: number;
  achievedRequestRate: number;
  requests: number;
  errors: number;
  /** From each request's intended send time to its response, ms (paced load, no coordinated omission). */
  requestLatencyMs: Percentiles;
  /** The request latency per second of the measured load. */
  requestSeries: { t: number; requests: number; p99: number; max: number }[];
  /** Event produced → a new user's first personalised answer, ms. */
  freshnessMs: Percentiles;
  /** Each probe's freshness, by when (s since the measured load began) it was produced. */
  freshnessSeries: { t: number; ms: number }[];
  probes: number;
  durationSec: number;
  brokerWarmupSec: number;
  aggregator: boolean;
  apiNice: number;
  /** The PULSE_PRODUCER_* settings the processes ran with over the configuration (the tuner's, or none). */
  producerSettings: Record<string, string>;
  processes: Record<string, ProcessUsage>;
  machine: MachineInfo;
  startedAt: string;
}

function spawnCli(args: string[], env: Record<string, string>, detached = false): ChildProcess {
  return spawnPulse(args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], detached });
}

function waitFor(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs / 1000} s:\n${text}`)), timeoutMs);
    child.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`exited (${code}):\n${text}`)));
  });
}

/**
 * The recommendation API under load: a fresh broker (warmed up first), the generator writing shop
 * traffic with the tuned or configured producer, `pulse serve` folding it into the model (and with
 * `aggregator`, `pulse aggregate` beside it), and a paced HTTP load asking for random users'
 * recommendations at a fixed rate, each request timed from its intended send time.
 * Meanwhile probes measure freshness: a new user views a product, and the time from producing that
 * event to the API's first personalised (non-fallback) answer for the user is recorded (polled every
 * 5 ms, so it errs high by up to that).
 */
export async function runRecsServingBench(o: RecsServingOptions): Promise<RecsServingResult> {
  const startedAt = new Date().toISOString();
  const broker = await benchBroker(o);
  const bootstrap = broker.bootstrap;
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: bootstrap } };
  const children: ChildProcess[] = [];
  try {
    await ensureTopics(config);
    // Only a broker this run started is cold; an external cluster is taken as it is.
    const brokerWarmupSec = broker.pid === null ? 0 : o.brokerWarmupSec;
    if (brokerWarmupSec > 0) await warmBroker(config, o.eventRate, brokerWarmupSec, o.log);
    const producerSettings = o.producer === 'tuned' ? await tunedProducerEnv(config, o.eventRate, o.log) : {};
    const env = { ...producerSettings, KAFKA_BOOTSTRAP_SERVERS: bootstrap };
    const total = o.warmupSec + o.durationSec + 10;
    const generator = spawnCli(['generate', '--rate', String(o.eventRate), '--duration', String(total), '--seed', 'bench', '--quiet'], env);
    children.push(generator);
    // The analytics store `pulse serve` opens (idle here: no aggregator writes outputs) is the benchmark's own.
    const store = join(o.dataDir, 'serve-store.duckdb');
    for (const f of [store, `${store}.wal`]) rmSync(f, { force: true });
    const serveEnv = { ...env, PULSE_RECS_SNAPSHOT_INTERVAL_MS: '0', PULSE_SINK_DUCKDB_FILE: store, PULSE_API_NICE: String(o.apiNice) };
    const serve = spawnCli(['serve', '--port', String(o.httpPort)], serveEnv, o.apiNice !== 0);
    children.push(serve);
    const aggregator = o.aggregator ? spawnCli(['aggregate', '--progress', '0'], { ...env, PULSE_AGGREGATOR_GROUP_ID: `pulse-bench-recs-${Date.now()}` }) : null;
    if (aggregator !== null) children.push(aggregator);
    await waitFor(serve, /API on/, 60_000);
    if (o.apiNice !== 0 && Number(statFields(serve.pid!)[16]) !== o.apiNice) throw new Error(`pulse serve did not get api.nice ${o.apiNice}: raising CPU priority takes root or CAP_SYS_NICE`);
    const base = `http://127.0.0.1:${o.httpPort}`;
    o.log(`serve ready on ${base}; warming up ${o.warmupSec} s with ${o.eventRate.toLocaleString('en-US')} events/s`);
    await new Promise((r) => setTimeout(r, o.warmupSec * 1000));

    // `pulse serve` runs the store and the sink in a child process of its own.
    const [serveAnalytics] = childPids(serve.pid!);
    const sampler = new ProcessSampler({
      serve: serve.pid!,
      ...(serveAnalytics !== undefined ? { 'serve analytics': serveAnalytics } : {}),
      generator: generator.pid!,
      ...(aggregator !== null ? { aggregator: aggregator.pid! } : {}),
      bench: process.pid,
      ...(broker.pid !== null ? { broker: broker.pid } : {}),
    });
    sampler.start();
    const probeProducer = await TrackedProducer.connect({ ...connectionConfig(config), 'linger.ms': 0, 'acks': 1, 'partitioner': PARTITIONER } as never);
    // The HTTP load stands for clients on other machines: at the API's priority (this thread, the one
    // that sends and times the requests), its own waits for a core do not count as the API's latency.
    if (o.apiNice !== 0) setPriority(o.apiNice);
    const probeAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const getJson = (path: string) =>
      new Promise<{ fallback: boolean }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: o.httpPort, path, agent: probeAgent }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve(JSON.parse(body) as { fallback: boolean }));
          })
          .on('error', reject);
      });
    const freshness = createLatencyHistogram();
    const freshnessSeries: RecsServingResult['freshnessSeries'] = [];
    let measuredFrom = Infinity;
    let probing = true;
    let probes = 0;
    const probeLoop = (async () => {
      while (probing) {
        const user = `probe-${probes++}`;
        const sent = Date.now();
        const value = JSON.stringify({ eventId: `probe-${sent}-${probes}`, type: 'product_view', userId: user, sessionId: `s-${user}`, productId: 'p-1', source: 'web', ts: sent, properties: {} });
        probeProducer.produce(TOPICS.userClicks, null, Buffer.from(value), user);
        while (Date.now() - sent < 10_000 && (await getJson(`/api/v1/recommendations/${user}?k=5`)).fallback) await new Promise((res) => setTimeout(res, 5));
        // Probes produced before the measured load began are warm-up.
        const ms = Date.now() - sent;
        if (sent >= measuredFrom) {
          freshness.recordValue(ms);
          freshnessSeries.push({ t: Math.round((sent - measuredFrom) / 100) / 10, ms });
        }
        await new Promise((res) => setTimeout(res, 250));
      }
    })();

    // Two seconds of the same load first, so that connections are open and code is warm.
    const path = () => `/api/v1/recommendations/u-${1 + Math.floor(Math.random() * 100_000)}?k=10`;
    await pacedGetLoad({ host: '127.0.0.1', port: o.httpPort, rate: o.requestRate, durationSec: 2, path });
    measuredFrom = Date.now();
    const result = await pacedGetLoad({
      host: '127.0.0.1',
      port: o.httpPort,
      rate: o.requestRate,
      durationSec: o.durationSec,
      path,
    });
    probing = false;
    await probeLoop;
    await probeProducer.close();
    probeAgent.destroy();
    const processes = sampler.stop();
    return {
      scenario: 'recs',
      eventRate: o.eventRate,
      requestRate: o.requestRate,
      achievedRequestRate: result.achievedRate,
      requests: result.requests,
      errors: result.errors,
      requestLatencyMs: result.latencyMs,
      requestSeries: result.series,
      freshnessMs: percentiles(freshness),
      freshnessSeries,
      probes: freshnessSeries.length,
      durationSec: o.durationSec,
      brokerWarmupSec,
      aggregator: o.aggregator,
      apiNice: o.apiNice,
      producerSettings,
      processes,
      machine: machineInfo(),
      startedAt,
    };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await broker.stop();
  }
}
