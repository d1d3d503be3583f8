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
