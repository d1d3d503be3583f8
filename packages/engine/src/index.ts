export {
  ActivityState,
  PartitionState,
  PurchasesState,
  SensorState,
  engineInfo,
  kafkaPartition,
  type ActivityOptions,
  type ActivityStats,
  type RestoredCheckpoint,
  type PurchaseOptions,
  type SensorOptions,
} from './activity.js';
export { mapSegmentBatch, type SegmentBatch } from './segment.js';
export { packValues, forEachOutput, OutputKind, type PackedBatch } from './batch.js';
export { EngineError, toEngineError, ENGINE_ERROR_CODES, type EngineErrorCode } from './errors.js';
export { createLatencyHistogram, foldEngineLatency, percentiles, encodeHistogram, decodeHistogram, type Histogram, type Percentiles } from './latency.js';
export type { EncodedState, RejectInfo, IngestResult } from './native.js';
export { evaluateRecommender, RecsModel, type RecsOptions, type RecsEvalResult, type RecommendationList, type RecommendedItem } from './recs.js';
export {
  BatchConsumer,
  BatchProducer,
  KafkaClientError,
  describeTopicConfigs,
  lagFromStats,
  librdkafkaVersion,
  recordAt,
  runValues,
  batchValues,
  type ConsumedBatch,
  type ConsumedRun,
  type KafkaClientErrorCode,
  type KafkaSettings,
  type LibrdKafkaStats,
  type RebalanceInfo,
  type RecordHeader,
  type SendResult,
  type TicketCompletion,
  type TicketNews,
  type TopicPartitionOffset,
} from './kafka.js';
export { NativeShopModel, type PackedShopRecords, type RawShopOptions, type ShopEvent } from './shop.js';
