import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, stopCluster } from '../../packages/kafka-local/src/index.js';
import { ensureTopics } from '../../packages/kafka/src/index.js';
import { testConfig } from './helpers/index.js';
import { pulseEnv, spawnPulse } from './helpers/pipeline.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** A broker of its own, beside the shared one, since this test stops it. */
const dataDir = resolve(repoRoot, '.pulse/test-kafka-broker-gone');
const port = Number(process.env.PULSE_TEST_KAFKA_PORT ?? 19092) + 200;

describe('a broker stopped for good', () => {
  afterAll(async () => {
    await stopCluster({ dataDir }).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('does not keep the sink from stopping: its consumer gives up closing after 10 s', async () => {
    const { bootstrap } = await startCluster({ dataDir, port, fresh: true });
    await ensureTopics(testConfig({ KAFKA_BOOTSTRAP_SERVERS: bootstrap }));
    const env = pulseEnv(bootstrap, { PULSE_SINK_DUCKDB_FILE: join(dataDir, 'store.duckdb') });
    // Traffic, so that the sink has outputs to fetch and offsets to commit when the broker goes.
    const others = [spawnPulse(['generate', '--rate', '1000', '--duration', '120', '--quiet'], env), spawnPulse(['aggregate', '--progress', '0'], env)];
    const sink = spawnPulse(['sink', '--progress', '0'], env);
    try {
      await sink.waitFor(/sink: reading/);
      await new Promise((r) => setTimeout(r, 15_000));
      await stopCluster({ dataDir });
      const stopped = Date.now();
      sink.child.kill('SIGTERM');
      // Before the bound, librdkafka's close of a consumer whose broker was gone never returned.
      const code = await Promise.race([sink.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), 30_000).unref())]);
      expect(code).toBe(0);
      console.log(`[broker-gone] the sink stopped ${((Date.now() - stopped) / 1000).toFixed(1)} s after SIGTERM`);
    } finally {
      // The generator and the aggregator wait for acknowledgements that will not come: not this test's subject.
      for (const p of [sink, ...others]) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  });
});
