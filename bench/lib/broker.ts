import { totalmem } from 'node:os';
import type { PulseConfig } from '@pulse/config';
import { BatchConsumer, type KafkaSettings } from '@pulse/engine';
import { consumerConfig, ensureTopics } from '@pulse/kafka';
import { startCluster, stopCluster } from '@pulse/kafka-local';
import { runGenerator } from '@pulse/loadgen';
import { writebackSettings } from './machine.js';

export interface BenchBroker {
  bootstrap: string;
  /** Pid of the local broker, for CPU sampling; null for an external cluster. */
  pid: number | null;
  /** Stops the broker this benchmark started (nothing for an external cluster). */
  stop(): Promise<void>;
}

/**
 * The Kafka a benchmark measures against: the given cluster, or a fresh single local broker on its own
 * data dir and port, so that every run starts from empty topics.
 */
export async function benchBroker(o: { bootstrapServers?: string; dataDir: string; port: number; log: (line: string) => void }): Promise<BenchBroker> {
  if (o.bootstrapServers !== undefined) return { bootstrap: o.bootstrapServers, pid: null, stop: async () => {} };
  const log = (l: string) => o.log(`kafka: ${l}`);
  warnOfBurstyWriteback(o.log);
  o.log(`starting a fresh Kafka broker for the benchmark on port ${o.port} (${o.dataDir})`);
  const cluster = await startCluster({ dataDir: o.dataDir, nodes: 1, port: o.port, fresh: true, log });
  return {
    bootstrap: cluster.bootstrap!,
    pid: cluster.nodes[0]?.pid ?? null,
    stop: () => stopCluster({ dataDir: o.dataDir, log }).then(() => {}, () => {}),
  };
}

/** Above this much unwritten data the kernel's writeback comes in bursts the broker stalls behind. */
const BURSTY_WRITEBACK_BYTES = 256 * 2 ** 20;

/**
 * Says so when the kernel lets the broker's writes pile up before writing them out: with Linux's
 * defaults the broker stalls for seconds every 30 s at 100 000 events/s (docs/performance.md, "The disk").
 */
function warnOfBurstyWriteback(log: (line: string) => void): void {
  const w = writebackSettings();
  if (w === null) return;
  const threshold = w.dirtyBackgroundBytes > 0 ? w.dirtyBackgroundBytes : (w.dirtyBackgroundRatio / 100) * totalmem();
  if (threshold <= BURSTY_WRITEBACK_BYTES) return;
  log(
    `warning: the kernel starts writing the broker's data to disk only at ${Math.round(threshold / 2 ** 20)} MiB unwritten (or after ${w.dirtyExpireCentisecs / 100} s); ` +
      'at high rates that comes as bursts the broker stalls behind. For steady writeback: sysctl -w vm.dirty_background_bytes=16777216 vm.dirty_writeback_centisecs=100',
  );
}

/** Where the broker warm-up writes and reads: as many partitions as user-clicks. */
const WARMUP_TOPIC = 'pulse-bench-warmup';

/**
 * Runs the load generator's traffic at `rate` through the broker for `seconds`, produced to a scratch
 * topic and read back, so that the JVM has compiled its produce and fetch paths before anything is
 * measured. A cold broker spends its first ~10 s at 100 000 events/s compiling and meanwhile acknowledges
 * too slowly for the producer's queue; the seconds of backlog that leaves would otherwise be measured as
 * pipeline latency long after any warm-up. A production broker is warm.
 */
export async function warmBroker(config: PulseConfig, rate: number, seconds: number, log: (line: string) => void): Promise<void> {
  await ensureTopics(config, [{ name: WARMUP_TOPIC, partitions: 12, config: { 'retention.ms': '600000' }, doc: 'broker warm-up' }]);
  const consumer = new BatchConsumer(consumerConfig(config, 'bench-warmup', `pulse-bench-warmup-${Date.now()}`) as KafkaSettings);
  consumer.assign(Array.from({ length: 12 }, (_, partition) => ({ topic: WARMUP_TOPIC, partition, offset: 0 })));
  let reading = true;
  let read = 0;
  const readLoop = (async () => {
    while (reading) read += (await consumer.poll(5000, 50)).ends.length;
  })();
  log(`warming the broker up: ${rate.toLocaleString('en-US')} events/s through ${WARMUP_TOPIC} for ${seconds} s`);
  try {
    const topics = { clicks: WARMUP_TOPIC, purchases: WARMUP_TOPIC, sensors: WARMUP_TOPIC };
    const stats = await runGenerator({ config, rate, durationSec: seconds, seed: 'warmup', topics });
    log(`broker warm: ${stats.events.toLocaleString('en-US')} events written (max ${Math.round(stats.maxBehindMs).toLocaleString('en-US')} ms behind), ${read.toLocaleString('en-US')} read back`);
  } finally {
    reading = false;
    await readLoop;
    await consumer.close().catch(() => {});
  }
}
