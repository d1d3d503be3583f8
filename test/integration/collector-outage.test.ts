import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCollector, type RunningCollector, type TopicNames } from '../../packages/collector/src/index.js';
import { loadConfig, type PulseConfig } from '../../packages/config/src/index.js';
import { ensureTopics } from '../../packages/kafka/src/index.js';
import { killNode, startCluster, startNode, stopCluster } from '../../packages/kafka-local/src/index.js';
import { readJson } from './helpers/index.js';

// A broker of its own, which this test stops and starts again; the shared test broker stays up.
const DATA_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../.pulse/test-collector-outage');
const PORT = Number(process.env.PULSE_TEST_KAFKA_PORT ?? 19092) + 300;
const KEY = 'outage-key';
const AUTH = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;
const topics: TopicNames = { clicks: 'outage-clicks', purchases: 'outage-purchases', sensors: 'outage-sensors', identities: 'outage-identities' };

let config: PulseConfig;
let collector: RunningCollector | undefined;

beforeAll(async () => {
  const cluster = await startCluster({ dataDir: DATA_DIR, nodes: 1, port: PORT, fresh: true });
  config = loadConfig({ env: { KAFKA_BOOTSTRAP_SERVERS: cluster.bootstrap!, PULSE_WRITE_KEYS: KEY, PULSE_COLLECTOR_ACK_TIMEOUT_MS: '2000' } });
  await ensureTopics(
    config,
    Object.values(topics).map((name) => ({ name, partitions: 3, config: {}, doc: 'collector outage test topic' })),
  );
  collector = await startCollector(config, { port: 0, topics });
});

afterAll(async () => {
  await collector?.close();
  await stopCluster({ dataDir: DATA_DIR });
});

/** One /v1/batch request of `n` events whose messageIds start with `prefix`. */
function request(prefix: string, n: number): { ids: string[]; send: () => Promise<Response> } {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  const body = JSON.stringify({ batch: ids.map((messageId, i) => ({ type: 'track', event: 'Product Viewed', userId: `u-${i % 7}`, messageId, properties: { product_id: 'p-1' } })) });
  return { ids, send: () => fetch(`${collector!.url}/v1/batch`, { method: 'POST', headers: { authorization: AUTH, 'content-type': 'application/json' }, body }) };
}

describe('collector while the broker is down', () => {
  it('answers 503, never 200, and loses nothing once the broker is back and clients retry', async () => {
    const delivered: string[] = [];
    for (let r = 0; r < 3; r++) {
      const req = request(`before-${r}`, 20);
      expect((await req.send()).status).toBe(200);
      delivered.push(...req.ids);
    }

    await killNode(DATA_DIR, 1, 'SIGTERM');
    const refused: ReturnType<typeof request>[] = [];
    for (let r = 0; r < 5; r++) {
      const req = request(`during-${r}`, 20);
      const res = await req.send();
      expect(res.status, `request ${r} while the broker is down`).toBe(503);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { code: string }).code).toBe('unavailable');
      refused.push(req);
    }
    const health = (await (await fetch(`${collector!.url}/healthz`)).json()) as { kafka: string };
    expect(health.kafka).toBe('down');

    await startNode(DATA_DIR, 1);
    // What a Segment library does with a 503: retry the same batch until it is taken.
    const deadline = Date.now() + 60_000;
    for (const req of refused) {
      for (;;) {
        const status = (await req.send()).status;
        if (status === 200) break;
        expect(status).toBe(503);
        expect(Date.now(), 'retries kept failing after the broker came back').toBeLessThan(deadline);
        await new Promise((r) => setTimeout(r, 500));
      }
      delivered.push(...req.ids);
    }
    const after = request('after', 20);
    expect((await after.send()).status).toBe(200);
    delivered.push(...after.ids);

    const written = (await readJson<{ eventId: string }>(config, topics.clicks)).map((r) => r.json!.eventId);
    expect(written.filter((id) => !delivered.includes(id))).toEqual([]);
    expect(delivered.filter((id) => !written.includes(id))).toEqual([]);
    // Events queued before the collector noticed the outage reach Kafka once: the retries are deduplicated.
    expect(written.length).toBe(new Set(written).size);
  });
});
