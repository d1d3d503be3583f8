import { GetPool } from './http-connection.js';
import { createLatencyHistogram, percentiles, type Percentiles } from '@pulse/engine';

export interface PacedLoadResult {
  requests: number;
  errors: number;
  achievedRate: number;
  /** From each request's intended send time to the end of its response, ms (no coordinated omission). */
  latencyMs: Percentiles;
  /** The same latency per second of intended send time: where in the run the slow requests were. */
  series: { t: number; requests: number; p99: number; max: number }[];
}

/**
 * GET requests at a fixed rate, each scheduled at an intended time (start + i/rate) and timed from it, so
 * a stalled server shows in the latency instead of slowing the load (the flaw autocannon's closed-loop
 * connections have). Keep-alive connections are opened as needed, at most `maxSockets` (see `GetPool`).
 */
export async function pacedGetLoad(o: { host: string; port: number; rate: number; durationSec: number; path: () => string; maxSockets?: number }): Promise<PacedLoadResult> {
  const histogram = createLatencyHistogram();
  const total = Math.round(o.rate * o.durationSec);
  const intervalMs = 1000 / o.rate;
  let sent = 0;
  let finished = 0;
  let errors = 0;
  const perSecond = Array.from({ length: Math.ceil(o.durationSec) }, () => createLatencyHistogram());
  const pool = new GetPool(o.host, o.port, o.maxSockets ?? 64);
  const start = performance.now();
  await new Promise<void>((done) => {
    const complete = (intended: number, ok: boolean) => {
      if (ok) {
        const ms = Math.max(0, Math.round(performance.now() - intended));
        histogram.recordValue(ms);
        perSecond[Math.floor((intended - start) / 1000)]?.recordValue(ms);
      } else errors++;
      if (++finished === total) done();
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        const intended = start + sent * intervalMs;
        sent++;
        pool.get(o.path(), (status) => complete(intended, status === 200));
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * intervalMs - performance.now()));
    };
    tick();
  });
  pool.close();
  const elapsed = (performance.now() - start) / 1000;
  const series = perSecond.map((h, t) => {
    const { count, p99, max } = percentiles(h);
    return { t, requests: count, p99, max };
  });
  return { requests: total, errors, achievedRate: Math.round(total / elapsed), latencyMs: percentiles(histogram), series };
}
