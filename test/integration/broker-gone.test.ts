import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startCluster, stopCluster } from '../../packages/kafka-local/src/index.js';
import { ensureTopics } from '../../packages/kafka/src/index.js';
import { testConfig } from './helpers/index.js';
import { pulseEnv, spawnPulse, type PulseProcess } from './helpers/pipeline.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** A broker of its own, beside the shared one, since this test stops it. */
const dataDir = resolve(repoRoot, '.pulse/test-kafka-broker-gone');
const port = Number(process.env.PULSE_TEST_KAFKA_PORT ?? 19092) + 200;

describe('a broker stopped for good', () => {
  afterAll(async () => {
    await stopCluster({ dataDir }).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('does not keep the sink, the aggregator or the generator from stopping', async () => {
    const { bootstrap } = await startCluster({ dataDir, port, fresh: true });
    await ensureTopics(testConfig({ KAFKA_BOOTSTRAP_SERVERS: bootstrap }));
    const env = pulseEnv(bootstrap, { PULSE_SINK_DUCKDB_FILE: join(dataDir, 'store.duckdb'), PULSE_AGGREGATOR_STOP_TIMEOUT_MS: '5000' });
    // Traffic, so that each has records in flight, state to checkpoint and offsets to commit when the broker goes.
    const generator = spawnPulse(['generate', '--rate', '1000', '--duration', '120', '--quiet'], env);
    const aggregator = spawnPulse(['aggregate', '--progress', '0'], env);
    const sink = spawnPulse(['sink', '--progress', '0'], env);
    const all = [sink, aggregator, generator];
    const exitWithin = async (p: PulseProcess, ms: number) => {
      const code = await Promise.race([p.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), ms).unref())]);
      return { code, seconds: Math.round((Date.now() - stopped) / 100) / 10 };
    };
    let stopped = 0;
    try {
      await Promise.all([sink.waitFor(/sink: reading/), aggregator.waitFor(/aggregate: consuming/)]);
      await new Promise((r) => setTimeout(r, 15_000));
      await stopCluster({ dataDir });
      stopped = Date.now();
      for (const p of all) p.child.kill('SIGTERM');
      const [s, a, g] = await Promise.all([exitWithin(sink, 30_000), exitWithin(aggregator, 30_000), exitWithin(generator, 50_000)]);
      console.log(`[broker-gone] after SIGTERM: the sink stopped in ${s.seconds} s, the aggregator in ${a.seconds} s, the generator in ${g.seconds} s`);
      // Before the bound, librdkafka's close of a consumer whose broker was gone never returned.
      expect(s.code).toBe(0);
      // Its final checkpoint cannot be acknowledged: it gives up after aggregator.stopTimeoutMs and says so.
      expect(a.code).toBe(1);
      expect(aggregator.output()).toMatch(/final checkpoint did not finish within 5 s/);
      // It waits 30 s for the acknowledgements of what it sent, then counts what it could not deliver.
      expect(g.code).toBe(1);
      expect(generator.output()).toMatch(/not acknowledged; first error: flush/);
    } finally {
      for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  });
});
