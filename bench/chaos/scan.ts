import { randomBytes } from 'node:crypto';
import { BatchConsumer, recordAt, type KafkaSettings } from '@pulse/engine';
import type { PulseConfig } from '@pulse/config';
import { consumerConfig, topicOffsets } from '@pulse/kafka';

/**
 * Calls `onRecord` for every record of `topic` from its beginning up to its end offsets as of the call,
 * each offset once (a fetch repeated after a leader change is skipped), with the native batch consumer:
 * a chaos run scans millions of records beside the pipeline. Returns the number of records.
 */
export async function scanTopic(config: PulseConfig, topic: string, onRecord: (key: Buffer, value: Buffer) => void, timeoutMs = 120_000): Promise<number> {
  const offsets = await topicOffsets(config, topic);
  const ends = new Map(offsets.filter((o) => o.high > o.low).map((o) => [o.partition, o.high]));
  if (ends.size === 0) return 0;
  const next = new Map(offsets.map((o) => [o.partition, o.low]));
  const consumer = new BatchConsumer(consumerConfig(config, 'chaos-scan', `pulse-chaos-scan-${randomBytes(4).toString('hex')}`) as KafkaSettings);
  let records = 0;
  const deadline = Date.now() + timeoutMs;
  try {
    consumer.assign(offsets.filter((o) => ends.has(o.partition)).map((o) => ({ topic, partition: o.partition, offset: o.low })));
    let open = ends.size;
    while (open > 0) {
      if (Date.now() > deadline) throw new Error(`scanning ${topic}: ${open} partitions not read to their end within ${timeoutMs / 1000} s`);
      const batch = await consumer.poll(10_000, 100);
      for (const run of batch.runs) {
        const end = ends.get(run.partition);
        if (end === undefined) continue;
        for (let i = run.start; i < run.end; i++) {
          const offset = batch.offsets[i]!;
          if (offset < next.get(run.partition)! || offset >= end) continue;
          next.set(run.partition, offset + 1);
          const { key, value } = recordAt(batch, run, i);
          onRecord(key, value);
          records++;
          if (offset === end - 1) open--;
        }
      }
    }
  } finally {
    await consumer.close().catch(() => {});
  }
  return records;
}
