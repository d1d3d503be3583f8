//! A consumer that hands over whole batches: the records of one poll are copied into a few flat
//! buffers grouped by partition, so the caller gets one object per batch instead of one per record.
//! Rebalances are queued as events for the caller to pull; newly assigned partitions start paused so
//! that nothing is processed before the caller has restored their state and set their position.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientContext;

use crate::refusal::{Refusal, RefusalSlot};
use crate::stats::StatsSlot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebalanceKind {
    Assigned,
    Revoked,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebalanceEvent {
    pub kind: RebalanceKind,
    pub topic: String,
    pub partition: i32,
}

/// The records of one poll, grouped into one run per partition. Within a run, positions are relative
/// to the run's own bytes, so a run is handed on as zero-copy views: record `i` of run `r` has value
/// `values[r.value_start..r.value_end][ends[i-1]..ends[i]]` (with `ends[r.start-1]` read as 0; a null
/// value is empty), and likewise its key in `keys`/`key_ends`.
#[derive(Debug, Default)]
pub struct Batch {
    pub values: Vec<u8>,
    pub ends: Vec<u32>,
    pub keys: Vec<u8>,
    pub key_ends: Vec<u32>,
    pub offsets: Vec<f64>,
    pub timestamps: Vec<f64>,
        pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Records `start..end` of a batch, all from partition `partition` of topic number `topic`.
pub struct Run {
    pub topic: u32,
    pub partition: i32,
    pub start: u32,
    pub end: u32,
    pub value_start: u32,
    pub value_end: u32,
    pub key_start: u32,
    pub key_end: u32,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// Records of one partition while a batch is being gathered.
#[derive(Debug, Default)]
struct Gathering {
    topic: u32,
    partition: i32,
    values: Vec<u8>,
    ends: Vec<u32>,
    keys: Vec<u8>,
    key_ends: Vec<u32>,
    offsets: Vec<f64>,
    timestamps: Vec<f64>,
}

impl Gathering {
    fn clear(&mut self) {
        self.values.clear();
        self.ends.clear();
        self.keys.clear();
        self.key_ends.clear();
        self.offsets.clear();
        self.timestamps.clear();
    }
}

#[derive(Debug)]
pub struct GroupContext {
    events: Mutex<Vec<RebalanceEvent>>,
    rebalance_error: Mutex<Option<String>>,
    stats: StatsSlot,
    refusal: RefusalSlot,
}

impl GroupContext {
    fn record(&self, kind: RebalanceKind, tpl: &TopicPartitionList) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        for e in tpl.elements() {
            events.push(RebalanceEvent { kind, topic: e.topic().to_owned(), partition: e.partition() });
        }
    }
}

impl ClientContext for GroupContext {
    fn stats_raw(&self, statistics: &[u8]) {
        self.stats.store(statistics);
    }

    fn log(&self, level: RDKafkaLogLevel, _fac: &str, log_message: &str) {
        self.refusal.note_log(level, log_message);
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => self.record(RebalanceKind::Revoked, tpl),
            Rebalance::Assign(_) => {}
            Rebalance::Error(err) => {
                *self.rebalance_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(err.to_string());
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            // Paused until the caller has restored the partition's state and seeked to its offset.
            // A failure here would let records through before the restore, so it is fatal.
            if let Err(err) = consumer.pause(tpl) {
                *self.rebalance_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("pausing new partitions: {err}"));
            }
            self.record(RebalanceKind::Assigned, tpl);
        }
    }
}

/// How long `close` waits for librdkafka to leave the group and stop fetching.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct BatchConsumer {
    /// Some until dropped (see `Drop`): rust-rdkafka's own drop of a group consumer waits without a
    /// bound for a close that a broker gone for good never lets finish.
    consumer: Option<BaseConsumer<GroupContext>>,
    /// Set once a close has begun: a close that timed out is not waited for again.
    closing: AtomicBool,
    topics: Mutex<Vec<String>>,
    /// Per-partition buffers of the last poll, kept (emptied) for the next: no allocation per batch.
    scratch: Mutex<Vec<Gathering>>,
}

impl std::fmt::Debug for BatchConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchConsumer").field("topics", &self.topics).finish_non_exhaustive()
    }
}

