import { describe, expect, it } from 'vitest';
import {
  ActivityState,
  EngineError,
  OutputKind,
  PurchasesState,
  SensorState,
  batchValues,
  createLatencyHistogram,
  engineInfo,
  foldEngineLatency,
  forEachOutput,
  lagFromStats,
  packValues,
  percentiles,
  type ConsumedBatch,
  type PartitionState,
} from '../src/index.js';

const T0 = 1_764_099_900_000;
const options = { windowSizeMs: 300_000, graceMs: 60_000, emitIntervalMs: 0, maxKeysPerWindow: 1000 };
const click = (user: string, ts: number) => Buffer.from(JSON.stringify({ eventId: `e-${user}-${ts}`, userId: user, ts }));

/** The decoded output records of one kind. */
function outputs(state: PartitionState, kind: number = OutputKind.ActivityCount): { key: string; value: Record<string, unknown> }[] {
  const out: { key: string; value: Record<string, unknown> }[] = [];
  forEachOutput(state.takeOutput(), (k, key, value) => {
    if (k === kind) out.push({ key: key.toString(), value: JSON.parse(value.toString()) as Record<string, unknown> });
  });
  return out;
}

describe('packValues', () => {
  it('concatenates values and records where each ends; null values pack as empty records', () => {
    const batch = packValues([Buffer.from('ab'), null, Buffer.from('cde')]);
    expect(batch.values.toString()).toBe('abcde');
    expect([...batch.ends]).toEqual([2, 2, 5]);
  });
});

describe('batchValues', () => {
  it('packs a whole polled batch: run-relative ends become batch-relative', () => {
    const run = (start: number, end: number, valueStart: number, valueEnd: number) => ({ topic: 0, partition: start, start, end, valueStart, valueEnd, keyStart: 0, keyEnd: 0 });
    const batch = { values: Buffer.from('abcdefg'), ends: new Uint32Array([2, 3, 4]), runs: [run(0, 2, 0, 3), run(2, 3, 3, 7)] } as unknown as ConsumedBatch;
    const packed = batchValues(batch);
    expect(packed.values.toString()).toBe('abcdefg');
    expect([...packed.ends]).toEqual([2, 3, 7]);
  });
});

