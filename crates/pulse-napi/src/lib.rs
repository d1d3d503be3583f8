//! N-API binding of pulse-engine. Only translation lives here: JavaScript values in, engine calls,
//! bytes out. Rules: one call per Kafka batch; record bytes are borrowed, outputs
//! returned as a `Buffer` that takes ownership of the engine's `Vec<u8>`; configuration crosses once,
//! at construction; bad events are data (reject lists), never exceptions.
//!
//! Panics: every method that runs engine code is `catch_unwind`, so a panic becomes a JavaScript error
//! with code `ENGINE_PANIC` instead of aborting the process; the caller must treat the handle as
//! poisoned, drop its partition state and restore from the changelog (the aggregator exits and restarts).

#[macro_use]
extern crate napi_derive;

pub mod checkpoint;
pub mod collector;
pub mod kafka;
pub mod shop;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use napi::bindgen_prelude::*;
use parking_lot::{Mutex, RwLock};
use pulse_engine::histogram::{bucket_floor, BUCKETS};
use pulse_engine::recs::{parse_interactions, IngestCounts, Observation, RecsModel, RecsOptions};
use pulse_engine::snapshot::Writer;
use pulse_engine::recs_eval::{evaluate, parse_sessions_tsv};
use pulse_engine::hll::{MAX_PRECISION, MIN_PRECISION};
use pulse_engine::partitioner::partition_for;
use pulse_engine::snapshot::Checkpoint;

use crate::checkpoint::EncodedState;
use pulse_engine::{
    ActivityOptions, ActivityPartition, PartitionOutputs, PurchaseOptions, PurchasesPartition, RejectReason, SensorOptions, SensorPartition, SnapshotError,
};

/// Stable error codes, mapped to a typed error in packages/engine.
pub enum EngineCode {
    BadOptions,
    BadFrame,
    BadSnapshot,
    SnapshotMismatch,
    BadInput,
}

impl AsRef<str> for EngineCode {
    fn as_ref(&self) -> &str {
        match self {
            EngineCode::BadOptions => "ENGINE_BAD_OPTIONS",
            EngineCode::BadFrame => "ENGINE_BAD_FRAME",
            EngineCode::BadSnapshot => "ENGINE_BAD_SNAPSHOT",
            EngineCode::SnapshotMismatch => "ENGINE_SNAPSHOT_MISMATCH",
            EngineCode::BadInput => "ENGINE_BAD_INPUT",
        }
    }
}

/// Options of an activity-count partition (and of the click metrics it keeps); all times in
/// milliseconds. Left out, the metric settings take the engine's defaults.
#[napi(object)]
pub struct RawActivityOptions {
    pub window_size_ms: f64,
    pub grace_ms: f64,
    pub emit_interval_ms: f64,
    pub max_keys_per_window: u32,
    /// The input partition, named in the metric records.
    pub partition: Option<u32>,
    /// Products each top-K summary monitors.
    pub top_k_capacity: Option<u32>,
    /// Products each top-K record lists.
    pub top_k_size: Option<u32>,
    /// HyperLogLog precision p (4..=16): 2^p registers, standard error 1.04/√(2^p).
    pub hll_precision: Option<u32>,
    /// How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time
    /// may be; further is rejected as `future`.
    /// Left out, there is no bound.
    pub max_future_ms: Option<f64>,
    /// Partitions of the input topic; with it, a record whose key belongs to another partition under
    /// Kafka's default partitioner is rejected as `wrong_partition`.
    pub partitions: Option<u32>,
}

/// Options of a `user-purchases` partition.
#[napi(object)]
pub struct RawPurchaseOptions {
    pub partition: u32,
    pub grace_ms: f64,
    pub emit_interval_ms: f64,
    pub max_keys_per_window: u32,
    pub top_k_capacity: Option<u32>,
    pub top_k_size: Option<u32>,
    pub hll_precision: Option<u32>,
    /// How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time
    /// may be; further is rejected as `future`.
    /// Left out, there is no bound.
    pub max_future_ms: Option<f64>,
    /// Partitions of the input topic; with it, a record whose key belongs to another partition under
    /// Kafka's default partitioner is rejected as `wrong_partition`.
    pub partitions: Option<u32>,
}