impl BatchConsumer {
    /// `config` holds librdkafka properties; `enable.auto.commit` and `enable.partition.eof` are the
    /// caller's business, but `statistics.interval.ms` > 0 is needed for `stats()`.
    pub fn new(config: &[(String, String)]) -> KafkaResult<Self> {
        let mut cc = ClientConfig::new();
        for (k, v) in config {
            cc.set(k, v);
        }
        let context = GroupContext { events: Mutex::default(), rebalance_error: Mutex::default(), stats: StatsSlot::default(), refusal: RefusalSlot::default() };
        let inner: BaseConsumer<GroupContext> = cc.create_with_context(context)?;
        Ok(Self { consumer: Some(inner), closing: AtomicBool::new(false), topics: Mutex::default(), scratch: Mutex::default() })
    }

    fn inner(&self) -> &BaseConsumer<GroupContext> {
        self.consumer.as_ref().expect("the consumer is there until dropped")
    }

    fn topic_index(topics: &mut Vec<String>, name: &str) -> u32 {
        match topics.iter().position(|t| t == name) {
            Some(i) => i as u32,
            None => {
                topics.push(name.to_owned());
                (topics.len() - 1) as u32
            }
        }
    }

    /// Topic names as batch runs refer to them (by index); new topics are appended, never reordered.
    pub fn topics(&self) -> Vec<String> {
        self.topics.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn subscribe(&self, topics: &[String]) -> KafkaResult<()> {
        {
            let mut known = self.topics.lock().unwrap_or_else(|e| e.into_inner());
            for t in topics {
                Self::topic_index(&mut known, t);
            }
        }
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        self.inner().subscribe(&names)
    }

    /// Manual assignment (no group): each partition starts at `offset` (-2 beginning, -1 end).
    pub fn assign(&self, partitions: &[(String, i32, i64)]) -> KafkaResult<()> {
        let mut tpl = TopicPartitionList::new();
        {
            let mut known = self.topics.lock().unwrap_or_else(|e| e.into_inner());
            for (topic, partition, offset) in partitions {
                Self::topic_index(&mut known, topic);
                tpl.add_partition_offset(topic, *partition, to_offset(*offset))?;
            }
        }
        self.inner().assign(&tpl)
    }

    /// Waits up to `timeout` for the first record, then takes what is already fetched, up to `max`.
    pub fn poll_batch(&self, max: usize, timeout: Duration) -> KafkaResult<Batch> {
        let mut spare = self.scratch.lock().unwrap_or_else(|e| e.into_inner());
        let mut gathering: Vec<Gathering> = Vec::new();
        let deadline = Instant::now() + timeout;
        let mut taken = 0;
        while taken < max {
            let wait = if taken == 0 { deadline.saturating_duration_since(Instant::now()) } else { Duration::ZERO };
            let Some(result) = self.inner().poll(wait) else {
                if taken == 0 && Instant::now() < deadline {
                    continue; // woken by a rebalance or a stats event, not a record
                }
                break;
            };
            let message = match result {
                Ok(m) => m,
                // Per-partition errors (e.g. a broker going away) are retried by librdkafka itself; a
                // refused login or certificate is noted for `refusal()` and ends the wait.
                Err(KafkaError::MessageConsumption(code)) => {
                    self.inner().context().refusal.note(code, None);
                    if self.refusal().is_some() {
                        break;
                    }
                    continue;
                }
                Err(KafkaError::PartitionEOF(_)) => continue,
                Err(err) => return Err(err),
            };
            let topic = {
                let mut known = self.topics.lock().unwrap_or_else(|e| e.into_inner());
                Self::topic_index(&mut known, message.topic())
            };
            let partition = message.partition();
            let g = match gathering.iter().position(|g| g.topic == topic && g.partition == partition) {
                Some(i) => &mut gathering[i],
                None => {
                    let mut g = spare.pop().unwrap_or_default();
                    g.topic = topic;
                    g.partition = partition;
                    gathering.push(g);
                    gathering.last_mut().expect("just pushed")
                }
            };
            g.values.extend_from_slice(message.payload().unwrap_or_default());
            g.ends.push(g.values.len() as u32);
            g.keys.extend_from_slice(message.key().unwrap_or_default());
            g.key_ends.push(g.keys.len() as u32);
            g.offsets.push(message.offset() as f64);
            g.timestamps.push(message.timestamp().to_millis().unwrap_or(-1) as f64);
            taken += 1;
        }
        let batch = concat(&gathering, taken);
        for mut g in gathering {
            g.clear();
            spare.push(g);
        }
        Ok(batch)
    }

    /// Rebalances since the last call, in order.
    pub fn take_rebalance_events(&self) -> KafkaResult<Vec<RebalanceEvent>> {
        if let Some(err) = self.inner().context().rebalance_error.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Err(KafkaError::Subscription(format!("rebalance failed: {err}")));
        }
        Ok(std::mem::take(&mut *self.inner().context().events.lock().unwrap_or_else(|e| e.into_inner())))
    }

