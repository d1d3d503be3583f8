import { readFileSync } from 'node:fs';
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
  summary: 'recommender tools: offline evaluation on session data',
  allowPositionals: true,
  help: `Usage: pulse recs eval --train FILE --test FILE [--k 20] [--json]

Replays the training sessions through the same streaming model the API serves, then each test
session event by event: after each event it asks for the top k and scores the next item. Prints
HR@k and MRR@k with already-seen items allowed and, separately, excluded.

Files: tab-separated with the header SessionId<TAB>ItemId<TAB>Time (Time in seconds since the
epoch, may be fractional), e.g. ../shared/data/recsys/diginetica-sample-{train,test}.tsv.

Options:
  --train FILE   training sessions
  --test FILE    test sessions
  --k N          list length (default 20)
  --json         one JSON object: {"hr@k","mrr@k","excludeSeen":{…},"sessions","events","seconds"}`,
  options: {
    train: { type: 'string' },
    test: { type: 'string' },
    k: { type: 'string' },
    json: { type: 'boolean' },
  },
  async run(values, positionals) {
    if (positionals.join(' ') !== 'eval') throw new UsageError(`unknown recs command ${JSON.stringify(positionals.join(' '))}; available: eval`);
    const k = numberFlag('k', values.k as string | undefined, 20, 1);
    if (!Number.isInteger(k)) throw new UsageError(`--k must be a whole number, got ${String(values.k)}`);
    const train = readText('train', values.train as string | undefined);
    const test = readText('test', values.test as string | undefined);
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