/// Options of a `sensor-data` partition.
#[napi(object)]
pub struct RawSensorOptions {
    pub grace_ms: f64,
    pub emit_interval_ms: f64,
    pub max_keys_per_window: u32,
    /// Weight of the newest reading in the exponentially weighted mean and variance, in (0, 1].
    pub ewma_alpha: Option<f64>,
    /// The input partition (default 0).
    pub partition: Option<u32>,
    /// How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time
    /// may be; further is rejected as `future`.
    /// Left out, there is no bound.
    pub max_future_ms: Option<f64>,
    /// Partitions of the input topic; with it, a record whose key belongs to another partition under
    /// Kafka's default partitioner is rejected as `wrong_partition`.
    pub partitions: Option<u32>,
}

pub(crate) fn bad_options(message: String) -> Error<EngineCode> {
    Error::new(EngineCode::BadOptions, message)
}

/// Top-K capacity and size, and HyperLogLog precision, checked; defaults for those left out.
fn sketch_options(capacity: Option<u32>, size: Option<u32>, precision: Option<u32>) -> Result<(usize, usize, u8), EngineCode> {
    let d = ActivityOptions::default();
    let capacity = capacity.map_or(d.top_k_capacity, |c| c as usize);
    let size = size.map_or(d.top_k_size, |s| s as usize);
    if capacity == 0 || size == 0 || size > capacity {
        return Err(bad_options(format!("topKSize ({size}) must be at least 1 and at most topKCapacity ({capacity})")));
    }
    let precision = precision.unwrap_or(d.hll_precision as u32);
    if !(MIN_PRECISION as u32..=MAX_PRECISION as u32).contains(&precision) {
        return Err(bad_options(format!("hllPrecision must be {MIN_PRECISION}..={MAX_PRECISION}, got {precision}")));
    }
    Ok((capacity, size, precision as u8))
}

fn max_keys(v: u32) -> Result<usize, EngineCode> {
    if v == 0 {
        return Err(bad_options("maxKeysPerWindow must be at least 1".to_owned()));
    }
    Ok(v as usize)
}

impl TryFrom<RawPurchaseOptions> for PurchaseOptions {
    type Error = Error<EngineCode>;
    fn try_from(raw: RawPurchaseOptions) -> Result<Self, EngineCode> {
        let (top_k_capacity, top_k_size, hll_precision) = sketch_options(raw.top_k_capacity, raw.top_k_size, raw.hll_precision)?;
        Ok(PurchaseOptions {
            partition: raw.partition,
            partitions: partitions(raw.partition, raw.partitions)?,
            grace_ms: whole_ms("graceMs", raw.grace_ms, 0.0)?,
            emit_interval_ms: whole_ms("emitIntervalMs", raw.emit_interval_ms, 0.0)?,
            max_keys_per_window: max_keys(raw.max_keys_per_window)?,
            top_k_capacity,
            top_k_size,
            hll_precision,
            max_future_ms: max_future(raw.max_future_ms)?,
        })
    }
}

impl TryFrom<RawSensorOptions> for SensorOptions {
    type Error = Error<EngineCode>;
    fn try_from(raw: RawSensorOptions) -> Result<Self, EngineCode> {
        let ewma_alpha = raw.ewma_alpha.unwrap_or(SensorOptions::default().ewma_alpha);
        if !(ewma_alpha > 0.0 && ewma_alpha <= 1.0) {
            return Err(bad_options(format!("ewmaAlpha must be in (0, 1], got {ewma_alpha}")));
        }
        Ok(SensorOptions {
            grace_ms: whole_ms("graceMs", raw.grace_ms, 0.0)?,
            emit_interval_ms: whole_ms("emitIntervalMs", raw.emit_interval_ms, 0.0)?,
            max_keys_per_window: max_keys(raw.max_keys_per_window)?,
            ewma_alpha,
            max_future_ms: max_future(raw.max_future_ms)?,
            partition: raw.partition.unwrap_or(0),
            partitions: partitions(raw.partition.unwrap_or(0), raw.partitions)?,
        })
    }
}

