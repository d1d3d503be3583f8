import { describe, expect, it } from 'vitest';
import { ActivityState, forEachOutput, packValues, OutputKind } from '@pulse/engine';
import { runEngineBench } from '../engine/run.js';
import { TsActivityCounter } from '../engine/ts-counter.js';
import { clickRecords } from '../lib/events.js';

const OPTIONS = { windowSizeMs: 300_000, graceMs: 60_000, emitIntervalMs: 50 };
const W = 1_764_099_900_000; // a window start (multiple of 5 minutes)
const click = (userId: string, ts: number) => Buffer.from(JSON.stringify({ eventId: 'e', type: 'click', userId, sessionId: 's', source: 'web', ts, properties: {} }));
const parsed = (out: { value: Buffer }[]) => out.map((o) => JSON.parse(o.value.toString()) as Record<string, unknown>);

describe('the plain TypeScript activity counter', () => {
  it('counts per user and 5-minute window and coalesces updates per emit interval', () => {
    const c = new TsActivityCounter(OPTIONS);
    expect(c.ingest([click('u-1', W + 10), click('u-1', W + 20), click('u-2', W + 30), click('u-1', W + 300_000)])).toBe(4);
    expect(c.flushDue(1000)).toBe(3);
    expect(parsed(c.takeOutput())).toEqual([
      { userId: 'u-1', windowStart: W, windowEnd: W + 300_000, count: 2, final: false, oldestEventTs: W + 10 },
      { userId: 'u-2', windowStart: W, windowEnd: W + 300_000, count: 1, final: false, oldestEventTs: W + 30 },
      { userId: 'u-1', windowStart: W + 300_000, windowEnd: W + 600_000, count: 1, final: false, oldestEventTs: W + 300_000 },
    ]);
    c.ingest([click('u-2', W + 40)]);
    expect(c.flushDue(1020)).toBe(0); // within the emit interval
    expect(c.flushDue(1050)).toBe(1);
    expect(parsed(c.takeOutput())[0]).toMatchObject({ userId: 'u-2', count: 2 });
  });

  it('closes a window once stream time passes its end plus grace, and rejects late and bad records', () => {
    const c = new TsActivityCounter(OPTIONS);
    c.ingest([click('u-1', W + 1)]);
    c.flushDue(0);
    c.takeOutput();
    expect(c.ingest([click('u-3', W + 360_000)])).toBe(1); // stream time reaches W + 300 s + 60 s grace
    expect(parsed(c.takeOutput())).toEqual([{ userId: 'u-1', windowStart: W, windowEnd: W + 300_000, count: 1, final: true }]);
    expect(c.ingest([click('u-1', W + 2), Buffer.from('not json'), Buffer.from('{"userId":7,"ts":1}'), Buffer.from('{"userId":"u","ts":1.5}'), Buffer.from('null')])).toBe(0);
    expect(c.rejected).toBe(5);
  });

  it('agrees with the Rust engine on the load generator records', () => {
    const { values } = clickRecords(5000, 'agree', W, 7);
    const ts = new TsActivityCounter(OPTIONS);
    const rust = ActivityState.create({ ...OPTIONS, maxKeysPerWindow: 1_000_000 });
    // The engine also writes the click metrics; the TypeScript counter is compared on activity counts.
    const fromTs: string[] = [];
    const fromRust: string[] = [];
    for (let i = 0; i < values.length; i += 500) {
      const batch = values.slice(i, i + 500);
      ts.ingest(batch);
      rust.ingest(packValues(batch), 0);
      const now = W + (i + 500) * 7;
      ts.flushDue(now);
      rust.flushDue(now);
      const before = fromRust.length;
      forEachOutput(rust.takeOutput(), (kind, _key, value) => kind === OutputKind.ActivityCount && fromRust.push(value.toString()));
      fromTs.push(...ts.takeOutput().map((o) => o.value.toString()));
      expect(fromTs.length).toBe(fromRust.length);
      expect(fromRust.length).toBeGreaterThanOrEqual(before);
    }
    expect(fromTs).toEqual(fromRust);
    expect(fromRust.length).toBeGreaterThan(100);
  });
});

describe('pulse bench engine', () => {
  it('measures both counters on the same records and the boundary by batch size', async () => {
    const r = await runEngineBench({ events: 4000, batchSize: 1000, repeats: 1, boundarySizes: [1, 100], taskTimeMs: 10, seed: 'unit', log: () => {} });
    expect(r.rust.accepted).toBe(4000);
    expect(r.typescript.accepted).toBe(4000);
    expect(r.rust.outputs).toBe(r.typescript.outputs);
    expect(r.rust.eventsPerCoreSec.median).toBeGreaterThan(0);
    expect(r.ratio).toBeCloseTo(r.rust.eventsPerCoreSec.median / r.typescript.eventsPerCoreSec.median, 1);
    expect(r.boundary.map((b) => b.batch)).toEqual([1, 100]);
    // A hundred records cost more per call than one, and less per record.
    expect(r.boundary[1]!.ingestUs).toBeGreaterThan(r.boundary[0]!.ingestUs);
    expect(r.boundary[1]!.ingestNsPerEvent).toBeLessThan(r.boundary[0]!.ingestNsPerEvent);
    expect(r.emptyCallUs).toBeGreaterThan(0);
    expect(r.machine.loadAverage).toMatch(/^\d+\.\d\d, \d+\.\d\d, \d+\.\d\d$/);
  });
});
