import { createRequire } from 'node:module';
import type * as Native from '@pulse/native';

// The generated loader is CommonJS; this module is the only place that loads it.
const require = createRequire(import.meta.url);
export const native = require('@pulse/native') as typeof Native;
export type {
  ActivityStatsInfo,
  EncodedState,
  IngestResult,
  RejectInfo,
  RawActivityOptions,
  RawRecsOptions,
  RecsEvalResult,
  RecommendationList,
  RecommendedItem,
  ConsumedBatch,
  ConsumedRun,
  RebalanceInfo,
  SendResult,
  TopicPartitionOffset,
  DeliveryFailureInfo,
  RecordHeader,
  TicketNews,
  TicketCompletion,
  SegmentBatch,
} from '@pulse/native';
