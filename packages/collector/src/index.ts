export { buildCollectorApp, type CollectorAppOptions } from './app.js';
export { MAX_BATCH_EVENTS, MAX_DEPTH, MAX_EVENT_BYTES, MAX_REQUEST_BYTES } from './body.js';
export { CollectorError, type RejectCode } from './errors.js';
export { Ingest, type IngestOptions, type OutRecord } from './ingest.js';
export { Delivery } from './delivery.js';
export { CollectorMetrics } from './metrics.js';
export { KafkaSink, type RecordSink } from './sink.js';
export { DEFAULT_TOPICS, startCollector, type RunningCollector, type StartCollectorOptions } from './server.js';
export type { TopicNames } from './segment.js';
