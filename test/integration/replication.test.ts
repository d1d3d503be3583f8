import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/config/src/index.js';
import { describeTopic, describeTopicConfigs, TOPIC_SPECS } from '../../packages/kafka/src/index.js';
import { startCluster, stopCluster, type StartResult } from '../../packages/kafka-local/src/index.js';
import { TEST_PORT } from './global-setup.js';
import { pulseEnv, spawnPulse } from './helpers/pipeline.js';

/** A 3-node cluster of this file's own, beside the single test broker (docs/kafka.md, "Durability"). */
const PORT = TEST_PORT + 200;
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DATA_DIR = resolve(repoRoot, `.pulse/test-kafka-3nodes-${PORT}`);

let cluster: StartResult;

beforeAll(async () => {
  cluster = await startCluster({ dataDir: DATA_DIR, nodes: 3, port: PORT, fresh: true, heap: '384m', log: (line) => console.log(`[3 nodes] ${line}`) });
}, 240_000);

afterAll(async () => {
  await stopCluster({ dataDir: DATA_DIR });
});

describe('topics on a 3-node cluster', () => {
  it('get replication factor 3 and min.insync.replicas 2 without any replication setting', async () => {
    const topics = spawnPulse(['topics', 'create'], pulseEnv(cluster.bootstrap!));
    expect(await topics.exited, topics.output()).toBe(0);
    expect(topics.output()).toMatch(new RegExp(`${TOPIC_SPECS.length} created`));

    const config = loadConfig({ env: { KAFKA_BOOTSTRAP_SERVERS: cluster.bootstrap! } });
    const names = TOPIC_SPECS.map((s) => s.name);
    const configs = await describeTopicConfigs(cluster.bootstrap!, names, { keys: ['min.insync.replicas'] });
    for (const name of names) {
      const partitions = await describeTopic(config, name);
      expect(partitions.every((p) => p.replicas.length === 3 && p.isr.length === 3), name).toBe(true);
      expect(configs.get(name)?.['min.insync.replicas'], name).toBe('2');
    }

    // Run again, the existing topics pass the same check.
    const again = spawnPulse(['topics', 'create'], pulseEnv(cluster.bootstrap!));
    expect(await again.exited, again.output()).toBe(0);
    expect(again.output()).toMatch(new RegExp(`0 created, ${TOPIC_SPECS.length} already present`));
  });
});
