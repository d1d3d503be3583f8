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

/** The grid the tuner searches; the engine's defaults are the best of it on the validation split. */
export const TUNING_GRID: Record<string, readonly number[]> = {
  sessionWindow: [3, 5, 10],
  positionDecay: [0.3, 0.6, 0.9],
  backwardWeight: [0.25, 0.5, 1],
  normalisationAlpha: [0, 0.5, 1],
  recencyDecay: [0.4, 0.7, 1],
};

export interface TuningResult {
  best: RecsOptions;
  bestScores: Scores;
  tried: number;
  trainSessions: number;
  validationSessions: number;
}

/**
 * Chooses the recommender's parameters on a validation split of the training data only (the last
 * `share` of sessions), maximising MRR@k with seen items allowed. Coordinate ascent over TUNING_GRID,
 * two passes: each parameter in turn takes its best value with the others fixed.
 */
export function tuneRecommender(trainTsv: string, k: number, share = 0.2): TuningResult {
  const { train, validation } = validationSplit(parseSessions(trainTsv), share);
  const trainText = toTsv(train);
  const validationText = toTsv(validation);
  const current: Record<string, number> = {};
  let best = { hitRate: 0, mrr: -1 };
  let tried = 0;
  for (let pass = 0; pass < 2; pass++) {
    for (const [name, values] of Object.entries(TUNING_GRID)) {
      for (const value of values) {
        const candidate = { ...current, [name]: value };
        const r = evaluateRecommender(trainText, validationText, k, candidate as RecsOptions);
        tried++;
        if (r.seenAllowed.mrr > best.mrr) {
          best = r.seenAllowed;
          Object.assign(current, candidate);
        }
      }
    }
  }
  return { best: current as RecsOptions, bestScores: best, tried, trainSessions: train.length, validationSessions: validation.length };
}
