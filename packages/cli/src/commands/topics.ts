import { loadConfig } from '@pulse/config';
import { ensureTopics, TOPIC_SPECS, type TopicReport } from '@pulse/kafka';
import { defineCommand, UsageError } from '../command.js';

const HOUR = 3_600_000;

/** 86400000 → "1 d", 3600000 → "1 h": retention as docs/specification.md writes it. */
function duration(ms: string | undefined): string {
  if (ms === undefined) return '-';
  const n = Number(ms);
  if (n < 0) return 'forever';
  if (n % (24 * HOUR) === 0) return `${n / (24 * HOUR)} d`;
  if (n % HOUR === 0) return `${n / HOUR} h`;
  return `${n} ms`;
}

function table(rows: readonly TopicReport[]): string {
  const header = ['topic', 'partitions', 'replication', 'min.insync', 'retention', 'cleanup', 'status'];
  const body = rows.map((t) => [
    t.name,
    String(t.partitions),
    String(t.replicationFactor),
    t.config['min.insync.replicas'] ?? '-',
    t.config['cleanup.policy'] === 'compact' ? '-' : duration(t.config['retention.ms']),
    t.config['cleanup.policy'] ?? 'delete',
    t.status,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  return [header, ...body].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}

export const topics = defineCommand({
  name: 'topics',
  summary: 'create Pulse\'s Kafka topics (idempotent) and check existing ones',
  help: `Usage: pulse topics create [--bootstrap-servers B]

Creates the topics of docs/specification.md, "Topics" and Pulse's own (${TOPIC_SPECS.map((s) => s.name).join(', ')})
with their partition counts and retention. Replication factor and min.insync.replicas come from
configuration (kafka.replicationFactor, kafka.minInsyncReplicas); by default one replica per broker,
at most 3, and min.insync.replicas 2 with 3 replicas (1/1 on a single broker, 3/2 on three or more).
Topics that exist are checked, never changed: a different partition count, configured replication
factor, min.insync.replicas, retention or cleanup policy is an error naming the topic, the expected and the actual value
(exit code 1).

Options:
  --bootstrap-servers B  Kafka to use (default: configuration kafka.bootstrapServers)`,
  options: {
    'bootstrap-servers': { type: 'string' },
  },
  allowPositionals: true,
  async run(v, positionals) {
    const [action, ...extra] = positionals;
    if (action !== 'create') throw new UsageError(action === undefined ? 'missing action: create' : `unknown action ${JSON.stringify(action)}: expected create`);
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    const config = loadConfig({ overrides: v['bootstrap-servers'] === undefined ? {} : { 'kafka.bootstrapServers': v['bootstrap-servers'] } });
    try {
      const result = await ensureTopics(config);
      console.log(table(result.topics));
      for (const w of result.warnings) console.error(`warning: ${w}`);
      console.log(`${result.created.length} created, ${result.existing.length} already present on ${config.kafka.bootstrapServers}`);
      return 0;
    } catch (err) {
      // ensureTopics' errors (unreachable broker, mismatching topic, rejected creation) explain themselves.
      console.error(`pulse topics create: ${(err as Error).message}`);
      return 1;
    }
  },
});
