import { scoreNextItem, type SessionEvent } from './sessions.js';

/** Most viewed items so far (training and the test events replayed up to now). */
export function popularityBaseline(train: readonly SessionEvent[][], test: readonly SessionEvent[][], k: number) {
  const counts = new Map<string, number>();
  for (const e of train.flat()) counts.set(e.item, (counts.get(e.item) ?? 0) + 1);
  let ranked: string[] | null = null;
  return scoreNextItem(
    test,
    (prefix, n, excludeSeen) => {
      ranked ??= [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([item]) => item);
      const seen = excludeSeen ? new Set(prefix.map((e) => e.item)) : new Set<string>();
      return ranked.filter((i) => !seen.has(i)).slice(0, n);
    },
    (e) => {
      counts.set(e.item, (counts.get(e.item) ?? 0) + 1);
      ranked = null;
    },
    k,
  );
}

export interface VsknnOptions {
  /** Neighbour sessions used to score. */
  neighbours: number;
  /** Most recent candidate sessions considered (those sharing an item with the current one). */
  sampleSize: number;
}

/**
 * Offline V-SKNN (Ludewig & Jannach): the current session's items weighted linearly by position
 * (newest 1), similarity to a past training session = sum of the weights of the items they share;
 * an item's score = sum of the similarities of the top neighbour sessions that contain it. Trained
 * once on the training file; test sessions are not added to it.
 */
export function vsknnReference(train: readonly SessionEvent[][], test: readonly SessionEvent[][], k: number, o: VsknnOptions = { neighbours: 100, sampleSize: 500 }) {
  const sessionItems = train.map((s) => new Set(s.map((e) => e.item)));
  const sessionEnd = train.map((s) => s[s.length - 1]!.time);
  const byItem = new Map<string, number[]>();
  sessionItems.forEach((items, id) => {
    for (const item of items) {
      let list = byItem.get(item);
      if (list === undefined) byItem.set(item, (list = []));
      list.push(id);
    }
  });
  return scoreNextItem(
    test,
    (prefix, n, excludeSeen) => {
      const weight = new Map<string, number>();
      prefix.forEach((e, i) => weight.set(e.item, (i + 1) / prefix.length));
      const candidates = new Set<number>();
      for (const item of weight.keys()) for (const id of byItem.get(item) ?? []) candidates.add(id);
      const sample = [...candidates].sort((a, b) => sessionEnd[b]! - sessionEnd[a]!).slice(0, o.sampleSize);
      const neighbours = sample
        .map((id) => {
          let sim = 0;
          for (const [item, w] of weight) if (sessionItems[id]!.has(item)) sim += w;
          return { id, sim };
        })
        .sort((a, b) => b.sim - a.sim)
        .slice(0, o.neighbours);
      const scores = new Map<string, number>();
      for (const { id, sim } of neighbours) for (const item of sessionItems[id]!) scores.set(item, (scores.get(item) ?? 0) + sim);
      const seen = excludeSeen ? new Set(prefix.map((e) => e.item)) : new Set<string>();
      return [...scores]
        .filter(([item]) => !seen.has(item))
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, n)
        .map(([item]) => item);
    },
    () => {},
    k,
  );
}
