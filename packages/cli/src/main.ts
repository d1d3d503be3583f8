#!/usr/bin/env -S node --initial-old-space-size=64
// The flag above (also in the root package.json's `pulse` script): by V8's default a long-running
// pulse process keeps an old generation of ~16 MB with a limit of ~25 MB, and runs a full mark-compact
// about once a second; a 64 MB start makes them rare.
import { RuleError } from '@pulse/alerts';
import { ConfigError } from '@pulse/config';
import { TopicMismatchError } from '@pulse/kafka';
import { LocalKafkaError } from '@pulse/kafka-local';
import { parseCommandArgs, UsageError, type Command } from './command.js';
import { commands } from './commands/index.js';

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: pulse <command> [options]',
    '',
    'Real-time e-commerce analytics on Apache Kafka.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `pulse <command> --help` for the options of a command.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name) as Command | undefined;
  if (command === undefined) {
    console.error(`pulse: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  try {
    const { values, positionals } = parseCommandArgs(command, rest);
    if (values.help) {
      console.log(`pulse ${command.name} — ${command.summary}\n\n${command.help}`);
      return 0;
    }
    return (await command.run(values as never, positionals)) ?? 0;
  } catch (err) {
    if (err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`pulse ${command.name}: ${(err as Error).message}\nRun \`pulse ${command.name} --help\` for usage.`);
      return 2;
    }
    if (err instanceof ConfigError || err instanceof RuleError) {
      console.error(`pulse ${command.name}: ${err.message}`);
      return 2;
    }
    // What the user can fix: one line that says what to do, not a stack trace.
    if (err instanceof LocalKafkaError || err instanceof TopicMismatchError) {
      console.error(`pulse ${command.name}: ${err.message}`);
      return 1;
    }
    const code = (err as { code?: unknown }).code;
    if (code === 'KAFKA_AUTHENTICATION' || code === 'KAFKA_TLS') {
      console.error(`pulse ${command.name}: ${(err as Error).message}`);
      // The cluster refused the login or certificate (docs/kafka.md). librdkafka clients would go on
      // retrying in the background and keep the process alive: end it here.
      process.exit(1);
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  },
);
