//! N-API binding of pulse-kafka: librdkafka clients that move whole batches. A poll returns one
//! object holding flat buffers (values, keys, offsets, timestamps) and one run per partition; a send
//! takes packed records; delivery reports are counted natively per epoch. Calls that wait (poll,
//! seek, waiting for acknowledgements, flush, close) run on libuv's thread pool, one at a time per
//! client, so the JavaScript thread never blocks on the network.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::{Env, Task};
use pulse_kafka::admin::{self, TopicConfig};
use pulse_kafka::consumer::{Batch, BatchConsumer, RebalanceKind};
use pulse_kafka::producer::{BatchProducer, SendProgress, TicketDone};
use pulse_kafka::{KafkaError, Refusal, RefusalKind};

pub enum KafkaCode {
    Client,
    BadConfig,
}

impl AsRef<str> for KafkaCode {
    fn as_ref(&self) -> &str {
        match self {
            KafkaCode::Client => "KAFKA_CLIENT",
            KafkaCode::BadConfig => "KAFKA_BAD_CONFIG",
        }
    }
}

pub(crate) fn client_error(err: KafkaError) -> Error<KafkaCode> {
    match err {
        KafkaError::ClientCreation(detail) => Error::new(KafkaCode::BadConfig, detail),
        other => Error::new(KafkaCode::Client, other.to_string()),
    }
}

fn config_pairs(config: HashMap<String, String>) -> Vec<(String, String)> {
    config.into_iter().collect()
}

fn ms(v: u32) -> Duration {
    Duration::from_millis(u64::from(v))
}

#[napi(object)]
pub struct TopicPartitionOffset {
    pub topic: String,
    pub partition: i32,
    /// -2: beginning, -1: end; otherwise the next offset to read.
    pub offset: i64,
}

/// Records `start..end` of a batch, from partition `partition` of `topics()[topic]`; its values are
/// `values.subarray(valueStart, valueEnd)` with `ends.subarray(start, end)` relative to that view,
/// and its keys likewise.
#[napi(object)]
pub struct ConsumedRun {
    pub topic: u32,
    pub partition: i32,
    pub start: u32,
    pub end: u32,
    pub value_start: u32,
    pub value_end: u32,
    pub key_start: u32,
    pub key_end: u32,
}

#[napi(object)]
pub struct ConsumedBatch {
    pub values: Buffer,
    pub ends: Uint32Array,
    pub keys: Buffer,
    pub key_ends: Uint32Array,
    pub offsets: Float64Array,
    /// Record timestamps in ms (-1 when the record has none).
    pub timestamps: Float64Array,
    pub runs: Vec<ConsumedRun>,
}

/// The cluster refused the client for good: librdkafka would retry without end.
#[napi(object)]
pub struct RefusalInfo {
    /// `KAFKA_AUTHENTICATION` (SASL credentials or mechanism) or `KAFKA_TLS` (a certificate that does not verify).
    pub code: String,
    /// librdkafka's reason.
    pub reason: String,
}

fn refusal_info(r: Refusal) -> RefusalInfo {
    let code = match r.kind {
        RefusalKind::Authentication => "KAFKA_AUTHENTICATION",
        RefusalKind::Tls => "KAFKA_TLS",
    };
    RefusalInfo { code: code.to_owned(), reason: r.reason }
}

#[napi(object)]
pub struct RebalanceInfo {
    pub assigned: bool,
    pub topic: String,
    pub partition: i32,
}

pub struct PollTask {
    consumer: Arc<BatchConsumer>,
    max: usize,
    timeout: Duration,
}

impl Task for PollTask {
    type Output = Batch;
    type JsValue = ConsumedBatch;

    fn compute(&mut self) -> Result<Batch> {
        self.consumer.poll_batch(self.max, self.timeout).map_err(|e| Error::from_reason(client_error(e).reason))
    }

