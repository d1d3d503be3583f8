import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The built `pulse` command, from this file compiled (bench/dist/lib/) or as source (bench/lib/, in tests). */
const WORKSPACE_CLI = fileURLToPath(new URL(`${import.meta.url.includes('/bench/dist/') ? '../../..' : '../..'}/packages/cli/dist/main.js`, import.meta.url));

/**
 * In the workspace the CLI is a sibling folder; installed from npm, this package sits inside the CLI's
 * package (docs/install.md), which Node's resolution finds by name.
 */
export const CLI = existsSync(WORKSPACE_CLI) ? WORKSPACE_CLI : createRequire(import.meta.url).resolve('@pulse/cli');

/**
 * The Node flags in the CLI's shebang (`#!/usr/bin/env -S node --flag …`), so that the processes a
 * benchmark starts run as `pulse` runs when started as a command.
 */
export function cliNodeFlags(cli = CLI): string[] {
  const first = readFileSync(cli, 'utf8').split('\n', 1)[0]!;
  const words = first.replace(/^#!\s*/, '').split(/\s+/);
  const node = words.indexOf('node');
  if (!first.startsWith('#!') || node < 0) throw new Error(`${cli} does not start with a shebang that runs node: ${first}`);
  return words.slice(node + 1).filter((w) => w.length > 0);
}

/** `node <the CLI's flags> [extraNodeFlags] main.js <args>` */
export function pulseCommand(args: readonly string[], extraNodeFlags: readonly string[] = []): string[] {
  return [...cliNodeFlags(), ...extraNodeFlags, CLI, ...args];
}

/** Starts `pulse <args>` as a child of this process with the CLI's own Node flags. */
export function spawnPulse(args: readonly string[], options: SpawnOptions): ChildProcess {
  return spawn(process.execPath, pulseCommand(args), options);
}
