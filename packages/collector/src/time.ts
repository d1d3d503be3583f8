import { badRequest } from './errors.js';

/** Event times before this are refused as mistakes (seconds for milliseconds, a zero date). */
export const MIN_EVENT_TIME = Date.UTC(2000, 0, 1);
/**
 * How far after its arrival an event time may lie. Event time drives the aggregator's windows: one
 * event from the future would advance stream time and make the events after it late.
 */
export const MAX_FUTURE_MS = 5 * 60_000;

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** An ISO-8601 date-time (Segment's format) as epoch milliseconds; a missing zone means UTC. */
export function parseIsoTime(value: string, field: string): number {
  const m = ISO_8601.exec(value);
  if (m === null) throw badRequest('invalid_timestamp', field, `${field} must be an ISO-8601 date-time such as 2025-11-25T19:45:00.123Z, got ${JSON.stringify(value.slice(0, 64))}`);
  const text = value.includes(':') && m[4] === undefined ? `${value}Z` : value;
  const ms = Date.parse(text.replace(' ', 'T'));
  // Date.parse rolls 2025-02-30 over into March: the day must exist in its month.
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (Number.isNaN(ms) || month < 1 || month > 12 || new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) {
    throw badRequest('invalid_timestamp', field, `${field} is not a real date: ${JSON.stringify(value)}`);
  }
  return ms;
}

/** Refuses event times that cannot be right; `receivedAt` is when the request arrived. */
export function checkEventTime(ts: number, receivedAt: number, field: string): number {
  if (ts < MIN_EVENT_TIME) throw badRequest('invalid_timestamp', field, `${field} is ${new Date(ts).toISOString()}, before 2000: not an event time (seconds instead of milliseconds?)`);
  if (ts > receivedAt + MAX_FUTURE_MS) {
    throw badRequest('invalid_timestamp', field, `${field} is ${new Date(ts).toISOString()}, ${Math.round((ts - receivedAt) / 1000)} s after the request arrived; at most ${MAX_FUTURE_MS / 1000} s are allowed`);
  }
  return ts;
}

/**
 * The event time of a Segment call, as Segment computes it: the client's `timestamp` (or
 * `originalTimestamp`), moved by the client's clock skew when the client said when it sent the call
 * (`sentAt`, on the call or the batch): ts = receivedAt − (sentAt − timestamp). Without a client
 * timestamp the event happened when it arrived.
 */
export function segmentEventTime(timestamp: string | undefined, sentAt: number | undefined, receivedAt: number, field: string): number {
  if (timestamp === undefined) return receivedAt;
  const ts = parseIsoTime(timestamp, field);
  return checkEventTime(sentAt === undefined ? ts : receivedAt - (sentAt - ts), receivedAt, field);
}