    fn resolve(&mut self, _env: Env, b: Batch) -> Result<ConsumedBatch> {
        Ok(ConsumedBatch {
            values: b.values.into(),
            ends: Uint32Array::new(b.ends),
            keys: b.keys.into(),
            key_ends: Uint32Array::new(b.key_ends),
            offsets: Float64Array::new(b.offsets),
            timestamps: Float64Array::new(b.timestamps),
            runs: b
                .runs
                .into_iter()
                .map(|r| ConsumedRun {
                    topic: r.topic,
                    partition: r.partition,
                    start: r.start,
                    end: r.end,
                    value_start: r.value_start,
                    value_end: r.value_end,
                    key_start: r.key_start,
                    key_end: r.key_end,
                })
                .collect(),
        })
    }
}

/// Runs a blocking client call on the thread pool.
pub struct BlockingTask {
    call: Option<Box<dyn FnOnce() -> std::result::Result<(), KafkaError> + Send>>,
}

impl BlockingTask {
    fn spawn(call: impl FnOnce() -> std::result::Result<(), KafkaError> + Send + 'static) -> AsyncTask<Self> {
        AsyncTask::new(Self { call: Some(Box::new(call)) })
    }
}

impl Task for BlockingTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> Result<()> {
        let call = self.call.take().ok_or_else(|| Error::from_reason("task ran twice"))?;
        call().map_err(|e| Error::from_reason(client_error(e).reason))
    }

    fn resolve(&mut self, _env: Env, _output: ()) -> Result<()> {
        Ok(())
    }
}

pub struct SettleTask {
    producer: Arc<BatchProducer>,
    epoch: u64,
    timeout: Duration,
}

impl Task for SettleTask {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> Result<bool> {
        Ok(self.producer.wait_settled(self.epoch, self.timeout))
    }

    fn resolve(&mut self, _env: Env, settled: bool) -> Result<bool> {
        Ok(settled)
    }
}

/// A consumer whose batches cross into JavaScript as flat buffers. With `subscribe`, newly assigned
/// partitions start paused and are reported by `takeRebalanceEvents()`; the caller resumes them once
/// their state is restored.
#[napi]
pub struct NativeConsumer {
    inner: Arc<BatchConsumer>,
}

#[napi]
impl NativeConsumer {
    /// `config`: librdkafka properties, as strings.
    #[napi(constructor)]
    pub fn new(config: HashMap<String, String>) -> Result<Self, KafkaCode> {
        Ok(Self { inner: Arc::new(BatchConsumer::new(&config_pairs(config)).map_err(client_error)?) })
    }

    #[napi]
    pub fn subscribe(&self, topics: Vec<String>) -> Result<(), KafkaCode> {
        self.inner.subscribe(&topics).map_err(client_error)
    }

    #[napi]
    pub fn assign(&self, partitions: Vec<TopicPartitionOffset>) -> Result<(), KafkaCode> {
        let list: Vec<(String, i32, i64)> = partitions.into_iter().map(|p| (p.topic, p.partition, p.offset)).collect();
        self.inner.assign(&list).map_err(client_error)
    }

    /// Topic names that batch runs refer to by index.
    #[napi]
    pub fn topics(&self) -> Vec<String> {
        self.inner.topics()
    }

    /// Waits up to `timeoutMs` for a first record, then takes what is already fetched, up to `max`.
    #[napi(ts_return_type = "Promise<ConsumedBatch>")]
    pub fn poll(&self, max: u32, timeout_ms: u32) -> AsyncTask<PollTask> {
        AsyncTask::new(PollTask { consumer: Arc::clone(&self.inner), max: max.max(1) as usize, timeout: ms(timeout_ms) })
    }

    #[napi]
    pub fn take_rebalance_events(&self) -> Result<Vec<RebalanceInfo>, KafkaCode> {
        Ok(self
            .inner
            .take_rebalance_events()
            .map_err(client_error)?
            .into_iter()
            .map(|e| RebalanceInfo { assigned: e.kind == RebalanceKind::Assigned, topic: e.topic, partition: e.partition })
            .collect())
    }

