import { loadConfig } from '@pulse/config';
import { runTune } from '@pulse/bench';
import { TOPICS } from '@pulse/kafka';
import { defineCommand, numberFlag } from '../command.js';

export const tune = defineCommand({
  name: 'tune',
  summary: 'choose producer batch.size / linger.ms and the consumer batch size for a latency budget',
  help: `Usage: pulse tune [--rate N] [--budget-ms MS] [--topic T] [--json] [options]

Measures the round trip to the broker (produce requests of one record with nothing lingering, on a
probe topic of its own, pulse-tune-probe; and metadata requests) and the event rate of the topic
(--rate, or the growth of its partitions' high watermarks over --window S), then chooses for the
latency budget:
  linger.ms    the time a partition takes to gather the spec formula's batch √(2·RTT·rate/holding
               cost), with the rate in events per ms per partition; at least two round trips
               (requests sent faster than they return queue up) and 10 ms (librdkafka sends each
               partition's batch as a request of its own, and a request costs the broker CPU
               whatever its size), at most a fifth of the budget
  batch.size   four times what a partition gathers in that linger (a power of two, 16 KB … 1 MB),
               so the linger closes batches at a steady rate and bursts still fit
  consumer batch  the records the aggregator processes in a tenth of the budget (~9 µs each)
  compression  none when every bootstrap server is on this machine (loopback: compressing only costs
               CPU in the producer, the broker and the consumers), else lz4 as the spec says
It prints the choice, why, and the PULSE_* settings that apply it. \`pulse bench sweep\` measures the
choice against the spec's static settings (16 KB, 10 ms) on the latency-throughput curve.

Options:
  --rate N               events/s into the topic (default: measured from its high watermarks)
  --window S             seconds to measure the rate over (default 5)
  --budget-ms MS         end-to-end latency budget (default 100: the p95 target in docs/specification.md)
  --topic T              the input topic (default ${TOPICS.userClicks})
  --record-size B        mean record size with key (default: the load generator's user-clicks events)
  --samples N            produce round trips to measure (default 50)
  --bootstrap-servers B  Kafka to use (default: configuration kafka.bootstrapServers)
  --json                 print the result as JSON`,
  options: {
    rate: { type: 'string' },
    window: { type: 'string' },
    'budget-ms': { type: 'string' },
    topic: { type: 'string' },
    'record-size': { type: 'string' },
    samples: { type: 'string' },
    'bootstrap-servers': { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(v) {
    const bootstrap = v['bootstrap-servers'] as string | undefined;
    const config = loadConfig(bootstrap === undefined ? {} : { overrides: { 'kafka.bootstrapServers': bootstrap } });
    const options = {
      config,
      topic: (v.topic as string | undefined) ?? TOPICS.userClicks,
      ...(v.rate === undefined ? {} : { rate: numberFlag('rate', v.rate as string, 0, 1) }),
      rateWindowSec: numberFlag('window', v.window as string | undefined, 5, 1),
      budgetMs: numberFlag('budget-ms', v['budget-ms'] as string | undefined, 100, 1),
      ...(v['record-size'] === undefined ? {} : { recordBytes: numberFlag('record-size', v['record-size'] as string, 0, 1) }),
      roundTrips: numberFlag('samples', v.samples as string | undefined, 50, 1),
      log: (line: string) => console.error(`tune: ${line}`),
    };
    let result: Awaited<ReturnType<typeof runTune>>;
    try {
      result = await runTune(options);
    } catch (err) {
      // An unreachable broker, a missing or idle topic: the messages explain themselves.
      console.error(`pulse tune: ${(err as Error).message}`);
      return 1;
    }
    if (v.json) {
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      return 0;
    }
    const c = result.choice;
    const i = result.inputs;
    console.log(`measured: produce round trip ${result.roundTrips.produceMs.median} ms median (p90 ${result.roundTrips.produceMs.p90}), metadata ${result.roundTrips.metadataMs.median} ms`);
    console.log(`rate: ${i.ratePerSec.toLocaleString('en-US')} events/s on ${result.topic} (${result.rateSource}), ${i.partitions} partitions; records ~${i.recordBytes} bytes (${result.recordBytesSource}); budget ${i.budgetMs} ms`);
    console.log('');
    console.log(`producer batch.size  ${c.batchSizeBytes}   (spec: ${result.specStatic.batchSizeBytes})`);
    console.log(`producer linger.ms   ${c.lingerMs}   (spec: ${result.specStatic.lingerMs})`);
    console.log(`producer compression ${c.compression}   (spec: ${result.specStatic.compression})`);
    console.log(`consumer batch size  ${c.consumerBatchSize}`);
    console.log('');
    console.log('why:');
    for (const reason of c.reasons) console.log(`  - ${reason}`);
    console.log('');
    console.log('to apply:');
    for (const [name, value] of Object.entries(result.env)) console.log(`  ${name}=${value}`);
    return 0;
  },
});
