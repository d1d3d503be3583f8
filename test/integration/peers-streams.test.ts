import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildStreamsApp, startStreamsApp, type StreamsRun } from '../../bench/peers/streams-app.js';
import { WINDOW_MS } from '../../bench/peers/counts.js';
import { createTopic, produceRecords, readJson, testBootstrap, testConfig, uniqueTopic } from './helpers/index.js';

// The Kafka Streams peer of `pulse bench peers` (docs/peers.md), on a handful of events: it builds from
// its pinned jars, runs exactly-once against the test broker, and writes Pulse's record shape.
describe('the Kafka Streams peer', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'pulse-peer-streams-'));
  let run: StreamsRun | null = null;
  afterAll(async () => {
    if (run !== null && run.child.exitCode === null) {
      const exited = new Promise((r) => run!.child.once('exit', r));
      run.child.kill('SIGTERM');
      await exited;
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('counts user-clicks per user in 5-minute windows and writes the counts as Pulse does', async () => {
    const config = testConfig();
    const input = uniqueTopic('peer-clicks');
    const output = uniqueTopic('peer-counts');
    await createTopic(config, input, 3);
    await createTopic(config, output, 3);
    const w = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS - WINDOW_MS;
    const click = (userId: string, ts: number) => ({ key: userId, value: { eventId: `e-${userId}-${ts}`, type: 'page_view', userId, ts, properties: {} } });
    await produceRecords(config, input, [
      click('u-a', w + 1_000),
      click('u-b', w + 2_000),
      // No usable event time: dropped by the extractor, not counted.
      { key: 'u-a', value: { eventId: 'e-no-ts', type: 'page_view', userId: 'u-a', ts: 'soon' } },
      click('u-a', w + 3_000),
      click('u-a', w + WINDOW_MS + 1_000),
      click('u-a', w + 4_000),
    ]);

    const app = await buildStreamsApp(() => {});
    run = startStreamsApp(app, {
      'bootstrap-servers': testBootstrap(),
      'application-id': uniqueTopic('peer-app'),
      input,
      output,
      'state-dir': stateDir,
    });
    await run.running;

    type Count = { userId: string; windowStart: number; windowEnd: number; count: number; final: boolean };
    const last = new Map<string, Count>();
    const deadline = Date.now() + 60_000;
    while (last.get(`u-a@${w}`)?.count !== 3 || last.get(`u-a@${w + WINDOW_MS}`) === undefined || last.get(`u-b@${w}`) === undefined) {
      expect(Date.now(), `counts so far: ${JSON.stringify([...last.values()])}`).toBeLessThan(deadline);
      await new Promise((r) => setTimeout(r, 500));
      for (const r of await readJson<Count>(config, output)) {
        expect(Object.keys(r.json!)).toEqual(['userId', 'windowStart', 'windowEnd', 'count', 'final']);
        expect(r.key).toBe(r.json!.userId);
        last.set(`${r.json!.userId}@${r.json!.windowStart}`, r.json!);
      }
    }
    expect(last.get(`u-a@${w}`)).toEqual({ userId: 'u-a', windowStart: w, windowEnd: w + WINDOW_MS, count: 3, final: false });
    expect(last.get(`u-a@${w + WINDOW_MS}`)).toEqual({ userId: 'u-a', windowStart: w + WINDOW_MS, windowEnd: w + 2 * WINDOW_MS, count: 1, final: false });
    expect(last.get(`u-b@${w}`)).toEqual({ userId: 'u-b', windowStart: w, windowEnd: w + WINDOW_MS, count: 1, final: false });
    expect(last.size).toBe(3);
  });
});
