import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '@pulse/config';
import { countDeadLetters, ID_PATTERN, readDeadLetters, replayDeadLetters, type DeadLetter, type DeadLetterFilter, type Fix } from '@pulse/dead-letters';
import { defineCommand, numberFlag, UsageError } from '../command.js';

const list = (raw: unknown): string[] | undefined =>
  typeof raw === 'string'
    ? raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
    : undefined;

function filterOf(values: Record<string, unknown>, ids: string[]): DeadLetterFilter {
  for (const id of ids) if (!ID_PATTERN.test(id)) throw new UsageError(`a dead letter is named partition@offset (as \`pulse dlq\` lists it), got ${JSON.stringify(id)}`);
  return { reasons: list(values.reason), stage: values.stage as string | undefined, source: values.source as string | undefined, ids: ids.length > 0 ? ids : undefined };
}

const preview = (value: Buffer | null, max = 100): string => {
  if (value === null) return '(no value)';
  const text = value.toString('utf8').replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

const sourceOf = (l: DeadLetter) => (l.source === null ? '(unknown source)' : `${l.source.topic}/${l.source.partition}@${l.source.offset}`);

async function loadFix(path: string): Promise<Fix> {
  const module = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  if (typeof module.default !== 'function') throw new UsageError(`--fix ${path} must export a default function (event, deadLetter) => fixed event, or null to skip it`);
  return module.default as Fix;
}

export const dlq = defineCommand({
  name: 'dlq',
  summary: 'list, count, show and replay the records in dead-letters',
  help: `Usage: pulse dlq [list] [--reason R[,R…]] [--stage S] [--source TOPIC] [--limit N] [--json]
       pulse dlq show ID
       pulse dlq replay [ID…] [--reason R[,R…]] [--stage S] [--source TOPIC] [--fix FILE] [--dry-run] [--json]

Every event Pulse could not process is on the topic dead-letters with its original bytes and headers
naming why (pulse.error.reason, pulse.error.detail), where (pulse.error.stage) and what it was
(pulse.source.topic, .partition, .offset). A dead letter's ID is its partition@offset in dead-letters.

  list     counts by reason, stage and source topic, then the latest matching dead letters
  show     one dead letter: every header, the key and the whole value
  replay   re-sends the chosen dead letters (the IDs given, or all that match the filters) to the
           topics they came from, keyed by their userId or sensorId, each at most once: the re-sent
           records and the IDs of their dead letters (on pulse-dlq-replays) are written in one Kafka
           transaction, and IDs already replayed are skipped, so an interrupted or repeated replay
           sends nothing twice. Records that are still wrong come back as new dead letters.

Options:
  --reason R[,R…]   only these reasons (invalid_json, missing_field, wrong_type, invalid_value, late,
                    overflow, future, wrong_partition)
  --stage S         only this stage (aggregator, collector)
  --source TOPIC    only dead letters from this topic
  --limit N         dead letters listed (default 20; the counts cover all)
  --fix FILE        a JavaScript module whose default export (event, deadLetter) returns the fixed event
                    (or null to skip it); without it, records are re-sent as they are
  --dry-run         show what replay would send, and send nothing
  --json            print JSON instead of text`,
  allowPositionals: true,
  options: {
    reason: { type: 'string' },
    stage: { type: 'string' },
    source: { type: 'string' },
    limit: { type: 'string' },
    fix: { type: 'string' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(values, positionals) {
    const [action = 'list', ...ids] = positionals;
    const config = loadConfig();
    const json = values.json === true;
    const print = (line: string) => console.log(line);

    if (action === 'list') {
      if (ids.length > 0) throw new UsageError(`dlq list takes no IDs (use dlq show ID), got ${ids.join(' ')}`);
      const limit = Math.floor(numberFlag('limit', values.limit, 20, 0));
      const letters = await readDeadLetters(config, filterOf(values, []));
      const counts = countDeadLetters(letters);
      const latest = letters.sort((a, b) => (b.timestamp ?? 0) - (a.timestamp ?? 0)).slice(0, limit);
      if (json) {
        print(JSON.stringify({ ...counts, latest: latest.map((l) => ({ id: l.id, reason: l.reason, stage: l.stage, source: l.source, detail: l.detail, timestamp: l.timestamp, value: l.value?.toString('utf8') ?? null })) }));
        return 0;
      }
      const table = (title: string, byKey: Record<string, number>) => `${title}: ${Object.entries(byKey).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ') || '-'}`;
      print(`${counts.total} dead letters`);
      print(table('by reason', counts.byReason));
      print(table('by stage', counts.byStage));
      print(table('by source', counts.bySource));
      if (latest.length > 0) print(`\nlatest ${latest.length}:`);
      for (const l of latest) print(`${l.id.padEnd(10)} ${l.reason.padEnd(16)} ${sourceOf(l).padEnd(28)} ${l.detail}\n           ${preview(l.value)}`);
      return 0;
    }

    if (action === 'show') {
      if (ids.length !== 1) throw new UsageError('dlq show takes one ID (partition@offset)');
      const [letter] = await readDeadLetters(config, filterOf({}, ids));
      if (letter === undefined) {
        console.error(`pulse dlq: no dead letter ${ids[0]} (it may have passed the topic's retention)`);
        return 1;
      }
      if (json) print(JSON.stringify({ ...letter, key: letter.key?.toString('utf8') ?? null, value: letter.value?.toString('utf8') ?? null }));
      else {
        print(`dead letter ${letter.id}${letter.timestamp === undefined ? '' : ` at ${new Date(letter.timestamp).toISOString()}`}`);
        for (const [name, value] of Object.entries(letter.headers)) print(`  ${name}: ${value}`);
        print(`  key: ${letter.key?.toString('utf8') ?? '(none)'}`);
        print(`  value: ${letter.value?.toString('utf8') ?? '(none)'}`);
      }
      return 0;
    }

    if (action === 'replay') {
      const filter = filterOf(values, ids);
      const fix = typeof values.fix === 'string' ? await loadFix(values.fix) : undefined;
      const letters = await readDeadLetters(config, filter);
      if (ids.length > 0) {
        const missing = ids.filter((id) => !letters.some((l) => l.id === id));
        if (missing.length > 0) throw new UsageError(`no dead letter ${missing.join(', ')} matches (see pulse dlq)`);
      }
      const dryRun = values['dry-run'] === true;
      const result = await replayDeadLetters(config, letters, { dryRun, fix });
      if (json) {
        print(JSON.stringify({ dryRun, sent: result.sent, steps: result.steps.map((s) => ({ id: s.letter.id, action: s.action, detail: s.detail, topic: s.topic, key: s.key, value: s.value?.toString('utf8') })) }));
        return 0;
      }
      for (const s of result.steps) {
        print(
          s.action === 'send'
            ? `${s.letter.id.padEnd(10)} ${dryRun ? 'would send' : 'sent'} to ${s.topic} key ${s.key ?? '(none)'}: ${preview(s.value ?? null)}`
            : `${s.letter.id.padEnd(10)} skipped: ${s.action.replace('_', ' ')}${s.detail === undefined ? '' : ` (${s.detail})`}`,
        );
      }
      const sendable = result.steps.filter((s) => s.action === 'send').length;
      print(dryRun ? `dry run: ${sendable} of ${letters.length} would be sent; nothing was written` : `${result.sent} of ${letters.length} re-sent`);
      return 0;
    }
    throw new UsageError(`unknown action ${JSON.stringify(action)}: list, show or replay`);
  },
});
