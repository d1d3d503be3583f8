//! Statistics of one `sensor-data` partition (`pulse-sensor-stats`): per sensor and metric and
//! 1-minute window, count, min, max and mean of the readings, and an EWMA anomaly score.
//!
//! - The exponentially weighted mean and variance of each sensor's readings are carried across
//!   windows, updated in arrival order with weight `ewma_alpha`:
//!   `d = x − mean; mean += α·d; var = (1 − α)·(var + α·d²)`.
//!   A reading's anomaly score is `|x − mean| / √var` against the mean and variance *before* it (a
//!   z-score, so a spike does not dampen itself), 0 until the readings have varied. A record reports
//!   the EWMA after and the score of the last reading of its window.
//! - Windows close on stream time plus grace as activity counts do; readings for closed windows are
//!   rejected as `late`.
//! - Bounded: at most `max_keys_per_window` sensors per window and in the EWMA table (readings of
//!   further sensors are rejected as `overflow`); a sensor silent for an hour of stream time (the
//!   retention of `sensor-data`) leaves the EWMA table.

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use crate::engine::PartitionStats;
use crate::engine::{check_not_future, late_detail, Core, PartitionOutputs};
use crate::event::{parse_reading, Reading};
use crate::metrics::{check_setting, MINUTE_MS};
use crate::output::{json, OutputBuffer, OutputKind};
use crate::partitioner::{check_placement, Placement};
use crate::reject::RejectReason;
use crate::snapshot::{Checkpoint, Reader, SnapshotError, Writer};
use crate::window::{TumblingWindows, WindowRing};

const SNAPSHOT_MAGIC: &[u8; 4] = b"PLSS";
const SNAPSHOT_VERSION: u16 = 1;
/// A sensor silent this long (in stream time) is forgotten by the EWMA table.
pub const SENSOR_IDLE_MS: i64 = 3_600_000;
pub const DEFAULT_EWMA_ALPHA: f64 = 0.1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SensorOptions {
    pub grace_ms: i64,
    pub emit_interval_ms: i64,
    pub max_keys_per_window: usize,
    pub ewma_alpha: f64,
    /// How far ahead of its record's Kafka timestamp (or the wall clock, if earlier) an event time
    /// may be; further is rejected as `future`.
    pub max_future_ms: Option<i64>,
    /// The input partition.
    pub partition: u32,
    /// Partitions of the input topic; with it, a record whose key belongs to another partition is
    /// rejected as `wrong_partition`.
    pub partitions: Option<u32>,
}

impl SensorOptions {
    fn placement(&self) -> Option<Placement> {
        self.partitions.map(|partitions| Placement { partition: self.partition, partitions })
    }
}

impl Default for SensorOptions {
    fn default() -> Self {
        Self { grace_ms: 60_000, emit_interval_ms: 50, max_keys_per_window: 1_000_000, ewma_alpha: DEFAULT_EWMA_ALPHA, max_future_ms: None, partition: 0, partitions: None }
    }
}

#[derive(Debug, Clone, Copy)]
struct Ewma {
    mean: f64,
    var: f64,
    last_ts: i64,
}

#[derive(Debug, Clone)]
struct SensorStat {
    count: u64,
    min: f64,
    max: f64,
    sum: f64,
    ewma: f64,
    score: f64,
    unit: Box<str>,
    pending: bool,
}

#[derive(Debug, Default)]
struct SensorWindow {
    /// By [`sensor_key`].
    stats: IndexMap<Box<str>, SensorStat, FxBuildHasher>,
    /// Positions in `stats` with unreported readings, in the order they became pending.
    pending: Vec<u32>,
}

/// The key of a sensor and metric: `"<len of sensorId>:<sensorId><metric>"`, unambiguous whatever
/// characters the ids hold.
fn sensor_key(buf: &mut String, sensor_id: &str, metric: &str) {
    buf.clear();
    buf.push_str(itoa::Buffer::new().format(sensor_id.len()));
    buf.push(':');
    buf.push_str(sensor_id);
    buf.push_str(metric);
}

fn split_key(key: &str) -> (&str, &str) {
    let colon = key.find(':').expect("sensor keys have a length prefix");
    let len: usize = key[..colon].parse().expect("sensor keys have a length prefix");
    key[colon + 1..].split_at(len)
}

#[derive(Debug)]
pub struct SensorPartition {
    options: SensorOptions,
    core: Core,
    windows: WindowRing<SensorWindow>,
    ewma: IndexMap<Box<str>, Ewma, FxBuildHasher>,
    key: String,
}

impl SensorPartition {
    pub fn new(options: SensorOptions) -> Self {
        assert!(options.ewma_alpha > 0.0 && options.ewma_alpha <= 1.0, "ewma_alpha must be in (0, 1]");
        Self {
            options,
            core: Core::default(),
            windows: WindowRing::new(TumblingWindows::new(MINUTE_MS, options.grace_ms)),
            ewma: IndexMap::default(),
            key: String::new(),
        }
    }

    pub fn options(&self) -> SensorOptions {
        self.options
    }

