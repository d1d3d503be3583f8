/**
 * The batch-size tuner's choice: producer batch.size and linger.ms and the aggregator's consumer batch
 * size for a measured round-trip time, event rate and latency budget. Pure, so the reasoning can be
 * tested and printed; `pulse tune` measures the inputs and `pulse bench sweep` checks the choice
 * against the spec's static settings on the latency-throughput curve.
 */

export interface TuneInputs {
  /** Median produce round trip to the broker (one record, linger 0, acks as configured), ms. */
  rttMs: number;
  /** Events per second into the topic, all partitions together. */
  ratePerSec: number;
  partitions: number;
  /** Mean record value plus key size, bytes. */
  recordBytes: number;
  /** End-to-end latency budget (docs/specification.md, "Targets": p95 < 100 ms), ms. */
  budgetMs: number;
  /** The spec's holding cost: ms of cost for each ms one event waits (the spec: 0.1). */
  holdingCost?: number;
  /** JavaScript plus engine CPU per consumed record in the aggregator, µs (bench/results/README.md: ~9). */
  consumerCostPerRecordUs?: number;
  /** The brokers are reached over loopback (a broker on this machine), where bytes cost no network. */
  loopback?: boolean;
}

export type Compression = 'lz4' | 'none';

export interface TuneChoice {
  batchSizeBytes: number;
  lingerMs: number;
  compression: Compression;
  consumerBatchSize: number;
  /**
   * The spec's formula √(2·RTT·rate/holding cost) per partition (as the spec applies it: 8 333 events/s
   * is 100 000 over 12 partitions), in consistent units (rate in events per ms), and as the spec
   * computes it (rate in events per second against costs in ms: its 408 events).
   */
  formula: { events: number; bytes: number; fillMs: number; literalEvents: number; literalBytes: number; literalFillMs: number };
  /** One line per decision, for `pulse tune` to print. */
  reasons: string[];
}

/** The spec's static producer settings, the baseline every choice is measured against. */
export const SPEC_STATIC = { batchSizeBytes: 16_384, lingerMs: 10, compression: 'lz4' } as const;

/** Share of the latency budget the producer may spend waiting to fill a batch. */
const LINGER_SHARE = 0.2;
/** Share of the budget one consumer batch may take to process, so a big batch does not hold up the next poll. */
const CONSUMER_SHARE = 0.1;
const MIN_BATCH_BYTES = 16_384;
/**
 * Produce requests a second a producer may send to each partition, at most: each costs the broker CPU
 * whatever its size. 50 rather than 100 took 3.5–9 points of a core off the local broker at 100 000
 * events/s (bench/results/ab-linger-20-quiet/).
 */
const MAX_REQUESTS_PER_SEC = 50;
/** Kafka's default max.request.size is 1 MiB; a bigger batch would be refused. */
const MAX_BATCH_BYTES = 1_048_576;
/** librdkafka's consume() default batch of 32 is its floor; the engine is built for thousands a call. */
const MIN_CONSUMER_BATCH = 32;
const MAX_CONSUMER_BATCH = 10_000;

const nextPowerOfTwo = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

function check(inputs: TuneInputs): void {
  const positive: (keyof TuneInputs)[] = ['ratePerSec', 'partitions', 'recordBytes', 'budgetMs'];
  for (const k of positive) {
    const v = inputs[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`${k} must be a positive number, got ${String(v)}`);
  }
  if (!Number.isFinite(inputs.rttMs) || inputs.rttMs < 0) throw new RangeError(`rttMs must be ≥ 0, got ${inputs.rttMs}`);
  if (!Number.isInteger(inputs.partitions)) throw new RangeError(`partitions must be a whole number, got ${inputs.partitions}`);
  if (inputs.holdingCost !== undefined && !(inputs.holdingCost > 0)) throw new RangeError(`holdingCost must be positive, got ${inputs.holdingCost}`);
}

/**
 * How it chooses:
 * - linger.ms: the time a partition takes to gather the spec formula's batch, Q = √(2·RTT·r/h) with r
 *   the partition's rate in events per ms, so that the fixed cost of a request (one round trip) and
 *   the cost of holding events back (h per ms waited) balance; at least two round trips, because
 *   requests sent faster than they come back queue behind each other (in the producer sweep, every
 *   1 ms linger fell behind at a 2.9 ms round trip); at least 20 ms, so that a producer sends at most
 *   50 requests a second to each partition (librdkafka sends one ProduceRequest per partition,
 *   confluentinc/librdkafka#1700), because a request also costs the broker CPU whatever its size (hand-offs
 *   between its network and request threads, a syscall or more each way: with 1 ms at 100 000
 *   events/s the broker took 78% of a core instead of 60% and the pipeline fell seconds behind);
 *   at most a fifth of the budget, since the rest belongs to the consumer, the engine and the output
 *   topic (the aggregator's emit interval alone is 25 ms).
 * - batch.size: four times what a partition gathers in that linger, as a power of two between 16 KB
 *   and 1 MB, so the linger, not the size, closes a batch: batches closed by the linger leave
 *   together (every partition got its first record in the same burst), in one pass of the
 *   producer's broker thread, while a batch closed by its size leaves on its own, a wake-up for each.
 * - consumer batch: as many records as the aggregator processes in a tenth of the budget.
 * - compression: lz4, the spec's, unless the brokers are on this machine. Compression buys fewer
 *   network bytes with CPU in the producer, in the broker (which decompresses every batch to validate
 *   it) and in every consumer; over loopback there is no network to save, only CPU to spend (at
 *   100 000 events/s on 2 cores, e2e with none kept up where lz4 fell seconds behind).
 */
