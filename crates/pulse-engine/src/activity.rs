//! `user-activity-counts`: per-user event counts in tumbling event-time windows, for one input
//! partition (docs/semantics.md). The state of a partition is a short ring of open window buckets, oldest
//! first; each holds the users seen in that window and which of them have increments not yet reported.
//!
//! - Stream time is the largest event time seen on the partition. A window closes when stream time
//!   reaches its end plus grace: one final record per user, then the bucket is dropped. Wall-clock
//!   time never closes a window, so replaying the same records gives the same finals.
//! - An event for a closed window is rejected as `late`, and one stamped too far ahead of the wall
//!   clock as `future` (it would close every open window); nothing is dropped silently.
//! - Updates are coalesced: `flush_due` reports each user with new events at most once per
//!   `emit_interval_ms`, always with the absolute count, so a repeated update is harmless.
//! - Only open windows are kept (at most `(size + grace) / size + 1` buckets), each with at most
//!   `max_keys_per_window` users; an event for a further user is rejected as `overflow`.
//! - The same pass feeds the partition's business metrics ([`crate::metrics::ClickMetrics`]): top
//!   products, unique users and the click side of the funnel, with their own windows on the same
//!   stream time. An event counted here whose 1-minute metric window has already closed is counted
//!   in the others and in `partially_late`.

use std::collections::VecDeque;

use compact_str::CompactString;
use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use crate::engine::{check_not_future, Core, PartitionOutputs, PartitionStats};
use crate::event::{parse_click, Click};
use crate::hll::DEFAULT_PRECISION;
use crate::metrics::{ClickMetrics, ClickMetricsOptions, DEFAULT_TOP_K_CAPACITY, DEFAULT_TOP_K_SIZE};
use crate::output::{json, OutputBuffer, OutputKind};
use crate::partitioner::{check_placement, Placement};
use crate::reject::RejectReason;
use crate::snapshot::{Checkpoint, Reader, SnapshotError, Writer, NO_CHAIN};
use crate::window::TumblingWindows;

const SNAPSHOT_MAGIC: &[u8; 4] = b"PLSA";
/// Version 2 added the click metrics (a version-1 snapshot restores with empty metrics); version 3
/// the delta chain (an older snapshot restores with none, so the next checkpoint is a whole one).
const SNAPSHOT_VERSION: u16 = 3;
const DELTA_MAGIC: &[u8; 4] = b"PLSD";
const DELTA_VERSION: u16 = 1;
/// `pending_since` of a user whose count has been reported.
const NOTHING_PENDING: i64 = i64::MAX;
/// Rough per-user overhead in a bucket (map entry, index, allocation header), for the memory estimate.
const PER_KEY_OVERHEAD_BYTES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityOptions {
    pub window_size_ms: i64,
    pub grace_ms: i64,
    pub emit_interval_ms: i64,
    pub max_keys_per_window: usize,
    /// The input partition, named in the metric records.
    pub partition: u32,
    /// Products a top-K summary monitors, and how many of them its records list.
    pub top_k_capacity: usize,
    pub top_k_size: usize,
    pub hll_precision: u8,
    /// How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time
    /// may be; further is rejected as `future`.
    pub max_future_ms: Option<i64>,
    /// Partitions of the input topic; with it, a record whose key belongs to another partition is
    /// rejected as `wrong_partition`.
    pub partitions: Option<u32>,
}

impl Default for ActivityOptions {
    fn default() -> Self {
        Self {
            window_size_ms: 300_000,
            grace_ms: 60_000,
            emit_interval_ms: 50,
            max_keys_per_window: 1_000_000,
            partition: 0,
            top_k_capacity: DEFAULT_TOP_K_CAPACITY,
            top_k_size: DEFAULT_TOP_K_SIZE,
            hll_precision: DEFAULT_PRECISION,
            max_future_ms: None,
            partitions: None,
        }
    }
}

impl ActivityOptions {
    fn placement(&self) -> Option<Placement> {
        self.partitions.map(|partitions| Placement { partition: self.partition, partitions })
    }

