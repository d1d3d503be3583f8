import { createLatencyHistogram, percentiles, recordAt, type ConsumedBatch, type Percentiles } from '@pulse/engine';
import { intAt } from '../e2e/output-latency.js';

/** The 5-minute windows of user-activity-counts, aligned to the epoch (docs/semantics.md). */
export const WINDOW_MS = 5 * 60_000;

const TS = Buffer.from('"ts":');
const COUNT = Buffer.from('"count":');
const WINDOW_START = Buffer.from('"windowStart":');
const FINAL = Buffer.from('"final":true');

/**
 * Every `user-activity-counts` record a peer wrote to the partitions read, as it arrived: user, window,
 * absolute count, final or not, receive time. Only the bytes needed are read, without a string per
 * record but the key: this runs beside the peer it measures.
 */
export class OutputLog {
  private readonly userIds = new Map<string, number>();
  readonly users: string[] = [];
  readonly user: number[] = [];
  readonly windowStart: number[] = [];
  readonly count: number[] = [];
  readonly final: boolean[] = [];
  readonly receivedAt: number[] = [];
  /** Highest update count so far by window, then user; their sum is `reflected`. */
  private readonly highest = new Map<number, Map<number, number>>();
  /** Events the updates so far reflect (each (user, window)'s highest count, summed). */
  reflected = 0;
  /** Sum of the final counts so far. */
  finalSum = 0;
  /** Records that are not a count of this shape. */
  malformed = 0;

  add(batch: ConsumedBatch, receivedAt: number): void {
    for (const run of batch.runs) {
      for (let i = run.start; i < run.end; i++) {
        const { value, key } = recordAt(batch, run, i);
        const count = intAt(value, COUNT);
        const windowStart = intAt(value, WINDOW_START);
        if (count < 0 || windowStart < 0) {
          this.malformed++;
          continue;
        }
        const name = key.toString('latin1');
        let user = this.userIds.get(name);
        if (user === undefined) {
          user = this.users.length;
          this.users.push(name);
          this.userIds.set(name, user);
        }
        const isFinal = value.includes(FINAL);
        this.user.push(user);
        this.windowStart.push(windowStart);
        this.count.push(count);
        this.final.push(isFinal);
        this.receivedAt.push(receivedAt);
        if (isFinal) {
          this.finalSum += count;
          continue;
        }
        let window = this.highest.get(windowStart);
        if (window === undefined) this.highest.set(windowStart, (window = new Map()));
        const before = window.get(user) ?? 0;
        if (count > before) {
          window.set(user, count);
          this.reflected += count - before;
        }
      }
    }
  }

  get records(): number {
    return this.user.length;
  }
}

/** The events of the input partitions read, by window and user: each one's `ts`, in partition order. */
export class InputIndex {
  readonly windows = new Map<number, Map<string, number[]>>();
  events = 0;
  /** Records without an integer `ts`. */
  unreadable = 0;

  add(batch: ConsumedBatch, skipKeys: ReadonlySet<string>): void {
    for (const run of batch.runs) {
      for (let i = run.start; i < run.end; i++) {
        const { value, key } = recordAt(batch, run, i);
        const user = key.toString('latin1');
        if (skipKeys.has(user)) continue;
        const ts = intAt(value, TS);
        if (ts < 0) {
          this.unreadable++;
          continue;
        }
        const windowStart = ts - (ts % WINDOW_MS);
        let window = this.windows.get(windowStart);
        if (window === undefined) this.windows.set(windowStart, (window = new Map()));
        const list = window.get(user);
        if (list === undefined) window.set(user, [ts]);
        else list.push(ts);
        this.events++;
      }
    }
  }
}

export interface CountCheck {
  /** (user, window) pairs in the input read. */
  keys: number;
  events: number;
  /** Pairs whose last update's count differs from their events (or that got no update). */
  updateMismatches: number;
  /** Pairs whose final count differs from their events, that got no final, or more than one. */
  finalMismatches: number;
  /** Output records for a (user, window) the input has no event for, or counting past its events. */
  unexplained: number;
  /** A few mismatches, to start looking from. */
  examples: string[];
  /** Every check that applies to the peer passed. */
  exact: boolean;
}

export interface Analysis {
  /** From each event's `ts` (its intended send time) to the first update reflecting it; events with ts in [from, to]. */
  latencyMs: Percentiles;
  /** Events first reflected by an update received in [from, to], per second of that span. */
  reflectedPerSec: number;
  /** Events with ts before `to` that no update had reflected by `to`. */
  behindAtEnd: number;
  /** Per second of receive time since `origin`: events first reflected, and the p99 of their latency. */
  series: { t: number; reflected: number; p99: number }[];
  check: CountCheck;
}

