import { startCluster, stopCluster } from '@pulse/kafka-local';

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
  o.log(`starting a fresh Kafka broker for the benchmark on port ${o.port} (${o.dataDir})`);
  const cluster = await startCluster({ dataDir: o.dataDir, nodes: 1, port: o.port, fresh: true, log });
  return {
    bootstrap: cluster.bootstrap!,
    pid: cluster.nodes[0]?.pid ?? null,
    stop: () => stopCluster({ dataDir: o.dataDir, log }).then(() => {}, () => {}),
  };
}
