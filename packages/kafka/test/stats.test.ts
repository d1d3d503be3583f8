import { describe, expect, it } from 'vitest';
import { consumerConfig, KafkaClientStats } from '../src/index.js';
import { loadConfig } from '../../config/src/index.js';

describe('KafkaClientStats', () => {
  it('renders lag per partition and the fetch queue once per consumer, since every partition reports the one queue', () => {
    const stats = new KafkaClientStats();
    const report = {
      msg_cnt: 3,
      topics: {
        'user-clicks': {
          partitions: {
            '0': { consumer_lag: 10, fetchq_cnt: 700 },
            '1': { consumer_lag: 20, fetchq_cnt: 700 },
            '-1': { consumer_lag: -1, fetchq_cnt: 0 },
          },
        },
      },
    };
    stats.watch('aggregator', () => report);
    const lines = stats.prometheus();
    expect(lines).toContain('pulse_kafka_consumer_lag{client="aggregator",topic="user-clicks",partition="0"} 10');
    expect(lines).toContain('pulse_kafka_consumer_lag{client="aggregator",topic="user-clicks",partition="1"} 20');
    expect(lines.filter((l) => l.startsWith('pulse_kafka_fetch_queue_messages{'))).toEqual(['pulse_kafka_fetch_queue_messages{client="aggregator"} 700']);
    expect(lines).toContain('pulse_kafka_client_queue_messages{client="aggregator"} 3');
  });
});

describe('consumerConfig', () => {
  it('backs off briefly when the local queue is full, and lets callers override it', () => {
    const config = loadConfig({ env: {} });
    expect(consumerConfig(config, 'c', 'g')['fetch.queue.backoff.ms']).toBe(10);
    expect(consumerConfig(config, 'c', 'g', { 'fetch.queue.backoff.ms': 100 })['fetch.queue.backoff.ms']).toBe(100);
  });
});
