/**
 * Offline reference models for the recommender, written to be read beside the papers rather than to be
 * fast (docs/recommendations.md, "Reference models"). Each is trained once on the training file and
 * then asked, after each event of a test session, for scores of candidate items; `scoreNextItem` turns
 * the scores into the top-k lists of the evaluation protocol. Parameters are the defaults of the
 * session-rec framework of Ludewig et al. (2021), with k = 100 neighbour sessions for the kNN models.
 */
import { scoreNextItem, type SessionEvent } from './sessions.js';

type Scores = Map<string, number>;
const add = (scores: Scores, item: string, amount: number) => scores.set(item, (scores.get(item) ?? 0) + amount);

/** The items most viewed in the training file (POP of session-rec). */
export function popularityBaseline(train: readonly SessionEvent[][], test: readonly SessionEvent[][], k: number) {
  const counts = new Map<string, number>();
  for (const e of train.flat()) add(counts, e.item, 1);
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  let top: Scores = new Map();
  return scoreNextItem(
    test,
    (prefix) => {
      // Enough items that k remain once the session's own are left out.
      if (top.size < Math.min(k + prefix.length, ranked.length)) top = new Map(ranked.slice(0, 2 * (k + prefix.length)));
      return top;
    },
    () => {},
    k,
  );
}

export interface SrOptions {
  /** How many earlier items of a session a rule reaches back. */
  steps: number;
  /** Rules kept per item, the strongest. */
  pruning: number;
}

/**
 * Sequential rules (SR, Ludewig & Jannach 2018): every time item b follows item a within `steps`
 * events of a training session, the rule a → b gains 1/distance; each item keeps its `pruning`
 * strongest rules. The next item is predicted from the rules of the session's last item alone.
 */
export function srReference(train: readonly SessionEvent[][], test: readonly SessionEvent[][], k: number, o: SrOptions = { steps: 10, pruning: 20 }) {
  const rules = new Map<string, Scores>();
  for (const session of train) {
    session.forEach((e, i) => {
      for (let d = 1; d <= o.steps && i - d >= 0; d++) {
        const from = session[i - d]!.item;
        let r = rules.get(from);
        if (r === undefined) rules.set(from, (r = new Map()));
        add(r, e.item, 1 / d);
      }
    });
  }
  for (const [item, r] of rules) {
    if (r.size > o.pruning) rules.set(item, new Map([...r].sort((a, b) => b[1] - a[1]).slice(0, o.pruning)));
  }
  return scoreNextItem(test, (prefix) => rules.get(prefix[prefix.length - 1]!.item) ?? new Map(), () => {}, k);
}

/** The training sessions as the kNN models see them: item sequences, item sets, last event time, and which sessions hold an item. */
class SessionIndex {
  readonly items: string[][];
  readonly sets: Set<string>[];
  readonly end: number[];
  readonly byItem = new Map<string, number[]>();
  /** idf(i) = log(sessions / events of i), as session-rec computes it. */
  readonly idf = new Map<string, number>();

  constructor(train: readonly SessionEvent[][]) {
    this.items = train.map((s) => s.map((e) => e.item));
    this.sets = this.items.map((s) => new Set(s));
    this.end = train.map((s) => s[s.length - 1]!.time);
    this.sets.forEach((set, id) => {
      for (const item of set) {
        let list = this.byItem.get(item);
        if (list === undefined) this.byItem.set(item, (list = []));
        list.push(id);
      }
    });
    const events = new Map<string, number>();
    for (const s of this.items) for (const item of s) add(events, item, 1);
    for (const [item, n] of events) this.idf.set(item, Math.log(train.length / n));
  }

  /** The `size` most recently ended sessions that share an item with the current session. */
  sample(prefix: readonly SessionEvent[], size: number): number[] {
    const candidates = new Set<number>();
    for (const e of prefix) for (const id of this.byItem.get(e.item) ?? []) candidates.add(id);
    const all = [...candidates];
    if (all.length <= size) return all;
    return all.sort((a, b) => this.end[b]! - this.end[a]! || b - a).slice(0, size);
  }
}

const topNeighbours = (scored: { id: number; sim: number }[], k: number) =>
  scored.filter((n) => n.sim > 0).sort((a, b) => b.sim - a.sim || b.id - a.id).slice(0, k);

export interface VsknnOptions {
  /** Neighbour sessions used to score. */
  neighbours: number;
  /** Most recent candidate sessions considered (those sharing an item with the current one). */
  sampleSize: number;
}

