import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import type { PulseConfig } from '@pulse/config';
import type { ProducerGlobalConfig } from '@pulse/kafka';
import { createShopModel, type EventType, type PackedEvents, type Seed, type ShopModelOptions } from './model.js';
import { GeneratorProducer } from './producer.js';

/** What the generator needs of a producer; `GeneratorProducer` is one, tests pass fakes. */
export interface EventSink {
  /**
   * Takes one topic's packed records of a burst, all of them (keyed, partitioned by key). False when
   * the local queue is full: nothing was taken, offer the same records again later.
   */
  sendPacked(records: PackedEvents): boolean;
  inFlight(): number;
  stats(): { produced: number; delivered: number; failed: number };
  flush(timeoutMs?: number): Promise<void>;
  /** Resolves when nothing is in flight. */
  drained(): Promise<void>;
}

export interface GeneratorOptions extends ShopModelOptions {
  /** Where to connect; needed unless `producer` is given. */
  config?: PulseConfig;
  /** Events per second, all topics together. */
  rate: number;
  /** How long to generate; `Infinity` runs until `signal` aborts. */
  durationSec: number;
  /** Same seed and options → the same records. Default: a random seed, reported in the stats. */
  seed?: Seed;
  /** Intended time of the first event (epoch ms); pins every `ts` for reproducible output. Default: now. */
  startTs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: GeneratorProgress) => void;
  progressIntervalMs?: number;
  /** Produce through this sink instead of a `GeneratorProducer` of our own; it is flushed but not closed. */
  producer?: EventSink;
  /** librdkafka settings over the configured producer ones (batch.size, linger.ms, …). */
  producerOverrides?: ProducerGlobalConfig;
  /** Most events produced before yielding to I/O, so a backlog does not starve delivery reports. */
  maxBurst?: number;
  /**
   * How often, ms, it wakes to produce the events that have come due (default 5). Every wake-up costs a
   * timer and a native call per topic whatever the rate: waking every millisecond took a fifth more of
   * the generator's CPU at 20 000 events/s. Events keep their intended `ts`, so the wait (2.5 ms on
   * average) is part of every latency measured downstream.
   */
  tickMs?: number;
  flushTimeoutMs?: number;
}

export interface GeneratorProgress {
  /** Since the first event was due. */
  elapsedMs: number;
  /** Events handed to the producer so far. */
  events: number;
  /** Events per second since the previous report. */
  rate: number;
  /** How late the next due event is now (0 when on schedule). */
  behindMs: number;
  maxBehindMs: number;
  inFlight: number;
  delivered: number;
  failed: number;
  perTopic: Record<string, number>;
}

export interface GeneratorStats {
  seed: string;
  startTs: number;
  targetRate: number;
  durationSec: number;
  /** Events handed to the producer; each counted once however often the queue was full. */
  events: number;
  perTopic: Record<string, number>;
  perType: Record<EventType, number>;
  /** From the producer, counted from the start of this run; after the final flush, produced = delivered + failed. */
  produced: number;
  delivered: number;
  failed: number;
  /** The first delivery failure, or why the final flush did not complete. */
  firstError?: string;
  /** From the first event's intended time to the last event handed to the producer. */
  sendMs: number;
  /** Including the final flush. */
  totalMs: number;
  /** events / sendMs. */
  achievedRate: number;
  /**
   * Largest delay between an event's intended time and the moment it was handed to the producer, in
   * ms. A generator that keeps up stays around the timer period (~1–2 ms).
   */
  maxBehindMs: number;
  /** Times produce() found librdkafka's queue full and the generator waited for room. */
  queueFullWaits: number;
  aborted: boolean;
}

/**
 * Offset of event `i`'s intended send time from the start: i/rate seconds, floored to whole
 * milliseconds (the resolution of `ts`). Computed from `i` each time, so no rounding error accumulates.
 */
export function intendedOffsetMs(i: number, rate: number): number {
  return Math.floor((i * 1000) / rate);
}

/** How many events of a run at `rate` are due `elapsedMs` after its start: those with offset ≤ elapsedMs. */
export function dueEvents(elapsedMs: number, rate: number): number {
  const ms = Math.floor(elapsedMs);
  let n = Math.max(0, Math.floor(((ms + 1) * rate) / 1000));
  // The estimate can be one off either way by rounding; the offsets themselves decide.
  while (n > 0 && intendedOffsetMs(n - 1, rate) > ms) n--;
  while (intendedOffsetMs(n, rate) <= ms) n++;
  return n;
}

/** Events a run of `durationSec` at `rate` produces. */
export function plannedEvents(rate: number, durationSec: number): number {
  return durationSec === Infinity ? Infinity : Math.round(rate * durationSec);
}

function validate(o: GeneratorOptions): void {
  if (typeof o.rate !== 'number' || !Number.isFinite(o.rate) || o.rate <= 0 || o.rate > 10_000_000) {
    throw new RangeError(`rate must be a number of events per second in (0, 10 000 000], got ${String(o.rate)}`);
  }
  if (typeof o.durationSec !== 'number' || Number.isNaN(o.durationSec) || o.durationSec < 0) {
    throw new RangeError(`durationSec must be ≥ 0 (Infinity to run until aborted), got ${String(o.durationSec)}`);
  }
  if (o.startTs !== undefined && (!Number.isSafeInteger(o.startTs) || o.startTs < 0)) {
    throw new RangeError(`startTs must be a non-negative integer (epoch ms), got ${String(o.startTs)}`);
  }
  if (o.tickMs !== undefined && !(o.tickMs >= 1 && o.tickMs <= 100)) throw new RangeError(`tickMs must be from 1 to 100 ms, got ${String(o.tickMs)}`);
  if (o.producer === undefined && o.config === undefined) throw new TypeError('runGenerator needs `config` or `producer`');
}