    #[napi]
    pub fn pause(&self, topic: String, partitions: Vec<i32>) -> Result<(), KafkaCode> {
        self.inner.pause(&topic, &partitions).map_err(client_error)
    }

    #[napi]
    pub fn resume(&self, topic: String, partitions: Vec<i32>) -> Result<(), KafkaCode> {
        self.inner.resume(&topic, &partitions).map_err(client_error)
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn seek(&self, topic: String, partition: i32, offset: i64, timeout_ms: u32) -> AsyncTask<BlockingTask> {
        let consumer = Arc::clone(&self.inner);
        BlockingTask::spawn(move || consumer.seek(&topic, partition, offset, ms(timeout_ms)))
    }

    /// Commits next offsets asynchronously.
    #[napi]
    pub fn commit(&self, offsets: Vec<TopicPartitionOffset>) -> Result<(), KafkaCode> {
        let list: Vec<(String, i32, i64)> = offsets.into_iter().map(|p| (p.topic, p.partition, p.offset)).collect();
        self.inner.commit(&list).map_err(client_error)
    }

    /// The latest librdkafka statistics JSON (needs `statistics.interval.ms`).
    #[napi]
    pub fn stats(&self) -> Option<String> {
        self.inner.stats()
    }

    /// Whether the cluster refused this client's credentials or certificate.
    #[napi]
    pub fn refusal(&self) -> Option<RefusalInfo> {
        self.inner.refusal().map(refusal_info)
    }

    /// Leaves the group and stops fetching.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<BlockingTask> {
        let consumer = Arc::clone(&self.inner);
        BlockingTask::spawn(move || consumer.close())
    }
}

#[napi(object)]
pub struct SendResult {
    /// Where to resume: a record index (`sendPacked`) or a byte position (`sendOutputs`).
    pub next: u32,
    pub sent: u32,
    /// librdkafka's queue was full: wait (e.g. for acknowledgements) and resume from `next`.
    pub full: bool,
}

impl From<SendProgress> for SendResult {
    fn from(p: SendProgress) -> Self {
        Self { next: p.next as u32, sent: p.sent as u32, full: p.full }
    }
}

#[napi(object)]
pub struct RecordHeader {
    pub name: String,
    pub value: Buffer,
}

#[napi(object)]
pub struct DeliveryCountsInfo {
    pub delivered: f64,
    pub failed: f64,
    pub outstanding: f64,
}

#[napi(object)]
pub struct DeliveryFailureInfo {
    pub topic: String,
    pub partition: i32,
    pub error: String,
}

#[napi(object)]
pub struct TicketCompletion {
    pub ticket: f64,
    /// Indices of the ticket's records now answered; those that failed are also in `failed`.
    pub settled: Uint32Array,
    pub failed: Uint32Array,
    pub error: Option<String>,
}

#[napi(object)]
pub struct TicketNews {
    pub completions: Vec<TicketCompletion>,
    /// librdkafka reported every broker connection down since the last call.
    pub brokers_down: bool,
}

pub struct TicketWait {
    producer: Arc<BatchProducer>,
    timeout: Duration,
}

impl Task for TicketWait {
    type Output = (Vec<TicketDone>, bool);
    type JsValue = TicketNews;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.producer.wait_tickets(self.timeout))
    }

    fn resolve(&mut self, _env: Env, (done, brokers_down): Self::Output) -> Result<TicketNews> {
        Ok(TicketNews {
            completions: done
                .into_iter()
                .map(|d| TicketCompletion { ticket: d.ticket as f64, settled: Uint32Array::new(d.settled), failed: Uint32Array::new(d.failed), error: d.error })
                .collect(),
            brokers_down,
        })
    }
}

pub struct ProbeTask {
    producer: Arc<BatchProducer>,
    topic: String,
    timeout: Duration,
}

impl Task for ProbeTask {
    type Output = bool;
    type JsValue = bool;

