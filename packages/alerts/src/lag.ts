import type { PulseConfig } from '@pulse/config';
import { createAdminClient, GroupOffsetsReader, promisify, RdKafka, type AdminClient } from '@pulse/kafka';

/**
 * Samples the total lag of consumer groups (end offsets minus committed offsets, over the partitions
 * each group has committed) for consumer_lag rules: per group and sample, its committed
 * offsets through a GroupOffsetsReader (the admin client's way crashes on a failing broker) and one
 * admin request for the end offsets.
 */
export class LagSampler {
  private admin: AdminClient | null = null;
  private groupOffsets: GroupOffsetsReader | null = null;
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> | null = null;
  private failures = 0;

  constructor(
    private readonly config: PulseConfig,
    private readonly groups: readonly string[],
    private readonly intervalMs: number,
    private readonly onSample: (group: string, lag: number, at: number) => void,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.admin = createAdminClient(this.config, 'alerts-lag');
    this.groupOffsets = new GroupOffsetsReader(this.config, 'alerts-lag-offsets');
    this.timer = setInterval(() => {
      this.sampling ??= this.sample()
        .catch((err: Error) => {
          if (this.failures++ % 60 === 0) this.log(`sampling consumer lag failed: ${err.message}`);
        })
        .finally(() => (this.sampling = null));
    }, this.intervalMs);
  }

  private async sample(): Promise<void> {
    const admin = this.admin;
    const groupOffsets = this.groupOffsets;
    if (admin === null || groupOffsets === null) return;
    const timeout = Math.max(1000, this.intervalMs);
    for (const groupId of this.groups) {
      const committed = await groupOffsets.committed(groupId, 'all', timeout);
      if (committed.length === 0) continue;
      const ends = await promisify<{ topic: string; partition: number; offset: number; error?: unknown }[]>((cb) =>
        admin.listOffsets(
          committed.map((p) => ({ topic: p.topic, partition: p.partition, offset: RdKafka.OffsetSpec.LATEST })),
          { timeout },
          cb as never,
        ),
      );
      const end = new Map(ends.filter((e) => !e.error).map((e) => [`${e.topic}/${e.partition}`, Number(e.offset)]));
      let lag = 0;
      for (const p of committed) lag += Math.max(0, (end.get(`${p.topic}/${p.partition}`) ?? p.offset) - p.offset);
      this.onSample(groupId, lag, Date.now());
    }
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