    fn add(&mut self, reading: &Reading, clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)> {
        let (ts, x) = (reading.ts, reading.value);
        check_placement(&reading.sensor_id, self.options.placement())?;
        check_not_future(ts, clock_ms, self.options.max_future_ms)?;
        let stream_time = self.core.stream_time.max(ts);
        let max = self.options.max_keys_per_window;
        sensor_key(&mut self.key, &reading.sensor_id, &reading.metric);
        let tracked = self.ewma.get_index_of(self.key.as_str());
        if tracked.is_none() && self.ewma.len() >= max {
            return Err((RejectReason::Overflow, format!("the partition already tracks {} sensors, the configured maximum", self.ewma.len())));
        }
        let Some((start, window)) = self.windows.open(ts, stream_time, SensorWindow::default) else {
            let start = self.windows.windows.start_of(ts);
            return Err((RejectReason::Late, late_detail(start, MINUTE_MS, self.options.grace_ms, ts)));
        };
        let at = window.stats.get_index_of(self.key.as_str());
        if at.is_none() && window.stats.len() >= max {
            return Err((RejectReason::Overflow, format!("window [{start}, {}) already holds {} sensors, the configured maximum", start + MINUTE_MS, window.stats.len())));
        }
        let alpha = self.options.ewma_alpha;
        let (ewma, score) = match tracked {
            None => {
                self.ewma.insert(self.key.as_str().into(), Ewma { mean: x, var: 0.0, last_ts: ts });
                (x, 0.0)
            }
            Some(i) => {
                let e = &mut self.ewma[i];
                let d = x - e.mean;
                let score = if e.var > 0.0 { d.abs() / e.var.sqrt() } else { 0.0 };
                let step = alpha * d;
                e.mean += step;
                e.var = (1.0 - alpha) * (e.var + d * step);
                e.last_ts = e.last_ts.max(ts);
                (e.mean, score)
            }
        };
        let index = match at {
            Some(i) => i,
            None => {
                let stat = SensorStat { count: 0, min: x, max: x, sum: 0.0, ewma, score, unit: Box::from(""), pending: false };
                window.stats.insert_full(self.key.as_str().into(), stat).0
            }
        };
        let stat = &mut window.stats[index];
        stat.count += 1;
        stat.min = stat.min.min(x);
        stat.max = stat.max.max(x);
        stat.sum += x;
        stat.ewma = ewma;
        stat.score = score;
        if *stat.unit != *reading.unit {
            stat.unit = reading.unit.as_ref().into();
        }
        if !stat.pending {
            stat.pending = true;
            window.pending.push(index as u32);
        }
        self.core.accepted(ts, now_ms);
        if stream_time > self.core.stream_time {
            self.core.stream_time = stream_time;
            self.close_windows();
        }
        Ok(())
    }

    fn close_windows(&mut self) {
        let stream_time = self.core.stream_time;
        let mut closed = false;
        while let Some((start, window)) = self.windows.pop_closed(stream_time) {
            for (key, stat) in &window.stats {
                write_stats(&mut self.core.output, key, start, stat, true);
            }
            self.core.stats.finals_emitted += window.stats.len() as u64;
            closed = true;
        }
        if closed {
            self.ewma.retain(|_, e| e.last_ts + SENSOR_IDLE_MS > stream_time);
        }
    }

    /// Reports sensors with unreported readings if `emit_interval_ms` has passed since the last
    /// report; returns how many records were appended to the output.
    pub fn flush_due(&mut self, now_ms: i64) -> usize {
        if !self.core.emit_due(now_ms, self.options.emit_interval_ms) {
            return 0;
        }
        let mut emitted = 0;
        for (start, window) in self.windows.iter_mut() {
            for &index in &window.pending {
                let (key, stat) = window.stats.get_index_mut(index as usize).expect("pending index is in range");
                write_stats(&mut self.core.output, key, *start, stat, false);
                stat.pending = false;
            }
            emitted += window.pending.len();
            window.pending.clear();
        }
        self.core.stats.updates_emitted += emitted as u64;
        emitted
    }

    pub fn stats(&self) -> PartitionStats {
        let keys: usize = self.windows.iter().map(|(_, w)| w.stats.len()).sum();
        let bytes: usize = self.windows.iter().flat_map(|(_, w)| w.stats.keys()).map(|k| k.len() + 96).sum::<usize>()
            + self.ewma.keys().map(|k| k.len() + 48).sum::<usize>();
        PartitionStats {
            open_windows: self.windows.len() as u32,
            keys: (keys + self.ewma.len()) as u64,
            pending_keys: self.windows.iter().map(|(_, w)| w.pending.len() as u64).sum(),
            state_bytes: bytes as u64,
            stream_time: self.stream_time(),
            ..self.core.stats.clone()
        }
    }

    pub fn snapshot(&self, next_offset: i64) -> Vec<u8> {
        self.write_snapshot(next_offset).finish()
    }

