import type { Command } from '../command.js';
import { generate } from './generate.js';
import { kafka } from './kafka.js';
import { topics } from './topics.js';

/** Every `pulse` subcommand, in the order `pulse --help` lists them. */
export const commands: readonly Command[] = [
  kafka,
  topics,
  generate,
];
