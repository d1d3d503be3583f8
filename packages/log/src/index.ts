import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LogSettings {
  /** pino's level names, or `silent`. */
  level: string;
  /** `auto`: readable lines in a terminal, JSON lines otherwise. */
  format: string;
}

/**
 * Where secrets could appear in what is logged — configuration objects, HTTP headers — and are
 * replaced by `[redacted]` (pino's fast-redact: the paths are compiled once, not searched per line).
 */
export const REDACTED_PATHS = [
  'config.kafka.saslPassword',
  'config.kafka.sslKeyPassword',
  'config.kafka.sslKeystorePassword',
  'config.api.tokens',
  'config.collector.writeKeys',
  'config.alerts.webhookSecret',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.cookie',
  '*.password',
  '*.token',
  '*.writeKey',
];

/**
 * The logger of a Pulse service (docs/logging.md): pino, on stderr. JSON lines (time, level, the component, the
 * message and its fields) for log collectors; in a terminal, pino-pretty's readable lines with the
 * fields hidden, since the message already says what matters.
 */
export function createLogger(component: string, settings: LogSettings, destination?: DestinationStream): Logger {
  const readable = settings.format === 'pretty' || (settings.format === 'auto' && process.stderr.isTTY === true);
  const stream =
    destination ??
    (readable
      ? pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname,component', messageFormat: '{component}: {msg}', hideObject: true })
      : pino.destination({ dest: 2, sync: true }));
  return pino(
    {
      level: settings.level,
      base: { component },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** What the services' parts log through; a pino Logger is one, and a test can pass a plain object. */
export interface Log {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A Log that keeps its lines (`level: message`), for tests and for callers that print them later. */
export function memoryLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(`info: ${m}`),
    warn: (m) => lines.push(`warn: ${m}`),
    error: (m) => lines.push(`error: ${m}`),
  };
}
