import type { Command } from '../command.js';
import { aggregate } from './aggregate.js';
import { alerts } from './alerts.js';
import { bench } from './bench.js';
import { collect } from './collect.js';
import { dlq } from './dlq.js';
import { generate } from './generate.js';
import { kafka } from './kafka.js';
import { recs } from './recs.js';
import { serve } from './serve.js';
import { sink } from './sink.js';
import { topics } from './topics.js';
import { tune } from './tune.js';
import { up } from './up.js';

/** Every `pulse` subcommand, in the order `pulse --help` lists them. */
export const commands: readonly Command[] = [
  up,
  kafka,
  topics,
  generate,
  collect,
  aggregate,
  sink,
  serve,
  alerts,
  dlq,
  bench,
  tune,
  recs,
];
