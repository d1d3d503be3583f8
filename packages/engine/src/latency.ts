import hdr from 'hdr-histogram-js';
import { native } from './native.js';

const FLOORS = native.latencyBucketFloors();

export type Histogram = hdr.Histogram;

/** An HdrHistogram of milliseconds, 3 significant digits, up to one hour. */
export function createLatencyHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3, autoResize: true });
}

/**
 * Adds the engine's bucketed latency counts to an HdrHistogram. Each count is recorded at its bucket's
 * upper edge, so percentiles err high (by at most 1/32) rather than low.
 */
export function foldEngineLatency(into: Histogram, counts: Uint32Array): void {
  for (let b = 0; b < counts.length; b++) {
    const n = counts[b]!;
    if (n === 0) continue;
    const next = FLOORS[b + 1];
    const upper = next === undefined ? FLOORS[b]! : Math.max(FLOORS[b]!, next - 1);
    into.recordValueWithCount(Math.max(upper, 0), n);
  }
}

/** Compact text form of a histogram, for reports that cross process boundaries. */
export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

export function decodeHistogram(encoded: string): Histogram {
  return hdr.decodeFromCompressedBase64(encoded, 32, false) as Histogram;
}

export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  p999: number;
  max: number;
}

export function percentiles(h: Histogram): Percentiles {
  return {
    count: h.totalCount,
    p50: h.getValueAtPercentile(50),
    p95: h.getValueAtPercentile(95),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
  };
}
