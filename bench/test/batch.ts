import type { ConsumedBatch } from '@pulse/engine';

/**
 * One partition's records as the native consumer packs them, offsets 0, 1, 2, …; something stands
 * before the run in each buffer, so that positions relative to the run's view are exercised.
 */
export function batchOf(records: { key: string; value: object | string }[]): ConsumedBatch {
  const values = records.map((r) => Buffer.from(typeof r.value === 'string' ? r.value : JSON.stringify(r.value)));
  const keys = records.map((r) => Buffer.from(r.key));
  const ends = (parts: Buffer[]) => Uint32Array.from(parts.map((_, i) => parts.slice(0, i + 1).reduce((n, p) => n + p.length, 0)));
  const valueBytes = Buffer.concat(values);
  const keyBytes = Buffer.concat(keys);
  const pad = Buffer.from('xxxx');
  return {
    values: Buffer.concat([pad, valueBytes]),
    ends: ends(values),
    keys: Buffer.concat([pad, keyBytes]),
    keyEnds: ends(keys),
    offsets: Float64Array.from(records.keys()),
    timestamps: new Float64Array(records.length),
    runs: [{ topic: 0, partition: 0, start: 0, end: records.length, valueStart: pad.length, valueEnd: pad.length + valueBytes.length, keyStart: pad.length, keyEnd: pad.length + keyBytes.length }],
  };
}
