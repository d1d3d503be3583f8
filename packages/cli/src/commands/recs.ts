import { readFileSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { compareRecommenders, FormatError, validationPairOf, generatedInteractions, machineInfo, readInteractions, SPLIT_FORMATS, splitInteractions, tuneRecommender, TUNING_GRID, type SplitFormat } from '@pulse/bench';
import { EngineError, evaluateRecommender } from '@pulse/engine';
import { defineCommand, numberFlag, UsageError } from '../command.js';

function readText(flag: string, path: string | undefined): string {
  if (path === undefined) throw new UsageError(`--${flag} FILE is required`);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--${flag}: cannot read ${path}: ${(err as Error).message}`);
  }
}

export const recs = defineCommand({
  name: 'recs',
  summary: 'recommender tools: offline evaluation, baselines, parameter tuning',
  allowPositionals: true,
  help: `Usage: pulse recs eval --train FILE --test FILE [--k 20] [--json]
       pulse recs compare --train FILE --test FILE [--k 20] [--out FILE]
       pulse recs tune (--split DIR… | --train FILE [--validation 0.2]) [--k 20]
       pulse recs split (--input FILE --format F | --generate N [--seed X]) --out DIR
                        [--test-share 0.2] [--validation 0.2] [--gap-minutes 30]

eval:

Replays the training sessions through the same streaming model the API serves, then each test
session event by event: after each event it asks for the top k and scores the next item. Prints
HR@k and MRR@k with already-seen items allowed and, separately, excluded.

Files: tab-separated with the header SessionId<TAB>ItemId<TAB>Time (Time in seconds since the
epoch, may be fractional), e.g. the Diginetica sample's diginetica-sample-{train,test}.tsv.

Options:
  --train FILE   training sessions
  --test FILE    test sessions
  --k N          list length (default 20)
  --json         one JSON object: {"hr@k","mrr@k","excludeSeen":{…},"sessions","events","seconds"}

compare: the streaming model beside offline reference models (bench/recs/baselines.ts): popularity,
sequential rules (SR), V-SKNN, STAN and VSTAN with the parameters of Ludewig et al. (2021), same
protocol; --out FILE writes the table as JSON with the machine it ran on.

split: makes evaluation files from an interaction log (docs/recommendations.md, "Evaluation
splits"): DIR/train.tsv and DIR/test.tsv (the sessions that end last, --test-share of them, are the
test set; test events of items the training part never saw are removed, then test sessions of fewer
than two events), and the same split of train.tsv again as DIR/validation-train.tsv and
DIR/validation.tsv (--validation share), on which parameters are chosen. Sessions of one event are
dropped. --format: ${SPLIT_FORMATS.join(', ')}:
  sessions  SessionId<TAB>ItemId<TAB>Time, as recs eval reads
  otto      OTTO JSON lines {"session":N,"events":[{"aid","ts","type"}]}, cut into sessions at pauses
            longer than --gap-minutes
  rees46    REES46 CSV (event_time,event_type,product_id,…,user_session)
  pulse     Pulse's JSON events, one a line (product views, clicks, carts, purchase items)
--generate N makes N events of the generator's traffic in process instead (--seed, default 1).

tune: chooses the model's parameters on validation data only: with --split DIR (repeatable), on
each DIR/validation-train.tsv → DIR/validation.tsv that recs split wrote; with --train FILE, on its
last --validation share of sessions (items unseen before it removed). Coordinate ascent over
${Object.entries(TUNING_GRID)
    .map(([k, v]) => `${k} ∈ {${v.join(', ')}}`)
    .join(', ')}, maximising the mean MRR@k.`,
  options: {
    train: { type: 'string' },
    test: { type: 'string' },
    k: { type: 'string' },
    json: { type: 'boolean' },
    out: { type: 'string' },
    validation: { type: 'string' },
    input: { type: 'string' },
    format: { type: 'string' },
    generate: { type: 'string' },
    seed: { type: 'string' },
    'test-share': { type: 'string' },
    'gap-minutes': { type: 'string' },
    split: { type: 'string', multiple: true },
  },
  async run(values, positionals) {
    const action = positionals.join(' ');
    const k = numberFlag('k', values.k as string | undefined, 20, 1);
    if (!Number.isInteger(k)) throw new UsageError(`--k must be a whole number, got ${String(values.k)}`);
    if (action === 'split') return split(values);
    if (action === 'tune') {
      const dirs = (values.split as string[] | undefined) ?? [];
      let pairs;
      if (dirs.length > 0) {
        pairs = dirs.map((dir) => ({ name: dir, train: readText('split', resolve(dir, 'validation-train.tsv')), validation: readText('split', resolve(dir, 'validation.tsv')) }));
      } else {
        const share = numberFlag('validation', values.validation as string | undefined, 0.2, 0.01);
        if (share >= 1) throw new UsageError('--validation must be a share below 1');
        pairs = [validationPairOf(readText('train', values.train as string | undefined), share)];
      }
      const r = tuneRecommender(pairs, k);
      console.log(`${pairs.length} validation pair(s): ${pairs.map((p) => p.name).join(', ')}; ${r.tried} evaluations each`);
      console.log(`best: ${JSON.stringify(r.best)} (parameters not named keep the engine defaults)  mean HR@${k} ${r.bestScores.hitRate.toFixed(4)}  mean MRR@${k} ${r.bestScores.mrr.toFixed(4)}`);
      return 0;
    }
    const train = readText('train', values.train as string | undefined);
    const test = readText('test', values.test as string | undefined);
    if (action === 'compare') {
      const rows = compareRecommenders(train, test, k);
      const f = (x: number) => x.toFixed(4);
      console.log(`${rows[0]!.predictions} next-item predictions`);
      console.log(`model                  HR@${k}   MRR@${k}  | seen excluded: HR@${k}  MRR@${k}  | seconds`);
      for (const r of rows) console.log(`${r.model.padEnd(20)}  ${f(r.seenAllowed.hitRate)}  ${f(r.seenAllowed.mrr)}  |                ${f(r.seenExcluded.hitRate)}  ${f(r.seenExcluded.mrr)}  | ${r.seconds.toFixed(2)}`);
      if (typeof values.out === 'string') {
        const file = resolve(values.out);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file, `${JSON.stringify({ scenario: 'recs-compare', k, train: values.train, test: values.test, models: rows, machine: machineInfo(), startedAt: new Date().toISOString() }, null, 2)}\n`);
      }
      return 0;
    }
    if (action !== 'eval') throw new UsageError(`unknown recs command ${JSON.stringify(action)}; available: eval, compare, tune, split`);
    const started = performance.now();
    let r;
    try {
      r = evaluateRecommender(train, test, k);
    } catch (err) {
      if (err instanceof EngineError && err.code === 'ENGINE_BAD_INPUT') throw new UsageError(err.message.replace(/^ENGINE_BAD_INPUT: /, ''));
      throw err;
    }
    const seconds = (performance.now() - started) / 1000;
    if (values.json) {
      console.log(
        JSON.stringify({
          [`hr@${k}`]: r.seenAllowed.hitRate,
          [`mrr@${k}`]: r.seenAllowed.mrr,
          excludeSeen: { [`hr@${k}`]: r.seenExcluded.hitRate, [`mrr@${k}`]: r.seenExcluded.mrr },
          sessions: r.sessions,
          events: r.events,
          predictions: r.predictions,
          seconds: Math.round(seconds * 1000) / 1000,
        }),
      );
    } else {
      const f = (x: number) => x.toFixed(4);
      console.log(`${r.sessions} test sessions, ${r.predictions} next-item predictions, ${r.events} events replayed in ${seconds.toFixed(2)} s`);
      console.log(`seen items allowed:   HR@${k} ${f(r.seenAllowed.hitRate)}  MRR@${k} ${f(r.seenAllowed.mrr)}`);
      console.log(`seen items excluded:  HR@${k} ${f(r.seenExcluded.hitRate)}  MRR@${k} ${f(r.seenExcluded.mrr)}`);
    }
    return 0;
  },
});

function split(values: Record<string, unknown>): number {
  const out = values.out;
  if (typeof out !== 'string') throw new UsageError('--out DIR is required');
  const share = (flag: string, fallback: number) => {
    const v = numberFlag(flag, values[flag] as string | undefined, fallback, 0.01);
    if (v >= 1) throw new UsageError(`--${flag} must be a share below 1`);
    return v;
  };
  const gapSec = numberFlag('gap-minutes', values['gap-minutes'] as string | undefined, 30, 0.01) * 60;
  let files;
  try {
    let events;
    if (values.generate !== undefined) {
      const n = numberFlag('generate', values.generate as string, 0, 1);
      if (!Number.isInteger(n)) throw new UsageError(`--generate must be a whole number of events, got ${String(values.generate)}`);
      events = generatedInteractions(n, (values.seed as string | undefined) ?? '1', 1000, Date.UTC(2026, 0, 1), gapSec);
    } else {
      const format = values.format as string | undefined;
      if (!SPLIT_FORMATS.includes(format as SplitFormat)) throw new UsageError(`--format must be one of ${SPLIT_FORMATS.join(', ')}, got ${JSON.stringify(format)}`);
      events = readInteractions(format as SplitFormat, readText('input', values.input as string | undefined), gapSec);
    }
    files = splitInteractions(events, { testShare: share('test-share', 0.2), validationShare: share('validation', 0.2) });
  } catch (err) {
    if (err instanceof FormatError) throw new UsageError(err.message);
    throw err;
  }
  const dir = resolve(out);
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, 'train.tsv'), files.train);
  writeFileSync(resolve(dir, 'test.tsv'), files.test);
  writeFileSync(resolve(dir, 'validation-train.tsv'), files.validationTrain);
  writeFileSync(resolve(dir, 'validation.tsv'), files.validation);
  const c = files.counts;
  console.log(
    `${c.events} interactions, ${c.sessions} sessions of two or more events: train ${c.trainSessions}, test ${c.testSessions} (${c.testDroppedEvents} test events of unseen items removed); ` +
      `validation-train ${c.validationTrainSessions}, validation ${c.validationSessions}; written to ${dir}`,
  );
  return 0;
}
