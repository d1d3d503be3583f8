import { badRequest } from './errors.js';

/** Event times before this are refused as mistakes (seconds for milliseconds, a zero date). */
const MIN_EVENT_TIME = Date.UTC(2000, 0, 1);
/**
 * How far after its arrival an event time may lie. Event time drives the aggregator's windows: one
 * event from the future would advance stream time and make the events after it late.
 */
const MAX_FUTURE_MS = 5 * 60_000;

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Digits of `value` from `at` as a number, or NaN. */
function digits(value: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return n;
}

/**
 * `2025-11-25T19:45:00.123Z`, the form JavaScript's toISOString and so Segment's libraries write, read
 * without a regular expression; undefined for any other form (then the general parser decides).
 */
function fastIsoTime(v: string): number | undefined {
  if (v.length !== 24 || v[4] !== '-' || v[7] !== '-' || v[10] !== 'T' || v[13] !== ':' || v[16] !== ':' || v[19] !== '.' || v[23] !== 'Z') return undefined;
  const year = digits(v, 0, 4);
  const month = digits(v, 5, 2);
  const day = digits(v, 8, 2);
  const hour = digits(v, 11, 2);
  const minute = digits(v, 14, 2);
  const second = digits(v, 17, 2);
  const ms = digits(v, 20, 3);
  // NaN fails every comparison, so a non-digit falls through to the general parser too; so do years
  // before 1970, which Date.UTC would read as 19xx below 100.
  if (!(year >= 1970 && month >= 1 && month <= 12 && day >= 1 && day <= DAYS_IN_MONTH[month - 1]! && hour <= 23 && minute <= 59 && second <= 59 && ms >= 0)) return undefined;
  if (month === 2 && day === 29 && new Date(Date.UTC(year, 1, 29)).getUTCMonth() !== 1) return undefined;
  return Date.UTC(year, month - 1, day, hour, minute, second, ms);
}

/** An ISO-8601 date-time (Segment's format) as epoch milliseconds; a missing zone means UTC. */
export function parseIsoTime(value: string, field: string): number {
  const fast = fastIsoTime(value);
  if (fast !== undefined) return fast;
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