    fn write_snapshot(&self, next_offset: i64) -> Writer {
        let mut w = Writer::new(SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
        w.i64(self.options.grace_ms);
        w.u64(self.options.ewma_alpha.to_bits());
        w.i64(next_offset);
        w.i64(self.core.stream_time);
        w.u32(self.ewma.len() as u32);
        for (key, e) in &self.ewma {
            w.bytes(key.as_bytes());
            w.u64(e.mean.to_bits());
            w.u64(e.var.to_bits());
            w.i64(e.last_ts);
        }
        w.u32(self.windows.len() as u32);
        for (start, window) in self.windows.iter() {
            w.i64(*start);
            w.u32(window.stats.len() as u32);
            for (key, s) in &window.stats {
                w.bytes(key.as_bytes());
                w.u64(s.count);
                for v in [s.min, s.max, s.sum, s.ewma, s.score] {
                    w.u64(v.to_bits());
                }
                w.bytes(s.unit.as_bytes());
            }
            w.u32(window.pending.len() as u32);
            for &i in &window.pending {
                w.u32(i);
            }
        }
        w
    }

    pub fn restore(frame: &[u8], options: SensorOptions) -> Result<(Self, i64), SnapshotError> {
        let mut r = Reader::open(frame, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
        check_setting("grace (ms)", r.i64()? as u64, options.grace_ms as u64)?;
        let alpha = f64::from_bits(r.u64()?);
        if alpha != options.ewma_alpha {
            return Err(SnapshotError::Mismatch(format!("taken with EWMA alpha {alpha}, configured {}", options.ewma_alpha)));
        }
        let next_offset = r.i64()?;
        let mut p = Self::new(options);
        p.core.stream_time = r.i64()?;
        let text = |b: &[u8]| std::str::from_utf8(b).map(Box::<str>::from).map_err(|e| SnapshotError::Corrupt(format!("sensor key: {e}")));
        for _ in 0..r.u32()? {
            let key = text(r.bytes()?)?;
            let e = Ewma { mean: f64::from_bits(r.u64()?), var: f64::from_bits(r.u64()?), last_ts: r.i64()? };
            if p.ewma.insert(key, e).is_some() {
                return Err(SnapshotError::Corrupt("a sensor appears twice in the EWMA table".into()));
            }
        }
        for _ in 0..r.u32()? {
            let start = r.i64()?;
            let mut window = SensorWindow::default();
            for _ in 0..r.u32()? {
                let key = text(r.bytes()?)?;
                if !key.contains(':') || key[..key.find(':').unwrap_or(0)].parse::<usize>().map_or(true, |n| n > key.len()) {
                    return Err(SnapshotError::Corrupt("malformed sensor key".into()));
                }
                let count = r.u64()?;
                let mut v = [0.0; 5];
                for x in &mut v {
                    *x = f64::from_bits(r.u64()?);
                }
                let unit = text(r.bytes()?)?;
                let stat = SensorStat { count, min: v[0], max: v[1], sum: v[2], ewma: v[3], score: v[4], unit, pending: false };
                if window.stats.insert(key, stat).is_some() {
                    return Err(SnapshotError::Corrupt(format!("a sensor appears twice in window {start}")));
                }
            }
            for _ in 0..r.u32()? {
                let i = r.u32()?;
                let stat = window.stats.get_index_mut(i as usize).ok_or_else(|| SnapshotError::Corrupt("pending index out of range".into()))?.1;
                if stat.pending {
                    return Err(SnapshotError::Corrupt("a sensor is pending twice".into()));
                }
                stat.pending = true;
                window.pending.push(i);
            }
            p.windows.push_restored(start, window)?;
        }
        r.finish()?;
        Ok((p, next_offset))
    }
}

/// `pulse-sensor-stats`, key sensorId.
fn write_stats(out: &mut OutputBuffer, key: &str, start: i64, s: &SensorStat, is_final: bool) {
    let (sensor_id, metric) = split_key(key);
    out.push_with(OutputKind::SensorStats, sensor_id.as_bytes(), |o| {
        o.extend_from_slice(b"{\"sensorId\":");
        json::string(o, sensor_id);
        json::field(o, "metric");
        json::string(o, metric);
        json::field(o, "unit");
        json::string(o, &s.unit);
        json::field(o, "windowStart");
        json::int(o, start);
        json::field(o, "windowEnd");
        json::int(o, start + MINUTE_MS);
        json::field(o, "count");
        json::int(o, s.count);
        for (name, v) in [("min", s.min), ("max", s.max), ("mean", s.sum / s.count as f64), ("ewma", s.ewma), ("anomalyScore", s.score)] {
            json::field(o, name);
            json::num(o, v);
        }
        json::final_flag(o, is_final);
    });
}

impl PartitionOutputs for SensorPartition {
    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn add_record(&mut self, record: &[u8], clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)> {
        let reading = parse_reading(record).map_err(|e| (e.reason, e.detail))?;
        self.add(&reading, clock_ms, now_ms)
    }
}

/// Small and bounded (no per-user state), so always checkpointed whole.
impl Checkpoint for SensorPartition {
    fn encode_base(&mut self, next_offset: i64, _chain: u32) -> Writer {
        self.write_snapshot(next_offset)
    }
}
