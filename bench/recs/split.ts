/**
 * Turns interaction logs into the evaluation files `recs eval` reads (docs/recommendations.md,
 * "Evaluation splits"): a time-based split where the sessions that end last are the test set, and the
 * same split again inside the training part for a validation set that parameters are chosen on.
 */
import { createShopModel } from '@pulse/loadgen';
import { toTsv, type SessionEvent } from './sessions.js';

export const SPLIT_FORMATS = ['sessions', 'otto', 'rees46', 'pulse'] as const;
export type SplitFormat = (typeof SPLIT_FORMATS)[number];

/** A line that does not have the shape its format expects: says which line and what was expected. */
export class FormatError extends Error {}

const fail = (format: string, line: number, expected: string, got: string): never => {
  const shown = got.length > 120 ? `${got.slice(0, 120)}…` : got;
  throw new FormatError(`${format} line ${line}: expected ${expected}, got ${JSON.stringify(shown)}`);
};

/** Cuts a user's events into sessions where they pause longer than `gapSec`. */
function cutAtGaps(events: SessionEvent[], gapSec: number): SessionEvent[] {
  const byUser = new Map<string, SessionEvent[]>();
  for (const e of events) {
    let list = byUser.get(e.session);
    if (list === undefined) byUser.set(e.session, (list = []));
    list.push(e);
  }
  const out: SessionEvent[] = [];
  for (const [user, list] of byUser) {
    list.sort((a, b) => a.time - b.time);
    let part = 0;
    list.forEach((e, i) => {
      if (i > 0 && e.time - list[i - 1]!.time > gapSec) part++;
      out.push({ ...e, session: `${user}-${part}` });
    });
  }
  return out;
}

/** `SessionId<TAB>ItemId<TAB>Time` with that header, as `recs eval` reads it. */
function readSessionsTsv(text: string): SessionEvent[] {
  const lines = text.split('\n');
  if (lines[0]?.replace(/\r$/, '') !== 'SessionId\tItemId\tTime') fail('sessions', 1, 'the header SessionId<TAB>ItemId<TAB>Time', lines[0] ?? '');
  const out: SessionEvent[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!.replace(/\r$/, '');
    if (line === '') continue;
    const f = line.split('\t');
    const time = Number(f[2]);
    if (f.length !== 3 || f[0] === '' || f[1] === '' || f[2] === '' || !Number.isFinite(time)) fail('sessions', n + 1, 'SessionId<TAB>ItemId<TAB>Time (seconds since the epoch)', line);
    out.push({ session: f[0]!, item: f[1]!, time });
  }
  return out;
}

/**
 * OTTO (otto-de/recsys-dataset): one JSON object a line, `{"session":N,"events":[{"aid":N,"ts":ms,
 * "type":"clicks"|"carts"|"orders"},…]}`. Every event is an interaction with its `aid`. An OTTO session
 * is a user's whole month, so it is cut where the user pauses longer than `gapSec`.
 */
function readOtto(text: string, gapSec: number): SessionEvent[] {
  const out: SessionEvent[] = [];
  text.split('\n').forEach((raw, n) => {
    const line = raw.trim();
    if (line === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      fail('otto', n + 1, 'a JSON object {"session":N,"events":[…]}', line);
    }
    const r = row as { session?: unknown; events?: unknown };
    if (typeof r !== 'object' || r === null || (typeof r.session !== 'number' && typeof r.session !== 'string') || !Array.isArray(r.events)) {
      fail('otto', n + 1, 'a JSON object {"session":N,"events":[…]}', line);
    }
    for (const e of r.events as { aid?: unknown; ts?: unknown; type?: unknown }[]) {
      if (typeof e?.aid !== 'number' || typeof e.ts !== 'number' || !['clicks', 'carts', 'orders'].includes(e.type as string)) {
        fail('otto', n + 1, 'events of {"aid":N,"ts":epoch ms,"type":"clicks"|"carts"|"orders"}', JSON.stringify(e));
      }
      out.push({ session: String(r.session), item: String(e.aid), time: (e.ts as number) / 1000 });
    }
  });
  return cutAtGaps(out, gapSec);
}

