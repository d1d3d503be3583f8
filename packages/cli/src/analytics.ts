import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PulseConfig } from '@pulse/config';
import type { Log } from '@pulse/log';
import { KafkaClientStats } from '@pulse/kafka';
import { ANALYTICS_QUERIES, type AnalyticsQueries } from '@pulse/sink';
// Types only: importing a value would run the analytics process's code in this one.
import type { AnalyticsMessage, AnalyticsMetrics, AnalyticsRequest } from './analytics-process.js';

/** How long closing waits for the analytics process to close the sink and the store before ending it. */
const CLOSE_TIMEOUT_MS = 10_000;

/** The analytics side of an API process: the store's queries, the sink's state and the metrics. */
export interface AnalyticsSide {
  /** Answered by the analytics process. */
  analytics: AnalyticsQueries;
  store: { kind: string; location: string };
  /** Settles when the sink stops, rejecting if it stopped on an error; null when the sink runs elsewhere. */
  sinkDone: Promise<void> | null;
  /** Prometheus lines for /metrics: the sink's counters and the Kafka clients' statistics. */
  metrics: (() => Promise<string[]>)[];
  /** Where the process's Kafka clients report their librdkafka statistics for /metrics. */
  kafkaStats: KafkaClientStats;
  close(): Promise<void>;
}

/** A request before it is numbered (Omit of each member of the union). */
type Unnumbered<R> = R extends unknown ? Omit<R, 'id'> : never;
type Request = Unnumbered<Exclude<AnalyticsRequest, { kind: 'start' }>>;

/**
 * Opens the store in a process of its own (analytics-process.ts) and, when `withSink`, runs the sink
 * there; the API's analytics queries are answered by that process. DuckDB allows one process per
 * file, so with DuckDB the sink always runs there (the queries share its database instance); with
 * PostgreSQL the sink may run in its own `pulse sink` process.
 */
export async function startAnalytics(config: PulseConfig, withSink: boolean, log: Log): Promise<AnalyticsSide> {
  // A session of its own, so that where Linux shares the CPU between sessions first (autogroups) the
  // process's lower priority is its own and not the API's (priority.ts). It stops when the API process
  // closes the channel or goes away, not by terminal signals.
  const child = fork(fileURLToPath(new URL('./analytics-process.js', import.meta.url)), [], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached: true });
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let sinkFailed: (err: Error) => void = () => {};
  let sinkStopped: () => void = () => {};
  let gone: Error | null = null;
  let closing = false;

  const ready = new Promise<Extract<AnalyticsMessage, { kind: 'ready' }>>((resolve, reject) => {
    child.on('message', (m: AnalyticsMessage) => {
      switch (m.kind) {
        case 'ready':
          return resolve(m);
        case 'failed':
          return reject(new Error(m.message));
        case 'log':
          return log[m.level](m.line);
        case 'sink-failed':
          return sinkFailed(new Error(m.message));
        case 'answer': {
          const call = pending.get(m.id);
          pending.delete(m.id);
          if ('error' in m) call?.reject(Object.assign(new Error(m.error.message), m.error.statusCode === undefined ? {} : { statusCode: m.error.statusCode }));
          else call?.resolve(m.value);
        }
      }
    });
    child.on('exit', (code, signal) => {
      gone = new Error(`the analytics process exited (${signal ?? code})`);
      reject(gone);
      for (const call of pending.values()) call.reject(gone);
      pending.clear();
      // The sink stops with its process: an error unless this side asked it to close.
      if (closing) sinkStopped();
      else sinkFailed(gone);
    });
  });
  child.send({ kind: 'start', config, withSink } satisfies AnalyticsRequest);

  const call = <T>(request: Request): Promise<T> => {
    if (gone !== null) return Promise.reject(gone);
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...request, id } as AnalyticsRequest);
    });
  };

  const started = await ready;
  const sinkDone = started.sink
    ? new Promise<void>((resolve, reject) => {
        sinkStopped = resolve;
        sinkFailed = reject;
      })
    : null;
  const analytics = Object.fromEntries(ANALYTICS_QUERIES.map((method) => [method, (...args: unknown[]) => call({ kind: 'query', method, args })])) as unknown as AnalyticsQueries;
  const stats = new KafkaClientStats();
  let sinkStats: object | null = null;
  if (started.sink) stats.watch('sink', () => sinkStats);
  return {
    analytics,
    store: started.store,
    sinkDone,
    metrics: [
      async () => {
        // Without the analytics process, /metrics still has this process's clients.
        const m = await call<AnalyticsMetrics>({ kind: 'metrics' }).catch(() => null);
        sinkStats = m?.sinkStats ?? null;
        return [...(m?.lines ?? []), ...stats.prometheus()];
      },
    ],
    kafkaStats: stats,
    async close() {
      closing = true;
      const exited = new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve)));
      // A sink whose Kafka is gone may never finish closing; past the deadline it is ended like a crash.
      const deadline = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      await call({ kind: 'close' }).catch(() => {});
      await exited;
      clearTimeout(deadline);
    },
  };
}
