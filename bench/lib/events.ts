import { TOPICS } from '@pulse/kafka';
import { createShopModel } from '@pulse/loadgen';

export interface ClickRecords {
  keys: Buffer[];
  values: Buffer[];
  /** Mean key plus value size, bytes. */
  meanBytes: number;
}

/**
 * `count` user-clicks records as the load generator writes them (its shop model, its seed), with event
 * times `intervalMs` apart from `startTs`: the realistic input of the benchmarks that need no broker.
 */
export function clickRecords(count: number, seed: string, startTs: number, intervalMs: number): ClickRecords {
  const model = createShopModel(seed, { mix: { clicks: 1, purchases: 0, sensors: 0 } });
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  let bytes = 0;
  for (let i = 0; keys.length < count; i++) {
    const e = model.next(Math.floor(startTs + i * intervalMs));
    // About 1% of user events are purchases, which belong to another topic.
    if (e.topic !== TOPICS.userClicks) continue;
    keys.push(Buffer.from(e.key));
    values.push(Buffer.from(e.value));
    bytes += e.key.length + e.value.length;
  }
  return { keys, values, meanBytes: count > 0 ? bytes / count : 0 };
}