    fn metrics(&self) -> ClickMetricsOptions {
        ClickMetricsOptions {
            partition: self.partition,
            grace_ms: self.grace_ms,
            top_k_capacity: self.top_k_capacity,
            top_k_size: self.top_k_size,
            hll_precision: self.hll_precision,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct UserCount {
    /// 32 bits: a user's events in one window stay far below 4 billion, and the entry stays 16 bytes.
    count: u32,
    /// Changed since the last checkpoint, so listed in the next delta.
    changed: bool,
    /// Event time of the oldest event not yet reported, or `NOTHING_PENDING`.
    pending_since: i64,
}

#[derive(Debug)]
struct WindowBucket {
    start: i64,
    /// Keyed by inline strings: an id of up to 24 bytes is compared in the entry itself, without a
    /// further cache miss on the heap (a lookup per event, in a table of every user of the window).
    users: IndexMap<CompactString, UserCount, FxBuildHasher>,
    /// Positions in `users` with unreported increments, in the order they became pending.
    pending: Vec<u32>,
    /// Positions in `users` changed since the last checkpoint (their `changed` is set).
    changed: Vec<u32>,
}

impl WindowBucket {
    fn new(start: i64) -> Self {
        Self { start, users: IndexMap::with_hasher(FxBuildHasher), pending: Vec::new(), changed: Vec::new() }
    }

    fn mark_changed(&mut self, index: usize) {
        let user = &mut self.users[index];
        if !user.changed {
            user.changed = true;
            self.changed.push(index as u32);
        }
    }

    /// Forgets the changes: a checkpoint has recorded them.
    fn clear_changed(&mut self) {
        for &index in &self.changed {
            self.users[index as usize].changed = false;
        }
        self.changed.clear();
    }
}

#[derive(Debug)]
pub struct ActivityPartition {
    options: ActivityOptions,
    windows: TumblingWindows,
    buckets: VecDeque<WindowBucket>,
    core: Core,
    key_bytes: usize,
    metrics: ClickMetrics,
    /// The delta chain: the id of the last whole snapshot and how many deltas followed it.
    chain: u32,
    seq: u32,
}

impl ActivityPartition {
    pub fn new(options: ActivityOptions) -> Self {
        Self {
            windows: TumblingWindows::new(options.window_size_ms, options.grace_ms),
            options,
            buckets: VecDeque::with_capacity(4),
            core: Core::default(),
            key_bytes: 0,
            metrics: ClickMetrics::new(options.metrics()),
            chain: NO_CHAIN,
            seq: 0,
        }
    }

    pub fn options(&self) -> ActivityOptions {
        self.options
    }

    fn count(&mut self, click: &Click, clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)> {
        let (user_id, ts) = (click.user_id.as_ref(), click.ts);
        check_placement(user_id, self.options.placement())?;
        check_not_future(ts, clock_ms, self.options.max_future_ms)?;
        let start = self.windows.start_of(ts);
        let stream_time = self.core.stream_time.max(ts);
        if self.windows.is_closed(start, stream_time) {
            return Err((
                RejectReason::Late,
                format!(
                    "window [{start}, {}) closed at stream time {}; event time {ts}",
                    self.windows.end_of_start(start),
                    start + self.options.window_size_ms + self.options.grace_ms
                ),
            ));
        }
        let bucket_at = match self.buckets.iter().position(|b| b.start >= start) {
            Some(at) if self.buckets[at].start == start => at,
            Some(at) => {
                self.buckets.insert(at, WindowBucket::new(start));
                at
            }
            None => {
                self.buckets.push_back(WindowBucket::new(start));
                self.buckets.len() - 1
            }
        };
        let bucket = &mut self.buckets[bucket_at];
        let index = match bucket.users.get_index_of(user_id) {
            Some(index) => index,
            None => {
                if bucket.users.len() >= self.options.max_keys_per_window {
                    return Err((
                        RejectReason::Overflow,
                        format!("window [{start}, {}) already counts {} users, the configured maximum", start + self.options.window_size_ms, bucket.users.len()),
                    ));
                }
                self.key_bytes += user_id.len() + PER_KEY_OVERHEAD_BYTES;
                bucket.users.insert_full(CompactString::new(user_id), UserCount { count: 0, changed: false, pending_since: NOTHING_PENDING }).0
            }
        };
        bucket.mark_changed(index);
        let user = &mut bucket.users[index];
        user.count = user.count.saturating_add(1);
        if user.pending_since == NOTHING_PENDING {
            bucket.pending.push(index as u32);
        }
        user.pending_since = user.pending_since.min(ts);
        if !self.metrics.record(click, stream_time) {
            self.core.stats.partially_late += 1;
        }
        self.core.accepted(ts, now_ms);
        if stream_time > self.core.stream_time {
            self.core.stream_time = stream_time;
            self.close_windows();
        }
        Ok(())
    }

    /// Emits the final record of every user of every window that stream time has closed.
    fn close_windows(&mut self) {
        while let Some(bucket) = self.buckets.front() {
            if !self.windows.is_closed(bucket.start, self.core.stream_time) {
                break;
            }
            let bucket = self.buckets.pop_front().expect("front exists");
            let end = self.windows.end_of_start(bucket.start);
            for (user_id, user) in &bucket.users {
                write_count(&mut self.core.output, user_id, bucket.start, end, user, true);
                self.key_bytes -= user_id.len() + PER_KEY_OVERHEAD_BYTES;
            }
            self.core.stats.finals_emitted += bucket.users.len() as u64;
        }
        self.core.stats.finals_emitted += self.metrics.close(self.core.stream_time, &mut self.core.output);
    }

    /// Reports users with unreported increments, if `emit_interval_ms` has passed since the last
    /// report. Returns how many update records were appended to the output.
    pub fn flush_due(&mut self, now_ms: i64) -> usize {
        if !self.core.emit_due(now_ms, self.options.emit_interval_ms) {
            return 0;
        }
        let mut emitted = 0;
        for bucket in &mut self.buckets {
            let end = bucket.start + self.options.window_size_ms;
            let pending = std::mem::take(&mut bucket.pending);
            for &index in &pending {
                let (user_id, user) = bucket.users.get_index_mut(index as usize).expect("pending index is in range");
                write_count(&mut self.core.output, user_id, bucket.start, end, user, false);
                user.pending_since = NOTHING_PENDING;
                // Reported is state too: a restore from the next delta must not report it again.
                bucket.mark_changed(index as usize);
            }
            emitted += pending.len();
            bucket.pending = pending;
            bucket.pending.clear();
        }
        let emitted = emitted + self.metrics.flush(&mut self.core.output) as usize;
        self.core.stats.updates_emitted += emitted as u64;
        emitted
    }

    pub fn stats(&self) -> PartitionStats {
        let keys: usize = self.buckets.iter().map(|b| b.users.len()).sum();
        PartitionStats {
            open_windows: (self.buckets.len() + self.metrics.open_windows()) as u32,
            keys: keys as u64,
            pending_keys: self.buckets.iter().map(|b| b.pending.len() as u64).sum::<u64>() + self.metrics.pending(),
            state_bytes: (self.key_bytes + self.metrics.size_bytes()) as u64,
            stream_time: self.stream_time(),
            ..self.core.stats.clone()
        }
    }

    /// The count of one user in the window starting at `window_start`, if that window is open.
    pub fn count_of(&self, user_id: &str, window_start: i64) -> Option<u64> {
        self.buckets.iter().find(|b| b.start == window_start)?.users.get(user_id).map(|u| u.count as u64)
    }

    /// Serializes the state — open windows, counts, unreported increments — together with
    /// `next_offset`, the first input offset the state does not cover. Output not yet taken is not
    /// part of it: take the output and write it before the snapshot.
    pub fn snapshot(&self, next_offset: i64) -> Vec<u8> {
        self.write_base(next_offset, self.chain).finish()
    }

    fn write_base(&self, next_offset: i64, chain: u32) -> Writer {
        let mut w = Writer::new(SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
        w.i64(self.options.window_size_ms);
        w.i64(self.options.grace_ms);
        w.i64(next_offset);
        w.i64(self.core.stream_time);
        w.u32(chain);
        w.u32(self.buckets.len() as u32);
        for bucket in &self.buckets {
            w.i64(bucket.start);
            w.u32(bucket.users.len() as u32);
            // Pending users first, in pending order, so that restore rebuilds the same report order.
            w.u32(bucket.pending.len() as u32);
            for &index in &bucket.pending {
                let (user_id, user) = bucket.users.get_index(index as usize).expect("pending index is in range");
                write_user(&mut w, user_id, user);
            }
            for (user_id, user) in bucket.users.iter().filter(|(_, u)| u.pending_since == NOTHING_PENDING) {
                write_user(&mut w, user_id, user);
            }
        }
        self.metrics.write(&mut w);
        w
    }

    /// Rebuilds a partition from a snapshot; returns it with the offset the snapshot covers up to.
    pub fn restore(frame: &[u8], options: ActivityOptions) -> Result<(Self, i64), SnapshotError> {
        let (mut r, version) = Reader::open_versions(frame, SNAPSHOT_MAGIC, 1..=SNAPSHOT_VERSION)?;
        let (size, grace) = (r.i64()?, r.i64()?);
        if size != options.window_size_ms || grace != options.grace_ms {
            return Err(SnapshotError::Mismatch(format!(
                "taken with window {size} ms and grace {grace} ms, configured {} ms and {} ms",
                options.window_size_ms, options.grace_ms
            )));
        }
        let next_offset = r.i64()?;
        let mut partition = Self::new(options);
        partition.core.stream_time = r.i64()?;
        if version >= 3 {
            partition.chain = r.u32()?;
        }
        let buckets = r.u32()?;
        for _ in 0..buckets {
            let mut bucket = WindowBucket::new(r.i64()?);
            // Each user: an id (a 4-byte length at least), a count and a time (8 bytes each).
            let users = r.count(20)?;
            let pending = r.u32()? as usize;
            if pending > users {
                return Err(SnapshotError::Corrupt(format!("{pending} pending users of {users}")));
            }
            bucket.users.reserve(users);
            for i in 0..users {
                let (user_id, user) = read_user(&mut r)?;
                if (i < pending) != (user.pending_since != NOTHING_PENDING) {
                    return Err(SnapshotError::Corrupt("pending flags out of order".into()));
                }
                partition.key_bytes += user_id.len() + PER_KEY_OVERHEAD_BYTES;
                let (index, previous) = bucket.users.insert_full(user_id, user);
                if previous.is_some() {
                    return Err(SnapshotError::Corrupt(format!("a user appears twice in window {}", bucket.start)));
                }
                if i < pending {
                    bucket.pending.push(index as u32);
                }
            }
            partition.buckets.push_back(bucket);
        }
        if version >= 2 {
            partition.metrics = ClickMetrics::read(&mut r, options.metrics())?;
        }
        r.finish()?;
        Ok((partition, next_offset))
    }
}

impl Checkpoint for ActivityPartition {
    /// A whole snapshot, encoded but not compressed (`Writer::finish` compresses, on any thread),
    /// that starts delta chain `chain`: the deltas after it list only what changed since.
    fn encode_base(&mut self, next_offset: i64, chain: u32) -> Writer {
        let w = self.write_base(next_offset, chain);
        self.chain = chain;
        self.seq = 0;
        self.buckets.iter_mut().for_each(WindowBucket::clear_changed);
        w
    }

    /// What changed since the last checkpoint — the users counted or reported since, the windows
    /// still open, the click metrics (bounded, so whole) — as the next delta of the chain; `None`
    /// before the first whole snapshot of the chain (`encode_base`).
    fn encode_delta(&mut self, next_offset: i64) -> Option<Writer> {
        if self.chain == NO_CHAIN {
            return None;
        }
        self.seq += 1;
        let mut w = Writer::new(DELTA_MAGIC, DELTA_VERSION);
        w.i64(self.options.window_size_ms);
        w.i64(self.options.grace_ms);
        w.u32(self.chain);
        w.u32(self.seq);
        w.i64(next_offset);
        w.i64(self.core.stream_time);
        w.u32(self.buckets.len() as u32);
        for bucket in &mut self.buckets {
            w.i64(bucket.start);
            w.u32(bucket.changed.len() as u32);
            for &index in &bucket.changed {
                let (user_id, user) = bucket.users.get_index(index as usize).expect("changed index is in range");
                write_user(&mut w, user_id, user);
            }
            bucket.clear_changed();
        }
        self.metrics.write(&mut w);
        Some(w)
    }

    /// The delta chain this state continues, and how many deltas it has applied or written since
    /// its whole snapshot.
    fn chain(&self) -> (u32, u32) {
        (self.chain, self.seq)
    }

    /// Applies the next delta of this state's chain (written by `encode_delta`); returns the offset
    /// it covers up to. A delta of another chain, or not the next one, is a `Mismatch` and changes
    /// nothing: the state stays as of the last delta applied.
    fn apply_delta(&mut self, frame: &[u8]) -> Result<i64, SnapshotError> {
        let mut r = Reader::open(frame, DELTA_MAGIC, DELTA_VERSION)?;
        let (size, grace) = (r.i64()?, r.i64()?);
        if size != self.options.window_size_ms || grace != self.options.grace_ms {
            return Err(SnapshotError::Mismatch(format!("a delta taken with window {size} ms and grace {grace} ms")));
        }
        let (chain, seq) = (r.u32()?, r.u32()?);
        if self.chain == NO_CHAIN || chain != self.chain || seq != self.seq + 1 {
            return Err(SnapshotError::Mismatch(format!("delta {seq} of chain {chain} does not follow delta {} of chain {}", self.seq, self.chain)));
        }
        let next_offset = r.i64()?;
        let stream_time = r.i64()?;
        // Decoded whole before anything changes, so that a damaged delta leaves the state as it was.
        let mut windows = Vec::new();
        for _ in 0..r.u32()? {
            let start = r.i64()?;
            let n = r.count(20)?;
            let mut users = Vec::with_capacity(n);
            for _ in 0..n {
                users.push(read_user(&mut r)?);
            }
            windows.push((start, users));
        }
        let metrics = ClickMetrics::read(&mut r, self.options.metrics())?;
        r.finish()?;
        if windows.windows(2).any(|w| w[0].0 >= w[1].0) || windows.iter().any(|(start, _)| *start != self.windows.start_of(*start)) {
            return Err(SnapshotError::Corrupt("delta windows out of order or unaligned".into()));
        }
        let mut old = std::mem::take(&mut self.buckets);
        for (start, users) in windows {
            let mut bucket = match old.iter().position(|b| b.start == start) {
                Some(at) => old.remove(at).expect("position is in range"),
                None => WindowBucket::new(start),
            };
            for (user_id, user) in users {
                let id_bytes = user_id.len();
                let (index, previous) = bucket.users.insert_full(user_id, user);
                let was_pending = previous.is_some_and(|p| p.pending_since != NOTHING_PENDING);
                if previous.is_none() {
                    self.key_bytes += id_bytes + PER_KEY_OVERHEAD_BYTES;
                }
                if user.pending_since != NOTHING_PENDING && !was_pending {
                    bucket.pending.push(index as u32);
                }
            }
            let users = &bucket.users;
            bucket.pending.retain(|&i| users[i as usize].pending_since != NOTHING_PENDING);
            self.buckets.push_back(bucket);
        }
        // Windows the delta no longer lists were closed (and reported) before it was taken.
        for closed in old {
            self.key_bytes -= closed.users.keys().map(|id| id.len() + PER_KEY_OVERHEAD_BYTES).sum::<usize>();
        }
        self.core.stream_time = stream_time;
        self.metrics = metrics;
        self.seq = seq;
        Ok(next_offset)
    }

}

fn write_user(w: &mut Writer, user_id: &str, user: &UserCount) {
    w.bytes(user_id.as_bytes());
    w.u64(user.count as u64);
    w.i64(user.pending_since);
}

fn read_user(r: &mut Reader) -> Result<(CompactString, UserCount), SnapshotError> {
    let user_id: CompactString = std::str::from_utf8(r.bytes()?).map_err(|e| SnapshotError::Corrupt(format!("user id: {e}")))?.into();
    let count = u32::try_from(r.u64()?).map_err(|_| SnapshotError::Corrupt("a count above 2^32".into()))?;
    Ok((user_id, UserCount { count, changed: false, pending_since: r.i64()? }))
}

/// `{"userId":…,"windowStart":…,"windowEnd":…,"count":…,"final":…}` plus, when the record reports
/// new events, `"oldestEventTs"`: the event time of the oldest of them (for end-to-end latency).
fn write_count(output: &mut OutputBuffer, user_id: &str, start: i64, end: i64, user: &UserCount, is_final: bool) {
    output.push_with(OutputKind::ActivityCount, user_id.as_bytes(), |out| {
        let mut itoa = itoa::Buffer::new();
        out.extend_from_slice(b"{\"userId\":");
        json::string(out, user_id);
        out.extend_from_slice(b",\"windowStart\":");
        out.extend_from_slice(itoa.format(start).as_bytes());
        out.extend_from_slice(b",\"windowEnd\":");
        out.extend_from_slice(itoa.format(end).as_bytes());
        out.extend_from_slice(b",\"count\":");
        out.extend_from_slice(itoa.format(user.count).as_bytes());
        out.extend_from_slice(if is_final { b",\"final\":true" } else { b",\"final\":false" });
        if user.pending_since != NOTHING_PENDING {
            out.extend_from_slice(b",\"oldestEventTs\":");
            out.extend_from_slice(itoa.format(user.pending_since).as_bytes());
        }
        out.push(b'}');
    });
}

impl PartitionOutputs for ActivityPartition {
    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn add_record(&mut self, record: &[u8], clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)> {
        let click = parse_click(record).map_err(|e| (e.reason, e.detail))?;
        self.count(&click, clock_ms, now_ms)
    }
}