    fn compute(&mut self) -> Result<bool> {
        Ok(self.producer.probe(&self.topic, self.timeout))
    }

    fn resolve(&mut self, _env: Env, up: bool) -> Result<bool> {
        Ok(up)
    }
}

/// A producer of packed records. Records are tagged with the current epoch; `closeEpoch()` ends it
/// and `waitSettled(epoch)` resolves once every record of it and earlier epochs has been reported.
#[napi]
pub struct NativeProducer {
    pub(crate) inner: Arc<BatchProducer>,
    pub(crate) topics_by_kind: Vec<Option<String>>,
}

#[napi]
impl NativeProducer {
    /// `config`: librdkafka properties, as strings.
    #[napi(constructor)]
    pub fn new(config: HashMap<String, String>) -> Result<Self, KafkaCode> {
        Ok(Self { inner: Arc::new(BatchProducer::new(&config_pairs(config)).map_err(client_error)?), topics_by_kind: Vec::new() })
    }

    /// The topic of each engine output kind (index = kind), for `sendOutputs`.
    #[napi]
    pub fn route_outputs(&mut self, topics_by_kind: Vec<Option<String>>) {
        self.topics_by_kind = topics_by_kind;
    }

    /// One record; false when librdkafka's queue is full.
    #[napi]
    pub fn send(&self, topic: String, partition: Option<i32>, key: Option<&[u8]>, value: Option<&[u8]>, headers: Option<Vec<RecordHeader>>) -> Result<bool, KafkaCode> {
        let headers: Vec<(String, Vec<u8>)> = headers.unwrap_or_default().into_iter().map(|h| (h.name, h.value.to_vec())).collect();
        self.inner.send(&topic, partition, key, value, &headers).map_err(client_error)
    }

    /// Records `from…` of a packed batch (values/keys with their end positions), partitioned by key.
    #[napi]
    pub fn send_packed(&self, topic: String, values: &[u8], ends: &[u32], keys: &[u8], key_ends: &[u32], from: u32) -> Result<SendResult, KafkaCode> {
        if ends.len() != key_ends.len() || ends.last().is_some_and(|&e| e as usize > values.len()) || key_ends.last().is_some_and(|&e| e as usize > keys.len()) {
            return Err(Error::new(KafkaCode::Client, "sendPacked: ends and keyEnds must have one entry per record within their buffers".to_owned()));
        }
        self.inner.send_packed(&topic, values, ends, keys, key_ends, from as usize).map(SendResult::from).map_err(client_error)
    }

    /// The engine's packed outputs from byte `from`, each to the topic its kind is routed to.
    #[napi]
    pub fn send_outputs(&self, packed: &[u8], from: u32) -> Result<SendResult, KafkaCode> {
        self.inner.send_outputs(packed, from as usize, &self.topics_by_kind).map(SendResult::from).map_err(client_error)
    }

    /// Record `index` of `ticket` (e.g. one HTTP request), partitioned by key; false when the queue is
    /// full. Its answer comes back, with the rest of the ticket's, from `waitTickets`.
    #[napi]
    pub fn send_ticketed(&self, ticket: f64, index: u32, topic: String, key: &[u8], value: &[u8]) -> Result<bool, KafkaCode> {
        if !(ticket >= 0.0 && ticket.fract() == 0.0 && ticket <= pulse_kafka::producer::MAX_TICKET as f64) || index >= pulse_kafka::producer::MAX_TICKET_RECORDS {
            return Err(Error::new(KafkaCode::Client, format!("sendTicketed: ticket {ticket} or index {index} out of range")));
        }
        self.inner.send_ticketed(ticket as u64, index, &topic, key, value).map_err(client_error)
    }

    /// Waits up to `timeoutMs` for tickets whose records are all answered, or for news that every
    /// broker is down.
    #[napi(ts_return_type = "Promise<TicketNews>")]
    pub fn wait_tickets(&self, timeout_ms: u32) -> AsyncTask<TicketWait> {
        AsyncTask::new(TicketWait { producer: Arc::clone(&self.inner), timeout: ms(timeout_ms) })
    }

