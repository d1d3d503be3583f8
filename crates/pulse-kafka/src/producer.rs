//! A producer for packed batches. Each record is tagged with the current *epoch*; delivery reports
//! are counted per epoch on librdkafka's polling thread, so the caller asks "is everything up to
//! epoch e acknowledged?" once per checkpoint instead of handling one report per record.
//!
//! A producer configured with librdkafka's `delivery.report.only.error` hears of failures only: what is
//! neither failed nor still in librdkafka's queues was delivered. That spares a load generator a report
//! per record; epochs then settle only when nothing at all is in flight.
//!
//! Records can instead carry a *ticket* (one per HTTP request, say) and their index in it: reports are
//! gathered per ticket, and a ticket whose records are all answered is handed over as one completion
//! listing which records were written and which failed.

use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;

use crate::refusal::{Refusal, RefusalSlot};
use crate::stats::StatsSlot;

mod ticketed;

/// How many failed deliveries are kept with their details; beyond it they are only counted.
const MAX_KEPT_FAILURES: usize = 100;
/// A record's opaque is its epoch, or, with this bit set, its ticket (bits 16..) and index (bits 0..16).
const TICKET_BIT: usize = 1 << 63;
pub const MAX_TICKET: u64 = (1 << 47) - 1;
pub const MAX_TICKET_RECORDS: u32 = 1 << 16;

/// The answers for a ticket's records: all of them in `settled`, the failed ones also in `failed`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketDone {
    pub ticket: u64,
    pub settled: Vec<u32>,
    pub failed: Vec<u32>,
    /// The first failure's reason.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct OpenTicket {
    pending: u32,
    done: TicketDone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub topic: String,
    pub partition: i32,
    pub error: String,
}

#[derive(Debug, Default)]
struct Epochs {
    current: u64,
    /// Records librdkafka took, counted only when it reports failures alone (`outstanding` stays empty).
    sent: u64,
    /// Records produced and not yet reported, by epoch; an epoch leaves the map when it reaches zero.
    outstanding: BTreeMap<u64, u64>,
    delivered: u64,
    failed: u64,
    failures: Vec<DeliveryFailure>,
    tickets: std::collections::HashMap<u64, OpenTicket>,
    ticketed_outstanding: u64,
    completed: Vec<TicketDone>,
    /// librdkafka said every broker connection is down, since the last `wait_tickets`.
    brokers_down: bool,
}

#[derive(Debug, Default)]
pub struct DeliveryTracker {
    /// Set with `delivery.report.only.error`: no report comes for a delivered record.
    failures_only: bool,
    epochs: Mutex<Epochs>,
    settled: Condvar,
    stats: StatsSlot,
    refusal: RefusalSlot,
}

impl DeliveryTracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Epochs> {
        self.epochs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expect(&self, records: u64) -> u64 {
        let mut e = self.lock();
        let epoch = e.current;
        if self.failures_only {
            e.sent += records;
        } else {
            *e.outstanding.entry(epoch).or_insert(0) += records;
        }
        epoch
    }

    /// Takes back records that librdkafka refused (queue full): they were never in flight.
    fn cancel(&self, epoch: u64, records: u64) {
        if records == 0 {
            return;
        }
        let mut e = self.lock();
        if self.failures_only {
            e.sent -= records;
        } else {
            self.settle(&mut e, epoch, records);
        }
    }

    fn settle(&self, e: &mut Epochs, epoch: u64, records: u64) {
        if let Some(n) = e.outstanding.get_mut(&epoch) {
            *n -= records.min(*n);
            if *n == 0 {
                e.outstanding.remove(&epoch);
                self.settled.notify_all();
            }
        }
    }

    fn report(&self, epoch: u64, records: u64, failure: Option<DeliveryFailure>) {
        let mut e = self.lock();
        self.settle(&mut e, epoch, records);
        match failure {
            Some(f) => {
                e.failed += records;
                if e.failures.len() < MAX_KEPT_FAILURES {
                    e.failures.push(f);
                }
            }
            None => e.delivered += records,
        }
    }
}

