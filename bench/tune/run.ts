import type { PulseConfig } from '@pulse/config';
import { TOPICS } from '@pulse/kafka';
import { clickRecords } from '../lib/events.js';
import { chooseSettings, SPEC_STATIC, type TuneChoice, type TuneInputs } from './choose.js';
import { measureRoundTrips, measureTopicRate, topicPartitions, type RoundTrips } from './measure.js';

export interface TuneOptions {
  config: PulseConfig;
  topic: string;
  /** Events/s into the topic; measured from its high watermarks when left out. */
  rate?: number;
  rateWindowSec: number;
  budgetMs: number;
  /** Mean record size; the load generator's user-clicks events when left out. */
  recordBytes?: number;
  roundTrips: number;
  log: (line: string) => void;
}

export interface TuneResult {
  topic: string;
  inputs: TuneInputs;
  rateSource: 'given' | 'measured';
  recordBytesSource: 'given' | 'load generator model';
  roundTrips: RoundTrips;
  choice: TuneChoice;
  /** The spec's static settings, for comparison. */
  specStatic: typeof SPEC_STATIC;
  /** The same choice as PULSE_* settings, ready for an environment file. */
  env: Record<string, string>;
}

/** The mean size of a user-clicks record (key and value) as the load generator writes them. */
export function modelRecordBytes(): number {
  return Math.round(clickRecords(2000, 'tune', Date.now(), 1).meanBytes);
}

/** Every bootstrap server is this machine: 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(bootstrapServers: string): boolean {
  return bootstrapServers.split(',').every((server) => {
    const host = server.trim().replace(/^\[?([^\]]*?)\]?(:\d+)?$/, '$1');
    return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
  });
}

export async function runTune(o: TuneOptions): Promise<TuneResult> {
  o.log(`measuring ${o.roundTrips} produce round trips to ${o.config.kafka.bootstrapServers} (acks=${o.config.producer.acks})`);
  const roundTrips = await measureRoundTrips(o.config, o.roundTrips);
  let partitions: number;
  let ratePerSec: number;
  if (o.rate === undefined) {
    o.log(`measuring the rate of ${o.topic} from its high watermarks over ${o.rateWindowSec} s`);
    const measured = await measureTopicRate(o.config, o.topic, o.rateWindowSec);
    if (measured.ratePerSec <= 0) throw new Error(`no events arrived on ${o.topic} in ${measured.windowSec} s: give the expected rate with --rate`);
    partitions = measured.partitions;
    ratePerSec = measured.ratePerSec;
  } else {
    partitions = await topicPartitions(o.config, o.topic);
    ratePerSec = o.rate;
  }
  const inputs: TuneInputs = {
    rttMs: roundTrips.produceMs.median,
    ratePerSec,
    partitions,
    recordBytes: o.recordBytes ?? modelRecordBytes(),
    budgetMs: o.budgetMs,
    loopback: isLoopback(o.config.kafka.bootstrapServers),
  };
  const choice = chooseSettings(inputs);
  return {
    topic: o.topic,
    inputs,
    rateSource: o.rate === undefined ? 'measured' : 'given',
    recordBytesSource: o.recordBytes === undefined ? 'load generator model' : 'given',
    roundTrips,
    choice,
    specStatic: SPEC_STATIC,
    env: {
      PULSE_PRODUCER_BATCH_SIZE: String(choice.batchSizeBytes),
      PULSE_PRODUCER_LINGER_MS: String(choice.lingerMs),
      PULSE_PRODUCER_COMPRESSION: choice.compression,
      PULSE_AGGREGATOR_CONSUME_BATCH_SIZE: String(choice.consumerBatchSize),
    },
  };
}

/**
 * The tuner's producer settings for `rate` events/s into user-clicks (100 ms budget), as the
 * PULSE_PRODUCER_* variables of the processes a benchmark starts. The producer's only: the tuner's
 * consumer batch is left to the configuration, since at 100 000 events/s its 1 111 records a poll did
 * worse in e2e than the configured 2 000.
 */
export async function tunedProducerEnv(config: PulseConfig, rate: number, log: (line: string) => void): Promise<Record<string, string>> {
  const t = await runTune({ config, topic: TOPICS.userClicks, rate, rateWindowSec: 1, budgetMs: 100, roundTrips: 50, log: (l) => log(`tune: ${l}`) });
  const env = Object.fromEntries(Object.entries(t.env).filter(([name]) => name.startsWith('PULSE_PRODUCER_')));
  log(`tuned for ${rate.toLocaleString('en-US')} events/s: ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  return env;
}
