/**
 * librdkafka's statistics (`statistics.interval.ms`, the `event.stats` event) of Pulse's clients,
 * kept as the latest report per client and rendered as Prometheus gauges: consumer lag and fetch queue
 * per partition, producer queues, and request round-trip times per broker.
 */
interface RdStats {
  name?: string;
  msg_cnt?: number;
  replyq?: number;
  brokers?: Record<string, { nodeid?: number; outbuf_cnt?: number; waitresp_cnt?: number; rtt?: { avg?: number; p50?: number; p99?: number } }>;
  topics?: Record<string, { partitions?: Record<string, { consumer_lag?: number; fetchq_cnt?: number; msgq_cnt?: number; xmit_msgq_cnt?: number }> }>;
}

interface Emitter {
  on(event: 'event.stats', listener: (report: { message: string }) => void): unknown;
}

/** The client setting that turns the reports on. */
export const STATS_INTERVAL_MS = 5000;

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class KafkaClientStats {
  private readonly latest = new Map<string, RdStats>();
  private readonly readers = new Map<string, () => object | null>();

  /** Reads the latest report of a native client (packages/engine BatchConsumer/BatchProducer) when rendering. */
  watch(name: string, read: () => object | null): void {
    this.readers.set(name, read);
  }

  /** Keeps the latest report of a client created with `statistics.interval.ms`. */
  attach(client: Emitter, name: string): void {
    client.on('event.stats', (report) => {
      try {
        this.latest.set(name, JSON.parse(report.message) as RdStats);
      } catch {
        // A report that is not JSON is skipped; the next one replaces it.
      }
    });
  }

  prometheus(): string[] {
    for (const [name, read] of this.readers) {
      const report = read();
      if (report !== null) this.latest.set(name, report as RdStats);
    }
    const series = new Map<string, { help: string; lines: string[] }>();
    const add = (metric: string, help: string, labels: Record<string, string | number>, value: number | undefined) => {
      if (value === undefined || !Number.isFinite(value)) return;
      let s = series.get(metric);
      if (s === undefined) series.set(metric, (s = { help, lines: [] }));
      const l = Object.entries(labels).map(([k, v]) => `${k}="${esc(String(v))}"`).join(',');
      s.lines.push(`${metric}{${l}} ${value}`);
    };
    for (const [client, st] of this.latest) {
      add('pulse_kafka_client_queue_messages', 'Messages in the client queues (librdkafka msg_cnt).', { client }, st.msg_cnt);
      add('pulse_kafka_client_reply_queue', 'Operations waiting in the client reply queue (librdkafka replyq).', { client }, st.replyq);
      for (const [broker, b] of Object.entries(st.brokers ?? {})) {
        if (b.nodeid === undefined || b.nodeid < 0) continue; // bootstrap and internal pseudo-brokers
        add('pulse_kafka_broker_rtt_ms', 'Request round-trip time to the broker in ms (librdkafka rtt).', { client, broker, quantile: '0.5' }, b.rtt?.p50 === undefined ? undefined : b.rtt.p50 / 1000);
        add('pulse_kafka_broker_rtt_ms', 'Request round-trip time to the broker in ms (librdkafka rtt).', { client, broker, quantile: '0.99' }, b.rtt?.p99 === undefined ? undefined : b.rtt.p99 / 1000);
        add('pulse_kafka_broker_waiting_requests', 'Requests sent to the broker and awaiting a response.', { client, broker }, b.waitresp_cnt);
        add('pulse_kafka_broker_outbuf_requests', 'Requests queued for sending to the broker.', { client, broker }, b.outbuf_cnt);
      }
      // A consumer's partitions all feed its one local queue, and each reports that queue's length.
      let fetchQueue = 0;
      for (const [topic, t] of Object.entries(st.topics ?? {})) {
        for (const [partition, p] of Object.entries(t.partitions ?? {})) {
          if (partition === '-1') continue; // librdkafka's unassigned-partition queue
          const labels = { client, topic, partition };
          if (p.consumer_lag !== undefined && p.consumer_lag >= 0) add('pulse_kafka_consumer_lag', 'Consumer lag in records (librdkafka consumer_lag).', labels, p.consumer_lag);
          fetchQueue = Math.max(fetchQueue, p.fetchq_cnt ?? 0);
          const queued = (p.msgq_cnt ?? 0) + (p.xmit_msgq_cnt ?? 0);
          if (queued > 0) add('pulse_kafka_producer_queue_messages', 'Messages queued for the partition, not yet sent.', labels, queued);
        }
      }
      if (fetchQueue > 0) add('pulse_kafka_fetch_queue_messages', "Messages fetched into the consumer's local queue and not yet consumed.", { client }, fetchQueue);
    }
    const out: string[] = [];
    for (const [metric, s] of series) out.push(`# HELP ${metric} ${s.help}`, `# TYPE ${metric} gauge`, ...s.lines);
    return out;
  }
}
