/**
 * The topics of PRODUCT.md §2 plus Pulse's own. Names, partition counts and retention are contracts:
 * producers, tests and other tools rely on them.
 */
export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Topic-level configuration besides replication (retention, cleanup policy, message size). */
  readonly config: Readonly<Record<string, string>>;
  readonly doc: string;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const TOPICS = {
  userClicks: 'user-clicks',
  userPurchases: 'user-purchases',
  sensorData: 'sensor-data',
  userActivityCounts: 'user-activity-counts',
  deadLetters: 'dead-letters',
  aggregatorChangelog: 'pulse-aggregator-changelog',
  recsModel: 'pulse-recs-model',
  identities: 'pulse-identities',
  revenue: 'pulse-revenue',
  topProducts: 'pulse-top-products',
  uniqueUsers: 'pulse-unique-users',
  funnel: 'pulse-funnel',
  sensorStats: 'pulse-sensor-stats',
} as const;

/** Largest state snapshot one changelog record may carry (LZ4-compressed). */
export const CHANGELOG_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export const TOPIC_SPECS: readonly TopicSpec[] = [
  { name: TOPICS.userClicks, partitions: 12, config: { 'retention.ms': String(DAY) }, doc: 'page/product views, clicks, carts, searches (key userId)' },
  { name: TOPICS.userPurchases, partitions: 6, config: { 'retention.ms': String(7 * DAY) }, doc: 'completed orders (key userId)' },
  { name: TOPICS.sensorData, partitions: 24, config: { 'retention.ms': String(HOUR) }, doc: 'IoT readings (key sensorId)' },
  {
    name: TOPICS.userActivityCounts,
    partitions: 12,
    config: { 'retention.ms': String(DAY) },
    doc: '5-minute tumbling window counts per user (output, key userId)',
  },
  { name: TOPICS.revenue, partitions: 6, config: { 'retention.ms': String(7 * DAY) }, doc: 'revenue, orders and items per minute, currency and user-purchases partition (output)' },
  { name: TOPICS.topProducts, partitions: 12, config: { 'retention.ms': String(DAY) }, doc: 'Space-Saving top products per 5 minutes, metric and source partition (output)' },
  { name: TOPICS.uniqueUsers, partitions: 12, config: { 'retention.ms': String(DAY) }, doc: 'HyperLogLog unique users per 1 and 5 minutes and user-clicks partition (output)' },
  { name: TOPICS.funnel, partitions: 12, config: { 'retention.ms': String(DAY) }, doc: 'view → cart → purchase funnel per 5 minutes and source partition (output)' },
  { name: TOPICS.sensorStats, partitions: 24, config: { 'retention.ms': String(DAY) }, doc: 'sensor statistics per sensor and minute, with EWMA anomaly score (output, key sensorId)' },
  { name: TOPICS.deadLetters, partitions: 6, config: { 'retention.ms': String(7 * DAY) }, doc: 'every event not processed, with its reason' },
  {
    name: TOPICS.identities,
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY) },
    doc: 'identify, group and alias calls the collector received (key userId)',
  },
  {
    name: TOPICS.aggregatorChangelog,
    // One changelog partition per user-clicks partition: the snapshot of input partition p lives in p.
    partitions: 12,
    config: {
      'cleanup.policy': 'compact',
      'max.message.bytes': String(CHANGELOG_MAX_MESSAGE_BYTES),
      'min.compaction.lag.ms': '0',
      'segment.ms': String(HOUR),
    },
    doc: 'aggregator state snapshots, one key per input partition (compacted)',
  },
  {
    name: TOPICS.recsModel,
    // One key: the latest recommender model snapshot with the input offsets it covers.
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'max.message.bytes': String(CHANGELOG_MAX_MESSAGE_BYTES), 'min.compaction.lag.ms': '0', 'segment.ms': String(HOUR) },
    doc: 'recommender model snapshots with the offsets they cover (compacted)',
  },
];