    pub fn pause(&self, topic: &str, partitions: &[i32]) -> KafkaResult<()> {
        self.inner().pause(&tpl_of(topic, partitions))
    }

    pub fn resume(&self, topic: &str, partitions: &[i32]) -> KafkaResult<()> {
        self.inner().resume(&tpl_of(topic, partitions))
    }

    pub fn seek(&self, topic: &str, partition: i32, offset: i64, timeout: Duration) -> KafkaResult<()> {
        self.inner().seek(topic, partition, to_offset(offset), timeout)
    }

    /// Commits `(topic, partition, next offset)` asynchronously; only lag monitoring reads them.
    pub fn commit(&self, offsets: &[(String, i32, i64)]) -> KafkaResult<()> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        self.inner().commit(&tpl, rdkafka::consumer::CommitMode::Async)
    }

    /// The latest librdkafka statistics (JSON), if `statistics.interval.ms` is set.
    pub fn stats(&self) -> Option<String> {
        self.inner().context().stats.latest()
    }

    /// Whether the cluster refused this client's credentials or certificate (see `refusal`).
    pub fn refusal(&self) -> Option<Refusal> {
        self.inner().context().refusal.get()
    }

    /// Leaves the group (revoking partitions through the rebalance callback) and stops fetching. With
    /// the broker gone (offsets to commit, a group to leave) that never finishes: after `CLOSE_TIMEOUT`
    /// it fails with `OperationTimedOut`, and the client is then left to the process's end.
    pub fn close(&self) -> KafkaResult<()> {
        if self.closing.swap(true, Ordering::SeqCst) {
            return if self.inner().closed() { Ok(()) } else { Err(KafkaError::ConsumerQueueClose(RDKafkaErrorCode::OperationTimedOut)) };
        }
        self.inner().unsubscribe();
        self.inner().close_queue()?;
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        while !self.inner().closed() {
            if Instant::now() >= deadline {
                return Err(KafkaError::ConsumerQueueClose(RDKafkaErrorCode::OperationTimedOut));
            }
            self.inner().poll(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for BatchConsumer {
    fn drop(&mut self) {
        // Closed (or closing in time, if it never was): destroyed. Otherwise the client and its threads
        // are leaked rather than waited for without end, on the way out of a process whose broker is gone.
        if self.close().is_err() {
            std::mem::forget(self.consumer.take());
        }
    }
}

fn to_offset(offset: i64) -> Offset {
    match offset {
        -2 => Offset::Beginning,
        -1 => Offset::End,
        o => Offset::Offset(o),
    }
}

fn tpl_of(topic: &str, partitions: &[i32]) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(topic, *p);
    }
    tpl
}

fn concat(gathering: &[Gathering], records: usize) -> Batch {
    let value_bytes = gathering.iter().map(|g| g.values.len()).sum();
    let key_bytes = gathering.iter().map(|g| g.keys.len()).sum();
    let mut batch = Batch {
        values: Vec::with_capacity(value_bytes),
        ends: Vec::with_capacity(records),
        keys: Vec::with_capacity(key_bytes),
        key_ends: Vec::with_capacity(records),
        offsets: Vec::with_capacity(records),
        timestamps: Vec::with_capacity(records),
        runs: Vec::with_capacity(gathering.len()),
    };
    for g in gathering {
        let start = batch.ends.len() as u32;
        let value_start = batch.values.len() as u32;
        let key_start = batch.keys.len() as u32;
        batch.values.extend_from_slice(&g.values);
        batch.ends.extend_from_slice(&g.ends);
        batch.keys.extend_from_slice(&g.keys);
        batch.key_ends.extend_from_slice(&g.key_ends);
        batch.offsets.extend_from_slice(&g.offsets);
        batch.timestamps.extend_from_slice(&g.timestamps);
        batch.runs.push(Run {
            topic: g.topic,
            partition: g.partition,
            start,
            end: batch.ends.len() as u32,
            value_start,
            value_end: batch.values.len() as u32,
            key_start,
            key_end: batch.keys.len() as u32,
        });
    }
    batch
}
