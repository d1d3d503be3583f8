import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricsSources {
  inFlight(): number;
  kafkaUp(): boolean;
  dedup(): { seen: number; pending: number; evicted: number } | null;
}

/** The collector's Prometheus metrics, in a registry of its own (served on /metrics). */
export class CollectorMetrics {
  readonly registry = new Registry();
  private readonly requests = new Counter({
    name: 'pulse_collector_requests_total',
    help: 'HTTP requests by route and status code',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly accepted = new Counter({
    name: 'pulse_collector_events_accepted_total',
    help: 'events written to Kafka and acknowledged, by topic',
    labelNames: ['topic'] as const,
    registers: [this.registry],
  });
  private readonly rejected = new Counter({
    name: 'pulse_collector_events_rejected_total',
    help: 'events of refused requests, by reason (a body that could not be parsed counts as one)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly duplicates = new Counter({
    name: 'pulse_collector_events_duplicate_total',
    help: 'events not written again because their messageId/eventId was in the dedup window',
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'pulse_collector_produce_latency_seconds',
    help: "per request, from handing its first event to Kafka to Kafka's acknowledgement of the last",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    registers: [this.registry],
  });
  private totalAccepted = 0;
  private totalRejected = 0;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    new Gauge({ name: 'pulse_collector_in_flight_events', help: 'events handed to Kafka and not yet acknowledged', registers, collect() {
      this.set(sources.inFlight());
    } });
    new Gauge({ name: 'pulse_collector_kafka_up', help: '1 while Kafka is reachable, 0 while requests are refused with 503', registers, collect() {
      this.set(sources.kafkaUp() ? 1 : 0);
    } });
    new Gauge({ name: 'pulse_collector_dedup_ids', help: 'ids held by the deduplication window', labelNames: ['state'] as const, registers, collect() {
      const d = sources.dedup();
      this.set({ state: 'seen' }, d?.seen ?? 0);
      this.set({ state: 'pending' }, d?.pending ?? 0);
    } });
    new Gauge({ name: 'pulse_collector_dedup_evicted', help: 'ids forgotten before their window ended because the window was full', registers, collect() {
      this.set(sources.dedup()?.evicted ?? 0);
    } });
  }

  request(route: string, status: number): void {
    this.requests.inc({ route, status: String(status) });
  }

  produced(perTopic: ReadonlyMap<string, number>, duplicates: number, latencySec: number): void {
    for (const [topic, n] of perTopic) {
      this.accepted.inc({ topic }, n);
      this.totalAccepted += n;
    }
    if (duplicates > 0) this.duplicates.inc(duplicates);
    this.latency.observe(latencySec);
  }

  refused(reason: string, events: number): void {
    this.rejected.inc({ reason }, events);
    this.totalRejected += events;
  }

  /** Totals since start, for progress lines. */
  totals(): { accepted: number; rejected: number } {
    return { accepted: this.totalAccepted, rejected: this.totalRejected };
  }
}
