/**
 * Every configuration key Pulse reads, with its type, default and meaning. The environment variable of
 * a key is derived from its path (`aggregator.graceMs` → `PULSE_AGGREGATOR_GRACE_MS`); a few keys also
 * accept the name the Kafka ecosystem uses (`KAFKA_BOOTSTRAP_SERVERS`).
 */
export type FieldType =
  | { kind: 'string'; oneOf?: readonly string[]; allowEmpty?: boolean }
  | { kind: 'int'; min: number; max?: number }
  /** A finite number above `above` (exclusive) and at most `max`. */
  | { kind: 'number'; above: number; max: number }
  | { kind: 'list' };

export interface FieldSpec {
  readonly type: FieldType;
  readonly default: string | number | readonly string[];
  readonly doc: string;
  readonly aliases?: readonly string[];
}

export const schema = {
  'dataDir': { type: { kind: 'string' }, default: '.pulse', doc: 'where local state lives: the Kafka broker data, logs, pids' },
  'log.level': {
    type: { kind: 'string', oneOf: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    default: 'info',
    doc: 'the least severe log lines the services write (debug adds one line per HTTP request)',
  },
  'log.format': {
    type: { kind: 'string', oneOf: ['auto', 'json', 'pretty'] },
    default: 'auto',
    doc: 'json: one JSON object per line on stderr (pino), for log collectors; pretty: readable lines; auto: pretty in a terminal, else json',
  },
  'kafka.bootstrapServers': {
    type: { kind: 'string' },
    default: '127.0.0.1:9092',
    doc: 'Kafka bootstrap servers; when set in the environment, `pulse up` uses that cluster instead of a local broker',
    aliases: ['KAFKA_BOOTSTRAP_SERVERS'],
  },
  'kafka.clientId': { type: { kind: 'string' }, default: 'pulse', doc: 'client.id prefix of every Kafka client' },
  'kafka.replicationFactor': {
    type: { kind: 'int', min: 0, max: 5 },
    default: 0,
    doc: 'replication factor of the topics Pulse creates; 0: one replica per broker of the cluster, at most 3 (docs/kafka.md)',
  },
  'kafka.minInsyncReplicas': {
    type: { kind: 'int', min: 0, max: 5 },
    default: 0,
    doc: 'min.insync.replicas of the topics Pulse creates; 0: 2 for topics with 3 or more replicas, else 1',
  },
  'kafka.securityProtocol': {
    type: { kind: 'string', oneOf: ['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'] },
    default: 'PLAINTEXT',
    doc: 'security.protocol of every Kafka client: TLS (SSL), SASL, or both (docs/kafka.md)',
  },
  'kafka.saslMechanism': {
    type: { kind: 'string', oneOf: ['', 'PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'], allowEmpty: true },
    default: '',
    doc: 'SASL mechanism when kafka.securityProtocol is SASL_*',
  },
  'kafka.saslUsername': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'SASL user name' },
  'kafka.saslPassword': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'SASL password (never logged)' },
  'kafka.sslCaLocation': {
    type: { kind: 'string', allowEmpty: true },
    default: '',
    doc: "PEM file of the CA(s) that signed the brokers' certificates; empty: the system's trusted CAs",
  },
  'kafka.sslCertificateLocation': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'PEM client certificate for mutual TLS (with kafka.sslKeyLocation)' },
  'kafka.sslKeyLocation': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'PEM private key of the client certificate' },
  'kafka.sslKeyPassword': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'password of kafka.sslKeyLocation, if it is encrypted (never logged)' },
  'kafka.sslKeystoreLocation': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'PKCS#12 file with the client certificate and key, instead of the PEM files' },
  'kafka.sslKeystorePassword': { type: { kind: 'string', allowEmpty: true }, default: '', doc: 'password of kafka.sslKeystoreLocation (never logged)' },
  'kafka.sslEndpointIdentification': {
    type: { kind: 'string', oneOf: ['https', 'none'] },
    default: 'https',
    doc: "whether the broker's certificate must name the host connected to (https) or not (none)",
  },
  'kafka.clientProperties': {
    type: { kind: 'string', allowEmpty: true },
    default: '',
    doc: "a managed service's client.properties (security.protocol, sasl.mechanism, sasl.jaas.config, ssl.*, bootstrap.servers): fills in the kafka.* keys not set otherwise; `pulse up` then uses that cluster",
  },
  'api.host': { type: { kind: 'string' }, default: '127.0.0.1', doc: 'address the query and recommendation API listens on (`pulse serve --host`)' },
  'api.port': { type: { kind: 'int', min: 0, max: 65535 }, default: 8080, doc: 'port of the API (`pulse serve --port`; 0 picks a free one)' },
  'http.requestTimeoutMs': {
    type: { kind: 'int', min: 1000 },
    default: 30000,
    doc: 'how long a client of the collector or the API may take to send a whole request before its socket is closed',
  },
  'http.headersTimeoutMs': { type: { kind: 'int', min: 1000 }, default: 10000, doc: 'how long a client may take to send its request headers' },
  'http.keepAliveTimeoutMs': { type: { kind: 'int', min: 1000 }, default: 72000, doc: 'how long an idle keep-alive connection is held open' },
  'http.maxConnections': { type: { kind: 'int', min: 1 }, default: 10000, doc: 'open connections each HTTP server accepts; further ones are closed at once' },
  'http.maxEventLoopDelayMs': {
    type: { kind: 'int', min: 0 },
    default: 1000,
    doc: 'event-loop delay above which the collector and the API answer 503 with Retry-After instead of queueing more work (0: never)',
  },
  'api.tokens': { type: { kind: 'list' }, default: [], doc: 'Bearer tokens for reads of /api (comma-separated); empty leaves reads open' },
  'api.nice': {
    type: { kind: 'int', min: -20, max: 19 },
    default: 0,
    doc: 'CPU priority (nice) of `pulse serve`: below 0 the API gets a core before the pipeline on a busy machine (needs root or CAP_SYS_NICE; docs/recommendations.md, "Serving, and how it scales")',
  },
  'recs.readyMaxLag': {
    type: { kind: 'int', min: 0 },
    default: 10000,
    doc: '/readyz of `pulse serve` answers 503 while the recommender has more records than this of user-clicks and user-purchases not learnt yet',
  },
  'recs.snapshotIntervalMs': {
    type: { kind: 'int', min: 0 },
    default: 30000,
    doc: 'how often a serving instance writes its recommender model to pulse-recs-model (0: never)',
  },
  'database.url': {
    type: { kind: 'string', allowEmpty: true },
    default: '',
    doc: 'PostgreSQL connection URL of the analytics store (postgres://user:pass@host:port/db); empty: embedded DuckDB in sink.duckdbFile',
    aliases: ['PULSE_DATABASE_URL'],
  },
  'sink.duckdbFile': { type: { kind: 'string' }, default: 'pulse.duckdb', doc: 'DuckDB file of the analytics store when database.url is empty (relative paths are under dataDir)' },
  'sink.duckdbThreads': {
    type: { kind: 'int', min: 1, max: 256 },
    default: 1,
    doc: "DuckDB worker threads of the analytics store: the sink's transactions are small and frequent, and one thread did them with a sixth less CPU than two beside the pipeline; more speeds up large analytics queries",
  },
  'sink.retentionDays': {
    type: { kind: 'int', min: 0 },
    default: 30,
    doc: 'the analytics store keeps windows and latency minutes this many days, deleting older ones hourly (0: keeps everything)',
  },
  'sink.groupId': { type: { kind: 'string' }, default: 'pulse-sink', doc: 'consumer group the sink commits its offsets to (for lag monitoring; the store holds the offsets it resumes from)' },
  'sink.batchSize': { type: { kind: 'int', min: 1, max: 100000 }, default: 5000, doc: 'records the sink writes per store transaction, at most' },
  'sink.maxWaitMs': {
    type: { kind: 'int', min: 0, max: 60000 },
    default: 250,
    doc: 'how long a store transaction gathers records after its first one arrives (up to sink.batchSize): fewer, larger transactions cost the store less; the store is at most this much later',
  },
  'sink.nice': {
    type: { kind: 'int', min: 0, max: 19 },
    default: 10,
    doc: 'CPU priority (nice) of the process in which `pulse serve` and `pulse up` run the sink and the store: on a busy machine the API answers first, and the sink catches up in larger transactions; 0 shares the CPU evenly',
  },
  'producer.batchSize': { type: { kind: 'int', min: 1, max: 2147483647 }, default: 16384, doc: 'producer batch.size in bytes (the spec: 16 KB)' },
  'producer.lingerMs': { type: { kind: 'int', min: 0, max: 900000 }, default: 10, doc: 'producer linger.ms (the spec: 10 ms)' },
  'producer.compression': {
    type: { kind: 'string', oneOf: ['none', 'gzip', 'snappy', 'lz4', 'zstd'] },
    default: 'lz4',
    doc: 'producer compression.type (the spec: lz4)',
  },
  'producer.acks': {
    type: { kind: 'string', oneOf: ['0', '1', 'all', '-1'] },
    default: 'all',
    doc: "producer acks of the load generator and collectors: all (with idempotence, as Kafka's own clients since 3.0) loses nothing a broker failure; the spec's 1 is faster and idempotence-free (docs/kafka.md)",
  },
  'aggregator.groupId': { type: { kind: 'string' }, default: 'pulse-aggregator', doc: 'consumer group of the aggregators' },
  'aggregator.windowSizeMs': { type: { kind: 'int', min: 1000 }, default: 300000, doc: 'tumbling window size of user-activity-counts' },
  'aggregator.graceMs': { type: { kind: 'int', min: 0 }, default: 60000, doc: 'how long after its end a window still accepts events' },
  'aggregator.maxFutureMs': {
    type: { kind: 'int', min: 0 },
    default: 300000,
    doc: 'how far ahead of the clock an event time may be; later events go to dead-letters as `future` and do not move stream time',
  },
  'aggregator.partitioner': {
    type: { kind: 'string', oneOf: ['murmur2', 'any'] },
    default: 'murmur2',
    doc: 'murmur2: an input record whose key Kafka\'s default partitioner puts on another partition goes to dead-letters as `wrong_partition` (its key\'s count would be split); any: producers keep each key on one partition their own way, unchecked',
  },
  'aggregator.readyMaxLag': { type: { kind: 'int', min: 0 }, default: 100000, doc: '/readyz of `pulse aggregate` answers 503 while the records not yet processed exceed this' },
  'aggregator.readyMaxCheckpointAgeMs': {
    type: { kind: 'int', min: 1000 },
    default: 30000,
    doc: '/readyz of `pulse aggregate` answers 503 when its last completed checkpoint is older than this',
  },
  'aggregator.emitIntervalMs': { type: { kind: 'int', min: 0 }, default: 25, doc: 'at most one update per key and window in this interval' },
  'aggregator.commitIntervalMs': { type: { kind: 'int', min: 10 }, default: 1000, doc: 'how often state is checkpointed and offsets committed' },
  'aggregator.snapshotPartBytes': {
    type: { kind: 'int', min: 1024, max: 60 * 1024 * 1024 },
    default: 8 * 1024 * 1024,
    doc: 'a whole snapshot larger than this is written to the changelog in parts of this size, each well under the broker\'s message limit',
  },
  'aggregator.maxDeltas': {
    type: { kind: 'int', min: 0, max: 10000 },
    default: 60,
    doc: 'checkpoints of a user-clicks partition written as deltas (what changed since the last) before a whole snapshot again; sooner once the deltas outweigh the snapshot; 0 writes every checkpoint whole',
  },
  'aggregator.stopTimeoutMs': {
    type: { kind: 'int', min: 1000 },
    default: 30000,
    doc: 'how long `pulse aggregate` waits on stopping for its final checkpoint, which Kafka must acknowledge; past it, it exits 1 without one and the next start resumes from the last',
  },
  'aggregator.maxKeysPerWindow': {
    type: { kind: 'int', min: 1 },
    default: 1000000,
    doc: 'per partition and window; events for further keys go to dead-letters as `overflow`',
  },
  'aggregator.sessionTimeoutMs': {
    type: { kind: 'int', min: 1000, max: 3600000 },
    default: 45000,
    doc: 'consumer session.timeout.ms: how soon the group notices a dead aggregator and moves its partitions',
  },
  'aggregator.topKCapacity': {
    type: { kind: 'int', min: 1, max: 1000000 },
    default: 1000,
    doc: 'products each Space-Saving top-K summary monitors per partition and window (pulse-top-products); more is more exact and more memory',
  },
  'aggregator.topKSize': {
    type: { kind: 'int', min: 1, max: 1000 },
    default: 10,
    doc: 'products each pulse-top-products record lists (at most aggregator.topKCapacity)',
  },
  'aggregator.hllPrecision': {
    type: { kind: 'int', min: 4, max: 16 },
    default: 14,
    doc: 'HyperLogLog precision p of unique-user and funnel estimates: 2^p bytes per sketch, standard error 1.04/√2^p (14: 16 KiB, 0.81 %)',
  },
  'aggregator.ewmaAlpha': {
    type: { kind: 'number', above: 0, max: 1 },
    default: 0.1,
    doc: 'weight of the newest reading in each sensor\'s exponentially weighted mean and variance (pulse-sensor-stats anomaly score)',
  },
  'aggregator.consumeBatchSize': { type: { kind: 'int', min: 1, max: 100000 }, default: 2000, doc: 'records taken from the consumer per engine call' },
  'aggregator.fetchMinBytes': {
    type: { kind: 'int', min: 1, max: 10485760 },
    default: 262144,
    doc: 'consumer fetch.min.bytes: the broker answers a fetch once this much is there (or after 10 ms); larger means fewer fetch requests',
  },
  'aggregator.outputLingerMs': { type: { kind: 'int', min: 0, max: 1000 }, default: 5, doc: 'linger.ms of the output producer: longer means fewer, larger produce requests' },
  'collector.host': { type: { kind: 'string' }, default: '127.0.0.1', doc: 'address the HTTP collector listens on (`pulse collect --host`)' },
  'collector.port': { type: { kind: 'int', min: 0, max: 65535 }, default: 8088, doc: 'port of the HTTP collector (`pulse collect --port`; 0 picks a free one)' },
  'collector.writeKeys': {
    type: { kind: 'list' },
    default: [],
    doc: 'write keys the collector accepts, comma-separated (also PULSE_WRITE_KEYS); a request without one of them gets 401',
    aliases: ['PULSE_WRITE_KEYS'],
  },
  'collector.rateLimit': { type: { kind: 'int', min: 0 }, default: 0, doc: 'events/s each write key may send before it gets 429 (0: no limit)' },
  'collector.dedupWindowMs': {
    type: { kind: 'int', min: 0 },
    default: 300000,
    doc: 'a messageId/eventId acknowledged within this window is not written again (remembered for one to two windows; 0: no deduplication)',
  },
  'collector.dedupMaxEntries': {
    type: { kind: 'int', min: 2 },
    default: 1000000,
    doc: 'ids the deduplication window holds at most (about 16 bytes each, allocated at start); when full, the oldest are forgotten early (counted in /metrics)',
  },
  'collector.ackTimeoutMs': { type: { kind: 'int', min: 100 }, default: 10000, doc: 'how long a request waits for Kafka to acknowledge its events before it gets 503' },
  'collector.maxInFlightEvents': {
    type: { kind: 'int', min: 2500 },
    default: 100000,
    doc: 'events handed to Kafka and not yet acknowledged, at most; above it requests get 503 (the producer queue is bounded)',
  },
  'alerts.userActivityThreshold': {
    type: { kind: 'int', min: 1 },
    default: 500,
    doc: 'events of one user in the current 5-minute window at which the built-in UserActivitySpike alert fires (docs/alerting.md)',
  },
  'alerts.rulesFile': {
    type: { kind: 'string', allowEmpty: true },
    default: '',
    doc: 'JSON file of further alert rules ({"rules":[…]}, docs/alerting.md); a rule named as a built-in one replaces it; empty: the built-in rules only',
  },
  'alerts.alertmanagerUrls': {
    type: { kind: 'list' },
    default: [],
    doc: 'Alertmanager base URLs (comma-separated) that firing and resolved alerts are posted to (<url>/api/v2/alerts)',
    aliases: ['PULSE_ALERTMANAGER_URL'],
  },
  'alerts.resendIntervalMs': {
    type: { kind: 'int', min: 1000 },
    default: 60000,
    doc: 'how often firing alerts (and, for 15 minutes, resolved ones) are posted to Alertmanager again; a firing alert is posted with endsAt = now + 4 × this',
  },
  'alerts.webhooks': { type: { kind: 'list' }, default: [], doc: 'webhook URLs (comma-separated) that receive Alertmanager-style (version 4) notifications', aliases: ['PULSE_ALERT_WEBHOOKS'] },
  'alerts.webhookSecret': {
    type: { kind: 'string', allowEmpty: true },
    default: '',
    doc: 'secret that signs webhook requests as Standard Webhooks do (webhook-id, webhook-timestamp, webhook-signature); empty: unsigned',
    aliases: ['PULSE_ALERT_WEBHOOK_SECRET'],
  },
  'alerts.groupBy': { type: { kind: 'list' }, default: ['alertname'], doc: 'labels that group alerts into one webhook notification (group_by)' },
  'alerts.groupWaitMs': { type: { kind: 'int', min: 0 }, default: 0, doc: "how long a new group's first notification waits for more alerts (group_wait)" },
  'alerts.groupIntervalMs': { type: { kind: 'int', min: 100 }, default: 10000, doc: 'how long a group waits before notifying about changes after its last notification (group_interval)' },
  'alerts.repeatIntervalMs': { type: { kind: 'int', min: 1000 }, default: 14400000, doc: 'how long before a notification is sent again for a group whose firing alerts did not change (repeat_interval)' },
  'alerts.webhookTimeoutMs': { type: { kind: 'int', min: 100 }, default: 10000, doc: 'how long one webhook request may take before it counts as failed and is retried' },
  'alerts.externalUrl': { type: { kind: 'string' }, default: 'http://127.0.0.1:8080', doc: "Pulse's URL as receivers should link to it (externalURL and generatorURL of notifications)" },
  'alerts.host': { type: { kind: 'string' }, default: '127.0.0.1', doc: 'address `pulse alerts` serves /metrics, /healthz and /readyz on' },
  'alerts.port': { type: { kind: 'int', min: 0, max: 65535 }, default: 8089, doc: 'port of `pulse alerts`\' /metrics, /healthz and /readyz (0 picks a free one)' },
  'alerts.maxTrackedKeys': {
    type: { kind: 'int', min: 1 },
    default: 100000,
    doc: 'sensors each sensor_silent rule remembers at most (about 160 bytes of memory and 44 bytes of snapshot each); further ones are not watched, and counted',
  },
  'alerts.snapshotIntervalMs': {
    type: { kind: 'int', min: 100 },
    default: 1000,
    doc: 'how often `pulse alerts` snapshots its state with the input offsets it covers (pulse-alerts-state)',
  },
} as const satisfies Record<string, FieldSpec>;

export type ConfigKey = keyof typeof schema;

type ValueOf<F extends FieldSpec> = F['type'] extends { kind: 'int' | 'number' } ? number : F['type'] extends { kind: 'list' } ? string[] : string;

type Nest<K extends string, V> = K extends `${infer Head}.${infer Rest}` ? { [P in Head]: Nest<Rest, V> } : { [P in K]: V };
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Expand<T> = T extends object ? { [K in keyof T]: Expand<T[K]> } : T;

/** The validated configuration, nested by the dots of its keys. */
export type PulseConfig = Expand<UnionToIntersection<{ [K in ConfigKey]: Nest<K, ValueOf<(typeof schema)[K]>> }[ConfigKey]>>;
