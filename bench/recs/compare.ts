import { evaluateRecommender, type RecsOptions } from '@pulse/engine';
import { popularityBaseline, srReference, stanReference, STAN_DEFAULTS, vsknnReference, VSTAN_DEFAULTS } from './baselines.js';
import { parseSessions, toTsv, validationSplit, type Scores } from './sessions.js';

export interface ModelScores {
  model: string;
  seenAllowed: Scores;
  seenExcluded: Scores;
  predictions: number;
  seconds: number;
}

/** The offline reference models of bench/recs/baselines.ts, by the name `compare` prints. */
export const REFERENCES = {
  popularity: popularityBaseline,
  SR: srReference,
  'V-SKNN': vsknnReference,
  STAN: (train, test, k) => stanReference(train, test, k, STAN_DEFAULTS),
  VSTAN: (train, test, k) => stanReference(train, test, k, VSTAN_DEFAULTS),
} satisfies Record<string, (train: ReturnType<typeof parseSessions>, test: ReturnType<typeof parseSessions>, k: number) => ReturnType<typeof popularityBaseline>>;

/** The streaming model beside every reference model, on the same protocol. */
export function compareRecommenders(trainTsv: string, testTsv: string, k: number, options?: RecsOptions): ModelScores[] {
  const train = parseSessions(trainTsv);
  const test = parseSessions(testTsv);
  let started = performance.now();
  const streaming = evaluateRecommender(trainTsv, testTsv, k, options);
  const rows: ModelScores[] = [
    { model: 'streaming (pulse)', seenAllowed: streaming.seenAllowed, seenExcluded: streaming.seenExcluded, predictions: streaming.predictions, seconds: (performance.now() - started) / 1000 },
  ];
  for (const [model, run] of Object.entries(REFERENCES)) {
    started = performance.now();
    const r = run(train, test, k);
    rows.push({ model, seenAllowed: r.allowed, seenExcluded: r.excluded, predictions: r.predictions, seconds: (performance.now() - started) / 1000 });
  }
  return rows;
}

/** The grid the tuner searches; the engine's defaults are the best of it on the validation splits. */
export const TUNING_GRID: Record<string, readonly number[]> = {
  ruleWeight: [0, 0.25, 0.5, 1],
  idfWeight: [0, 1, 5],
  lengthExponent: [0, 0.25, 0.5],
  positionLambda: [1.02, 3],
  neighbourPositionLambda: [2.05, 5],
  sharedPositionLambda: [1.02, 3],
  neighbours: [100, 300],
};

/** A training file and the validation file scored after it (never a test file). */
export interface ValidationPair {
  name: string;
  train: string;
  validation: string;
}

export interface TuningResult {
  best: RecsOptions;
  /** Mean over the pairs of HR@k and MRR@k with seen items allowed. */
  bestScores: Scores;
  tried: number;
}

/** The validation pair of one training file: its last `share` of sessions, as `validationSplit` makes it. */
export function validationPairOf(trainTsv: string, share: number): ValidationPair {
  const { train, validation } = validationSplit(parseSessions(trainTsv), share);
  return { name: 'training file', train: toTsv(train), validation: toTsv(validation) };
}

/**
 * Chooses the recommender's parameters on validation pairs only, maximising the mean MRR@k (seen items
 * allowed) over them, so that one setting serves every data set. Coordinate ascent over TUNING_GRID,
 * two passes: each parameter in turn takes its best value with the others fixed.
 */
export function tuneRecommender(pairs: readonly ValidationPair[], k: number): TuningResult {
  const mean = (options: RecsOptions): Scores => {
    const runs = pairs.map((p) => evaluateRecommender(p.train, p.validation, k, options).seenAllowed);
    return { hitRate: runs.reduce((a, r) => a + r.hitRate, 0) / runs.length, mrr: runs.reduce((a, r) => a + r.mrr, 0) / runs.length };
  };
  const current: Record<string, number> = {};
  let best = mean({});
  let tried = 1;
  for (let pass = 0; pass < 2; pass++) {
    for (const [name, values] of Object.entries(TUNING_GRID)) {
      for (const value of values) {
        const candidate = { ...current, [name]: value };
        const r = mean(candidate as RecsOptions);
        tried++;
        if (r.mrr > best.mrr) {
          best = r;
          Object.assign(current, candidate);
        }
      }
    }
  }
  return { best: current as RecsOptions, bestScores: best, tried };
}