impl DeliveryTracker {
    fn ticket_sent(&self, ticket: u64) {
        let mut e = self.lock();
        e.tickets.entry(ticket).or_insert_with(|| OpenTicket { pending: 0, done: TicketDone { ticket, ..TicketDone::default() } }).pending += 1;
        e.ticketed_outstanding += 1;
    }

    fn ticket_answered(&self, ticket: u64, index: u32, failure: Option<DeliveryFailure>) {
        let mut e = self.lock();
        e.ticketed_outstanding = e.ticketed_outstanding.saturating_sub(1);
        let Some(open) = e.tickets.get_mut(&ticket) else { return };
        open.pending -= 1;
        open.done.settled.push(index);
        let failed = failure.is_some();
        if let Some(f) = failure {
            open.done.failed.push(index);
            open.done.error.get_or_insert(f.error);
        }
        if open.pending == 0 {
            let done = e.tickets.remove(&ticket).expect("present").done;
            e.completed.push(done);
            self.settled.notify_all();
        }
        if failed {
            e.failed += 1;
        } else {
            e.delivered += 1;
        }
    }
}

impl ClientContext for DeliveryTracker {
    fn stats_raw(&self, statistics: &[u8]) {
        self.stats.store(statistics);
    }

    fn log(&self, level: RDKafkaLogLevel, _fac: &str, log_message: &str) {
        self.refusal.note_log(level, log_message);
    }

    /// Transient errors (a refused connection, …) are retried by librdkafka; only "every broker is
    /// down" and a refused login or certificate change what the caller should do.
    fn error(&self, error: KafkaError, reason: &str) {
        let Some(code) = error.rdkafka_error_code() else { return };
        self.refusal.note(code, Some(reason));
        if code == RDKafkaErrorCode::AllBrokersDown || self.refusal.get().is_some() {
            self.lock().brokers_down = true;
            self.settled.notify_all();
        }
    }
}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        if opaque & TICKET_BIT != 0 {
            let ticket = ((opaque & !TICKET_BIT) >> 16) as u64;
            let index = (opaque & 0xffff) as u32;
            let failure = result
                .as_ref()
                .err()
                .map(|(err, message)| DeliveryFailure { topic: message.topic().to_owned(), partition: message.partition(), error: err.to_string() });
            self.ticket_answered(ticket, index, failure);
            return;
        }
        let epoch = opaque;
        match result {
            Ok(_) => self.report(epoch as u64, 1, None),
            Err((err, message)) => self.report(
                epoch as u64,
                1,
                Some(DeliveryFailure { topic: message.topic().to_owned(), partition: message.partition(), error: err.to_string() }),
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub delivered: u64,
    pub failed: u64,
    pub outstanding: u64,
}

/// Where a packed send stopped: `next` is the position to resume from; `full` says librdkafka's
/// queue was full (back off and resume) rather than the input being done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendProgress {
    pub next: usize,
    pub sent: usize,
    pub full: bool,
}

pub struct BatchProducer {
    inner: ThreadedProducer<DeliveryTracker>,
}

impl std::fmt::Debug for BatchProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchProducer").finish_non_exhaustive()
    }
}

fn is_queue_full(err: &KafkaError) -> bool {
    matches!(err, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull))
}

impl BatchProducer {
    pub fn new(config: &[(String, String)]) -> KafkaResult<Self> {
        let mut cc = ClientConfig::new();
        for (k, v) in config {
            cc.set(k, v);
        }
        let failures_only = config.iter().any(|(k, v)| k == "delivery.report.only.error" && v == "true");
        Ok(Self { inner: cc.create_with_context(DeliveryTracker { failures_only, ..DeliveryTracker::default() })? })
    }

    fn tracker(&self) -> &DeliveryTracker {
        self.inner.context()
    }

