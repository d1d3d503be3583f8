import type { PulseConfig } from '../../../packages/config/src/index.js';
import { readAll, type ReadAllOptions, type ReadRecord } from '../../../packages/kafka/src/index.js';

export { readAll, type ReadAllOptions, type ReadRecord };

/** readAll, with each value parsed as JSON (null values stay null). */
export async function readJson<T = unknown>(config: PulseConfig, topic: string, options: ReadAllOptions = {}): Promise<(ReadRecord & { json: T | null })[]> {
  return (await readAll(config, topic, options)).map((r) => ({ ...r, json: r.value === null ? null : (JSON.parse(r.value.toString('utf8')) as T) }));
}