fn partitions(partition: u32, partitions: Option<u32>) -> Result<Option<u32>, EngineCode> {
    match partitions {
        Some(n) if partition >= n => Err(bad_options(format!("partition {partition} is not below partitions ({n})"))),
        _ => Ok(partitions),
    }
}

fn max_future(v: Option<f64>) -> Result<Option<i64>, EngineCode> {
    v.map(|v| whole_ms("maxFutureMs", v, 0.0)).transpose()
}

fn whole_ms(name: &str, v: f64, min: f64) -> Result<i64, EngineCode> {
    if v.is_finite() && v.fract() == 0.0 && v >= min && v < 9.0e15 {
        Ok(v as i64)
    } else {
        Err(Error::new(EngineCode::BadOptions, format!("{name} must be a whole number ≥ {min}, got {v}")))
    }
}

impl TryFrom<RawActivityOptions> for ActivityOptions {
    type Error = Error<EngineCode>;
    fn try_from(raw: RawActivityOptions) -> Result<Self, EngineCode> {
        let (top_k_capacity, top_k_size, hll_precision) = sketch_options(raw.top_k_capacity, raw.top_k_size, raw.hll_precision)?;
        Ok(ActivityOptions {
            window_size_ms: whole_ms("windowSizeMs", raw.window_size_ms, 1.0)?,
            grace_ms: whole_ms("graceMs", raw.grace_ms, 0.0)?,
            emit_interval_ms: whole_ms("emitIntervalMs", raw.emit_interval_ms, 0.0)?,
            max_keys_per_window: max_keys(raw.max_keys_per_window)?,
            partition: raw.partition.unwrap_or(0),
            partitions: partitions(raw.partition.unwrap_or(0), raw.partitions)?,
            top_k_capacity,
            top_k_size,
            hll_precision,
            max_future_ms: max_future(raw.max_future_ms)?,
        })
    }
}

#[napi(object)]
pub struct IngestResult {
    pub accepted: u32,
    pub rejected: u32,
}

/// A record of the last batches that was not processed: its index in its batch, the
/// `pulse.error.reason` value and a human-readable detail.
#[napi(object)]
pub struct RejectInfo {
    pub index: u32,
    pub reason: String,
    pub detail: String,
}

#[napi(object)]
pub struct ActivityStatsInfo {
    pub accepted: f64,
    /// Rejected records by reason, in the order of `rejectReasons()`.
    pub rejected: Vec<f64>,
    pub updates_emitted: f64,
    pub finals_emitted: f64,
    pub open_windows: u32,
    pub keys: f64,
    pub pending_keys: f64,
    pub state_bytes: f64,
    /// Accepted events too late for one of their shorter windows, counted in the others.
    pub partially_late: f64,
    pub stream_time: Option<f64>,
}

fn stats_info(s: pulse_engine::PartitionStats) -> ActivityStatsInfo {
    ActivityStatsInfo {
        accepted: s.accepted as f64,
        rejected: s.rejected.iter().map(|&n| n as f64).collect(),
        updates_emitted: s.updates_emitted as f64,
        finals_emitted: s.finals_emitted as f64,
        open_windows: s.open_windows,
        keys: s.keys as f64,
        pending_keys: s.pending_keys as f64,
        state_bytes: s.state_bytes as f64,
        partially_late: s.partially_late as f64,
        stream_time: s.stream_time.map(|t| t as f64),
    }
}

fn snapshot_error(e: SnapshotError) -> Error<EngineCode> {
    match e {
        SnapshotError::Mismatch(_) => Error::new(EngineCode::SnapshotMismatch, e.to_string()),
        SnapshotError::Corrupt(_) => Error::new(EngineCode::BadSnapshot, e.to_string()),
    }
}