/**
 * Produces shop and sensor traffic at `rate` events/s for `durationSec`, paced by intended send time
 * (as openmessaging/benchmark does): event i is due at startTs + i/rate and carries that as its `ts`.
 * Every `tickMs` it produces all events whose time has come; when it falls behind it sends the backlog at
 * once, and the events keep their intended `ts`, so downstream latency shows the delay instead of
 * hiding it (no coordinated omission). On abort it stops producing, then flushes what it has sent.
 */
export async function runGenerator(options: GeneratorOptions): Promise<GeneratorStats> {
  validate(options);
  const { rate, durationSec, signal, onProgress } = options;
  const seed = String(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const model = createShopModel(seed, options);
  const total = plannedEvents(rate, durationSec);
  const maxBurst = options.maxBurst ?? 10_000;
  const tickMs = options.tickMs ?? 5;

  let owned: GeneratorProducer | undefined;
  let sink = options.producer;
  if (sink === undefined) sink = owned = await GeneratorProducer.connect(options.config!, options.producerOverrides);
  const base = sink.stats();
  let firstError: string | undefined;
  /** The run's own flush has been tried (whatever came of it), so closing need not flush again. */
  let flushed = false;

  const { topics } = model.options;
  const perTopic: Record<string, number> = { [topics.clicks]: 0, [topics.purchases]: 0, [topics.sensors]: 0 };
  /** Index of the next event to make; `sent` counts those the producer took (fewer after an abort mid-burst). */
  let i = 0;
  let sent = 0;
  let maxBehindMs = 0;
  let queueFullWaits = 0;

  const wallStart = performance.now();
  const t0 = options.startTs ?? Date.now();
  const elapsed = (): number => performance.now() - wallStart;

  let lastReport = { at: 0, events: 0 };
  const progress = (): GeneratorProgress => {
    const at = elapsed();
    const s = sink.stats();
    const p: GeneratorProgress = {
      elapsedMs: at,
      events: sent,
      rate: at > lastReport.at ? ((sent - lastReport.events) * 1000) / (at - lastReport.at) : 0,
      behindMs: i < total ? Math.max(0, at - intendedOffsetMs(i, rate)) : 0,
      maxBehindMs,
      inFlight: sink.inFlight(),
      delivered: s.delivered - base.delivered,
      failed: s.failed - base.failed,
      perTopic: { ...perTopic },
    };
    lastReport = { at, events: sent };
    return p;
  };
  const timer = onProgress ? setInterval(() => onProgress(progress()), options.progressIntervalMs ?? 1000) : undefined;

  try {
    outer: while (i < total && !signal?.aborted) {
      const due = Math.min(total, dueEvents(elapsed(), rate), i + maxBurst);
      if (due > i) {
        // Every event due now, made in one native call; each topic's share goes out in one more.
        const firstDue = intendedOffsetMs(i, rate);
        for (const records of model.nextPaced(t0, rate, due - i)) {
          while (!sink.sendPacked(records)) {
            // Queue full: wait for deliveries to make room, then offer the same records again, so
            // nothing is lost or reordered. An abort gives up on them: the broker may be gone for good.
            queueFullWaits++;
            if (signal?.aborted) break outer;
            await sleep(1);
          }
          perTopic[records.topic]! += records.ends.length;
          sent += records.ends.length;
        }
        i = due;
        maxBehindMs = Math.max(maxBehindMs, elapsed() - firstDue);
      }
      if (i >= total) break;
      const wait = intendedOffsetMs(i, rate) - elapsed();
      // Sleep to the next due event (at least one tick, at most 100 ms to notice an abort); when
      // already due (a backlog cut at maxBurst), only let I/O run.
      if (wait > 0) await sleep(Math.min(100, Math.max(tickMs, wait)));
      else await yieldToIo();
    }
    const sendMs = elapsed();

    const flushTimeoutMs = options.flushTimeoutMs ?? 30_000;
    try {
      flushed = true;
      await sink.flush(flushTimeoutMs);
      // flush() returns when librdkafka is done; delivery callbacks may reach JavaScript just after.
      const timeout = new AbortController();
      await Promise.race([sink.drained(), sleep(flushTimeoutMs, undefined, { signal: timeout.signal }).catch(() => {})]);
      timeout.abort();
    } catch (err) {
      // Not everything was acknowledged in time: report it in the stats rather than lose them.
      firstError = `flush: ${(err as Error).message}`;
    }
    const totalMs = elapsed();
    const s = sink.stats();
    firstError = owned?.firstError()?.message ?? firstError;
    return {
      seed,
      startTs: t0,
      targetRate: rate,
      durationSec,
      events: sent,
      perTopic,
      perType: model.eventCounts(),
      produced: s.produced - base.produced,
      delivered: s.delivered - base.delivered,
      failed: s.failed - base.failed,
      ...(firstError === undefined ? {} : { firstError }),
      sendMs,
      totalMs,
      achievedRate: sendMs > 0 ? (sent * 1000) / sendMs : 0,
      maxBehindMs,
      queueFullWaits,
      aborted: sent < total,
    };
  } finally {
    if (timer) clearInterval(timer);
    // Only a run cut short by an error still has records to flush; one that ran out of time (Kafka
    // gone) is not waited for a second time.
    if (owned && !flushed) await owned.close(options.flushTimeoutMs ?? 30_000);
  }
}
