import type { Command } from '../command.js';
import { generate } from './generate.js';

/** Every `pulse` subcommand, in the order `pulse --help` lists them. */
export const commands: readonly Command[] = [
  generate,
];