/// The options type of each partition engine, for the restore tasks the macro below declares.
trait HasOptions {
    type Options: Send;
}

impl HasOptions for ActivityPartition {
    type Options = ActivityOptions;
}

impl HasOptions for PurchasesPartition {
    type Options = PurchaseOptions;
}

impl HasOptions for SensorPartition {
    type Options = SensorOptions;
}

/// The engine of one input partition, the same method set for every input topic: opened when the
/// partition is assigned, dropped when it is revoked.
macro_rules! partition_engine {
    ($doc:literal, $name:ident, $partition:ident, $raw:ident, $restore_task:ident, $restored_ts:literal) => {
        #[doc = $doc]
        #[napi]
        pub struct $name {
            inner: $partition,
            restored_next_offset: Option<i64>,
            restore_warning: Option<String>,
        }

        /// Restores a partition from its whole snapshot and the deltas after it on the thread pool:
        /// decoding a large state takes far longer than a turn of the event loop may.
        pub struct $restore_task {
            snapshot: Buffer,
            deltas: Vec<Buffer>,
            options: Option<<$partition as HasOptions>::Options>,
        }

        impl Task for $restore_task {
            type Output = $name;
            type JsValue = $name;

            fn compute(&mut self) -> Result<$name> {
                let options = self.options.take().ok_or_else(|| Error::from_reason("task ran twice"))?;
                let restored = unwind_to_error(|| $partition::restore(&self.snapshot, options))?;
                // A task rejects with a plain status, so the stable code leads the message (packages/engine reads it there).
                let (mut inner, mut next) = restored.map_err(|e| {
                    let e = snapshot_error(e);
                    Error::from_reason(format!("{}: {}", e.status.as_ref(), e.reason))
                })?;
                let mut restore_warning = None;
                for (i, delta) in self.deltas.iter().enumerate() {
                    match unwind_to_error(|| inner.apply_delta(delta))? {
                        Ok(offset) => next = offset,
                        // Not the next delta of the chain (another member's, during a rebalance): the
                        // state is whole up to the last one applied.
                        Err(e) => {
                            restore_warning = Some(format!("{} deltas after the whole snapshot not applied: {e}", self.deltas.len() - i));
                            break;
                        }
                    }
                }
                Ok($name { inner, restored_next_offset: Some(next), restore_warning })
            }

            fn resolve(&mut self, _env: Env, engine: $name) -> Result<$name> {
                Ok(engine)
            }
        }

        #[napi]
        impl $name {
            #[napi(constructor)]
            pub fn new(options: $raw) -> Result<Self, EngineCode> {
                Ok(Self { inner: $partition::new(options.try_into()?), restored_next_offset: None, restore_warning: None })
            }

            /// Restores from a whole snapshot and the deltas written after it, oldest first, on the
            /// thread pool. A delta that does not follow is not applied, nor any after it (see
            /// `restoreWarning`); the state is then as of the last delta applied.
            #[napi(ts_return_type = $restored_ts)]
            pub fn restore_checkpoint(snapshot: Buffer, deltas: Vec<Buffer>, options: $raw) -> Result<AsyncTask<$restore_task>, EngineCode> {
                Ok(AsyncTask::new($restore_task { snapshot, deltas, options: Some(options.try_into()?) }))
            }

            /// Why `restoreCheckpoint` left deltas out, if it did.
            #[napi(getter)]
            pub fn restore_warning(&self) -> Option<String> {
                self.restore_warning.clone()
            }

            /// The first input offset a restored snapshot does not cover; null for a new partition.
            #[napi(getter)]
            pub fn restored_next_offset(&self) -> Option<f64> {
                self.restored_next_offset.map(|o| o as f64)
            }

            /// Processes one batch: `values` holds the record values back to back, `ends[i]` is where
            /// record `i` ends, `recordTimes[i]` its Kafka timestamp (empty when the records have none).
            /// Event times are checked for being from the future against the earlier of a record's
            /// timestamp and `nowMs`, which also feeds the latency histogram.
            #[napi(catch_unwind)]
            pub fn ingest(&mut self, values: &[u8], ends: &[u32], record_times: &[f64], now_ms: f64) -> Result<IngestResult, EngineCode> {
                let summary = self.inner.ingest_at(values, ends, record_times, now_ms as i64).map_err(|e| Error::new(EngineCode::BadFrame, e.0))?;
                Ok(IngestResult { accepted: summary.accepted, rejected: summary.rejected })
            }

            /// Rejects of the batches since the last call.
            #[napi]
            pub fn take_rejects(&mut self) -> Vec<RejectInfo> {
                reject_infos(self.inner.take_rejects())
            }

            /// Queues coalesced updates if the emit interval has passed; returns how many.
            #[napi(catch_unwind)]
            pub fn flush_due(&mut self, now_ms: f64) -> u32 {
                self.inner.flush_due(now_ms as i64) as u32
            }

            /// Number of output records waiting in `takeOutput()`.
            #[napi(getter)]
            pub fn pending_output(&self) -> u32 {
                self.inner.output_records() as u32
            }

            /// Output records since the last call, packed: `kind u8, keyLen u32le, key, valueLen u32le, value`.
            #[napi]
            pub fn take_output(&mut self) -> Buffer {
                self.inner.take_output().into()
            }

            /// The whole state covering input offsets before `nextOffset`, starting delta chain
            /// `chain` (not 0); compress it with `compress()` off this thread.
            #[napi(catch_unwind)]
            pub fn encode_base(&mut self, next_offset: f64, chain: u32) -> EncodedState {
                EncodedState::new(self.inner.encode_base(next_offset as i64, chain))
            }

            /// What changed since the last checkpoint, as the next delta of the chain; null where
            /// this kind of state is always written whole, or before the chain's whole snapshot.
            #[napi(catch_unwind)]
            pub fn encode_delta(&mut self, next_offset: f64) -> Option<EncodedState> {
                self.inner.encode_delta(next_offset as i64).map(EncodedState::new)
            }

            /// The delta chain this state continues (0: none yet), and the deltas since its whole snapshot.
            #[napi(getter)]
            pub fn chain(&self) -> Vec<u32> {
                let (chain, seq) = self.inner.chain();
                vec![chain, seq]
            }

            /// Latency counts (wall clock at ingest minus event time) per bucket since the last call;
            /// the buckets' lower bounds are `latencyBucketFloors()`.
            #[napi]
            pub fn take_latency(&mut self) -> Uint32Array {
                Uint32Array::new(self.inner.take_latency())
            }

            #[napi]
            pub fn stats(&self) -> ActivityStatsInfo {
                stats_info(self.inner.stats())
            }
        }
    };
}

