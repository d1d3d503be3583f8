import type { FastifyInstance } from 'fastify';
import type { PulseConfig } from '@pulse/config';
import { createLogger, type Log, type Logger } from '@pulse/log';
import { TOPICS } from '@pulse/kafka';
import { buildCollectorApp } from './app.js';
import { Ingest } from './ingest.js';
import { CollectorMetrics } from './metrics.js';
import { outputTopics, type TopicNames } from './segment.js';
import { KafkaSink } from './sink.js';

export const DEFAULT_TOPICS: TopicNames = { clicks: TOPICS.userClicks, purchases: TOPICS.userPurchases, sensors: TOPICS.sensorData, identities: TOPICS.identities };

export interface StartCollectorOptions {
  /** Overrides configuration collector.host / collector.port. */
  host?: string;
  port?: number;
  /** Overrides configuration collector.writeKeys. */
  writeKeys?: readonly string[];
  topics?: Partial<TopicNames>;
  /** Default: a logger of its own (configuration `log.*`). */
  log?: Log;
  /** Logs the HTTP requests (request ids, errors); default: nothing. */
  logger?: Logger;
}

export interface RunningCollector {
  readonly app: FastifyInstance;
  /** `http://host:port` it listens on. */
  readonly url: string;
  readonly metrics: CollectorMetrics;
  /** Stops taking requests, lets the ones in flight finish, flushes the producer and disconnects. */
  close(): Promise<void>;
}

/** Connects the producer, builds the app and listens. */
export async function startCollector(config: PulseConfig, options: StartCollectorOptions = {}): Promise<RunningCollector> {
  const writeKeys = options.writeKeys ?? config.collector.writeKeys;
  if (writeKeys.length === 0) throw new Error('no write keys: set PULSE_WRITE_KEYS (comma-separated) or collector.writeKeys in pulse.config.json');
  const topics = { ...DEFAULT_TOPICS, ...options.topics };
  const c = config.collector;
  const log = options.log ?? createLogger('collector', config.log);
  const sink = await KafkaSink.connect(config, outputTopics(topics), log);
  const metrics: CollectorMetrics = new CollectorMetrics({ inFlight: () => sink.inFlight(), kafkaUp: () => sink.available, dedup: () => ingest.dedupStats() });
  const ingest: Ingest = new Ingest(sink, { dedupWindowMs: c.dedupWindowMs, dedupMaxEntries: c.dedupMaxEntries, ackTimeoutMs: c.ackTimeoutMs, maxInFlightEvents: c.maxInFlightEvents }, metrics);
  const app = await buildCollectorApp({ writeKeys, rateLimit: c.rateLimit, ingest, metrics, topics, http: config.http, logger: options.logger });
  try {
    await app.listen({ host: options.host ?? c.host, port: options.port ?? c.port });
  } catch (err) {
    await sink.close(1_000).catch(() => {});
    throw err;
  }
  const address = app.server.address();
  const url = typeof address === 'object' && address !== null ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  return {
    app,
    url,
    metrics,
    async close() {
      try {
        await app.close();
      } finally {
        await sink.close();
      }
    },
  };
}
