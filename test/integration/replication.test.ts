import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChaos } from '../../bench/chaos/run.js';
import { loadConfig } from '../../packages/config/src/index.js';
import { describeTopic, describeTopicConfigs, TOPIC_SPECS } from '../../packages/kafka/src/index.js';
import { startCluster, stopCluster, type StartResult } from '../../packages/kafka-local/src/index.js';
import { TEST_PORT } from './global-setup.js';
import { FIXTURE_ENV } from './helpers/index.js';
import { pulseEnv, spawnPulse } from './helpers/pipeline.js';

/**
 * A 3-node cluster of this file's own, beside the single test broker (docs/kafka.md, "Durability" and
 * "Broker failures"), shared by its cases: topics created on it, then brokers killed under load.
 */
/**
 * Odd, so that the brokers' ports are odd: Linux gives connect() even local ports, and with the cluster
 * in the ephemeral port range (as test ports may be), a client retrying a killed broker could otherwise
 * be given the broker's own port and connect to itself, keeping the broker from binding it again.
 */
const PORT = TEST_PORT + 501;
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

describe('broker failures under load', () => {
  it('lose and duplicate nothing: two leaders SIGKILLed and restarted while the generator and the collector send, every count exact in the topics, the aggregator, the store and the recommender', async () => {
    const log = (line: string) => console.log(`[chaos] ${line}`);
    const result = await runChaos({
      config: loadConfig({ env: { ...FIXTURE_ENV, KAFKA_BOOTSTRAP_SERVERS: cluster.bootstrap! } }),
      clusterDataDir: DATA_DIR,
      heap: '384m',
      workDir: resolve(repoRoot, `.pulse/test-chaos-${PORT}`),
      rate: 1500,
      collectorRate: 200,
      durationSec: 40,
      kills: 2,
      firstKillSec: 8,
      killEverySec: 20,
      downSec: 6,
      seed: 'chaos-it',
      env: FIXTURE_ENV,
      log,
    });
    log(JSON.stringify({ events: result.events, collector: result.collector, stalls: result.stalls, aroundKills: result.aroundKills, availability: result.availability }));

    // Two different brokers, each the leader of busy partitions when killed, each restarted and back in sync.
    const kills = result.events.filter((e) => e.action === 'kill');
    expect(kills.map((e) => e.node)).toHaveLength(2);
    expect(kills[0]!.node).not.toBe(kills[1]!.node);
    expect(result.events.map((e) => e.action)).toEqual(['kill', 'restart', 'in-sync', 'kill', 'restart', 'in-sync']);
    // Both sources sent throughout, and the collector saw the failures (some requests refused or slow).
    expect(result.generator.sent).toBeGreaterThan(1500 * 40);
    expect(result.collector.eventsAcknowledged).toBeGreaterThan(200 * 30);

    // Every acknowledged event is on its topic exactly once, nothing else is.
    expect(result.generator).toMatchObject({ acknowledged: result.generator.sent, failed: 0, exitCode: 0 });
    expect(result.collector.abandoned).toBe(0);
    expect(result.collectorIds).toEqual({ acknowledged: result.collector.eventsAcknowledged, found: result.collector.eventsAcknowledged, missing: 0, doubled: 0, unacknowledgedFound: 0 });
    for (const [topic, t] of Object.entries(result.input.perTopic)) expect(t.found, topic).toBe(t.expected);
    // Every user's count in every window, in the aggregator's output and in the store.
    expect(result.aggregator.examples).toEqual([]);
    expect(result.aggregator.exact).toBe(result.aggregator.keys);
    expect(result.sink).toMatchObject({ rows: result.aggregator.keys, exact: result.aggregator.keys, missing: 0, wrong: 0, extra: 0 });
    expect(result.sink.orders.stored).toBe(result.sink.orders.expected);
    expect(result.sink.sensorReadings.stored).toBe(result.sink.sensorReadings.expected);
    // The recommender's model read every click and purchase once.
    expect(result.recommender.learned).toBe(result.recommender.expected);
    // No process crashed, and each stopped cleanly when asked.
    expect(result.exits).toEqual({});
    expect(result.lost).toBe(0);
    expect(result.duplicated).toBe(0);
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
  }, 420_000);
});