partition_engine!(
    "Per-user event counts in tumbling windows, plus the click metrics, for one `user-clicks` partition.",
    ActivityEngine,
    ActivityPartition,
    RawActivityOptions,
    ActivityRestoreTask,
    "Promise<ActivityEngine>"
);

partition_engine!(
    "Revenue, purchased products and the purchase side of the funnel for one `user-purchases` partition.",
    PurchasesEngine,
    PurchasesPartition,
    RawPurchaseOptions,
    PurchasesRestoreTask,
    "Promise<PurchasesEngine>"
);

partition_engine!(
    "Per-sensor statistics and EWMA anomaly scores for one `sensor-data` partition.",
    SensorEngine,
    SensorPartition,
    RawSensorOptions,
    SensorRestoreTask,
    "Promise<SensorEngine>"
);

fn reject_infos(rejects: Vec<pulse_engine::Reject>) -> Vec<RejectInfo> {
    rejects.into_iter().map(|r| RejectInfo { index: r.index, reason: r.reason.as_str().to_owned(), detail: r.detail }).collect()
}

/// Lower bound in milliseconds of each latency bucket.
#[napi]
pub fn latency_bucket_floors() -> Float64Array {
    Float64Array::new((0..BUCKETS).map(|b| bucket_floor(b) as f64).collect())
}

