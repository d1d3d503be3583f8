import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kafkaPartition } from '../../packages/engine/src/index.js';
import { TOPICS } from '../../packages/kafka/src/index.js';
import { keysOn, produceRecords, readAll, testConfig } from './helpers/index.js';
import { pulseEnv, resetTopics, spawnPulse, testAggregators, waitUntil } from './helpers/pipeline.js';

const PARTITIONS = 12;

/** Runs `pulse dlq …` to its end: exit code and output. */
async function dlq(bootstrap: string, args: string[]): Promise<{ code: number | null; stdout: string; output: string }> {
  const p = spawnPulse(['dlq', ...args], pulseEnv(bootstrap));
  let stdout = '';
  p.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await p.exited;
  return { code, stdout, output: p.output() };
}

describe('dead letters: pulse dlq against a real broker', () => {
  const bootstrap = inject('kafkaBootstrap');
  const config = testConfig();
  const aggregators = testAggregators(bootstrap);
  const now = Date.now();
  const [home] = keysOn('dlq-user', 3, PARTITIONS, 1) as [string];
  const click = (eventId: string, userId: string, ts: number) => JSON.stringify({ eventId, type: 'page_view', userId, sessionId: 's', source: 'web', ts, properties: {} });
  // On partition 5, where the murmur2 partitioner would not put it; from an hour ahead; and not JSON.
  const misplaced = click('misplaced', home, now);
  const future = click('future', home, now + 3_600_000);

  beforeAll(async () => {
    await resetTopics(config);
    const aggregator = aggregators.start(`dlq-${Date.now()}`);
    await aggregator.waitFor(/aggregator: restored 42 partitions/);
    await produceRecords(config, TOPICS.userClicks, [
      { partition: 5, key: home, value: misplaced },
      { partition: 3, key: home, value: future },
      { partition: 3, key: home, value: '{"not json' },
    ]);
    await waitUntil('three dead letters', async () => ((await readAll(config, TOPICS.deadLetters)).length >= 3 ? true : undefined));
  });
  afterAll(() => aggregators.killAll());

  it('counts and lists dead letters by reason, stage and source, and shows one whole', async () => {
    const list = await dlq(bootstrap, ['--json']);
    expect(list.code, list.output).toBe(0);
    const counts = JSON.parse(list.stdout) as { total: number; byReason: Record<string, number>; byStage: Record<string, number>; bySource: Record<string, number>; latest: { id: string; reason: string }[] };
    expect(counts).toMatchObject({ total: 3, byReason: { wrong_partition: 1, future: 1, invalid_json: 1 }, byStage: { aggregator: 3 }, bySource: { 'user-clicks': 3 } });
    const filtered = JSON.parse((await dlq(bootstrap, ['list', '--reason', 'future,invalid_json', '--json'])).stdout) as { total: number };
    expect(filtered.total).toBe(2);

    const id = counts.latest.find((l) => l.reason === 'wrong_partition')!.id;
    const show = await dlq(bootstrap, ['show', id]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('pulse.error.reason: wrong_partition');
    expect(show.stdout).toContain('pulse.source.partition: 5');
    expect(show.stdout).toContain(`value: ${misplaced}`);
  });

  it('refuses a malformed ID, an unknown action and an ID that is not there, with a clear error', async () => {
    const bad = await dlq(bootstrap, ['show', 'seven']);
    expect(bad.code).toBe(2);
    expect(bad.output).toMatch(/partition@offset/);
    expect((await dlq(bootstrap, ['undo'])).output).toMatch(/unknown action "undo"/);
    const missing = await dlq(bootstrap, ['replay', '0@999999']);
    expect(missing.code).toBe(2);
    expect(missing.output).toMatch(/no dead letter 0@999999/);
  });

  it('replays fixed and misplaced events exactly once, onto the partition of their key, where they are counted', async () => {
    const dry = await dlq(bootstrap, ['replay', '--reason', 'wrong_partition', '--dry-run']);
    expect(dry.code, dry.output).toBe(0);
    expect(dry.stdout).toMatch(/would send to user-clicks key dlq-user-\d+/);
    expect(dry.stdout).toMatch(/dry run: 1 of 1 would be sent; nothing was written/);
    expect(await readAll(config, TOPICS.deadLetterReplays)).toEqual([]);

    const fixDir = mkdtempSync(join(tmpdir(), 'pulse-dlq-fix-'));
    const fix = join(fixDir, 'fix.mjs');
    writeFileSync(fix, `export default (event) => (event.eventId === 'future' ? { ...event, ts: ${now} } : null);\n`);
    for (let round = 0; round < 2; round++) {
      const replay = await dlq(bootstrap, ['replay', '--reason', 'wrong_partition']);
      expect(replay.code, replay.output).toBe(0);
      expect(replay.stdout).toMatch(round === 0 ? /1 of 1 re-sent/ : /skipped: already replayed[\s\S]*0 of 1 re-sent/);
      const fixed = await dlq(bootstrap, ['replay', '--reason', 'future,invalid_json', '--fix', fix]);
      expect(fixed.code, fixed.output).toBe(0);
      expect(fixed.stdout).toMatch(round === 0 ? /skipped: fix failed \(its value is not JSON[\s\S]*1 of 2 re-sent/ : /0 of 2 re-sent/);
    }

    const replayed = (await readAll(config, TOPICS.userClicks)).filter((r) => r.headers['pulse.replay.of'] !== undefined);
    expect(replayed.map((r) => [r.partition, r.key, JSON.parse(r.value!.toString()).eventId]).sort()).toEqual(
      [
        [kafkaPartition(home, PARTITIONS), home, 'future'],
        [kafkaPartition(home, PARTITIONS), home, 'misplaced'],
      ].sort(),
    );
    // Both are counted now, in the user's current window on its own partition.
    await waitUntil('the replayed events counted', async () => {
      const counts = (await readAll(config, TOPICS.userActivityCounts)).map((r) => JSON.parse(r.value!.toString()) as { userId: string; count: number });
      return counts.some((c) => c.userId === home && c.count === 2) ? true : undefined;
    });
  });
});
