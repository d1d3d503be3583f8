import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { startCluster, stopCluster } from '../../packages/kafka-local/src/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Bootstrap servers of the Kafka the integration tests use. */
    kafkaBootstrap: string;
    /** Data dir of the local test cluster (for killNode/clusterStatus), or null for an external cluster. */
    kafkaDataDir: string | null;
  }
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The test cluster's own port and data dir, so that it never touches a dev broker on 9092, and two runs
 * on different ports (PULSE_TEST_KAFKA_PORT) never share storage.
 */
export const TEST_PORT = Number(process.env.PULSE_TEST_KAFKA_PORT ?? 19092);
export const TEST_DATA_DIR = resolve(repoRoot, `.pulse/test-kafka-${TEST_PORT}`);

/**
 * Starts a fresh single-node Kafka for the integration tests, unless KAFKA_BOOTSTRAP_SERVERS names a
 * cluster to use instead, and stops it after the run. "Fresh" also stops a test cluster that a killed
 * earlier run left behind.
 */
export default async function setup({ provide }: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.KAFKA_BOOTSTRAP_SERVERS;
  if (external !== undefined && external.length > 0) {
    console.log(`[kafka] using the cluster at ${external} (KAFKA_BOOTSTRAP_SERVERS)`);
    provide('kafkaBootstrap', external);
    provide('kafkaDataDir', null);
    return undefined;
  }
  if (!Number.isInteger(TEST_PORT) || TEST_PORT < 1024) throw new Error(`PULSE_TEST_KAFKA_PORT must be a port number, got ${process.env.PULSE_TEST_KAFKA_PORT}`);
  const log = (line: string) => console.log(`[kafka] ${line}`);
  const cluster = await startCluster({ dataDir: TEST_DATA_DIR, nodes: 1, port: TEST_PORT, fresh: true, log });
  provide('kafkaBootstrap', cluster.bootstrap!);
  provide('kafkaDataDir', TEST_DATA_DIR);
  return async () => {
    await stopCluster({ dataDir: TEST_DATA_DIR, log });
  };
}