/// The partition of `key` among `partitions` under Kafka's default partitioner (murmur2), the one
/// Pulse's per-key state relies on.
#[napi]
pub fn kafka_partition(key: String, partitions: u32) -> Result<u32, EngineCode> {
    if partitions == 0 {
        return Err(Error::new(EngineCode::BadInput, "partitions must be at least 1".to_owned()));
    }
    Ok(partition_for(key.as_bytes(), partitions))
}

/// The `pulse.error.reason` names, in the order of `ActivityStatsInfo.rejected`.
#[napi]
pub fn reject_reasons() -> Vec<&'static str> {
    RejectReason::ALL.iter().map(|r| r.as_str()).collect()
}

#[napi(object)]
pub struct EngineInfo {
    pub version: String,
    pub target: String,
}

/// Version and target triple of this build of the addon.
#[napi]
pub fn engine_info() -> EngineInfo {
    EngineInfo { version: env!("CARGO_PKG_VERSION").to_owned(), target: env!("PULSE_TARGET").to_owned() }
}

/// Recommender parameters; any left out take the engine's defaults (see pulse-engine `RecsOptions`).
#[napi(object)]
#[derive(Default)]
pub struct RawRecsOptions {
    pub neighbours: Option<u32>,
    pub sample_per_item: Option<u32>,
    pub lookup_items: Option<u32>,
    pub position_lambda: Option<f64>,
    pub length_exponent: Option<f64>,
    pub session_age_ms: Option<f64>,
    pub neighbour_position_lambda: Option<f64>,
    pub shared_position_lambda: Option<f64>,
    pub idf_weight: Option<f64>,
    pub rule_weight: Option<f64>,
    pub rule_steps: Option<u32>,
    pub cart_weight: Option<f64>,
    pub purchase_weight: Option<f64>,
    pub half_life_ms: Option<f64>,
    pub max_sessions: Option<u32>,
    pub max_session_items: Option<u32>,
    pub max_items: Option<u32>,
    pub session_gap_ms: Option<f64>,
}

impl From<RawRecsOptions> for RecsOptions {
    fn from(raw: RawRecsOptions) -> Self {
        let d = RecsOptions::default();
        let count = |v: Option<u32>, d: usize| v.map_or(d, |v| v as usize);
        RecsOptions {
            neighbours: count(raw.neighbours, d.neighbours),
            sample_per_item: count(raw.sample_per_item, d.sample_per_item),
            lookup_items: count(raw.lookup_items, d.lookup_items),
            position_lambda: raw.position_lambda.unwrap_or(d.position_lambda),
            length_exponent: raw.length_exponent.unwrap_or(d.length_exponent),
            session_age_ms: raw.session_age_ms.unwrap_or(d.session_age_ms),
            neighbour_position_lambda: raw.neighbour_position_lambda.unwrap_or(d.neighbour_position_lambda),
            shared_position_lambda: raw.shared_position_lambda.unwrap_or(d.shared_position_lambda),
            idf_weight: raw.idf_weight.unwrap_or(d.idf_weight),
            rule_weight: raw.rule_weight.unwrap_or(d.rule_weight),
            rule_steps: count(raw.rule_steps, d.rule_steps),
            cart_weight: raw.cart_weight.unwrap_or(d.cart_weight),
            purchase_weight: raw.purchase_weight.unwrap_or(d.purchase_weight),
            half_life_ms: raw.half_life_ms.unwrap_or(d.half_life_ms),
            max_sessions: count(raw.max_sessions, d.max_sessions),
            max_session_items: count(raw.max_session_items, d.max_session_items),
            max_items: count(raw.max_items, d.max_items),
            session_gap_ms: raw.session_gap_ms.map_or(d.session_gap_ms, |v| v as i64),
            ..d
        }
    }
}

#[napi(object)]
pub struct RecsScores {
    pub hit_rate: f64,
    pub mrr: f64,
}

