//! What every per-partition engine shares: checking a batch frame, rejects, the latency histogram,
//! counters, stream time and the emit clock.

use crate::histogram::LatencyHistogram;
use crate::output::OutputBuffer;
use crate::reject::{Reject, RejectReason};

/// What one `ingest` call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestSummary {
    pub accepted: u32,
    pub rejected: u32,
}

/// Counters since the partition was opened, plus the current size of its state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionStats {
    pub accepted: u64,
    pub rejected: [u64; RejectReason::ALL.len()],
    pub updates_emitted: u64,
    pub finals_emitted: u64,
    pub open_windows: u32,
    pub keys: u64,
    pub pending_keys: u64,
    pub state_bytes: u64,
    /// Accepted events that came too late for one of their shorter windows and were counted in the others.
    pub partially_late: u64,
    /// Largest event time seen, or `None` before the first event.
    pub stream_time: Option<i64>,
}

/// A batch whose end positions do not describe its buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFrame(pub String);

/// Stream time before the first event.
pub const NO_STREAM_TIME: i64 = i64::MIN;

/// Checks that `ends` describes `values` before any record is processed.
pub fn check_frame(values: &[u8], ends: &[u32]) -> Result<(), BadFrame> {
    let mut prev = 0u32;
    for (i, &end) in ends.iter().enumerate() {
        if end < prev || end as usize > values.len() {
            return Err(BadFrame(format!("record {i} ends at {end}, after {prev}, in a buffer of {} bytes", values.len())));
        }
        prev = end;
    }
    Ok(())
}

/// The records of a checked frame with their index in the batch.
pub fn records<'a>(values: &'a [u8], ends: &'a [u32]) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
    let mut start = 0usize;
    ends.iter().enumerate().map(move |(i, &end)| {
        let record = &values[start..end as usize];
        start = end as usize;
        (i as u32, record)
    })
}

#[derive(Debug)]
pub struct Core {
    pub output: OutputBuffer,
    pub rejects: Vec<Reject>,
    pub latency: LatencyHistogram,
    pub stats: PartitionStats,
    pub stream_time: i64,
    pub last_emit_ms: i64,
}

impl Default for Core {
    fn default() -> Self {
        Self {
            output: OutputBuffer::default(),
            rejects: Vec::new(),
            latency: LatencyHistogram::default(),
            stats: PartitionStats::default(),
            stream_time: NO_STREAM_TIME,
            last_emit_ms: i64::MIN,
        }
    }
}

impl Core {
    pub fn reject(&mut self, index: u32, reason: RejectReason, detail: String) {
        self.stats.rejected[reason as usize - 1] += 1;
        self.rejects.push(Reject { index, reason, detail });
    }

    pub fn accepted(&mut self, ts: i64, now_ms: i64) {
        self.stats.accepted += 1;
        self.latency.record(now_ms.saturating_sub(ts).max(0) as u64);
    }

    /// Whether `emit_interval_ms` has passed since the last report; if so, starts a new interval.
    pub fn emit_due(&mut self, now_ms: i64, emit_interval_ms: i64) -> bool {
        if now_ms.saturating_sub(self.last_emit_ms) < emit_interval_ms {
            return false;
        }
        self.last_emit_ms = now_ms;
        true
    }

    pub fn stream_time(&self) -> Option<i64> {
        (self.stream_time != NO_STREAM_TIME).then_some(self.stream_time)
    }
}

/// What every partition engine hands over the same way, from its [`Core`]: the outputs, rejects and
/// latency gathered since the last call, and its stream time.
pub trait PartitionOutputs {
    fn core(&self) -> &Core;
    fn core_mut(&mut self) -> &mut Core;

    /// Parses and counts one record value. `clock_ms` is the time the event is checked against for
    /// being from the future; `now_ms` (wall clock) only feeds the latency histogram.
    fn add_record(&mut self, record: &[u8], clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)>;

    /// Processes a batch of record values: `values` holds them back to back and `ends[i]` is where
    /// record `i` ends. Rejected records are listed by `take_rejects`; final records of windows that
    /// close are appended to the output. The whole frame is checked before any record is processed.
    fn ingest(&mut self, values: &[u8], ends: &[u32], now_ms: i64) -> Result<IngestSummary, BadFrame> {
        self.ingest_at(values, ends, &[], now_ms)
    }

    /// As [`PartitionOutputs::ingest`], with each record's Kafka timestamp (ms, negative for none) as
    /// its clock where it is earlier than `now_ms`. A record's timestamp is the same when it is
    /// replayed after a crash, so the same records are refused as `future` then; the wall clock
    /// alone would have moved on.
    fn ingest_at(&mut self, values: &[u8], ends: &[u32], record_times: &[f64], now_ms: i64) -> Result<IngestSummary, BadFrame> {
        check_frame(values, ends)?;
        let mut summary = IngestSummary::default();
        for (i, record) in records(values, ends) {
            let clock_ms = match record_times.get(i as usize) {
                Some(&t) if t >= 0.0 => (t as i64).min(now_ms),
                _ => now_ms,
            };
            match self.add_record(record, clock_ms, now_ms) {
                Ok(()) => summary.accepted += 1,
                Err((reason, detail)) => {
                    self.core_mut().reject(i, reason, detail);
                    summary.rejected += 1;
                }
            }
        }
        Ok(summary)
    }

    /// The packed output records accumulated since the last call (see [`crate::output`]).
    fn take_output(&mut self) -> Vec<u8> {
        self.core_mut().output.take()
    }

    fn output_records(&self) -> usize {
        self.core().output.len()
    }

    fn take_rejects(&mut self) -> Vec<Reject> {
        std::mem::take(&mut self.core_mut().rejects)
    }

    /// Latency histogram (wall clock at ingest minus event time) since the last call.
    fn take_latency(&mut self) -> Vec<u32> {
        self.core_mut().latency.take()
    }

    fn stream_time(&self) -> Option<i64> {
        self.core().stream_time()
    }
}

/// Refuses an event stamped more than `max_future_ms` ahead of `clock_ms` (`None`: no bound).
/// Counted, it would move stream time forward for good, and every later event of its partition
/// would be late. Only the check reads a clock: windows still close on event time alone.
pub fn check_not_future(ts: i64, clock_ms: i64, max_future_ms: Option<i64>) -> Result<(), (RejectReason, String)> {
    match max_future_ms {
        Some(max) if ts > clock_ms.saturating_add(max) => {
            Err((RejectReason::Future, format!("event time {ts} is {} ms ahead of the clock ({clock_ms}); at most {max} ms is accepted", ts - clock_ms)))
        }
        _ => Ok(()),
    }
}

/// The detail of a `late` reject.
pub fn late_detail(start: i64, size_ms: i64, grace_ms: i64, ts: i64) -> String {
    format!("window [{start}, {}) closed at stream time {}; event time {ts}", start + size_ms, start + size_ms + grace_ms)
}