    /// One record; `Ok(false)` when librdkafka's queue is full.
    pub fn send(&self, topic: &str, partition: Option<i32>, key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(String, Vec<u8>)]) -> KafkaResult<bool> {
        let epoch = self.tracker().expect(1);
        let mut record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, epoch as usize);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        if !headers.is_empty() {
            let mut h = OwnedHeaders::new_with_capacity(headers.len());
            for (name, value) in headers {
                h = h.insert(Header { key: name, value: Some(value.as_slice()) });
            }
            record = record.headers(h);
        }
        match self.inner.send(record) {
            Ok(()) => Ok(true),
            Err((err, _)) => {
                self.tracker().cancel(epoch, 1);
                if is_queue_full(&err) {
                    Ok(false)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Records `from..ends.len()` of a packed batch (see `consumer::Batch` for the layout, here with
    /// positions relative to the start of `values`/`keys`), partitioned by key.
    pub fn send_packed(&self, topic: &str, values: &[u8], ends: &[u32], keys: &[u8], key_ends: &[u32], from: usize) -> KafkaResult<SendProgress> {
        let records = ends.len().saturating_sub(from);
        let epoch = self.tracker().expect(records as u64);
        let mut sent = 0;
        for i in from..ends.len() {
            let value = &values[if i == 0 { 0 } else { ends[i - 1] as usize }..ends[i] as usize];
            let key = &keys[if i == 0 { 0 } else { key_ends[i - 1] as usize }..key_ends[i] as usize];
            let record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, epoch as usize).key(key).payload(value);
            if let Err((err, _)) = self.inner.send(record) {
                self.tracker().cancel(epoch, (records - sent) as u64);
                return if is_queue_full(&err) { Ok(SendProgress { next: i, sent, full: true }) } else { Err(err) };
            }
            sent += 1;
        }
        Ok(SendProgress { next: ends.len(), sent, full: false })
    }

    /// The engine's packed outputs (`kind u8, keyLen u32le, key, valueLen u32le, value`, repeated)
    /// from byte `from`, each to `topics_by_kind[kind]`, partitioned by key.
    pub fn send_outputs(&self, packed: &[u8], from: usize, topics_by_kind: &[Option<String>]) -> KafkaResult<SendProgress> {
        let mut at = from;
        let mut sent = 0;
        while at < packed.len() {
            let (kind, key, value, next) = read_output(packed, at).ok_or_else(|| KafkaError::MessageProduction(RDKafkaErrorCode::InvalidArgument))?;
            let topic = topics_by_kind.get(kind as usize).and_then(Option::as_deref).ok_or_else(|| KafkaError::MessageProduction(RDKafkaErrorCode::UnknownTopic))?;
            let epoch = self.tracker().expect(1);
            let record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, epoch as usize).key(key).payload(value);
            if let Err((err, _)) = self.inner.send(record) {
                self.tracker().cancel(epoch, 1);
                return if is_queue_full(&err) { Ok(SendProgress { next: at, sent, full: true }) } else { Err(err) };
            }
            sent += 1;
            at = next;
        }
        Ok(SendProgress { next: at, sent, full: false })
    }

    /// Closes the current epoch and returns it; later records belong to the next one.
    pub fn close_epoch(&self) -> u64 {
        let mut e = self.tracker().lock();
        e.current += 1;
        e.current - 1
    }

    /// Whether every record of epochs up to `epoch` has been reported (delivered or failed).
    pub fn is_settled(&self, epoch: u64) -> bool {
        if self.tracker().failures_only {
            return self.inner.in_flight_count() == 0;
        }
        self.tracker().lock().outstanding.range(..=epoch).next().is_none()
    }

    /// Blocks until `is_settled(epoch)` or the timeout; returns whether it settled.
    pub fn wait_settled(&self, epoch: u64, timeout: Duration) -> bool {
        let tracker = self.tracker();
        if tracker.failures_only {
            return self.inner.flush(timeout).is_ok();
        }
        let deadline = Instant::now() + timeout;
        let mut e = tracker.lock();
        loop {
            if e.outstanding.range(..=epoch).next().is_none() {
                return true;
            }
            if tracker.refusal.get().is_some() {
                return false;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            e = tracker.settled.wait_timeout(e, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// With failures-only reports, `outstanding` is librdkafka's own count, which also holds callbacks it
    /// has not served yet, and a record being handed to it may count as delivered for a moment: the
    /// counts are exact once nothing is in flight (after `flush`).
    pub fn counts(&self) -> DeliveryCounts {
        if self.tracker().failures_only {
            // librdkafka's count first, so that the tracker's lock is never held while taking librdkafka's.
            let outstanding = self.inner.in_flight_count().max(0) as u64;
            let e = self.tracker().lock();
            return DeliveryCounts { delivered: e.sent.saturating_sub(e.failed + outstanding), failed: e.failed, outstanding };
        }
        let e = self.tracker().lock();
        DeliveryCounts { delivered: e.delivered, failed: e.failed, outstanding: e.outstanding.values().sum::<u64>() + e.ticketed_outstanding }
    }

    /// One record of `ticket` (at most `MAX_TICKET`), record `index` (below `MAX_TICKET_RECORDS`) of
    /// it, partitioned by key; `Ok(false)` when librdkafka's queue is full.
    pub fn send_ticketed(&self, ticket: u64, index: u32, topic: &str, key: &[u8], value: &[u8]) -> KafkaResult<bool> {
        if !self.ticket_fits(ticket, index as usize + 1) {
            return Err(KafkaError::MessageProduction(RDKafkaErrorCode::InvalidArgument));
        }
        let opaque = TICKET_BIT | ((ticket as usize) << 16) | index as usize;
        let record: BaseRecord<'_, [u8], [u8], usize> = BaseRecord::with_opaque_to(topic, opaque).key(key).payload(value);
        match self.inner.send(record) {
            Ok(()) => {
                self.tracker().ticket_sent(ticket);
                Ok(true)
            }
            Err((err, _)) if is_queue_full(&err) => Ok(false),
            Err((err, _)) => Err(err),
        }
    }

    /// Whether `records` records can go under `ticket`. A ticket completes when every record of it is
    /// answered, which a failures-only producer never does.
    fn ticket_fits(&self, ticket: u64, records: usize) -> bool {
        ticket <= MAX_TICKET && records <= MAX_TICKET_RECORDS as usize && !self.tracker().failures_only
    }

    /// Waits up to `timeout` for completed tickets or news that every broker is down; returns the
    /// completions since the last call and whether brokers were reported down.
    pub fn wait_tickets(&self, timeout: Duration) -> (Vec<TicketDone>, bool) {
        let tracker = self.tracker();
        let deadline = Instant::now() + timeout;
        let mut e = tracker.lock();
        while e.completed.is_empty() && !e.brokers_down && tracker.refusal.get().is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            e = tracker.settled.wait_timeout(e, left).unwrap_or_else(|p| p.into_inner()).0;
        }
        let down = std::mem::take(&mut e.brokers_down);
        (std::mem::take(&mut e.completed), down)
    }

    /// Whether the cluster answers a metadata request for `topic` within `timeout`; asks in short
    /// rounds so that a refusal (see `refusal`) ends the wait early.
    pub fn probe(&self, topic: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if self.inner.client().fetch_metadata(Some(topic), left.min(Duration::from_secs(1))).is_ok() {
                return true;
            }
            if self.refusal().is_some() || Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Whether the cluster refused this client's credentials or certificate: librdkafka would retry
    /// without end, so the caller should stop and say why.
    pub fn refusal(&self) -> Option<Refusal> {
        self.tracker().refusal.get()
    }

    /// Failed deliveries since the last call (the first `MAX_KEPT_FAILURES` of them in detail).
    pub fn take_failures(&self) -> Vec<DeliveryFailure> {
        std::mem::take(&mut self.tracker().lock().failures)
    }

    pub fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.inner.flush(timeout)
    }

    pub fn stats(&self) -> Option<String> {
        self.tracker().stats.latest()
    }
}

fn read_output(packed: &[u8], at: usize) -> Option<(u8, &[u8], &[u8], usize)> {
    let kind = *packed.get(at)?;
    let key_len = u32::from_le_bytes(packed.get(at + 1..at + 5)?.try_into().ok()?) as usize;
    let key = packed.get(at + 5..at + 5 + key_len)?;
    let v = at + 5 + key_len;
    let value_len = u32::from_le_bytes(packed.get(v..v + 4)?.try_into().ok()?) as usize;
    let value = packed.get(v + 4..v + 4 + value_len)?;
    Some((kind, key, value, v + 4 + value_len))
}
