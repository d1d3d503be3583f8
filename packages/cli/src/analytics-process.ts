// The analytics side of an API process, in a process of its own that the API process starts (analytics.ts)
// and talks to over IPC: the store, the sink writing into it and the Kafka monitor. Decoding output
// records and appending them to the store take milliseconds per batch; here they do not hold up the
// requests the API answers, above all recommendations. (A worker thread would do, but the Kafka admin
// client's native module cannot be loaded in one.)

import { getPriority } from 'node:os';
import type { PulseConfig } from '@pulse/config';
import type { Log } from '@pulse/log';
import { Analytics, KafkaMonitor, openStore, Sink, type AnalyticsQueries } from '@pulse/sink';
import { setNice } from './priority.js';

/** The API process's messages: first `start`, then numbered requests. */
export type AnalyticsRequest =
  | { kind: 'start'; config: PulseConfig; withSink: boolean }
  | { id: number; kind: 'query'; method: keyof AnalyticsQueries; args: unknown[] }
  | { id: number; kind: 'metrics' }
  | { id: number; kind: 'close' };

/** What this process says: that it started (or could not), its log, and the answer to each request by id. */
export type AnalyticsMessage =
  | { kind: 'ready'; store: { kind: string; location: string }; sink: boolean }
  | { kind: 'failed'; message: string }
  | { kind: 'log'; level: 'info' | 'warn' | 'error'; line: string }
  | { kind: 'sink-failed'; message: string }
  | { kind: 'answer'; id: number; value: unknown }
  | { kind: 'answer'; id: number; error: { message: string; statusCode?: number } };

/** The Prometheus lines of the sink and its consumer's latest librdkafka statistics. */
export interface AnalyticsMetrics {
  lines: string[];
  sinkStats: object | null;
}

/** How long, once the API process is gone, this one tries to close the sink and the store before it just ends. */
const CLOSE_DEADLINE_MS = 5000;

/** Resolves when the message is written to the channel. */
const say = (m: AnalyticsMessage) => new Promise<void>((resolve) => process.send!(m, undefined, undefined, () => resolve()));
/** The sink's log lines go to the API process, which logs them with its own logger. */
const log: Log = {
  info: (line) => void say({ kind: 'log', level: 'info', line }),
  warn: (line) => void say({ kind: 'log', level: 'warn', line }),
  error: (line) => void say({ kind: 'log', level: 'error', line }),
};

interface Running {
  sink: Sink | null;
  analytics: Analytics;
  close(): Promise<void>;
}

/**
 * The sink's work is throughput, the API's latency: on a busy machine the API process goes first.
 * Never below the nice the process has: raising priority takes privileges.
 */
function lowerPriority(nice: number): void {
  if (nice > getPriority()) setNice(nice);
}

async function start(config: PulseConfig, withSink: boolean): Promise<Running> {
  lowerPriority(config.sink.nice);
  const store = await openStore(config);
  let sink: Sink | null = null;
  try {
    if (withSink || store.kind === 'duckdb') {
      sink = new Sink(config, store, { log });
      await sink.start();
    } else {
      await store.migrate();
    }
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
  sink?.done().catch((err: Error) => void say({ kind: 'sink-failed', message: err.message }));
  const monitor = new KafkaMonitor(config);
  monitor.start();
  void say({ kind: 'ready', store: { kind: store.kind, location: store.location }, sink: sink !== null });
  let closed: Promise<void> | null = null;
  return {
    sink,
    analytics: new Analytics(store, monitor),
    close: () =>
      (closed ??= (async () => {
        await sink?.stop();
        await monitor.stop();
        await store.close();
      })()),
  };
}

async function answer(running: Running, request: Exclude<AnalyticsRequest, { kind: 'start' }>): Promise<unknown> {
  switch (request.kind) {
    case 'query':
      return (running.analytics[request.method] as (...args: unknown[]) => Promise<unknown>)(...request.args);
    case 'metrics':
      return { lines: running.sink?.prometheus() ?? [], sinkStats: running.sink?.kafkaStats() ?? null } satisfies AnalyticsMetrics;
    case 'close':
      return running.close();
  }
}

// The API process decides when this one stops: the store must close after the API stops asking, so a
// signal sent here while the channel is open is ignored (Ctrl-C at a terminal reaches only the API
// process: this one runs in a session of its own). If the API process dies, the channel closes, and so
// does this.
const unlessConnected = () => {
  if (!process.connected) process.exit(1);
};
process.on('SIGINT', unlessConnected);
process.on('SIGTERM', unlessConnected);
let running: Promise<Running> | null = null;
process.on('disconnect', () => {
  // Closing can hang on a Kafka that is gone too (a consumer's close waits for the broker), and so would
  // process.exit, which waits for native calls in flight. Ending without closing is a crash, which loses
  // nothing: the store commits rows together with the offsets they reach.
  setTimeout(() => process.kill(process.pid, 'SIGKILL'), CLOSE_DEADLINE_MS).unref();
  void (running ?? Promise.reject(new Error('not started')))
    .then((r) => r.close())
    .catch(() => {})
    .finally(() => process.exit(0));
});
process.on('message', (request: AnalyticsRequest) => {
  if (request.kind === 'start') {
    running = start(request.config, request.withSink);
    running.catch((err: Error) => say({ kind: 'failed', message: err.message }).then(() => process.disconnect()));
    return;
  }
  void running!
    .then((r) => answer(r, request))
    .then(
      async (value) => {
        await say({ kind: 'answer', id: request.id, value });
        if (request.kind === 'close') process.disconnect();
      },
      (err: Error & { statusCode?: number }) => void say({ kind: 'answer', id: request.id, error: { message: err.message, statusCode: err.statusCode } }),
    );
});