/**
 * V-SKNN (Ludewig & Jannach 2018): the current session's items are weighted by position (the item at
 * position p of n weighs p/n; a repeated item keeps its latest weight); the similarity to a past session
 * is the sum of the weights of the items they share, divided by the number of distinct items of the
 * current session; an item's score is the sum, over the top neighbours holding it, of their similarity
 * times 1/s, where s is how many steps back the latest item shared with that neighbour lies.
 */
export function vsknnReference(train: readonly SessionEvent[][], test: readonly SessionEvent[][], k: number, o: VsknnOptions = { neighbours: 100, sampleSize: 1000 }) {
  const index = new SessionIndex(train);
  return scoreNextItem(
    test,
    (prefix) => {
      const weight = new Map<string, number>();
      prefix.forEach((e, i) => weight.set(e.item, (i + 1) / prefix.length));
      const scored = index.sample(prefix, o.sampleSize).map((id) => {
        let sim = 0;
        for (const [item, w] of weight) if (index.sets[id]!.has(item)) sim += w;
        return { id, sim: sim / weight.size };
      });
      const scores: Scores = new Map();
      for (const { id, sim } of topNeighbours(scored, o.neighbours)) {
        const set = index.sets[id]!;
        let step = 1;
        while (!set.has(prefix[prefix.length - step]!.item)) step++;
        for (const item of set) add(scores, item, sim / step);
      }
      return scores;
    },
    () => {},
    k,
  );
}

export interface StanOptions {
  neighbours: number;
  sampleSize: number;
  /** λ of the position weight of the current session's items, exp((p − n)/λ). */
  spw: number;
  /** λ of the neighbour session's recency, exp(−Δt/λ), in days. */
  snhDays: number;
  /** λ of the distance in the neighbour between a candidate and the latest shared item, exp(−|Δp|/λ). */
  inh: number;
  /** VSTAN only: λ of the weight by position in the current session of the latest item shared with the neighbour. */
  ipw?: number;
  /** VSTAN only: a candidate's score is multiplied by 1 + idf · λ. */
  idf?: number;
}

export const STAN_DEFAULTS: StanOptions = { neighbours: 100, sampleSize: 5000, spw: 1.02, snhDays: 5, inh: 2.05 };
export const VSTAN_DEFAULTS: StanOptions = { ...STAN_DEFAULTS, ipw: 1.02, idf: 5 };

/**
 * STAN (Garg et al. 2019) and, with `ipw` and `idf`, VSTAN (Ludewig et al. 2021). The current session's
 * items weigh exp((p − n)/λspw) (latest 1); the similarity to a past session is the cosine of the two
 * (weighted current items, the neighbour's distinct items) times exp(−Δt/λsnh), Δt the time since that
 * session ended. Each of the top neighbours adds to an item it holds its similarity times
 * exp(−|p(item) − p*|/λinh), p* the neighbour's last position holding an item of the current session.
 */
export function stanReference(train: readonly SessionEvent[][], test: readonly SessionEvent[][], k: number, o: StanOptions = STAN_DEFAULTS) {
  const index = new SessionIndex(train);
  const snh = o.snhDays * 24 * 3600;
  return scoreNextItem(
    test,
    (prefix) => {
      const n = prefix.length;
      const weight = new Map<string, number>();
      prefix.forEach((e, i) => weight.set(e.item, Math.exp((i + 1 - n) / o.spw)));
      let norm = 0;
      for (const w of weight.values()) norm += w * w;
      const now = prefix[n - 1]!.time;
      const scored = index.sample(prefix, o.sampleSize).map((id) => {
        const set = index.sets[id]!;
        let dot = 0;
        for (const [item, w] of weight) if (set.has(item)) dot += w;
        return { id, sim: (dot / (Math.sqrt(norm) * Math.sqrt(set.size))) * Math.exp(-(now - index.end[id]!) / snh) };
      });
      const scores: Scores = new Map();
      for (const { id, sim } of topNeighbours(scored, o.neighbours)) {
        const items = index.items[id]!;
        let anchor = 0;
        const last = new Map<string, number>();
        items.forEach((item, i) => {
          if (weight.has(item)) anchor = i + 1;
          last.set(item, i + 1);
        });
        let ipw = 1;
        if (o.ipw !== undefined) {
          for (let i = n - 1; i >= 0; i--) {
            if (index.sets[id]!.has(prefix[i]!.item)) {
              ipw = Math.exp((i + 1 - n) / o.ipw);
              break;
            }
          }
        }
        for (const [item, p] of last) {
          let s = sim * Math.exp(-Math.abs(p - anchor) / o.inh);
          if (o.idf !== undefined) s += s * (index.idf.get(item) ?? 0) * o.idf;
          add(scores, item, s * ipw);
        }
      }
      return scores;
    },
    () => {},
    k,
  );
}
