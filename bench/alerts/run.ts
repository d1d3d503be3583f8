import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PulseConfig } from '@pulse/config';
import { ensureTopics, GroupOffsetsReader, highWatermarks, producerConfig, TOPIC_SPECS, TOPICS, TrackedProducer } from '@pulse/kafka';
import { benchBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { spawnPulse } from '../lib/pulse-cli.js';

export interface AlertsBenchOptions {
  config: PulseConfig;
  /** Events/s of the shop's traffic through the pipeline meanwhile. */
  rate: number;
  durationSec: number;
  warmupSec: number;
  /** UserActivitySpike's threshold: each probe user sends this many events at once. */
  threshold: number;
  bootstrapServers?: string;
  dataDir: string;
  port: number;
  log: (line: string) => void;
}

export interface AlertsBenchResult {
  scenario: 'alerts';
  rate: number;
  durationSec: number;
  threshold: number;
  probes: number;
  delivered: number;
  /**
   * Alerts of the shop's own users: the threshold must be above what they reach, or the run measures
   * a flood of notifications instead of one alert's path.
   */
  otherAlerts: number;
  /** From the crossing event's intended send time to the webhook request's arrival, ms. */
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /**
   * Where a backlog was at the end: user-clicks events not yet counted by the aggregator, and records
   * of user-activity-counts, pulse-sensor-stats, pulse-revenue and dead-letters not yet evaluated.
   */
  behindAtEnd: { aggregator: number; alerts: number };
  machine: MachineInfo;
  /** 1, 5 and 15-minute load averages at the end: the machine is shared. */
  loadAverage: number[];
  startedAt: string;
}

const PROBE_INTERVAL_MS = 1000;

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${timeoutMs / 1000} s:\n${text}`)), timeoutMs);
    const onData = (d: Buffer) => {
      text += d.toString();
      const m = pattern.exec(text);
      if (m !== null) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.stderr!.resume();
        resolve(m);
      }
    };
    child.stderr!.on('data', onData);
  });
}

/** Records on a topic: the sum of its partitions' end offsets. */
async function topicEnd(config: PulseConfig, topic: string): Promise<number> {
  return (await highWatermarks(config, topic)).reduce((a, b) => a + b, 0);
}

const quantile = (sorted: readonly number[], q: number): number => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!);

/**
 * Event → webhook latency of a rule without `for` (docs/alerting.md): a fresh broker, the aggregator,
 * `pulse alerts` with a webhook to a receiver in this process, and the shop's traffic at `rate`. After
 * the warm-up, every second a new probe user sends `threshold` page views at once; the last one crosses
 * UserActivitySpike's threshold. Its latency runs from its intended send time to the arrival of the
 * webhook request naming that user (grouped per user, so that group_interval does not hold it back).
 */
export async function runAlertsBench(o: AlertsBenchOptions): Promise<AlertsBenchResult> {
  const startedAt = new Date().toISOString();
  const broker = await benchBroker({ ...(o.bootstrapServers === undefined ? {} : { bootstrapServers: o.bootstrapServers }), dataDir: o.dataDir, port: o.port, log: o.log });
  const config: PulseConfig = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap } };
  const children: ChildProcess[] = [];
  const arrived = new Map<string, number>();
  const others = new Set<string>();
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { alerts: { status: string; labels: Record<string, string> }[] };
      for (const a of body.alerts) {
        const user = a.labels.userId;
        if (a.status !== 'firing' || user === undefined) continue;
        if (!user.startsWith('probe-')) others.add(user);
        else if (!arrived.has(user)) arrived.set(user, at);
      }
      res.writeHead(200).end();
    });
  });
  try {
    await ensureTopics(config);
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const env = {
      ...process.env,
      KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap,
      PULSE_ALERT_WEBHOOKS: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
      PULSE_ALERTS_USER_ACTIVITY_THRESHOLD: String(o.threshold),
      PULSE_ALERTS_GROUP_BY: 'alertname,userId',
      PULSE_ALERTS_PORT: '0',
    };
    const aggregator = spawnPulse(['aggregate', '--progress', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const alerts = spawnPulse(['alerts'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(aggregator, alerts);
    const [, listening] = await Promise.all([waitForLine(aggregator, /consuming user-clicks/, 60_000), waitForLine(alerts, /listening on (http:\/\/[^\s"]+)/, 60_000)]);
    const alertsUrl = listening[1]!;
    const alertsInputs = [TOPICS.userActivityCounts, TOPICS.sensorStats, TOPICS.revenue, TOPICS.deadLetters];
    const inputsAtStart = (await Promise.all(alertsInputs.map((t) => topicEnd(config, t)))).reduce((a, b) => a + b, 0);
    const total = o.warmupSec + o.durationSec;
    const generator = spawnPulse(['generate', '--rate', String(o.rate), '--duration', String(total + 5), '--quiet'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(generator);
    o.log(`pipeline at ${o.rate} events/s; probes every ${PROBE_INTERVAL_MS} ms after ${o.warmupSec} s`);
    await sleep(o.warmupSec * 1000);

    const producer = await TrackedProducer.connect(producerConfig(config, 'bench-alerts-probe'));
    const sent = new Map<string, number>();
    try {
      const end = Date.now() + o.durationSec * 1000;
      for (let i = 0; Date.now() < end; i++) {
        const userId = `probe-${i}`;
        const at = Date.now();
        for (let j = 0; j < o.threshold; j++) {
          const event = { eventId: `${userId}-${j}`, type: 'page_view', userId, sessionId: `${userId}-s`, source: 'web', ts: at, properties: {} };
          while (!producer.produce(TOPICS.userClicks, null, Buffer.from(JSON.stringify(event)), userId)) await producer.drained();
        }
        sent.set(userId, at);
        await sleep(Math.max(0, at + PROBE_INTERVAL_MS - Date.now()));
      }
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && [...sent.keys()].some((u) => !arrived.has(u))) await sleep(100);
    } finally {
      await producer.close();
    }
    // The backlog of each stage now: evaluated records against what the inputs hold (since alerts started
    // at their ends), counted events against what user-clicks holds.
    const metrics = await fetch(`${alertsUrl}/metrics`).then((r) => r.text());
    const evaluated = Number(/^pulse_alerts_records_total (\d+)/m.exec(metrics)?.[1] ?? NaN);
    const inputsNow = (await Promise.all(alertsInputs.map((t) => topicEnd(config, t)))).reduce((a, b) => a + b, 0);
    const counted = await committedClicks(config);
    const behindAtEnd = { aggregator: (await topicEnd(config, TOPICS.userClicks)) - counted, alerts: inputsNow - inputsAtStart - evaluated };
    const latencies = [...sent].flatMap(([u, at]) => (arrived.has(u) ? [arrived.get(u)! - at] : [])).sort((a, b) => a - b);
    return {
      scenario: 'alerts',
      rate: o.rate,
      durationSec: o.durationSec,
      threshold: o.threshold,
      probes: sent.size,
      delivered: latencies.length,
      otherAlerts: others.size,
      behindAtEnd,
      latencyMs: { p50: quantile(latencies, 0.5), p95: quantile(latencies, 0.95), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1] ?? NaN },
      machine: machineInfo(),
      loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
      startedAt,
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
    receiver.close();
    await broker.stop();
  }
}

/** Offsets of user-clicks the aggregators' group has committed, summed. */
async function committedClicks(config: PulseConfig): Promise<number> {
  const reader = new GroupOffsetsReader(config, 'bench-alerts');
  try {
    const partitions = Array.from({ length: TOPIC_SPECS.find((t) => t.name === TOPICS.userClicks)!.partitions }, (_, partition) => ({ topic: TOPICS.userClicks, partition }));
    return (await reader.committed(config.aggregator.groupId, partitions, 10_000)).reduce((n, p) => n + p.offset, 0);
  } finally {
    await reader.close();
  }
}
