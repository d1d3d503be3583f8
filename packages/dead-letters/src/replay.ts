import type { PulseConfig } from '@pulse/config';
import { KEY_FIELDS, producerConfig, promisify, readAll, TOPICS, TrackedProducer, type Headers, type ProducerGlobalConfig } from '@pulse/kafka';
import { HEADERS, type DeadLetter } from './headers.js';

/**
 * Fixes one event before it is sent again: the parsed value in, the value to send out, or null to
 * leave this dead letter alone.
 */
export type Fix = (event: unknown, letter: DeadLetter) => unknown;

export interface ReplayOptions {
  /** Plan only: nothing is written. */
  dryRun?: boolean;
  fix?: Fix;
  /** Dead letters per transaction. */
  transactionSize?: number;
}

/** What a replay does with one dead letter. */
export interface ReplayStep {
  readonly letter: DeadLetter;
  /** `send`: re-sent (or, in a dry run, would be); otherwise why not. */
  readonly action: 'send' | 'already_replayed' | 'no_source' | 'fix_failed' | 'fix_skipped';
  readonly detail?: string;
  readonly topic?: string;
  readonly key?: string | null;
  readonly value?: Buffer;
}

export interface ReplayResult {
  readonly steps: readonly ReplayStep[];
  readonly sent: number;
}

/**
 * Re-sends dead letters to the topics they came from, each at most once: every re-sent record and the
 * id of its dead letter on `pulse-dlq-replays` go in one Kafka transaction, and ids already there are
 * skipped — a replay that is interrupted or run twice sends nothing twice. A re-sent input event is
 * keyed by its id field (userId, sensorId), so Kafka's default partitioner puts it on its key's
 * partition; the record carries `pulse.replay.of` = the dead letter's id.
 */
export async function replayDeadLetters(config: PulseConfig, letters: readonly DeadLetter[], options: ReplayOptions = {}): Promise<ReplayResult> {
  const replayed = new Set((await readAll(config, TOPICS.deadLetterReplays, { timeoutMs: 60_000 })).map((r) => r.key));
  const steps = letters.map((letter) => plan(letter, replayed, options.fix));
  const toSend = steps.filter((s) => s.action === 'send');
  if (options.dryRun || toSend.length === 0) return { steps, sent: 0 };

  const producer = await TrackedProducer.connect(
    producerConfig(config, 'dlq-replay', {
      // One id per Pulse deployment: a second replay running at once fences the first instead of
      // interleaving with it.
      'transactional.id': `${config.kafka.clientId}-dlq-replay`,
      'enable.idempotence': true,
      'acks': 'all',
    } as ProducerGlobalConfig),
  );
  const client = producer.client;
  try {
    await promisify<void>((cb) => client.initTransactions(30_000, cb as never));
    const size = options.transactionSize ?? 500;
    for (let at = 0; at < toSend.length; at += size) {
      await promisify<void>((cb) => client.beginTransaction(cb as never));
      try {
        for (const s of toSend.slice(at, at + size)) {
          const headers: Headers = [{ [HEADERS.replayOf]: s.letter.id }];
          await producer.send(s.topic!, null, s.value!, s.key ?? null, headers);
          await producer.send(TOPICS.deadLetterReplays, null, Buffer.from(JSON.stringify({ topic: s.topic, at: Date.now() })), s.letter.id);
        }
        await promisify<void>((cb) => client.commitTransaction(60_000, cb as never));
      } catch (err) {
        await promisify<void>((cb) => client.abortTransaction(30_000, cb as never)).catch(() => {});
        throw err;
      }
      const failures = producer.takeFailures();
      if (failures.length > 0) throw new Error(`re-sending failed: ${failures[0]!.message}`);
    }
  } finally {
    await producer.close().catch(() => {});
  }
  return { steps, sent: toSend.length };
}

function plan(letter: DeadLetter, replayed: ReadonlySet<string | null>, fix: Fix | undefined): ReplayStep {
  if (replayed.has(letter.id)) return { letter, action: 'already_replayed' };
  if (letter.source === null || letter.value === null) return { letter, action: 'no_source', detail: 'its headers name no source topic, or it has no value' };
  let value = letter.value;
  let event: unknown;
  try {
    event = JSON.parse(value.toString('utf8'));
  } catch {
    event = undefined;
  }
  if (fix !== undefined) {
    if (event === undefined) return { letter, action: 'fix_failed', detail: 'its value is not JSON, so it cannot be fixed' };
    try {
      event = fix(event, letter);
    } catch (err) {
      return { letter, action: 'fix_failed', detail: (err as Error).message };
    }
    if (event === null || event === undefined) return { letter, action: 'fix_skipped' };
    value = Buffer.from(JSON.stringify(event));
  }
  const field = KEY_FIELDS[letter.source.topic];
  const id = field !== undefined && event !== null && typeof event === 'object' ? (event as Record<string, unknown>)[field] : undefined;
  const key = typeof id === 'string' && id !== '' ? id : (letter.key?.toString('utf8') ?? null);
  return { letter, action: 'send', topic: letter.source.topic, key, value };
}