const REES46_HEADER = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session';

/**
 * REES46 (multi-category store, 2019): CSV with the header above, `event_time` like
 * `2019-10-01 00:00:00 UTC`; every view, cart and purchase is an interaction, sessions are
 * `user_session`. No field holds a comma, so a line splits on commas.
 */
function readRees46(text: string): SessionEvent[] {
  const lines = text.split('\n');
  if (lines[0]?.replace(/\r$/, '') !== REES46_HEADER) fail('rees46', 1, `the header ${REES46_HEADER}`, lines[0] ?? '');
  const out: SessionEvent[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!.replace(/\r$/, '');
    if (line === '') continue;
    const f = line.split(',');
    if (f.length !== 9) fail('rees46', n + 1, '9 comma-separated fields', line);
    const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC$/.exec(f[0]!);
    if (m === null) fail('rees46', n + 1, 'event_time like 2019-10-01 00:00:00 UTC', f[0]!);
    if (!['view', 'cart', 'purchase', 'remove_from_cart'].includes(f[1]!)) fail('rees46', n + 1, 'event_type view, cart, remove_from_cart or purchase', f[1]!);
    if (f[1] === 'remove_from_cart') continue;
    if (f[2] === '' || f[8] === '') fail('rees46', n + 1, 'a product_id and a user_session', line);
    out.push({ session: f[8]!, item: f[2]!, time: Date.parse(`${m![1]}T${m![2]}Z`) / 1000 });
  }
  return out;
}

/**
 * Pulse's own events (docs/specification.md, "Event records"), one JSON object a line as they are
 * produced to user-clicks and user-purchases: product views, clicks and add-to-carts by their
 * `productId`, each product of a purchase; other events carry no item and are passed over. Sessions
 * are `sessionId`, or the user's where an event has none (purchases), cut at pauses longer than `gapSec`.
 */
function readPulse(lines: Iterable<string>, gapSec: number): SessionEvent[] {
  const bySession: SessionEvent[] = [];
  const byUser: SessionEvent[] = [];
  let n = 0;
  for (const raw of lines) {
    n++;
    const line = raw.trim();
    if (line === '') continue;
    const expected = 'a JSON event {"type":…,"userId":…,"ts":epoch ms,…}';
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      fail('pulse', n, expected, line);
    }
    const e = parsed as { type?: unknown; userId?: unknown; sessionId?: unknown; productId?: unknown; items?: unknown; ts?: unknown } | null;
    if (typeof e !== 'object' || e === null || typeof e.type !== 'string' || typeof e.userId !== 'string' || typeof e.ts !== 'number') {
      return fail('pulse', n, expected, line);
    }
    const time = e.ts / 1000;
    if (e.type === 'purchase') {
      if (!Array.isArray(e.items)) fail('pulse', n, 'a purchase with "items":[{"productId":…},…]', line);
      for (const item of e.items as { productId?: unknown }[]) {
        if (typeof item?.productId !== 'string') fail('pulse', n, 'a purchase with "items":[{"productId":…},…]', line);
        byUser.push({ session: e.userId, item: item.productId as string, time });
      }
    } else if (['product_view', 'click', 'add_to_cart'].includes(e.type) && typeof e.productId === 'string') {
      if (typeof e.sessionId === 'string') bySession.push({ session: e.sessionId, item: e.productId, time });
      else byUser.push({ session: e.userId, item: e.productId, time });
    }
  }
  return [...bySession, ...cutAtGaps(byUser, gapSec).map((e) => ({ ...e, session: `user:${e.session}` }))];
}

/** `count` events of the generator's shop (crates/pulse-shop) at `rate` events/s, as JSON lines. */
function* generatedEvents(count: number, seed: string, rate: number, startMs: number): Generator<string> {
  const shop = createShopModel(seed, { mix: { clicks: 1, purchases: 0, sensors: 0 } });
  for (let i = 0; i < count; i++) yield shop.next(startMs + Math.floor((i * 1000) / rate)).value;
}

