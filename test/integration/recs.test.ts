import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { TOPICS } from '../../packages/kafka/src/index.js';
import { produceRecords, testConfig } from './helpers/index.js';
import { pulseEnv, resetTopics, spawnPulse, waitUntil, type PulseProcess } from './helpers/pipeline.js';

const view = (userId: string, productId: string, ts: number) =>
  JSON.stringify({ eventId: `e-${userId}-${productId}-${ts}`, type: 'product_view', userId, sessionId: `s-${userId}`, productId, source: 'web', ts, properties: {} });

describe('recommendations served from the Kafka stream', () => {
  const bootstrap = inject('kafkaBootstrap');
  const config = testConfig();
  const port = 18080 + Math.floor(Math.random() * 500);
  let serve: PulseProcess;

  beforeAll(async () => {
    await resetTopics(config);
    // Its own analytics store, never a developer's .pulse/pulse.duckdb (which `pulse up` may hold open).
    const store = join(mkdtempSync(join(tmpdir(), 'pulse-recs-test-')), 'store.duckdb');
    serve = spawnPulse(['serve', '--port', String(port)], pulseEnv(bootstrap, { PULSE_RECS_SNAPSHOT_INTERVAL_MS: '0', PULSE_SINK_DUCKDB_FILE: store }));
    await serve.waitFor(/API on/);
    await waitUntil('readiness', async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200 ? true : undefined));
  });

  afterAll(async () => {
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
  });

  const recommend = async (user: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/recommendations/${user}?k=5`);
    expect(res.status).toBe(200);
    return (await res.json()) as { items: { productId: string; because: string | null }[]; fallback: boolean };
  };

  it('learns from clicks and purchases produced to Kafka and answers a new click with what follows it', async () => {
    const t = Date.now() - 60_000;
    // Ten shoppers view a camera, then a tripod; three buy a lens after the camera.
    const records = [];
    for (let s = 0; s < 10; s++) {
      records.push({ partition: s % 12, key: `shopper-${s}`, value: view(`shopper-${s}`, 'camera', t + s * 10) });
      records.push({ partition: s % 12, key: `shopper-${s}`, value: view(`shopper-${s}`, 'tripod', t + s * 10 + 5) });
    }
    await produceRecords(config, TOPICS.userClicks, records);
    await produceRecords(
      config,
      TOPICS.userPurchases,
      [0, 1, 2].map((s) => ({
        partition: s,
        key: `buyer-${s}`,
        value: JSON.stringify({ eventId: `o-${s}`, type: 'purchase', userId: `buyer-${s}`, orderId: `o-${s}`, items: [{ productId: 'camera', quantity: 1, price: 500 }, { productId: 'lens', quantity: 1, price: 200 }], total: 700, currency: 'USD', ts: t + 500 + s }),
      })),
    );

    expect((await recommend('newcomer')).fallback).toBe(true);
    await produceRecords(config, TOPICS.userClicks, [{ partition: 5, key: 'newcomer', value: view('newcomer', 'camera', Date.now()) }]);
    const answer = await waitUntil('the click to be reflected', async () => {
      const r = await recommend('newcomer');
      return r.fallback ? undefined : r;
    }, 30_000, 5);
    const products = answer.items.map((i) => i.productId);
    expect(products.slice(0, 2).sort()).toEqual(['lens', 'tripod']);
    expect(answer.items[0]!.because).toBe('camera');

    const similar = (await (await fetch(`http://127.0.0.1:${port}/api/v1/products/camera/similar?k=3`)).json()) as { items: { productId: string }[] };
    expect(similar.items.map((i) => i.productId)).toContain('tripod');
  });

  it('writes model snapshots with their offsets, from which a restarted instance goes on without counting an event twice', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'pulse-recs-test-')), 'store.duckdb');
    const spawned: PulseProcess[] = [];
    const start = async (at: number, snapshotIntervalMs: number) => {
      const p = spawnPulse(['serve', '--port', String(at)], pulseEnv(bootstrap, { PULSE_RECS_SNAPSHOT_INTERVAL_MS: String(snapshotIntervalMs), PULSE_SINK_DUCKDB_FILE: store }));
      spawned.push(p);
      await p.waitFor(/API on/);
      await waitUntil('readiness', async () => ((await fetch(`http://127.0.0.1:${at}/readyz`)).status === 200 ? true : undefined));
      return p;
    };
    const stop = async (p: PulseProcess) => {
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    };
    const learnt = async (at: number) => Number(/^pulse_recs_events_total (\d+)$/m.exec(await (await fetch(`http://127.0.0.1:${at}/metrics`)).text())?.[1]);
    const answer = async (at: number) => (await fetch(`http://127.0.0.1:${at}/api/v1/recommendations/newcomer?k=5`)).json();
    try {
      const first = await start(port + 1, 200);
      // Ten shoppers' twenty views, three purchases of two products and the newcomer's view.
      const events = 27;
      await waitUntil('the stream to be learnt', async () => ((await learnt(port + 1)) === events ? true : undefined));
      // Several snapshot intervals with nothing new: the latest snapshot covers every event.
      await new Promise((r) => setTimeout(r, 1000));
      const before = await answer(port + 1);
      await stop(first);

      const second = await start(port + 2, 0);
      await second.waitFor(/from a model snapshot/);
      // Time to read anything it would wrongly read again.
      await new Promise((r) => setTimeout(r, 1000));
      expect(await learnt(port + 2)).toBe(events);
      expect(await answer(port + 2)).toEqual(before);
      await stop(second);
    } finally {
      for (const p of spawned) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  });

  it('serve at api.nice below 0 runs every thread at it, and, leading its session, gives the session the nice too', async () => {
    const store = join(mkdtempSync(join(tmpdir(), 'pulse-recs-test-')), 'store.duckdb');
    const env = pulseEnv(bootstrap, { PULSE_API_NICE: '-5', PULSE_RECS_SNAPSHOT_INTERVAL_MS: '0', PULSE_SINK_DUCKDB_FILE: store });
    const p = spawnPulse(['serve', '--port', String(port + 3)], env, { detached: true });
    try {
      await p.waitFor(/API on/);
      const pid = p.child.pid!;
      const nices = (of: number) =>
        readdirSync(`/proc/${of}/task`).map((tid) => {
          const stat = readFileSync(`/proc/${of}/task/${tid}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
        });
      const [analytics] = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').map(Number);
      // The analytics process keeps its own lower priority, in a session of its own that carries it too.
      expect(new Set(nices(analytics!))).toEqual(new Set([10]));
      const stat = readFileSync(`/proc/${analytics}/stat`, 'utf8');
      expect(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3])).toBe(analytics);
      const autogroups = readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
      if (autogroups) expect(readFileSync(`/proc/${analytics}/autogroup`, 'utf8')).toMatch(/ nice 10$/m);
      if (process.getuid?.() !== 0) {
        // Raising priority takes privileges: serve says so and runs at the default.
        expect(p.output()).toMatch(/api\.nice -5 not applied .*root or CAP_SYS_NICE; running at the default/);
        expect(new Set(nices(pid))).toEqual(new Set([0]));
        return;
      }
      expect(p.output()).toMatch(/serve: CPU priority nice -5\n/);
      expect(new Set(nices(pid))).toEqual(new Set([-5]));
      if (autogroups) expect(readFileSync(`/proc/${pid}/autogroup`, 'utf8')).toMatch(/ nice -5$/m);
      // An answer means serve's event loop runs, past where it starts to handle SIGTERM.
      expect((await fetch(`http://127.0.0.1:${port + 3}/healthz`)).status).toBe(200);
      p.child.kill('SIGTERM');
      expect(await p.exited).toBe(0);
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    }
  });
});
