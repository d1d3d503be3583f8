/** A batch of record values as the engine takes it: one buffer and the end position of each record. */
export interface PackedBatch {
  readonly values: Buffer;
  readonly ends: Uint32Array;
  /** Each record's Kafka timestamp in ms (-1 for none), when the records came from Kafka. */
  readonly times?: Float64Array;
}

/**
 * Packs record values into one buffer with one copy each. A null value (a tombstone) packs as an
 * empty record, which the engine rejects as invalid JSON like any other unusable record.
 */
export function packValues(values: readonly (Buffer | null | undefined)[]): PackedBatch {
  let total = 0;
  for (const v of values) total += v ? v.length : 0;
  const out = Buffer.allocUnsafe(total);
  const ends = new Uint32Array(values.length);
  let at = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v) at += v.copy(out, at);
    ends[i] = at;
  }
  return { values: out, ends };
}

/** Output kinds of the engine's packed output (crates/pulse-engine/src/output.rs). */
export const OutputKind = { ActivityCount: 1, Revenue: 2, TopProducts: 3, UniqueUsers: 4, Funnel: 5, SensorStats: 6 } as const;

/**
 * Walks the engine's packed output (`kind u8, keyLen u32le, key, valueLen u32le, value`, repeated),
 * calling `visit` with views into the buffer — no copies.
 */
export function forEachOutput(packed: Buffer, visit: (kind: number, key: Buffer, value: Buffer) => void): number {
  let at = 0;
  let n = 0;
  while (at < packed.length) {
    const kind = packed[at]!;
    const keyLen = packed.readUInt32LE(at + 1);
    const key = packed.subarray(at + 5, at + 5 + keyLen);
    at += 5 + keyLen;
    const valueLen = packed.readUInt32LE(at);
    const value = packed.subarray(at + 4, at + 4 + valueLen);
    at += 4 + valueLen;
    visit(kind, key, value);
    n++;
  }
  if (at !== packed.length) throw new Error(`malformed engine output: ${at} of ${packed.length} bytes`);
  return n;
}