#[napi(object)]
pub struct RecsEvalResult {
    pub seen_allowed: RecsScores,
    pub seen_excluded: RecsScores,
    pub predictions: f64,
    pub sessions: f64,
    pub events: f64,
}

/// Offline evaluation (docs/specification.md, "Recommendation evaluation") of the streaming recommender on `SessionId\tItemId\tTime` text.
#[napi(catch_unwind)]
pub fn evaluate_recommender(train_tsv: String, test_tsv: String, k: u32, options: Option<RawRecsOptions>) -> Result<RecsEvalResult, EngineCode> {
    let bad = |which: &str, e: String| Error::new(EngineCode::BadInput, format!("{which}: {e}"));
    let train = parse_sessions_tsv(&train_tsv).map_err(|e| bad("training file", e))?;
    let test = parse_sessions_tsv(&test_tsv).map_err(|e| bad("test file", e))?;
    let r = evaluate(options.unwrap_or_default().into(), &train, &test, k as usize);
    let scores = |s: pulse_engine::recs_eval::Scores| RecsScores { hit_rate: s.hit_rate, mrr: s.mrr };
    Ok(RecsEvalResult {
        seen_allowed: scores(r.seen_allowed),
        seen_excluded: scores(r.seen_excluded),
        predictions: r.predictions as f64,
        sessions: r.sessions as f64,
        events: r.events as f64,
    })
}

#[napi(object)]
pub struct RecommendedItem {
    pub item: String,
    pub score: f64,
    /// The user's recent item that contributed most; null for a trending (fallback) item.
    pub because: Option<String>,
}

#[napi(object)]
pub struct RecommendationList {
    pub items: Vec<RecommendedItem>,
    /// True when every item is a trending fallback (a cold user or unknown items).
    pub fallback: bool,
}

#[napi(object)]
pub struct RecsIngestResult {
    pub learned: u32,
    pub skipped: u32,
    pub invalid: u32,
}

#[napi(object)]
pub struct RecsStatsInfo {
    pub events: f64,
    pub items: f64,
    pub users: f64,
    pub sessions: f64,
    pub evicted_items: f64,
}

fn to_items(list: Vec<pulse_engine::recs::Recommendation>) -> Vec<RecommendedItem> {
    list.into_iter().map(|r| RecommendedItem { item: r.item, score: r.score, because: r.because }).collect()
}

/// Runs engine code on a libuv thread, where a panic would abort the process, as a JavaScript error
/// instead (mapped to `ENGINE_PANIC` like the synchronous methods' `catch_unwind`).
/// Runs thread-pool work, turning a panic into an error (a panic there would abort the process).
pub(crate) fn unwind_to_error<T>(work: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let message = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
        Error::from_reason(format!("panic in the engine: {}", message.unwrap_or_default()))
    })
}

/// The streaming recommender: fed batches of `user-clicks` / `user-purchases` records, asked per request.
///
/// Parsing and snapshots run on the thread pool; queries and the model's updates run on the JavaScript
/// thread, the updates in slices of a fraction of a millisecond (`learnSome`), so that a request waits
/// for one slice at most, never for a batch, and never for another thread that the OS has descheduled
/// while it holds the model. The model sits behind a read-write lock only so that a snapshot can be
/// encoded on the pool while queries go on.
#[napi]
pub struct RecsEngine {
    model: Arc<RwLock<RecsModel>>,
    /// Parsed interactions not learnt yet, oldest first.
    pending: Arc<Mutex<VecDeque<Observation<'static>>>>,
}

#[napi]
impl RecsEngine {
    #[napi(constructor)]
    pub fn new(options: Option<RawRecsOptions>) -> Self {
        Self::owning(RecsModel::new(options.unwrap_or_default().into()))
    }

    fn owning(model: RecsModel) -> Self {
        Self { model: Arc::new(RwLock::new(model)), pending: Arc::default() }
    }