    /// Whether the cluster answers a metadata request for `topic` in time.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn probe(&self, topic: String, timeout_ms: u32) -> AsyncTask<ProbeTask> {
        AsyncTask::new(ProbeTask { producer: Arc::clone(&self.inner), topic, timeout: ms(timeout_ms) })
    }

    #[napi]
    pub fn close_epoch(&self) -> f64 {
        self.inner.close_epoch() as f64
    }

    #[napi]
    pub fn is_settled(&self, epoch: f64) -> bool {
        self.inner.is_settled(epoch as u64)
    }

    /// Resolves true once every record up to `epoch` is reported, false at the timeout.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn wait_settled(&self, epoch: f64, timeout_ms: u32) -> AsyncTask<SettleTask> {
        AsyncTask::new(SettleTask { producer: Arc::clone(&self.inner), epoch: epoch as u64, timeout: ms(timeout_ms) })
    }

    #[napi]
    pub fn counts(&self) -> DeliveryCountsInfo {
        let c = self.inner.counts();
        DeliveryCountsInfo { delivered: c.delivered as f64, failed: c.failed as f64, outstanding: c.outstanding as f64 }
    }

    #[napi]
    pub fn take_failures(&self) -> Vec<DeliveryFailureInfo> {
        self.inner.take_failures().into_iter().map(|f| DeliveryFailureInfo { topic: f.topic, partition: f.partition, error: f.error }).collect()
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn flush(&self, timeout_ms: u32) -> AsyncTask<BlockingTask> {
        let producer = Arc::clone(&self.inner);
        BlockingTask::spawn(move || producer.flush(ms(timeout_ms)))
    }

    #[napi]
    pub fn stats(&self) -> Option<String> {
        self.inner.stats()
    }

    /// Whether the cluster refused this client's credentials or certificate.
    #[napi]
    pub fn refusal(&self) -> Option<RefusalInfo> {
        self.inner.refusal().map(refusal_info)
    }
}

#[napi(object)]
pub struct ConfigEntryInfo {
    pub name: String,
    pub value: Option<String>,
}

#[napi(object)]
pub struct TopicConfigInfo {
    pub topic: String,
    pub entries: Vec<ConfigEntryInfo>,
}

pub struct DescribeConfigsTask {
    config: Vec<(String, String)>,
    topics: Vec<String>,
    timeout: Duration,
}

impl Task for DescribeConfigsTask {
    type Output = Vec<TopicConfig>;
    type JsValue = Vec<TopicConfigInfo>;

    fn compute(&mut self) -> Result<Self::Output> {
        admin::describe_topic_configs(&self.config, &self.topics, self.timeout).map_err(|e| Error::from_reason(client_error(e).reason))
    }

    fn resolve(&mut self, _env: Env, found: Self::Output) -> Result<Vec<TopicConfigInfo>> {
        Ok(found
            .into_iter()
            .map(|t| TopicConfigInfo { topic: t.topic, entries: t.entries.into_iter().map(|(name, value)| ConfigEntryInfo { name, value }).collect() })
            .collect())
    }
}

/// The effective configuration of `topics` through librdkafka's admin API (`config`: librdkafka
/// connection properties); topics that do not exist are left out.
#[napi(ts_return_type = "Promise<Array<TopicConfigInfo>>")]
pub fn describe_topic_configs(config: HashMap<String, String>, topics: Vec<String>, timeout_ms: u32) -> AsyncTask<DescribeConfigsTask> {
    AsyncTask::new(DescribeConfigsTask { config: config_pairs(config), topics, timeout: ms(timeout_ms) })
}

/// The librdkafka version the native clients are built on.
#[napi]
pub fn librdkafka_version() -> String {
    pulse_kafka::librdkafka_version()
}
