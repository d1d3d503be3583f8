import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig } from '@pulse/config';
import { runE2E, type E2EResult } from '@pulse/bench';
import { defineCommand, numberFlag, UsageError } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function markdown(r: E2EResult): string {
  const row = (name: string, l: E2EResult['latencyMs']) => `| ${name} | ${fmt(l.count)} | ${l.p50} | ${l.p95} | ${l.p99} | ${l.p999} | ${l.max} |`;
  const procs = Object.entries(r.processes)
    .map(([name, u]) => `| ${name} | ${u.cpuPercent} | ${u.maxRssMiB} |`)
    .join('\n');
  return `# Pulse e2e benchmark — ${fmt(r.targetRate)} events/s for ${r.durationSec} s

Measured ${r.startedAt} on ${r.machine.cpuModel} (${r.machine.cores} cores, ${r.machine.memoryGiB} GiB), Node ${r.machine.node},
Kafka ${r.machine.kafka}, librdkafka ${r.machine.librdkafka}, engine ${r.machine.engine}, commit ${r.machine.commit}.
Generator, single broker, aggregator and this measuring consumer all ran on that machine.

- target ${fmt(r.targetRate)} events/s; generator sent ${fmt(r.events)} events (${Object.entries(r.perTopic)
    .map(([t, n]) => `${t} ${fmt(n)}`)
    .join(', ')}) at ${fmt(r.generatorRate)} events/s (max ${fmt(r.generatorMaxBehindMs)} ms behind schedule)
- **aggregated ${fmt(r.achievedRate)} user-clicks events/s** over the ${r.measuredSec} s after a ${r.warmupSec} s warm-up; max consumer lag ${fmt(r.maxLag)}
- ${fmt(r.outputs)} output records, ${fmt(r.deadLetters)} dead letters

Latency in ms from each event's intended send time (no coordinated omission):

| to | events | p50 | p95 | p99 | p99.9 | max |
|---|---|---|---|---|---|---|
${row('reflected in aggregator state', r.stateLatencyMs)}
${row('readable on user-activity-counts', r.outputLatencyMs)}

| process | CPU % (of one core) | max RSS MiB |
|---|---|---|
${procs}

Settings: ${Object.entries(r.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}
`;
}

export const bench = defineCommand({
  name: 'bench',
  summary: 'benchmarks: e2e (generator → Kafka → aggregator → user-activity-counts)',
  allowPositionals: true,
  help: `Usage: pulse bench e2e --rate N --duration S [--json FILE] [options]

e2e: starts a fresh local Kafka broker (unless --bootstrap-servers), an aggregator process and a
generator process at the target rate, and measures, from each event's intended send time, the
latency until (a) the aggregator's state reflects it and (b) its update can be read from
user-activity-counts by a separate consumer; HdrHistogram percentiles, throughput after warm-up,
consumer lag over time, CPU and RSS per process. Writes the JSON result to FILE and a Markdown
summary beside it (FILE with .md).

Options:
  --rate N               target events/s (default 100000)
  --duration S           seconds of load (default 60)
  --warmup S             seconds excluded from the figures (default: a fifth of the duration, at most 15)
  --json FILE            where to write the result (default: print it on stdout)
  --seed X               generator seed (default bench)
  --bootstrap-servers B  use this cluster instead of a fresh local broker
  --port P               port of the fresh local broker (default 9192)`,
  options: {
    rate: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    json: { type: 'string' },
    seed: { type: 'string' },
    'bootstrap-servers': { type: 'string' },
    port: { type: 'string' },
  },
  async run(values, positionals) {
    const [scenario, ...extra] = positionals;
    if (scenario !== 'e2e' || extra.length > 0) throw new UsageError(`unknown benchmark ${JSON.stringify(positionals.join(' '))}; available: e2e`);
    const config = loadConfig();
    const durationSec = numberFlag('duration', values.duration, 60, 1);
    const result = await runE2E({
      config,
      rate: numberFlag('rate', values.rate, 100_000, 1),
      durationSec,
      warmupSec: numberFlag('warmup', values.warmup, Math.min(15, Math.floor(durationSec / 5)), 0),
      bootstrapServers: values['bootstrap-servers'] as string | undefined,
      dataDir: resolve(config.dataDir, 'bench'),
      port: numberFlag('port', values.port, 9192, 1024),
      seed: (values.seed as string | undefined) ?? 'bench',
      log: (line) => console.error(`bench: ${line}`),
    });
    const json = `${JSON.stringify(result, null, 2)}\n`;
    if (values.json) {
      const file = resolve(values.json as string);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, json);
      writeFileSync(file.replace(/\.json$/, '') + '.md', markdown(result));
      console.error(`bench: wrote ${file} and its .md summary`);
    } else {
      process.stdout.write(json);
    }
    console.error(markdown(result));
    return 0;
  },
});
