import type { PulseConfig } from '@pulse/config';
import { createAdminClient, GroupOffsetsReader, promisify, RdKafka, TOPIC_SPECS, type AdminClient } from '@pulse/kafka';

export interface TopicRate {
  topic: string;
  /** Records appended per second between the last two samples (all partitions). */
  eventsPerSec: number;
  endOffset: number;
}

export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  committed: number;
  end: number;
  lag: number;
}

export interface KafkaSnapshot {
  sampledAt: number | null;
  intervalMs: number | null;
  topics: TopicRate[];
  lag: PartitionLag[];
  error: string | null;
}

/** Groups inspected at most, so that a busy shared cluster cannot make the answer unbounded. */
const MAX_GROUPS = 50;

/**
 * Samples, every `intervalMs`, the end offsets of Pulse's topics (events/s per topic = appended
 * records between two samples) and the committed offsets of the consumer groups reading them (lag per
 * group and partition). One admin client, a handful of requests per sample, and the committed offsets
 * through a GroupOffsetsReader (a consumer per group: the admin client's way crashes on a failing broker).
 */
export class KafkaMonitor {
  private admin: AdminClient | null = null;
  private groupOffsets: GroupOffsetsReader | null = null;
  private timer: NodeJS.Timeout | null = null;
  private previous: { at: number; ends: Map<string, number[]> } | null = null;
  private snapshotValue: KafkaSnapshot = { sampledAt: null, intervalMs: null, topics: [], lag: [], error: null };
  private sampling: Promise<void> | null = null;

  constructor(
    private readonly config: PulseConfig,
    private readonly intervalMs = 5000,
    private readonly topics: readonly string[] = TOPIC_SPECS.map((t) => t.name),
  ) {}

  start(): void {
    this.admin = createAdminClient(this.config, 'monitor');
    this.groupOffsets = new GroupOffsetsReader(this.config, 'monitor-offsets');
    this.sampleSoon();
    this.timer = setInterval(() => this.sampleSoon(), this.intervalMs);
    this.timer.unref();
  }

  /** The latest sample. */
  snapshot(): KafkaSnapshot {
    return this.snapshotValue;
  }

  /** Takes a sample now unless one is under way; resolves when it is done. */
  sampleSoon(): Promise<void> {
    this.sampling ??= this.sample()
      .catch((err: Error) => {
        this.snapshotValue = { ...this.snapshotValue, error: err.message };
      })
      .finally(() => (this.sampling = null));
    return this.sampling;
  }

  private async sample(): Promise<void> {
    const admin = this.admin;
    const groupOffsets = this.groupOffsets;
    if (admin === null || groupOffsets === null) return;
    const timeout = Math.max(1000, this.intervalMs);
    // One topic at a time: a topic not created yet leaves the others' figures intact.
    const described = await Promise.all(
      this.topics.map((topic) =>
        promisify<{ name: string; partitions: { partition: number }[] }[]>((cb) => admin.describeTopics([topic], { timeout }, cb as never)).catch(() => []),
      ),
    );
    const present = described.flat().filter((t) => t.partitions.length > 0);
    const request = present.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition, offset: RdKafka.OffsetSpec.LATEST })));
    const answers = request.length === 0 ? [] : await promisify<{ topic: string; partition: number; offset: number; error?: unknown }[]>((cb) => admin.listOffsets(request, { timeout }, cb as never));
    const at = Date.now();
    const ends = new Map<string, number[]>();
    for (const a of answers) {
      if (a.error) continue;
      let list = ends.get(a.topic);
      if (list === undefined) ends.set(a.topic, (list = []));
      list[a.partition] = Number(a.offset);
    }
    const sum = (xs: number[] | undefined) => (xs ?? []).reduce((n, x) => n + (x ?? 0), 0);
    const prev = this.previous;
    const topics = [...ends.keys()].sort().map((topic) => {
      const end = sum(ends.get(topic));
      const before = prev?.ends.get(topic);
      const rate = prev !== null && before !== undefined && at > prev.at ? (Math.max(0, end - sum(before)) * 1000) / (at - prev.at) : 0;
      return { topic, eventsPerSec: Math.round(rate * 10) / 10, endOffset: end };
    });

    // Every group: members of a consumer group and assign()-only clients that commit ("simple" groups) alike.
    const listed = await promisify<{ groups: { groupId: string }[] }>((cb) => admin.listGroups({ timeout }, cb as never));
    const groups = listed.groups.map((g) => g.groupId).sort().slice(0, MAX_GROUPS);
    groupOffsets.retain(groups);
    const partitions = present.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, partition: p.partition })));
    const lag: PartitionLag[] = [];
    for (const groupId of groups) {
      // A group whose coordinator is moving (a broker failing) is left out of this sample.
      const committed = await groupOffsets.committed(groupId, partitions, timeout).catch(() => []);
      for (const p of committed) {
        const end = ends.get(p.topic)?.[p.partition];
        if (end === undefined) continue;
        lag.push({ group: groupId, topic: p.topic, partition: p.partition, committed: p.offset, end, lag: Math.max(0, end - p.offset) });
      }
    }
    lag.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    this.snapshotValue = { sampledAt: at, intervalMs: prev === null ? null : at - prev.at, topics, lag, error: null };
    this.previous = { at, ends };
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    await this.sampling;
    this.admin?.disconnect();
    this.admin = null;
    await this.groupOffsets?.close();
    this.groupOffsets = null;
  }
}
