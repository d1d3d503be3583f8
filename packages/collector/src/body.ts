import { isUtf8 } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { CollectorError, badRequest } from './errors.js';

/** Segment's limits (docs/specification.md, "HTTP collector"). */
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_REQUEST_BYTES = 500 * 1024;
export const MAX_BATCH_EVENTS = 2500;
/** Containers nested deeper than this from the body's root are refused before parsing. */
export const MAX_DEPTH = 32;

/**
 * Where a body keeps its events, so that each can be held to the per-event size limit before parsing:
 * `single` — the body is one event; `list` — one event or an array of them (native endpoints);
 * `batch` — an object whose `batch` array holds them (Segment's /v1/batch).
 */
export type BodyShape = 'single' | 'list' | 'batch';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

const kb = (n: number) => `${Math.round(n / 1024)} KB`;

/**
 * One pass over the bytes, before JSON.parse: refuses nesting deeper than MAX_DEPTH (so a hostile body
 * cannot make the parser recurse without bound) and any event larger than MAX_EVENT_BYTES, naming it.
 * Malformed JSON is left to JSON.parse, which says where it broke.
 */
export function scanJson(bytes: Buffer, shape: BodyShape): void {
  // Events are the values inside the array at `arrayDepth`: the top level for `list`, `batch` for `batch`.
  const arrayDepth = shape === 'batch' ? 2 : 1;
  const isArray = new Uint8Array(MAX_DEPTH + 2);
  let depth = 0;
  let index = 0;
  let start = -1;
  const n = bytes.length;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      // Most bytes are inside strings, where only a backslash or the closing quote matters.
      for (i++; i < n; i++) {
        const d = bytes[i]!;
        if (d === QUOTE) break;
        if (d === BACKSLASH) i++;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > MAX_DEPTH) throw badRequest('too_deep', undefined, `the body nests objects and arrays deeper than ${MAX_DEPTH} levels (at byte ${i})`);
      isArray[depth] = c === OPEN_ARRAY ? 1 : 0;
      if (depth === arrayDepth + 1 && isArray[arrayDepth] === 1) start = i;
      else if (depth === arrayDepth && c === OPEN_ARRAY) index = 0;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      if (depth === arrayDepth + 1 && start >= 0) {
        if (i + 1 - start > MAX_EVENT_BYTES) throw tooLargeEvent(shape === 'batch' ? `batch[${index}]` : `[${index}]`, i + 1 - start);
        start = -1;
      }
      depth--;
    } else if (c === COMMA && depth === arrayDepth && isArray[depth] === 1) {
      index++;
    }
  }
}

function tooLargeEvent(field: string | undefined, bytes: number): CollectorError {
  return new CollectorError(413, 'too_large', `${field ?? 'the event'} is ${bytes} bytes; an event may have at most ${kb(MAX_EVENT_BYTES)}`, field);
}

/** The body's bytes, gunzipped if the client compressed it (mobile SDKs do). */
export function decodeBody(raw: Buffer, contentEncoding: string | undefined, limit: number): Buffer {
  if (contentEncoding === undefined || contentEncoding === 'identity') return raw;
  if (contentEncoding !== 'gzip') throw badRequest('invalid_value', undefined, `Content-Encoding ${JSON.stringify(contentEncoding)} is not supported; send gzip or plain JSON`);
  try {
    return gunzipSync(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new CollectorError(413, 'too_large', `the body is larger than ${kb(limit)} once decompressed`);
    throw badRequest('invalid_encoding', undefined, `the body is not valid gzip: ${(err as Error).message}`);
  }
}

/**
 * Decoded body bytes as JSON: checked to be UTF-8, scanned (see scanJson), parsed. A body that is not
 * JSON is a 400 that says where it broke.
 */
export function parseJsonBody(bytes: Buffer, shape: BodyShape): unknown {
  if (bytes.length === 0) throw badRequest('invalid_json', undefined, 'the body is empty; send a JSON event');
  if (!isUtf8(bytes)) throw badRequest('invalid_encoding', undefined, 'the body is not valid UTF-8');
  if (shape === 'single' || (shape === 'list' && firstNonSpace(bytes) === OPEN_OBJECT)) {
    if (bytes.length > MAX_EVENT_BYTES) throw tooLargeEvent(undefined, bytes.length);
  }
  scanJson(bytes, shape);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw badRequest('invalid_json', undefined, `the body is not valid JSON: ${(err as Error).message}`);
  }
}

function firstNonSpace(bytes: Buffer): number {
  for (const c of bytes) if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c;
  return -1;
}
