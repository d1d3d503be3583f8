import type { PulseConfig } from '../../../packages/config/src/index.js';
import { readAll, type ReadAllOptions, type ReadRecord } from '../../../packages/kafka/src/index.js';

export { readAll, type ReadAllOptions, type ReadRecord };

/** readAll, with each value parsed as JSON (null values stay null). */
export async function readJson<T = unknown>(config: PulseConfig, topic: string, options: ReadAllOptions = {}): Promise<(ReadRecord & { json: T | null })[]> {
  return (await readAll(config, topic, options)).map((r) => ({ ...r, json: r.value === null ? null : (JSON.parse(r.value.toString('utf8')) as T) }));
}

/**
 * Waits until `user-activity-counts` holds, for every user of `expected`, a latest count equal to it,
 * every record in the window starting at `windowStart`; returns the latest count of each user seen.
 */
export async function waitForUserCounts(config: PulseConfig, expected: ReadonlyMap<string, number>, windowStart: number, timeoutMs = 120_000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const latest = new Map<string, number>();
    for (const r of await readAll(config, 'user-activity-counts')) {
      const v = JSON.parse(r.value!.toString()) as { userId: string; windowStart: number; count: number };
      if (v.windowStart !== windowStart) throw new Error(`a count of window ${v.windowStart}, expected only ${windowStart}: ${r.value!.toString()}`);
      latest.set(v.userId, Math.max(latest.get(v.userId) ?? 0, v.count));
    }
    if ([...expected].every(([user, n]) => latest.get(user) === n)) return latest;
    if (Date.now() > deadline) throw new Error(`timed out waiting for every user's count: ${[...expected].filter(([u, n]) => latest.get(u) !== n).length} of ${expected.size} differ`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}
