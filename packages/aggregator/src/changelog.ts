import { TOPICS } from '@pulse/kafka';

/** The input topics the aggregator consumes, in the order that numbers their partitions for the changelog. */
export const INPUT_TOPICS = [TOPICS.userClicks, TOPICS.userPurchases, TOPICS.sensorData] as const;
export type InputTopic = (typeof INPUT_TOPICS)[number];

/** Partitions of each input topic (docs/specification.md, "Topics") and of the changelog. */
const INPUT_PARTITIONS: Record<InputTopic, number> = { [TOPICS.userClicks]: 12, [TOPICS.userPurchases]: 6, [TOPICS.sensorData]: 24 };
export const CHANGELOG_PARTITIONS = 12;

/** Key of the snapshot of one input partition in the changelog. */
export function snapshotKey(topic: string, partition: number): string {
  return `${topic}:${partition}`;
}

/**
 * The changelog partition holding the snapshot of an input partition: the input partitions numbered
 * topic after topic (user-clicks 0–11, user-purchases 12–17, sensor-data 18–41), modulo the
 * changelog's 12 partitions. Fixed, so that every aggregator looks in the same place; user-clicks
 * partition p stays in changelog partition p as before the other topics were aggregated.
 */
export function changelogPartition(topic: string, partition: number): number {
  let base = 0;
  for (const t of INPUT_TOPICS) {
    if (t === topic) return (base + partition) % CHANGELOG_PARTITIONS;
    base += INPUT_PARTITIONS[t];
  }
  throw new Error(`${topic} is not an input topic of the aggregator`);
}

/**
 * A checkpoint in the changelog (docs/semantics.md, "Checkpoints"): under `snapshotKey` the latest
 * whole snapshot, or when it is larger than the chunk size a manifest naming its parts
 * (`<key>~<chain>~<i>`, written before it, unique per chain so compaction never removes a part that
 * a manifest still needs); under `<key>#<n>` the n-th delta after it. Compaction keeps the latest
 * record of each key; a restore takes the latest whole snapshot and the deltas written after it.
 */
export interface ChangelogRecord {
  readonly key: string;
  /** Null: a tombstone. */
  readonly value: Buffer | null;
}

const MANIFEST_MAGIC = Buffer.from('PLSM');

const partKey = (key: string, chain: number, i: number) => `${key}~${chain}~${i}`;
const deltaKey = (key: string, seq: number) => `${key}#${seq}`;

/** The records that write a whole snapshot of chain `chain`, in parts of at most `partBytes`, the one under `key` last. */
export function baseRecords(key: string, chain: number, frame: Buffer, partBytes: number): ChangelogRecord[] {
  if (frame.length <= partBytes) return [{ key, value: frame }];
  const parts: ChangelogRecord[] = [];
  for (let i = 0, at = 0; at < frame.length; i++, at += partBytes) parts.push({ key: partKey(key, chain, i), value: frame.subarray(at, at + partBytes) });
  const manifest = Buffer.alloc(12);
  MANIFEST_MAGIC.copy(manifest, 0);
  manifest.writeUInt32LE(chain, 4);
  manifest.writeUInt32LE(parts.length, 8);
  return [...parts, { key, value: manifest }];
}

/** Tombstones for the parts of an earlier whole snapshot, once a newer one is acknowledged. */
export function partTombstones(key: string, chain: number, parts: number): ChangelogRecord[] {
  return Array.from({ length: parts }, (_, i) => ({ key: partKey(key, chain, i), value: null }));
}

export function deltaRecord(key: string, seq: number, frame: Buffer): ChangelogRecord {
  return { key: deltaKey(key, seq), value: frame };
}

/** Whether a changelog key belongs to the checkpoint stored under `key`. */
export function belongsTo(recordKey: string, key: string): boolean {
  return recordKey === key || (recordKey.startsWith(key) && (recordKey[key.length] === '#' || recordKey[key.length] === '~'));
}

/** A whole snapshot (reassembled from its parts) and the deltas after it, oldest first. */
export interface StoredCheckpoint {
  readonly base: Buffer;
  readonly deltas: Buffer[];
  /** Chain and part count of a whole snapshot written in parts, so that they can be removed later. */
  readonly parts: { chain: number; count: number } | null;
}

/**
 * Reassembles the checkpoint of `key` from the latest record of each of its changelog keys
 * (key → offset and value). Undefined while the records read so far do not hold it all (no whole
 * snapshot yet, or parts not reached); throws if a manifest names a part that is not there at all.
 */
export function assembleCheckpoint(key: string, latest: ReadonlyMap<string, { offset: number; value: Buffer | null }>, complete: boolean): StoredCheckpoint | undefined {
  const head = latest.get(key);
  if (head === undefined || head.value === null) return undefined;
  let base = head.value;
  let parts: StoredCheckpoint['parts'] = null;
  if (base.length === 12 && base.subarray(0, 4).equals(MANIFEST_MAGIC)) {
    const chain = base.readUInt32LE(4);
    const count = base.readUInt32LE(8);
    const chunks: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      const part = latest.get(partKey(key, chain, i))?.value;
      if (part === undefined || part === null) {
        if (complete) throw new Error(`the changelog has no part ${i} of ${count} of the snapshot of ${key} (chain ${chain})`);
        return undefined;
      }
      chunks.push(part);
    }
    base = Buffer.concat(chunks);
    parts = { chain, count };
  }
  const deltas = [...latest]
    .filter(([k, r]) => k.startsWith(`${key}#`) && r.offset > head.offset && r.value !== null)
    .sort((a, b) => a[1].offset - b[1].offset)
    .map(([, r]) => r.value!);
  return { base, deltas, parts };
}
