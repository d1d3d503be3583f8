/**
 * The topics of docs/specification.md, "Topics" plus Pulse's own. Names, partition counts and retention are contracts:
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
  revenue: 'pulse-revenue',
  topProducts: 'pulse-top-products',
  uniqueUsers: 'pulse-unique-users',
  funnel: 'pulse-funnel',
  sensorStats: 'pulse-sensor-stats',
  aggregatorChangelog: 'pulse-aggregator-changelog',
  recsModel: 'pulse-recs-model',
  identities: 'pulse-identities',
  deadLetterReplays: 'pulse-dlq-replays',
  alerts: 'pulse-alerts',
  alertsState: 'pulse-alerts-state',
  alertSilences: 'pulse-alert-silences',
} as const;

/** The field of an input event whose value is its record key, and so decides its partition. */
export const KEY_FIELDS: Readonly<Record<string, string>> = { [TOPICS.userClicks]: 'userId', [TOPICS.userPurchases]: 'userId', [TOPICS.sensorData]: 'sensorId' };

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
  // Metric outputs (docs/specification.md, "Metric topics"): every record carries absolute values for its key and
  // window, so consumers upsert. The four aggregates per source partition have a few dozen keys, so one
  // partition each: librdkafka sends one ProduceRequest per partition, and with 12 partitions every emit
  // of a metric cost the broker up to 12 requests instead of one.
  {
    name: TOPICS.revenue,
    partitions: 1,
    config: { 'retention.ms': String(7 * DAY) },
    doc: 'orders, items and revenue per source partition, currency and minute (key "<partition>/<currency>")',
  },
  {
    name: TOPICS.topProducts,
    partitions: 1,
    config: { 'retention.ms': String(DAY) },
    doc: 'top viewed, carted and purchased products per source partition and 5 minutes (key "<metric>/<partition>")',
  },
  {
    name: TOPICS.uniqueUsers,
    partitions: 1,
    config: { 'retention.ms': String(DAY) },
    doc: 'HyperLogLog estimates of active users per source partition and 1 or 5 minutes (key "<granularity>/<partition>")',
  },
  {
    name: TOPICS.funnel,
    partitions: 1,
    config: { 'retention.ms': String(DAY) },
    doc: 'view → cart → purchase counts and distinct users per source partition and 5 minutes (key "<source>/<partition>")',
  },
  {
    name: TOPICS.sensorStats,
    partitions: 24,
    config: { 'retention.ms': String(DAY) },
    doc: 'min/max/mean/count and EWMA anomaly score per sensor and minute (key sensorId)',
  },
  { name: TOPICS.deadLetters, partitions: 6, config: { 'retention.ms': String(7 * DAY) }, doc: 'every event not processed, with its reason' },
  {
    name: TOPICS.identities,
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY) },
    doc: 'identify, group and alias calls the collector received (key userId)',
  },
  {
    name: TOPICS.deadLetterReplays,
    partitions: 1,
    config: { 'cleanup.policy': 'compact' },
    doc: 'the ids of the dead letters `pulse dlq replay` has re-sent, written in the same transaction as the re-sent records (compacted)',
  },
  {
    name: TOPICS.aggregatorChangelog,
    // The snapshots of all input partitions (user-clicks, user-purchases, sensor-data) spread over 12
    // partitions, each under its own key (see packages/aggregator/src/changelog.ts).
    partitions: 12,
    config: {
      'cleanup.policy': 'compact',
      'max.message.bytes': String(CHANGELOG_MAX_MESSAGE_BYTES),
      'min.compaction.lag.ms': '0',
      'segment.ms': String(HOUR),
    },
    doc: 'aggregator state snapshots, one key per input topic and partition (compacted)',
  },
  {
    name: TOPICS.recsModel,
    // One key: the latest recommender model snapshot with the input offsets it covers.
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'max.message.bytes': String(CHANGELOG_MAX_MESSAGE_BYTES), 'min.compaction.lag.ms': '0', 'segment.ms': String(HOUR) },
    doc: 'recommender model snapshots with the offsets they cover (compacted)',
  },
  // Alerting (docs/alerting.md). One partition each: one `pulse alerts` process evaluates, transitions
  // are few, and one partition keeps the history in the order it happened.
  { name: TOPICS.alerts, partitions: 1, config: { 'retention.ms': String(30 * DAY) }, doc: 'every alert transition: pending, firing, resolved, inactive (key fingerprint)' },
  {
    name: TOPICS.alertsState,
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'max.message.bytes': String(CHANGELOG_MAX_MESSAGE_BYTES), 'min.compaction.lag.ms': '0', 'segment.ms': String(HOUR) },
    doc: 'snapshots of the alert evaluator and notifier with the offsets they cover (compacted)',
  },
  {
    name: TOPICS.alertSilences,
    partitions: 1,
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '0', 'segment.ms': String(HOUR) },
    doc: 'silences created through POST /api/v1/silences (key silence id, compacted)',
  },
];