/** The interactions in `count` events of the generator's traffic (no sensor readings), made in process. */
export function generatedInteractions(count: number, seed: string, rate = 1000, startMs = Date.UTC(2026, 0, 1), gapSec = 30 * 60): SessionEvent[] {
  return readPulse(generatedEvents(count, seed, rate, startMs), gapSec);
}

export function readInteractions(format: SplitFormat, text: string, gapSec = 30 * 60): SessionEvent[] {
  switch (format) {
    case 'sessions':
      return readSessionsTsv(text);
    case 'otto':
      return readOtto(text, gapSec);
    case 'rees46':
      return readRees46(text);
    case 'pulse':
      return readPulse(text.split('\n'), gapSec);
  }
}

export interface SplitOptions {
  /** Share of sessions, the last to end, that form the test set. */
  testShare: number;
  /** Share of the training sessions, the last to end, that form the validation set. */
  validationShare: number;
}

export interface Split {
  train: SessionEvent[][];
  test: SessionEvent[][];
}

export interface SplitFiles {
  /** All training sessions, and the test sessions. */
  train: string;
  test: string;
  /** The training sessions without the validation ones, and the validation sessions. */
  validationTrain: string;
  validation: string;
  counts: { events: number; sessions: number; trainSessions: number; testSessions: number; validationTrainSessions: number; validationSessions: number; testDroppedEvents: number };
}

/** Sessions of at least two events, each in time order, ordered by their last event (ties by id). */
function sessionsOf(events: readonly SessionEvent[]): SessionEvent[][] {
  const by = new Map<string, SessionEvent[]>();
  for (const e of events) {
    let list = by.get(e.session);
    if (list === undefined) by.set(e.session, (list = []));
    list.push(e);
  }
  const sessions = [...by.values()].filter((s) => s.length >= 2).map((s) => s.sort((a, b) => a.time - b.time));
  const end = (s: SessionEvent[]) => s[s.length - 1]!.time;
  return sessions.sort((a, b) => end(a) - end(b) || (a[0]!.session < b[0]!.session ? -1 : 1));
}

/**
 * The time-based split: the last `share` of sessions by their end are the test set. A test event whose
 * item the training part never saw is removed (no model can recommend it; the protocol scores only
 * known items), and test sessions left with fewer than two events are dropped, since they ask nothing.
 */
export function splitByTime(sessions: readonly SessionEvent[][], share: number): Split & { dropped: number } {
  const cut = Math.min(sessions.length - 1, Math.max(1, Math.round(sessions.length * (1 - share))));
  const train = sessions.slice(0, cut);
  const known = new Set(train.flatMap((s) => s.map((e) => e.item)));
  let dropped = 0;
  const test = sessions
    .slice(cut)
    .map((s) => {
      const kept = s.filter((e) => known.has(e.item));
      dropped += s.length - kept.length;
      return kept;
    })
    .filter((s) => s.length >= 2);
  return { train, test, dropped };
}

export function splitInteractions(events: readonly SessionEvent[], o: SplitOptions): SplitFiles {
  const sessions = sessionsOf(events);
  if (sessions.length < 4) throw new FormatError(`only ${sessions.length} sessions of two or more events: too few to split`);
  const outer = splitByTime(sessions, o.testShare);
  const inner = splitByTime(outer.train, o.validationShare);
  return {
    train: toTsv(outer.train),
    test: toTsv(outer.test),
    validationTrain: toTsv(inner.train),
    validation: toTsv(inner.test),
    counts: {
      events: events.length,
      sessions: sessions.length,
      trainSessions: outer.train.length,
      testSessions: outer.test.length,
      validationTrainSessions: inner.train.length,
      validationSessions: inner.test.length,
      testDroppedEvents: outer.dropped,
    },
  };
}
