import { describe, expect, it } from 'vitest';
import { BatchConsumer, type KafkaSettings } from '../../packages/engine/src/index.js';
import { consumerConfig, GroupOffsetsReader } from '../../packages/kafka/src/index.js';
import { createTopic, produceRecords, testConfig, uniqueTopic } from './helpers/index.js';

// The committed offsets behind lag figures, read through a consumer of the group rather than
// librdkafka's admin call, which crashes the process when a broker fails (docs/kafka.md, "Broker
// failures"; the failure itself is in replication.test.ts).
describe('GroupOffsetsReader', () => {
  it('reads what a group committed, on the partitions asked or on every topic, without joining the group', async () => {
    const config = testConfig();
    const topic = uniqueTopic('group-offsets');
    await createTopic(config, topic, 3);
    await produceRecords(config, topic, Array.from({ length: 9 }, (_, i) => ({ value: `v${i}`, partition: i % 3 })));
    const group = `${topic}-group`;
    const c = new BatchConsumer(consumerConfig(config, 'group-offsets-test', group) as KafkaSettings);
    c.assign([0, 1, 2].map((partition) => ({ topic, partition, offset: 0 })));
    c.commit([{ topic, partition: 0, offset: 2 }, { topic, partition: 2, offset: 3 }]);
    await c.close();

    const reader = new GroupOffsetsReader(config, 'group-offsets-test');
    try {
      const asked = [0, 1, 2].map((partition) => ({ topic, partition }));
      // Partition 1 has no committed offset: left out.
      expect(await reader.committed(group, asked, 10_000)).toEqual([
        { topic, partition: 0, offset: 2 },
        { topic, partition: 2, offset: 3 },
      ]);
      const all = await reader.committed(group, 'all', 10_000);
      expect(all.filter((p) => p.topic === topic)).toEqual([
        { topic, partition: 0, offset: 2 },
        { topic, partition: 2, offset: 3 },
      ]);
      expect(await reader.committed(`${group}-none`, asked, 10_000)).toEqual([]);
      // Asking again reuses the group's consumer; dropping the group disconnects it.
      expect(await reader.committed(group, asked.slice(0, 1), 10_000)).toEqual([{ topic, partition: 0, offset: 2 }]);
      reader.retain([]);
      expect(await reader.committed(group, asked.slice(2), 10_000)).toEqual([{ topic, partition: 2, offset: 3 }]);
    } finally {
      await reader.close();
    }
  });
});
