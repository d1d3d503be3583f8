import { createLatencyHistogram, type Histogram } from '@pulse/engine';

export interface CollectorLoadOptions {
  /** Base URL of a running `pulse collect`. */
  url: string;
  writeKey: string;
  /** Events per second, sent as /v1/batch requests of `batchSize` events paced by intended send time. */
  rate: number;
  batchSize: number;
  /** Requests open at once. */
  concurrency: number;
  /** User ids are `<prefix>-u<n>` and message ids `<prefix>-<request>-<i>`: apart from the generator's. */
  prefix: string;
  users: number;
  /** Epoch ms that second 0 of the per-second figures starts at. */
  origin: number;
}

/** One second of the load: requests answered 200, refused, and how long the accepted ones took. */
export interface RequestSecond {
  ok: number;
  errors: number;
  histogram: Histogram;
}

/**
 * A Segment-style client of the collector: each request is retried, with the same message ids, until
 * it is answered 200, as Segment's libraries do after a 503 (waiting its Retry-After, at most a second).
 * It keeps the message ids the collector accepted, so that a run can check that each reached its topic
 * exactly once.
 */
export class CollectorLoad {
  /** Message ids answered 200. */
  readonly accepted = new Set<string>();
  /** Answers other than 200 by status ("network" for a failed connection). */
  readonly errors: Record<string, number> = {};
  /** Requests sent again after a refusal. */
  retries = 0;
  requests = 0;
  /** Requests given up when the load was stopped before they were accepted. */
  abandoned = 0;
  /** Time from a request's first send to its 200, over the whole run. */
  readonly latency: Histogram = createLatencyHistogram();
  /** By second since `origin`. */
  readonly seconds = new Map<number, RequestSecond>();
  /** Epoch ms of each 200, in order, for the longest time nothing was accepted. */
  readonly acceptedAt: number[] = [];
  private sequence = 0;
  private stopping = false;
  private giveUpAt = Infinity;
  private workers: Promise<void>[] = [];

  constructor(private readonly o: CollectorLoadOptions) {
    if (!(o.rate > 0) || o.batchSize < 1 || o.concurrency < 1) throw new RangeError('collector load needs a rate above 0, a batch size and a concurrency of at least 1');
  }

  start(): void {
    const started = Date.now();
    const intervalMs = (this.o.batchSize * 1000) / this.o.rate;
    let next = 0;
    // Workers take the next due request in turn, so the pacing holds for the load as a whole.
    const worker = async (): Promise<void> => {
      while (!this.stopping) {
        const due = started + next * intervalMs;
        next++;
        const wait = due - Date.now();
        if (wait > 0) await sleep(wait);
        if (this.stopping) return;
        await this.send(due);
      }
    };
    this.workers = Array.from({ length: this.o.concurrency }, () => worker());
  }

  /** Stops sending new requests; retries of open ones go on until `graceMs` has passed, then they are abandoned. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.giveUpAt = Date.now() + graceMs;
    await Promise.all(this.workers);
  }

  get events(): number {
    return this.accepted.size;
  }

  private second(at: number): RequestSecond {
    const t = Math.floor((at - this.o.origin) / 1000);
    let s = this.seconds.get(t);
    if (s === undefined) this.seconds.set(t, (s = { ok: 0, errors: 0, histogram: createLatencyHistogram() }));
    return s;
  }

  /** One request, sent until it is accepted; `due` is its intended send time (latency counts from there). */
  private async send(due: number): Promise<void> {
    const request = this.sequence++;
    const ts = Date.now();
    const timestamp = new Date(ts).toISOString();
    const events = Array.from({ length: this.o.batchSize }, (_, i) => ({
      type: 'track',
      event: 'Product Viewed',
      userId: `${this.o.prefix}-u${(request * this.o.batchSize + i) % this.o.users}`,
      messageId: `${this.o.prefix}-${request}-${i}`,
      timestamp,
      properties: { product_id: `${this.o.prefix}-p${i % 7}` },
    }));
    const body = JSON.stringify({ batch: events });
    const authorization = `Basic ${Buffer.from(`${this.o.writeKey}:`).toString('base64')}`;
    this.requests++;
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) this.retries++;
      let status: string;
      let retryAfterSec = 0;
      try {
        const res = await fetch(`${this.o.url}/v1/batch`, { method: 'POST', headers: { authorization, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) });
        status = String(res.status);
        retryAfterSec = Number(res.headers.get('retry-after') ?? 0);
        await res.arrayBuffer();
      } catch {
        status = 'network';
      }
      const now = Date.now();
      if (status === '200') {
        for (const e of events) this.accepted.add(e.messageId);
        const s = this.second(now);
        s.ok++;
        s.histogram.recordValue(Math.max(1, now - due));
        this.latency.recordValue(Math.max(1, now - due));
        this.acceptedAt.push(now);
        return;
      }
      this.errors[status] = (this.errors[status] ?? 0) + 1;
      this.second(now).errors++;
      // 4xx other than 429 would be the request's own fault: sending it again would not help.
      if (status.startsWith('4') && status !== '429') throw new Error(`the collector refused a well-formed request with ${status}`);
      if (now >= this.giveUpAt) {
        this.abandoned++;
        return;
      }
      await sleep(Math.min(1000, Math.max(100, retryAfterSec * 1000)));
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
