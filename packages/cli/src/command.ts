import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** One `pulse <name>` subcommand. Options are parsed by node:util parseArgs; `--help` is added to all. */
export interface Command<O extends Options = Options> {
  readonly name: string;
  readonly summary: string;
  /** Usage lines and option descriptions printed by `--help`. */
  readonly help: string;
  readonly options: O;
  /** Subcommands such as `kafka start`: positionals are passed through. */
  readonly allowPositionals?: boolean;
  run(values: ParsedValues<O>, positionals: string[]): Promise<number | void>;
}

export type ParsedValues<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>['values'];

/** A usage error: printed with the command's help hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function defineCommand<O extends Options>(command: Command<O>): Command<O> {
  return command;
}

export function parseCommandArgs<O extends Options>(command: Command<O>, argv: string[]): { values: Record<string, unknown>; positionals: string[] } {
  return parseArgs({
    args: argv,
    options: { ...command.options, help: { type: 'boolean', short: 'h' } },
    allowPositionals: command.allowPositionals ?? false,
    strict: true,
  });
}

/** Parses a number flag, naming the flag in the error. */
export function numberFlag(name: string, raw: string | undefined, fallback: number, min = 0): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

/** A port number flag (0 picks a free port). */
export function portFlag(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`--${name} must be a port number, got ${JSON.stringify(raw)}`);
  return n;
}

/**
 * Resolves on the first SIGINT or SIGTERM, or when `orWhen` settles (a service that stopped by itself);
 * after that a second Ctrl-C exits at once.
 */
export function untilStopped(orWhen?: Promise<unknown>): Promise<void> {
  return new Promise((resolve) => {
    let stopped = false;
    const stop = () => {
      if (stopped) return;
      stopped = true;
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    orWhen?.then(stop, stop);
  });
}