    #[napi(factory, catch_unwind)]
    pub fn restore(snapshot: &[u8], options: Option<RawRecsOptions>) -> Result<Self, EngineCode> {
        let model = RecsModel::restore(snapshot, options.unwrap_or_default().into()).map_err(|e| Error::new(EngineCode::BadSnapshot, e.to_string()))?;
        Ok(Self::owning(model))
    }

    /// Parses one batch of record values packed like `ActivityEngine.ingest`'s on the thread pool and
    /// queues its interactions for `learnSome`; the buffers must not change until the promise settles.
    /// Batches are queued in the order of their calls only if each call waits for the one before.
    #[napi(ts_return_type = "Promise<RecsIngestResult>")]
    pub fn ingest(&self, values: Buffer, ends: Uint32Array) -> AsyncTask<RecsParseTask> {
        AsyncTask::new(RecsParseTask { pending: Arc::clone(&self.pending), values, ends })
    }

    /// Learns queued interactions for about `budget_us` microseconds; returns how many are still
    /// queued. Learns nothing while a snapshot is being encoded, rather than wait for it.
    #[napi(catch_unwind)]
    pub fn learn_some(&self, budget_us: u32) -> u32 {
        let mut pending = self.pending.lock();
        let Some(mut model) = self.model.try_write() else { return pending.len() as u32 };
        let deadline = Instant::now() + Duration::from_micros(budget_us.into());
        while let Some(observation) = pending.pop_front() {
            model.learn(&observation);
            if Instant::now() >= deadline {
                break;
            }
        }
        pending.len() as u32
    }

    #[napi(catch_unwind)]
    pub fn recommend(&self, user_id: String, k: u32, exclude_seen: bool) -> RecommendationList {
        let r = self.model.read().recommend(&user_id, k as usize, exclude_seen);
        RecommendationList { items: to_items(r.items), fallback: r.fallback }
    }

    #[napi(catch_unwind)]
    pub fn similar(&self, product_id: String, k: u32) -> Vec<RecommendedItem> {
        to_items(self.model.read().similar(&product_id, k as usize))
    }

    /// Encodes the model on the thread pool under the read lock: queries go on meanwhile, `learnSome`
    /// learns nothing until it is done. Compressing (`EncodedState.compress`) needs no lock.
    #[napi(ts_return_type = "Promise<EncodedState>")]
    pub fn encode_snapshot(&self) -> AsyncTask<RecsEncodeTask> {
        AsyncTask::new(RecsEncodeTask { model: Arc::clone(&self.model) })
    }

    #[napi]
    pub fn stats(&self) -> RecsStatsInfo {
        let s = self.model.read().stats();
        RecsStatsInfo { events: s.events as f64, items: s.items as f64, users: s.users as f64, sessions: s.sessions as f64, evicted_items: s.evicted_items as f64 }
    }
}

pub struct RecsParseTask {
    pending: Arc<Mutex<VecDeque<Observation<'static>>>>,
    values: Buffer,
    ends: Uint32Array,
}

impl Task for RecsParseTask {
    type Output = IngestCounts;
    type JsValue = RecsIngestResult;

    fn compute(&mut self) -> Result<IngestCounts> {
        unwind_to_error(|| {
            let (observations, counts) = parse_interactions(&self.values, &self.ends);
            let owned: Vec<Observation<'static>> = observations.into_iter().map(Observation::into_owned).collect();
            self.pending.lock().extend(owned);
            counts
        })
    }

    fn resolve(&mut self, _env: Env, c: IngestCounts) -> Result<RecsIngestResult> {
        Ok(RecsIngestResult { learned: c.learned, skipped: c.skipped, invalid: c.invalid })
    }
}

pub struct RecsEncodeTask {
    model: Arc<RwLock<RecsModel>>,
}

impl Task for RecsEncodeTask {
    type Output = Writer;
    type JsValue = EncodedState;

    fn compute(&mut self) -> Result<Writer> {
        unwind_to_error(|| self.model.read().encode())
    }

    fn resolve(&mut self, _env: Env, encoded: Writer) -> Result<EncodedState> {
        Ok(EncodedState::new(encoded))
    }
}