describe('ActivityState through the addon', () => {
  it('counts a batch, reports rejects by position and emits absolute counts', () => {
    const state = ActivityState.create(options);
    const result = state.ingest(packValues([click('u1', T0), Buffer.from('{nope'), click('u1', T0 + 1), null]), Date.now());
    expect(result).toEqual({ accepted: 2, rejected: 2 });
    expect(state.takeRejects().map((r) => [r.index, r.reason])).toEqual([
      [1, 'invalid_json'],
      [3, 'invalid_json'],
    ]);
    // The activity count, and the 1- and 5-minute unique-user estimates of the click metrics.
    expect(state.flushDue(1)).toBe(3);
    expect(outputs(state)).toEqual([
      { key: 'u1', value: { userId: 'u1', windowStart: T0, windowEnd: T0 + 300_000, count: 2, final: false, oldestEventTs: T0 } },
    ]);
    // Open windows: the activity window plus the click metrics' 5-minute and 1-minute windows.
    expect(state.stats()).toMatchObject({ accepted: 2, keys: 1, openWindows: 3, rejected: { invalid_json: 2, late: 0 } });
  });

  it('round-trips a whole snapshot and its deltas with the offset they cover, compressed off the event loop', async () => {
    const state = ActivityState.create(options);
    state.ingest(packValues([click('u1', T0), click('u2', T0)]), T0);
    const base = state.encodeBase(1234, 77);
    expect(state.chain).toEqual({ chain: 77, seq: 0 });
    const baseFrame = await base.compress();
    expect(() => base.compress()).toThrow(/compressed already/);
    state.ingest(packValues([click('u3', T0)]), T0);
    const delta = state.encodeDelta(1240)!;
    expect(delta.encodedBytes).toBeLessThan(base.encodedBytes);
    const deltaFrame = await delta.compress();
    const restored = await ActivityState.restoreCheckpoint(baseFrame, [deltaFrame], options);
    expect(restored).toMatchObject({ nextOffset: 1240, warning: null });
    expect(restored.state.stats().keys).toBe(3);
    expect(restored.state.chain).toEqual({ chain: 77, seq: 1 });
    expect(restored.state.flushDue(0)).toBe(5);
    // A delta that does not follow (applied twice here) is left out, said so, and the state stays as of the one before.
    const repeated = await ActivityState.restoreCheckpoint(baseFrame, [deltaFrame, deltaFrame], options);
    expect(repeated.nextOffset).toBe(1240);
    expect(repeated.warning).toMatch(/1 deltas after the whole snapshot not applied: .*delta 1 of chain 77 does not follow delta 1/);
    // Purchases and sensors are written whole: no deltas.
    expect(PurchasesState.create({ partition: 0, graceMs: 60_000, emitIntervalMs: 0, maxKeysPerWindow: 100 }).encodeDelta(5)).toBeNull();
  });

  it('turns native failures into EngineErrors with stable codes', () => {
    const state = ActivityState.create(options);
    const codeOf = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        expect(err).toBeInstanceOf(EngineError);
        return (err as EngineError).code;
      }
      throw new Error('expected an error');
    };
    expect(codeOf(() => state.ingest({ values: Buffer.from('x'), ends: new Uint32Array([9]) }, 0))).toBe('ENGINE_BAD_FRAME');
    expect(codeOf(() => ActivityState.create({ ...options, windowSizeMs: 0.5 }))).toBe('ENGINE_BAD_OPTIONS');
  });

  it('rejects a damaged or mismatched checkpoint with the same stable codes from the thread pool', async () => {
    const state = ActivityState.create(options);
    const frame = await state.encodeBase(0, 1).compress();
    await expect(ActivityState.restoreCheckpoint(Buffer.from('not a snapshot'), [], options)).rejects.toMatchObject({ name: 'EngineError', code: 'ENGINE_BAD_SNAPSHOT' });
    await expect(ActivityState.restoreCheckpoint(frame, [], { ...options, graceMs: 0 })).rejects.toMatchObject({ code: 'ENGINE_SNAPSHOT_MISMATCH' });
  });

  it('reports latency from event time, folded into an HdrHistogram that errs high', () => {
    const state = ActivityState.create(options);
    const now = T0 + 10_000;
    state.ingest(packValues([click('u1', now - 5), click('u1', now - 100), click('u1', now - 2000)]), now);
    const h = createLatencyHistogram();
    foldEngineLatency(h, state.takeLatency());
    const p = percentiles(h);
    expect(p.count).toBe(3);
    expect(p.p50).toBeGreaterThanOrEqual(100);
    expect(p.p50).toBeLessThanOrEqual(104);
    expect(p.max).toBeGreaterThanOrEqual(2000);
    expect(p.max).toBeLessThanOrEqual(2070);
    expect(percentiles((foldEngineLatency(h, state.takeLatency()), h)).count).toBe(3);
  });

  it('names its version and target', () => {
    expect(engineInfo()).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), target: expect.stringContaining('-') });
  });
});

