/**
 * The pure arithmetic of a chaos run (docs/kafka.md, "Broker failures"): how long a process's progress
 * stood still, and how long the output stayed slow after a broker was killed. Kept apart from the
 * runner so that a unit test can pin down each definition.
 */

/** A process's progress counter sampled over a run: `t` in seconds since the load started. */
export interface Sample {
  readonly t: number;
  readonly value: number;
}

export interface Stall {
  /** Seconds the counter stood still. */
  readonly seconds: number;
  /** When it stopped moving (seconds since the load started). */
  readonly from: number;
}

/**
 * The longest time the counter stood still before it reached its final value: from the sample where a
 * value first appeared to the first sample with a larger one. Standing still once everything is done
 * (the value is the final one) is not a stall; a counter that never reached its final value stalls
 * until its last sample.
 */
export function longestStall(samples: readonly Sample[], final: number): Stall {
  let best: Stall = { seconds: 0, from: 0 };
  let since: Sample | undefined;
  for (const s of samples) {
    if (since === undefined || s.value > since.value) {
      if (since !== undefined && s.t - since.t > best.seconds) best = { seconds: round1(s.t - since.t), from: since.t };
      since = s;
    }
  }
  const last = samples[samples.length - 1];
  if (since !== undefined && last !== undefined && since.value < final && last.t - since.t > best.seconds) best = { seconds: round1(last.t - since.t), from: since.t };
  return best;
}

/** The output's latency in one second of the run. */
export interface LatencySecond {
  readonly t: number;
  readonly p95: number;
  readonly p99: number;
  readonly count: number;
}

/**
 * How long the output took to recover from a failure at `at` (seconds since the load started): the end
 * of the last second in `[at, until)` that was slow (p95 at or above `thresholdMs`) or had no output at
 * all, minus `at`; 0 when every second in the span was fast. `until` is the next failure or the end of
 * the load.
 */
export function recoverySeconds(seconds: ReadonlyMap<number, LatencySecond>, at: number, until: number, thresholdMs: number): number {
  let lastBad = -1;
  for (let t = Math.floor(at); t < Math.floor(until); t++) {
    const s = seconds.get(t);
    if (s === undefined || s.count === 0 || s.p95 >= thresholdMs) lastBad = t;
  }
  return lastBad < 0 ? 0 : round1(lastBad + 1 - at);
}

/** The share of the seconds `[from, to)` whose output p95 stayed under `thresholdMs` (a second without output counts as missed). */
export function availability(seconds: ReadonlyMap<number, LatencySecond>, from: number, to: number, thresholdMs: number): { good: number; total: number; share: number } {
  let good = 0;
  let total = 0;
  for (let t = Math.ceil(from); t < Math.floor(to); t++) {
    total++;
    const s = seconds.get(t);
    if (s !== undefined && s.count > 0 && s.p95 < thresholdMs) good++;
  }
  return { good, total, share: total === 0 ? 1 : Math.round((good / total) * 10_000) / 10_000 };
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
