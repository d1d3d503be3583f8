/** Session data in the evaluation format of docs/specification.md, "Recommendation evaluation", for the reference models and the tuner. */
export interface SessionEvent {
  session: string;
  item: string;
  /** Seconds since the epoch, as in the file. */
  time: number;
}

/** Sessions in order of their first event, each in time order (the engine's parser does the same). */
export function parseSessions(text: string): SessionEvent[][] {
  const lines = text.split('\n');
  if (lines[0]?.trim() !== 'SessionId\tItemId\tTime') throw new Error('expected the header SessionId\\tItemId\\tTime');
  const bySession = new Map<string, SessionEvent[]>();
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === '') continue;
    const [session, item, time] = line.split('\t');
    if (session === undefined || item === undefined || time === undefined || !Number.isFinite(Number(time))) throw new Error(`line ${n + 1}: ${line}`);
    let list = bySession.get(session);
    if (list === undefined) bySession.set(session, (list = []));
    list.push({ session, item, time: Number(time) });
  }
  const sessions = [...bySession.values()].map((s) => s.sort((a, b) => a.time - b.time));
  return sessions.sort((a, b) => a[0]!.time - b[0]!.time);
}

export function toTsv(sessions: readonly SessionEvent[][]): string {
  return 'SessionId\tItemId\tTime\n' + sessions.flatMap((s) => s.map((e) => `${e.session}\t${e.item}\t${e.time}`)).join('\n') + '\n';
}

/**
 * A validation split of training data, built the way the sample's test file was: the sessions that
 * start last (the given share) become the validation set, without items unseen in the rest and without
 * sessions left with fewer than two events.
 */
export function validationSplit(sessions: readonly SessionEvent[][], share: number): { train: SessionEvent[][]; validation: SessionEvent[][] } {
  const cut = Math.floor(sessions.length * (1 - share));
  const train = sessions.slice(0, cut);
  const known = new Set(train.flatMap((s) => s.map((e) => e.item)));
  const validation = sessions
    .slice(cut)
    .map((s) => s.filter((e) => known.has(e.item)))
    .filter((s) => s.length >= 2);
  return { train, validation };
}

export interface Scores {
  hitRate: number;
  mrr: number;
}

/**
 * The next-item protocol (docs/recommendations.md, "Evaluation protocol") for a model given as a
 * function from the session so far to candidate scores: after each event of a test session but the
 * last, the k best-scored items (ties broken by item id) are compared with the next item, once as they
 * are and once without the items already in the session.
 */
export function scoreNextItem(
  test: readonly SessionEvent[][],
  recommend: (prefix: readonly SessionEvent[]) => ReadonlyMap<string, number>,
  observe: (event: SessionEvent) => void,
  k: number,
): { allowed: Scores; excluded: Scores; predictions: number } {
  let predictions = 0;
  const tally = { allowed: { hits: 0, rr: 0 }, excluded: { hits: 0, rr: 0 } };
  const count = (t: { hits: number; rr: number }, rank: number) => {
    if (rank >= 0 && rank < k) {
      t.hits++;
      t.rr += 1 / (rank + 1);
    }
  };
  for (const session of test) {
    for (let i = 0; i < session.length; i++) {
      observe(session[i]!);
      const next = session[i + 1];
      if (next === undefined) break;
      const prefix = session.slice(0, i + 1);
      const ranked = [...recommend(prefix)].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([item]) => item);
      count(tally.allowed, ranked.indexOf(next.item));
      const seen = new Set(prefix.map((e) => e.item));
      count(tally.excluded, seen.has(next.item) ? -1 : ranked.filter((item) => !seen.has(item)).indexOf(next.item));
      predictions++;
    }
  }
  const scores = (t: { hits: number; rr: number }) => ({ hitRate: predictions ? t.hits / predictions : 0, mrr: predictions ? t.rr / predictions : 0 });
  return { allowed: scores(tally.allowed), excluded: scores(tally.excluded), predictions };
}
