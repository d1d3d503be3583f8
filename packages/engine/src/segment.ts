import { native, type SegmentBatch } from './native.js';

export type { SegmentBatch };

/**
 * A Segment `/v1/batch` body parsed, checked and mapped natively (crates/pulse-engine/src/segment.rs),
 * its records in the packed output format; null when the collector's JavaScript path must decide.
 */
export function mapSegmentBatch(body: Buffer, receivedAt: number): SegmentBatch | null {
  return native.mapSegmentBatchBody(body, receivedAt);
}