export function chooseSettings(inputs: TuneInputs): TuneChoice {
  check(inputs);
  const holding = inputs.holdingCost ?? 0.1;
  const perPartitionRate = inputs.ratePerSec / inputs.partitions;
  const perMs = perPartitionRate / 1000;
  const formulaEvents = Math.sqrt((2 * inputs.rttMs * perMs) / holding);
  const formulaFillMs = formulaEvents / perMs;
  const literalEvents = Math.sqrt((2 * inputs.rttMs * perPartitionRate) / holding);
  const literalFillMs = (literalEvents / perPartitionRate) * 1000;
  const lingerCap = inputs.budgetMs * LINGER_SHARE;
  const roundTripFloor = Math.ceil(2 * inputs.rttMs);
  const requestFloor = 1000 / MAX_REQUESTS_PER_SEC;
  const lingerFloor = Math.max(roundTripFloor, requestFloor);
  const lingerMs = Math.round(Math.min(Math.max(formulaFillMs, lingerFloor), lingerCap));
  const gathered = perMs * Math.max(lingerMs, 1) * inputs.recordBytes;
  const batchSizeBytes = clamp(nextPowerOfTwo(4 * gathered), MIN_BATCH_BYTES, MAX_BATCH_BYTES);
  const costUs = inputs.consumerCostPerRecordUs ?? 9;
  const consumerBatchSize = clamp(Math.round((inputs.budgetMs * CONSUMER_SHARE * 1000) / costUs), MIN_CONSUMER_BATCH, MAX_CONSUMER_BATCH);
  const compression: Compression = inputs.loopback === true ? 'none' : 'lz4';

  const f = (n: number) => Math.round(n).toLocaleString('en-US');
  const reasons = [
    `${f(inputs.ratePerSec)} events/s over ${inputs.partitions} partitions is ${f(perPartitionRate)} events/s per partition; a record is ~${f(inputs.recordBytes)} bytes`,
    `spec formula √(2·RTT·rate/holding) = √(2·${inputs.rttMs.toFixed(2)} ms·${perMs.toFixed(3)} events/ms/${holding}) = ${formulaEvents.toFixed(1)} events (${f(formulaEvents * inputs.recordBytes)} bytes) per partition batch, gathered in ${formulaFillMs.toFixed(1)} ms`,
    `(with the rate in events/s against costs in ms, as the spec writes it, the same formula gives ${f(literalEvents)} events, ${f(literalEvents * inputs.recordBytes)} bytes, ${literalFillMs.toFixed(1)} ms to gather)`,
    formulaFillMs > lingerCap
      ? `linger.ms ${lingerMs}: capped at ${LINGER_SHARE * 100}% of the ${inputs.budgetMs} ms budget; the formula's batch would take ${formulaFillMs.toFixed(1)} ms to fill`
      : formulaFillMs < lingerFloor && roundTripFloor >= requestFloor
        ? `linger.ms ${lingerMs}: two round trips (the formula's batch fills in ${formulaFillMs.toFixed(1)} ms, but requests sent faster than they return queue up)`
        : formulaFillMs < lingerFloor
          ? `linger.ms ${lingerMs}: at most ${MAX_REQUESTS_PER_SEC} requests a second to each partition (the formula's batch fills in ${formulaFillMs.toFixed(1)} ms, but every request costs the broker CPU whatever its size)`
        : `linger.ms ${lingerMs}: the formula's batch fills within the producer's share of the budget (${lingerCap} ms of ${inputs.budgetMs} ms)`,
    `batch.size ${f(batchSizeBytes)}: four times the ${f(gathered)} bytes a partition gathers in ${Math.max(lingerMs, 1)} ms, as a power of two in [16 KB, 1 MB], so the linger closes batches and all partitions' batches leave together`,
    `consumer batch ${f(consumerBatchSize)} records: ~${costUs} µs a record in the aggregator, ${inputs.budgetMs * CONSUMER_SHARE} ms (${CONSUMER_SHARE * 100}% of the budget) a batch`,
    compression === 'none'
      ? 'compression none: the brokers are on this machine, so compressing would spend CPU in the producer, the broker and every consumer to save no network'
      : 'compression lz4 (the spec): over a network, fewer bytes are worth the CPU',
  ];
  if (inputs.rttMs * 2 > inputs.budgetMs) reasons.push(`warning: two round trips (${(inputs.rttMs * 2).toFixed(1)} ms) exceed the budget; no batching fits it`);
  return {
    batchSizeBytes,
    lingerMs,
    compression,
    consumerBatchSize,
    formula: {
      events: Math.round(formulaEvents * 10) / 10,
      bytes: Math.round(formulaEvents * inputs.recordBytes),
      fillMs: Math.round(formulaFillMs * 10) / 10,
      literalEvents: Math.round(literalEvents),
      literalBytes: Math.round(literalEvents * inputs.recordBytes),
      literalFillMs: Math.round(literalFillMs * 10) / 10,
    },
    reasons,
  };
}
