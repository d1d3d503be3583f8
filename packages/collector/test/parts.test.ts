import { describe, expect, it } from 'vitest';
import { loadConfig } from '@pulse/config';
import { MAX_EVENT_BYTES, scanJson } from '../src/body.js';
import { DedupWindow } from '../src/dedup.js';
import { CollectorError } from '../src/errors.js';
import { RateLimiter } from '../src/rate-limit.js';
import { sourceOf } from '../src/segment.js';
import { parseIsoTime, segmentEventTime } from '../src/time.js';

function refusal(fn: () => unknown): CollectorError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CollectorError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('scanJson', () => {
  it('ignores brackets and escaped quotes inside strings', () => {
    const tricky = JSON.stringify({ batch: [{ a: '[[[{{{"\\"' }, { b: ']]]}}}' }] });
    expect(() => scanJson(Buffer.from(tricky), 'batch')).not.toThrow();
    expect(() => scanJson(Buffer.from(`{"s":"${'['.repeat(100)}"}`), 'single')).not.toThrow();
  });

  it('names the oversize event by its index, counting scalars too', () => {
    const big = 'x'.repeat(MAX_EVENT_BYTES);
    expect(refusal(() => scanJson(Buffer.from(JSON.stringify({ context: { a: 1 }, batch: [1, { a: 1 }, { big }] })), 'batch'))).toMatchObject({ statusCode: 413, field: 'batch[2]' });
    expect(refusal(() => scanJson(Buffer.from(JSON.stringify(['a', { big }])), 'list'))).toMatchObject({ statusCode: 413, field: '[1]' });
  });

  it('refuses nesting deeper than 32 levels before anything parses it', () => {
    expect(() => scanJson(Buffer.from('['.repeat(32) + ']'.repeat(32)), 'list')).not.toThrow();
    expect(refusal(() => scanJson(Buffer.from('['.repeat(100_000)), 'list'))).toMatchObject({ statusCode: 400, code: 'too_deep' });
  });
});

describe('event time', () => {
  const now = Date.UTC(2025, 10, 25, 12);

  it('parses ISO-8601, with UTC for a missing zone', () => {
    expect(parseIsoTime('2025-11-25T12:00:00.123Z', 't')).toBe(now + 123);
    expect(parseIsoTime('2025-11-25T13:00:00+01:00', 't')).toBe(now);
    expect(parseIsoTime('2025-11-25T12:00:00', 't')).toBe(now);
    expect(refusal(() => parseIsoTime('2025-02-30T00:00:00Z', 't')).code).toBe('invalid_timestamp');
    expect(refusal(() => parseIsoTime('1764100000', 't')).message).toMatch(/ISO-8601/);
  });

  it('moves the client time by the client clock skew, and is the arrival time without one', () => {
    expect(segmentEventTime('2025-11-25T12:59:50Z', Date.UTC(2025, 10, 25, 13), now, 't')).toBe(now - 10_000);
    expect(segmentEventTime('2025-11-25T11:59:50Z', undefined, now, 't')).toBe(now - 10_000);
    expect(segmentEventTime(undefined, undefined, now, 't')).toBe(now);
    expect(refusal(() => segmentEventTime('2025-11-25T12:10:00Z', undefined, now, 'batch[0].timestamp'))).toMatchObject({ field: 'batch[0].timestamp' });
  });
});

describe('DedupWindow', () => {
  it('recognises an id for at least the window and forgets it after twice the window', () => {
    const w = new DedupWindow<string>(1000, 100);
    w.acknowledged('a', 0);
    expect(w.lookup('a', 999)).toBe('seen');
    w.acknowledged('b', 1500);
    expect(w.lookup('a', 1500)).toBe('seen');
    expect(w.lookup('c', 1500)).toBeUndefined();
    expect(w.lookup('a', 2500)).toBeUndefined();
    expect(w.lookup('b', 2500)).toBe('seen');
  });

  it('turns generations early when full, counting the ids forgotten too soon', () => {
    const w = new DedupWindow<string>(60_000, 4);
    for (const id of ['a', 'b', 'c', 'd', 'e']) w.acknowledged(id, 0);
    expect(w.evicted).toBe(2);
    expect(w.lookup('a', 0)).toBeUndefined();
    expect(w.lookup('c', 0)).toBe('seen');
    expect(w.lookup('e', 0)).toBe('seen');
    expect(w.size().seen).toBe(3);
  });

  it('tells a million distinct ids apart', () => {
    const w = new DedupWindow<string>(60_000, 2_000_000);
    for (let i = 0; i < 1_000_000; i++) w.acknowledged(`m-${i}`, 0);
    let falseHits = 0;
    for (let i = 0; i < 1_000_000; i++) if (w.lookup(`n-${i}`, 0) !== undefined) falseHits++;
    expect(falseHits).toBe(0);
    expect(w.lookup('m-999999', 0)).toBe('seen');
  });

  it('holds pending ids until acknowledged, and drops them when their delivery failed', () => {
    const w = new DedupWindow<string>(1000, 10);
    w.pending('a', 'request-1');
    expect(w.lookup('a', 0)).toBe('request-1');
    w.failed('a');
    expect(w.lookup('a', 0)).toBeUndefined();
  });
});

describe('RateLimiter', () => {
  it('lets a batch through while tokens remain and makes the next wait for the debt', () => {
    const r = new RateLimiter(100);
    expect(r.take('k', 250, 0)).toBe(0);
    expect(r.take('k', 1, 0)).toBe(2);
    expect(r.take('k', 1, 1600)).toBe(0);
    expect(r.take('other', 1, 0)).toBe(0);
    expect(new RateLimiter(0).take('k', 1e9, 0)).toBe(0);
  });
});

describe('sourceOf', () => {
  it('tells web, mobile and server libraries apart', () => {
    expect(sourceOf({ library: { name: 'analytics.js' } })).toBe('web');
    expect(sourceOf({ library: { name: 'analytics-ios' } })).toBe('mobile');
    expect(sourceOf({ device: { type: 'android' } })).toBe('mobile');
    expect(sourceOf({ library: { name: '@segment/analytics-node' } })).toBe('server');
    expect(sourceOf(undefined)).toBe('server');
  });
});

describe('configuration', () => {
  it('takes the write keys from PULSE_WRITE_KEYS', () => {
    const config = loadConfig({ env: { PULSE_WRITE_KEYS: 'key-a, key-b' } });
    expect(config.collector.writeKeys).toEqual(['key-a', 'key-b']);
    expect(config.collector.port).toBe(8088);
  });
});
