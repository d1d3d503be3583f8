import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { evaluateRecommender } from '@pulse/engine';
import { srReference, stanReference, STAN_DEFAULTS, vsknnReference, VSTAN_DEFAULTS } from '../recs/baselines.js';
import { compareRecommenders } from '../recs/compare.js';
import { parseSessions, toTsv, type SessionEvent } from '../recs/sessions.js';
import { FormatError, generatedInteractions, readInteractions, splitInteractions } from '../recs/split.js';

// Made by `pnpm pulse recs split --generate 4000 --seed 5` (the generator's own traffic).
const fixture = (name: string) => readFileSync(new URL(`../recs/fixtures/generated/${name}`, import.meta.url), 'utf8');

const sessions = (rows: [string, string[]][], start = 1000): SessionEvent[][] => {
  let t = start;
  return rows.map(([session, items]) => items.map((item) => ({ session, item, time: t++ })));
};

describe('recs compare on the committed fixture', () => {
  it('scores the streaming model and every reference on the same predictions, the streaming one as recs eval does', () => {
    const rows = compareRecommenders(fixture('train.tsv'), fixture('test.tsv'), 20);
    expect(rows.map((r) => r.model)).toEqual(['streaming (pulse)', 'popularity', 'SR', 'V-SKNN', 'STAN', 'VSTAN']);
    expect(new Set(rows.map((r) => r.predictions))).toEqual(new Set([27]));
    const streaming = evaluateRecommender(fixture('train.tsv'), fixture('test.tsv'), 20);
    expect(rows[0]!.seenAllowed).toEqual(streaming.seenAllowed);
    for (const r of rows) {
      expect(r.seenAllowed.hitRate).toBeGreaterThanOrEqual(r.seenAllowed.mrr);
      expect(r.seenAllowed.hitRate).toBeLessThanOrEqual(1);
      expect(r.seenExcluded.hitRate).toBeLessThanOrEqual(r.seenAllowed.hitRate);
    }
    // The session models find what popularity cannot.
    const best = Math.max(...rows.slice(1).map((r) => r.seenAllowed.mrr));
    expect(rows[0]!.seenAllowed.mrr).toBeGreaterThanOrEqual(best);
    expect(rows[0]!.seenAllowed.mrr).toBeGreaterThan(2 * rows[1]!.seenAllowed.mrr);
  });
});

describe('reference models on sessions whose answer is known', () => {
  // a is followed by b in most sessions, by c in one.
  const train = sessions([
    ['1', ['a', 'b', 'x']],
    ['2', ['a', 'b', 'y']],
    ['3', ['a', 'c']],
    ['4', ['q', 'r']],
  ]);
  const test = sessions([['t', ['a', 'b']]], 5000);

  it('sequential rules rank the item that most often follows the last one first', () => {
    expect(srReference(train, test, 1).allowed).toEqual({ hitRate: 1, mrr: 1 });
  });

  it('V-SKNN, STAN and VSTAN find it among the neighbour sessions', () => {
    for (const r of [vsknnReference(train, test, 3), stanReference(train, test, 3, STAN_DEFAULTS), stanReference(train, test, 3, VSTAN_DEFAULTS)]) {
      expect(r.predictions).toBe(1);
      expect(r.allowed.hitRate).toBe(1);
      // Only sessions sharing an item are neighbours: r never comes up.
      expect(r.excluded.hitRate).toBe(1);
    }
  });
});

describe('recs split', () => {
  it('makes the sessions that end last the test set, without unseen items or one-event sessions', () => {
    const events = sessions([
      ['s1', ['a', 'b', 'c']],
      ['s2', ['a', 'b']],
      ['lone', ['a']],
      ['s3', ['b', 'c']],
      ['s4', ['c', 'a', 'new', 'b']],
      ['s5', ['new2', 'a']],
    ]).flat();
    const files = splitInteractions(events, { testShare: 0.4, validationShare: 0.34 });
    expect(parseSessions(files.train).map((s) => s[0]!.session)).toEqual(['s1', 's2', 's3']);
    // s5 keeps one known item: it asks nothing and goes; s4 loses its unseen item.
    expect(parseSessions(files.test).map((s) => s.map((e) => e.item))).toEqual([['c', 'a', 'b']]);
    expect(files.counts).toMatchObject({ sessions: 5, trainSessions: 3, testSessions: 1, testDroppedEvents: 2 });
    expect(parseSessions(files.validationTrain).map((s) => s[0]!.session)).toEqual(['s1', 's2']);
    expect(parseSessions(files.validation).map((s) => s[0]!.session)).toEqual(['s3']);
  });

  it('reads OTTO, cutting a user at long pauses, REES46 and Pulse events', () => {
    const otto = readInteractions('otto', '{"session":7,"events":[{"aid":1,"ts":1000,"type":"clicks"},{"aid":2,"ts":2000,"type":"carts"},{"aid":3,"ts":90000000,"type":"orders"}]}\n');
    expect(otto.map((e) => [e.session, e.item, e.time])).toEqual([['7-0', '1', 1], ['7-0', '2', 2], ['7-1', '3', 90000]]);
    const rees = readInteractions('rees46', 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n2019-10-01 00:00:05 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,abc\n');
    expect(rees).toEqual([{ session: 'abc', item: '44600062', time: Date.UTC(2019, 9, 1, 0, 0, 5) / 1000 }]);
    const generated = generatedInteractions(2000, '3');
    expect(generated.length).toBeGreaterThan(500);
    expect(generated.every((e) => /^p-\d+$/.test(e.item))).toBe(true);
  });

  it('names the line of a file in a slightly different format and what was expected', () => {
    const tabs = 'event_time\tevent_type\tproduct_id\tcategory_id\tcategory_code\tbrand\tprice\tuser_id\tuser_session\n';
    expect(() => readInteractions('rees46', tabs)).toThrow(/rees46 line 1: expected the header event_time,event_type,/);
    const header = 'event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\n';
    expect(() => readInteractions('rees46', `${header}2019-10-01 00:00:05 UTC,view,1,2,,b,1.0,3,s\n2019-10-01T00:00:06Z,view,1,2,,b,1.0,3,s\n`)).toThrow(
      /rees46 line 3: expected event_time like 2019-10-01 00:00:00 UTC, got "2019-10-01T00:00:06Z"/,
    );
    expect(() => readInteractions('otto', '{"session":1,"events":[{"aid":"9","ts":1,"type":"clicks"}]}')).toThrow(/otto line 1: expected events of \{"aid":N/);
    expect(() => readInteractions('sessions', 'SessionId,ItemId,Time\n')).toThrow(FormatError);
    expect(() => readInteractions('sessions', 'SessionId\tItemId\tTime\n1\ta\tnoon\n')).toThrow(/sessions line 2: expected SessionId<TAB>ItemId<TAB>Time/);
    expect(() => splitInteractions(sessions([['a', ['x', 'y']]]).flat(), { testShare: 0.2, validationShare: 0.2 })).toThrow(/too few to split/);
    expect(toTsv(sessions([['a', ['x']]]))).toBe('SessionId\tItemId\tTime\na\tx\t1000\n');
  });
});