/**
 * Joins what a peer wrote with what it read. The k-th event of a (user, window) in partition order is
 * the one an update's count reaching k first reflects, so each event gets its own latency: receive time
 * of that update minus the event's ts, not an estimate. The check compares each (user, window)'s last
 * update and its final (where the peer writes them) with its events.
 */
export function analyse(
  out: OutputLog,
  input: InputIndex,
  o: { origin: number; from: number; to: number; updates: boolean; finals: boolean; skipKeys: ReadonlySet<string> },
): Analysis {
  const histogram = createLatencyHistogram();
  const seconds: { reflected: number; histogram: ReturnType<typeof createLatencyHistogram> }[] = [];
  const reflectedBy = new Map<number, Map<number, number>>();
  const lastUpdate = new Map<number, Map<number, number>>();
  const finals = new Map<number, Map<number, number[]>>();
  const examples: string[] = [];
  let unexplained = 0;
  let reflectedInSpan = 0;
  let reflectedByEnd = 0;
  const at = <T>(m: Map<number, Map<number, T>>, w: number) => m.get(w) ?? m.set(w, new Map()).get(w)!;
  for (let i = 0; i < out.records; i++) {
    const user = out.user[i]!;
    if (o.skipKeys.has(out.users[user]!)) continue;
    const w = out.windowStart[i]!;
    const count = out.count[i]!;
    const events = input.windows.get(w)?.get(out.users[user]!);
    if (events === undefined || count > events.length) {
      unexplained++;
      if (examples.length < 5) examples.push(`${out.users[user]} window ${w}: output count ${count}, ${events?.length ?? 0} events read`);
      continue;
    }
    if (out.final[i]) {
      const list = at(finals, w).get(user);
      if (list === undefined) at(finals, w).set(user, [count]);
      else list.push(count);
      continue;
    }
    at(lastUpdate, w).set(user, count);
    const seen = at(reflectedBy, w);
    const before = seen.get(user) ?? 0;
    if (count <= before) continue;
    seen.set(user, count);
    const receivedAt = out.receivedAt[i]!;
    if (receivedAt >= o.from && receivedAt <= o.to) reflectedInSpan += count - before;
    // The peer's warm-up comes before second 0 and stays out of the series.
    const second = receivedAt < o.origin ? null : (seconds[Math.floor((receivedAt - o.origin) / 1000)] ??= { reflected: 0, histogram: createLatencyHistogram() });
    if (second !== null) second.reflected += count - before;
    for (let k = before; k < count; k++) {
      const ts = events[k]!;
      second?.histogram.recordValue(Math.max(0, receivedAt - ts));
      if (ts >= o.from && ts <= o.to) histogram.recordValue(Math.max(0, receivedAt - ts));
      if (ts <= o.to && receivedAt <= o.to) reflectedByEnd++;
    }
  }

  let keys = 0;
  let updateMismatches = 0;
  let finalMismatches = 0;
  let dueByEnd = 0;
  const userIndex = new Map(out.users.map((u, i) => [u, i]));
  for (const [w, users] of input.windows) {
    for (const [name, events] of users) {
      keys++;
      for (const ts of events) if (ts <= o.to) dueByEnd++;
      const user = userIndex.get(name) ?? -1;
      const last = lastUpdate.get(w)?.get(user);
      if (o.updates && last !== events.length) {
        updateMismatches++;
        if (examples.length < 5) examples.push(`${name} window ${w}: last update ${last ?? 'none'}, ${events.length} events`);
      }
      const f = finals.get(w)?.get(user);
      if (o.finals && (f === undefined || f.length !== 1 || f[0] !== events.length)) {
        finalMismatches++;
        if (examples.length < 5) examples.push(`${name} window ${w}: final ${f === undefined ? 'none' : f.join(', ')}, ${events.length} events`);
      }
    }
  }
  const spanSec = (o.to - o.from) / 1000;
  return {
    latencyMs: percentiles(histogram),
    reflectedPerSec: spanSec > 0 ? reflectedInSpan / spanSec : 0,
    behindAtEnd: Math.max(0, dueByEnd - reflectedByEnd),
    series: seconds.flatMap((s, t) => (s === undefined ? [] : [{ t, reflected: s.reflected, p99: s.histogram.getValueAtPercentile(99) }])),
    check: {
      keys,
      events: input.events,
      updateMismatches,
      finalMismatches,
      unexplained,
      examples,
      exact: updateMismatches === 0 && finalMismatches === 0 && unexplained === 0 && keys > 0 && out.malformed === 0,
    },
  };
}
