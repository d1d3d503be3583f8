import { createLatencyHistogram, recordAt, type ConsumedBatch, type Histogram } from '@pulse/engine';

const OLDEST = Buffer.from('"oldestEventTs":');
const COUNT = Buffer.from('"count":');
const WINDOW_START = Buffer.from('"windowStart":');

/**
 * The whole integer after `field` in `record`, or -1 if the field is not there. The search must not run
 * past the record: a final count has no `oldestEventTs`, and a window's finals come thousands at once.
 */
export function intAt(record: Buffer, field: Buffer): number {
  const at = record.indexOf(field);
  if (at < 0) return -1;
  let n = 0;
  let i = at + field.length;
  for (; i < record.length; i++) {
    const digit = record[i]! - 48;
    if (digit < 0 || digit > 9) break;
    n = n * 10 + digit;
  }
  return i === at + field.length ? -1 : n;
}

/**
 * Output latency from `user-activity-counts` updates. An update carries the ts of the oldest event it
 * newly reflects (`oldestEventTs`) and the window's absolute count; the events it adds (count minus the
 * user's previous count in that window) are recorded at receive time minus that ts, an upper bound for
 * each of them. Records are read as bytes, without a string per record: this runs beside the pipeline
 * it measures, on the same cores.
 */
export class OutputLatency {
  /** Last count by window start, then user key. */
  private readonly lastCount = new Map<number, Map<string, number>>();
  records = 0;
  /** Per second of receive time since `origin`, warm-up included: where in a run a tail came from. */
  readonly series: { t: number; p99: number; max: number }[] = [];
  private second = { index: -1, histogram: createLatencyHistogram() };

  /** Every event after the warm-up. */
  readonly histogram: Histogram = createLatencyHistogram();

  constructor(
    /** Events whose oldest ts is before this (epoch ms) are left out of `histogram`: the warm-up. */
    private readonly measureFrom: number,
    /** Epoch ms that second 0 of `series` starts at. */
    private readonly origin: number,
  ) {}

  add(batch: ConsumedBatch, receivedAt: number): void {
    this.records += batch.ends.length;
    const index = Math.floor((receivedAt - this.origin) / 1000);
    if (index !== this.second.index) {
      this.endSecond();
      this.second.index = index;
    }
    const second = this.second.histogram;
    for (const run of batch.runs) {
      for (let i = run.start; i < run.end; i++) {
        const { value, key } = recordAt(batch, run, i);
        const oldest = intAt(value, OLDEST);
        const count = intAt(value, COUNT);
        const windowStart = intAt(value, WINDOW_START);
        if (oldest < 0 || count < 0 || windowStart < 0) continue;
        let users = this.lastCount.get(windowStart);
        if (users === undefined) this.lastCount.set(windowStart, (users = new Map()));
        const user = key.toString('latin1');
        const added = count - (users.get(user) ?? 0);
        users.set(user, count);
        if (added <= 0) continue;
        const latency = Math.max(0, receivedAt - oldest);
        second.recordValueWithCount(latency, added);
        if (oldest >= this.measureFrom) this.histogram.recordValueWithCount(latency, added);
      }
    }
  }

  /** Closes the second in progress into `series`; call once the last batch is in. */
  endSecond(): void {
    const h = this.second.histogram;
    if (h.totalCount > 0) this.series.push({ t: this.second.index, p99: h.getValueAtPercentile(99), max: h.maxValue });
    h.reset();
  }
}
