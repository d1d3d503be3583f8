import { describe, expect, it } from 'vitest';
import { ActivityState, EngineError, createLatencyHistogram, engineInfo, foldEngineLatency, forEachOutput, packValues, percentiles } from '../src/index.js';

const T0 = 1_764_099_900_000;
const options = { windowSizeMs: 300_000, graceMs: 60_000, emitIntervalMs: 0, maxKeysPerWindow: 1000 };
const click = (user: string, ts: number) => Buffer.from(JSON.stringify({ eventId: `e-${user}-${ts}`, userId: user, ts }));

function outputs(state: ActivityState): { key: string; value: Record<string, unknown> }[] {
  const out: { key: string; value: Record<string, unknown> }[] = [];
  forEachOutput(state.takeOutput(), (kind, key, value) => {
    expect(kind).toBe(1);
    out.push({ key: key.toString(), value: JSON.parse(value.toString()) as Record<string, unknown> });
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

describe('ActivityState through the addon', () => {
  it('counts a batch, reports rejects by position and emits absolute counts', () => {
    const state = ActivityState.create(options);
    const result = state.ingest(packValues([click('u1', T0), Buffer.from('{nope'), click('u1', T0 + 1), null]), Date.now());
    expect(result).toEqual({ accepted: 2, rejected: 2 });
    expect(state.takeRejects().map((r) => [r.index, r.reason])).toEqual([
      [1, 'invalid_json'],
      [3, 'invalid_json'],
    ]);
    expect(state.flushDue(1)).toBe(1);
    expect(outputs(state)).toEqual([
      { key: 'u1', value: { userId: 'u1', windowStart: T0, windowEnd: T0 + 300_000, count: 2, final: false, oldestEventTs: T0 } },
    ]);
    expect(state.stats()).toMatchObject({ accepted: 2, keys: 1, openWindows: 1, rejected: { invalid_json: 2, late: 0 } });
  });

  it('round-trips a snapshot with the offset it covers', () => {
    const state = ActivityState.create(options);
    state.ingest(packValues([click('u1', T0), click('u2', T0)]), T0);
    const { state: restored, nextOffset } = ActivityState.restore(state.snapshot(1234), options);
    expect(nextOffset).toBe(1234);
    expect(restored.stats().keys).toBe(2);
    expect(restored.flushDue(0)).toBe(2);
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
    expect(codeOf(() => ActivityState.restore(Buffer.from('not a snapshot'), options))).toBe('ENGINE_BAD_SNAPSHOT');
    expect(codeOf(() => ActivityState.restore(state.snapshot(0), { ...options, graceMs: 0 }))).toBe('ENGINE_SNAPSHOT_MISMATCH');
    expect(codeOf(() => ActivityState.create({ ...options, windowSizeMs: 0.5 }))).toBe('ENGINE_BAD_OPTIONS');
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

describe('forEachOutput', () => {
  it('refuses a truncated buffer', () => {
    const state = ActivityState.create(options);
    state.ingest(packValues([click('u1', T0)]), T0);
    state.flushDue(0);
    const packed = state.takeOutput();
    expect(() => forEachOutput(packed.subarray(0, packed.length - 3), () => {})).toThrow(/malformed/);
  });
});