describe('PurchasesState and SensorState through the addon', () => {
  const purchase = (user: string, total: number, ts: number) =>
    Buffer.from(JSON.stringify({ eventId: 'e', userId: user, items: [{ productId: 'p-1', quantity: 2, price: 1 }], total, currency: 'USD', ts }));
  const reading = (value: number, ts: number) => Buffer.from(JSON.stringify({ eventId: 'e', sensorId: 'fridge-7', metric: 'temperature', value, unit: 'C', ts }));

  it('sums revenue exactly and lists purchased products', async () => {
    const state = PurchasesState.create({ partition: 4, graceMs: 60_000, emitIntervalMs: 0, maxKeysPerWindow: 100 });
    expect(state.ingest(packValues([purchase('u1', 0.1, T0), purchase('u2', 0.2, T0 + 1), Buffer.from('{"userId":"u"}')]), T0)).toEqual({ accepted: 2, rejected: 1 });
    expect(state.takeRejects()[0]).toMatchObject({ index: 2, reason: 'missing_field' });
    state.flushDue(0);
    const packed = state.takeOutput();
    const byKind = (kind: number) => {
      const out: Record<string, unknown>[] = [];
      forEachOutput(packed, (k, _key, value) => k === kind && out.push(JSON.parse(value.toString()) as Record<string, unknown>));
      return out;
    };
    expect(byKind(OutputKind.Revenue)).toEqual([
      { partition: 4, currency: 'USD', windowStart: T0, windowEnd: T0 + 60_000, orders: 2, items: 4, revenue: 0.3, final: false },
    ]);
    expect(byKind(OutputKind.TopProducts)[0]).toMatchObject({ metric: 'purchases', items: [{ productId: 'p-1', count: 4, error: 0 }], threshold: 0 });
    expect(byKind(OutputKind.Funnel)[0]).toMatchObject({ source: 'user-purchases', purchases: 2, buyers: 2 });
    const { state: restored, nextOffset } = await PurchasesState.restoreCheckpoint(await state.encodeBase(7, 1).compress(), [], { partition: 4, graceMs: 60_000, emitIntervalMs: 0, maxKeysPerWindow: 100 });
    expect(nextOffset).toBe(7);
    expect(restored.stats()).toMatchObject({ accepted: 0, openWindows: 2 });
  });

  it('keeps sensor statistics and refuses bad options with a stable code', async () => {
    const sensorOptions = { graceMs: 60_000, emitIntervalMs: 0, maxKeysPerWindow: 100, ewmaAlpha: 0.5 };
    const state = SensorState.create(sensorOptions);
    state.ingest(packValues([reading(4, T0), reading(5, T0 + 1)]), T0);
    state.flushDue(0);
    expect(outputs(state, OutputKind.SensorStats)).toEqual([
      {
        key: 'fridge-7',
        value: { sensorId: 'fridge-7', metric: 'temperature', unit: 'C', windowStart: T0, windowEnd: T0 + 60_000, count: 2, min: 4, max: 5, mean: 4.5, ewma: 4.5, anomalyScore: 0, final: false },
      },
    ]);
    expect(() => SensorState.create({ ...sensorOptions, ewmaAlpha: 0 })).toThrow(expect.objectContaining({ code: 'ENGINE_BAD_OPTIONS' }));
    expect(() => ActivityState.create({ ...options, hllPrecision: 20 })).toThrow(expect.objectContaining({ code: 'ENGINE_BAD_OPTIONS' }));
    await expect(SensorState.restoreCheckpoint(await state.encodeBase(0, 1).compress(), [], { ...sensorOptions, ewmaAlpha: 0.2 })).rejects.toMatchObject({ code: 'ENGINE_SNAPSHOT_MISMATCH' });
  });
});

describe('forEachOutput', () => {
  it('refuses a truncated buffer', () => {
    const state = ActivityState.create(options);
    state.ingest(packValues([click('u1', T0)]), T0);
    state.flushDue(0);
    const packed = state.takeOutput();
    expect(() => forEachOutput(packed.subarray(0, packed.length - 3), () => {})).toThrow(/malformed/);
  });
});

describe('lagFromStats', () => {
  it('adds high watermark less next offset per partition, and counts the partitions the statistics do not cover', () => {
    const stats = { topics: { a: { partitions: { '0': { hi_offset: 100 }, '1': { hi_offset: 7 } } }, b: { partitions: { '0': { hi_offset: -1 } } } } } as never;
    expect(lagFromStats(stats, [['a', 0, 40], ['a', 1, 9], ['b', 0, 0], ['c', 3, 0]])).toEqual({ lag: 60, unknown: 2 });
    expect(lagFromStats(null, [['a', 0, 0]])).toEqual({ lag: 0, unknown: 1 });
  });
});
