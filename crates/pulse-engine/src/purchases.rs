//! Business metrics of one `user-purchases` partition: revenue, orders and items per currency in
//! 1-minute windows (`pulse-revenue`), the top purchased products by quantity (`pulse-top-products`,
//! metric `purchases`) and the purchase side of the funnel (`pulse-funnel`), both in 5-minute windows.
//!
//! Windows close on stream time plus grace as activity counts do. An order is rejected as `late` only
//! when its 5-minute window has closed (then it counts nowhere); one whose 1-minute revenue window
//! closed earlier is counted in the 5-minute metrics and in `partially_late`. Revenue is summed in
//! millionths of the currency unit, so sums are exact. Bounded: at most `max_keys_per_window`
//! currencies per window (further ones are rejected as `overflow`), Space-Saving summaries of
//! `top_k_capacity` products, one HyperLogLog per 5-minute window.

use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use crate::engine::PartitionStats;
use crate::engine::{check_not_future, late_detail, Core, PartitionOutputs};
use crate::event::{parse_purchase, Purchase};
use crate::hll::{hash64, HyperLogLog, DEFAULT_PRECISION};
use crate::metrics::{
    check_setting, write_funnel, write_top, FunnelSide, DEFAULT_TOP_K_CAPACITY, DEFAULT_TOP_K_SIZE, FIVE_MINUTES_MS, MINUTE_MS, PURCHASES_SOURCE,
};
use crate::output::{json, OutputBuffer, OutputKind};
use crate::partitioner::{check_placement, Placement};
use crate::reject::RejectReason;
use crate::snapshot::{Checkpoint, Reader, SnapshotError, Writer};
use crate::topk::SpaceSaving;
use crate::window::{TumblingWindows, WindowRing};

const SNAPSHOT_MAGIC: &[u8; 4] = b"PLSP";
const SNAPSHOT_VERSION: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchaseOptions {
    pub partition: u32,
    pub grace_ms: i64,
    pub emit_interval_ms: i64,
    pub max_keys_per_window: usize,
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

impl PurchaseOptions {
    fn placement(&self) -> Option<Placement> {
        self.partitions.map(|partitions| Placement { partition: self.partition, partitions })
    }
}

impl Default for PurchaseOptions {
    fn default() -> Self {
        Self {
            partition: 0,
            grace_ms: 60_000,
            emit_interval_ms: 50,
            max_keys_per_window: 1_000_000,
            top_k_capacity: DEFAULT_TOP_K_CAPACITY,
            top_k_size: DEFAULT_TOP_K_SIZE,
            hll_precision: DEFAULT_PRECISION,
            max_future_ms: None,
            partitions: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Revenue {
    orders: u64,
    items: u64,
    micros: i128,
    dirty: bool,
}

type Currencies = IndexMap<Box<str>, Revenue, FxBuildHasher>;

#[derive(Debug)]
struct PurchaseWindow {
    top: SpaceSaving,
    buyers: HyperLogLog,
    purchases: u64,
    dirty: bool,
}

#[derive(Debug)]
pub struct PurchasesPartition {
    options: PurchaseOptions,
    core: Core,
    revenue: WindowRing<Currencies>,
    five: WindowRing<PurchaseWindow>,
}

impl PurchasesPartition {
    pub fn new(options: PurchaseOptions) -> Self {
        Self {
            options,
            core: Core::default(),
            revenue: WindowRing::new(TumblingWindows::new(MINUTE_MS, options.grace_ms)),
            five: WindowRing::new(TumblingWindows::new(FIVE_MINUTES_MS, options.grace_ms)),
        }
    }

    pub fn options(&self) -> PurchaseOptions {
        self.options
    }

    fn add(&mut self, order: &Purchase, clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)> {
        let ts = order.ts;
        check_placement(&order.user_id, self.options.placement())?;
        check_not_future(ts, clock_ms, self.options.max_future_ms)?;
        let stream_time = self.core.stream_time.max(ts);
        let five_start = self.five.windows.start_of(ts);
        if self.five.windows.is_closed(five_start, stream_time) {
            return Err((RejectReason::Late, late_detail(five_start, FIVE_MINUTES_MS, self.options.grace_ms, ts)));
        }
        let o = self.options;
        let mut complete = true;
        match self.revenue.open(ts, stream_time, Currencies::default) {
            Some((start, currencies)) => {
                if !currencies.contains_key(order.currency.as_ref()) && currencies.len() >= o.max_keys_per_window {
                    return Err((
                        RejectReason::Overflow,
                        format!("window [{start}, {}) already holds {} currencies, the configured maximum", start + MINUTE_MS, currencies.len()),
                    ));
                }
                let r = currencies.entry(order.currency.as_ref().into()).or_default();
                r.orders += 1;
                r.items += order.items.iter().map(|i| i.quantity).sum::<u64>();
                r.micros += order.total_micros as i128;
                r.dirty = true;
            }
            None => complete = false,
        }
        let (_, w) = self
            .five
            .open(ts, stream_time, || PurchaseWindow { top: SpaceSaving::new(o.top_k_capacity), buyers: HyperLogLog::new(o.hll_precision), purchases: 0, dirty: false })
            .expect("checked open above");
        for item in &order.items {
            w.top.add(&item.product_id, item.quantity);
        }
        w.buyers.insert_hash(hash64(order.user_id.as_bytes()));
        w.purchases += 1;
        w.dirty = true;
        if !complete {
            self.core.stats.partially_late += 1;
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
        let (p, out) = (self.options.partition, &mut self.core.output);
        while let Some((start, currencies)) = self.revenue.pop_closed(stream_time) {
            for (currency, r) in &currencies {
                write_revenue(out, p, currency, start, r, true);
            }
            self.core.stats.finals_emitted += currencies.len() as u64;
        }
        while let Some((start, w)) = self.five.pop_closed(stream_time) {
            write_five(out, self.options, start, &w, true);
            self.core.stats.finals_emitted += 2;
        }
    }

    /// Reports windows with unreported changes if `emit_interval_ms` has passed since the last
    /// report; returns how many records were appended to the output.
    pub fn flush_due(&mut self, now_ms: i64) -> usize {
        if !self.core.emit_due(now_ms, self.options.emit_interval_ms) {
            return 0;
        }
        let (p, out) = (self.options.partition, &mut self.core.output);
        let mut emitted = 0;
        for (start, currencies) in self.revenue.iter_mut() {
            for (currency, r) in currencies.iter_mut().filter(|(_, r)| r.dirty) {
                write_revenue(out, p, currency, *start, r, false);
                r.dirty = false;
                emitted += 1;
            }
        }
        for (start, w) in self.five.iter_mut().filter(|(_, w)| w.dirty) {
            write_five(out, self.options, *start, w, false);
            w.dirty = false;
            emitted += 2;
        }
        self.core.stats.updates_emitted += emitted as u64;
        emitted
    }

    pub fn stats(&self) -> PartitionStats {
        let revenue_keys: usize = self.revenue.iter().map(|(_, c)| c.len()).sum();
        let pending = self.revenue.iter().flat_map(|(_, c)| c.values()).filter(|r| r.dirty).count() + self.five.iter().filter(|(_, w)| w.dirty).count();
        let bytes: usize = self.revenue.iter().flat_map(|(_, c)| c.keys()).map(|k| k.len() + 64).sum::<usize>()
            + self.five.iter().map(|(_, w)| w.top.size_bytes() + w.buyers.size_bytes()).sum::<usize>();
        PartitionStats {
            open_windows: (self.revenue.len() + self.five.len()) as u32,
            keys: (revenue_keys + self.five.iter().map(|(_, w)| w.top.len()).sum::<usize>()) as u64,
            pending_keys: pending as u64,
            state_bytes: bytes as u64,
            stream_time: self.stream_time(),
            ..self.core.stats.clone()
        }
    }

    /// Revenue totals of one currency in the 1-minute window starting at `window_start`, if open:
    /// (orders, items, revenue in millionths).
    pub fn revenue_of(&self, currency: &str, window_start: i64) -> Option<(u64, u64, i128)> {
        let (_, c) = self.revenue.iter().find(|(s, _)| *s == window_start)?;
        c.get(currency).map(|r| (r.orders, r.items, r.micros))
    }

    /// Serializes the state with `next_offset`, the first input offset it does not cover (as
    /// `ActivityPartition::snapshot`: take and write the output first).
    pub fn snapshot(&self, next_offset: i64) -> Vec<u8> {
        self.write_snapshot(next_offset).finish()
    }

    fn write_snapshot(&self, next_offset: i64) -> Writer {
        let mut w = Writer::new(SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
        let o = self.options;
        w.i64(o.grace_ms);
        w.u64(o.partition as u64);
        w.u64(o.top_k_capacity as u64);
        w.u64(o.hll_precision as u64);
        w.i64(next_offset);
        w.i64(self.core.stream_time);
        w.u32(self.revenue.len() as u32);
        for (start, currencies) in self.revenue.iter() {
            w.i64(*start);
            w.u32(currencies.len() as u32);
            for (currency, r) in currencies {
                w.bytes(currency.as_bytes());
                w.u64(r.orders);
                w.u64(r.items);
                w.u64(r.micros as u128 as u64);
                w.u64((r.micros as u128 >> 64) as u64);
                w.u16(r.dirty as u16);
            }
        }
        w.u32(self.five.len() as u32);
        for (start, win) in self.five.iter() {
            w.i64(*start);
            win.top.write(&mut w);
            win.buyers.write(&mut w);
            w.u64(win.purchases);
            w.u16(win.dirty as u16);
        }
        w
    }

    pub fn restore(frame: &[u8], options: PurchaseOptions) -> Result<(Self, i64), SnapshotError> {
        let mut r = Reader::open(frame, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
        check_setting("grace (ms)", r.i64()? as u64, options.grace_ms as u64)?;
        check_setting("partition", r.u64()?, options.partition as u64)?;
        check_setting("top-K capacity", r.u64()?, options.top_k_capacity as u64)?;
        check_setting("HyperLogLog precision", r.u64()?, options.hll_precision as u64)?;
        let next_offset = r.i64()?;
        let mut p = Self::new(options);
        p.core.stream_time = r.i64()?;
        for _ in 0..r.u32()? {
            let start = r.i64()?;
            let n = r.u32()? as usize;
            let mut currencies = Currencies::default();
            for _ in 0..n {
                let currency: Box<str> = std::str::from_utf8(r.bytes()?).map_err(|e| SnapshotError::Corrupt(format!("currency: {e}")))?.into();
                let (orders, items) = (r.u64()?, r.u64()?);
                let micros = (r.u64()? as u128 | (r.u64()? as u128) << 64) as i128;
                let dirty = r.u16()? != 0;
                if currencies.insert(currency, Revenue { orders, items, micros, dirty }).is_some() {
                    return Err(SnapshotError::Corrupt(format!("a currency appears twice in window {start}")));
                }
            }
            p.revenue.push_restored(start, currencies)?;
        }
        for _ in 0..r.u32()? {
            let start = r.i64()?;
            let top = SpaceSaving::read(&mut r, options.top_k_capacity)?;
            let buyers = HyperLogLog::read(&mut r, options.hll_precision)?;
            let win = PurchaseWindow { top, buyers, purchases: r.u64()?, dirty: r.u16()? != 0 };
            p.five.push_restored(start, win)?;
        }
        r.finish()?;
        Ok((p, next_offset))
    }
}

/// `pulse-revenue`, key `"<partition>/<currency>"`.
fn write_revenue(out: &mut OutputBuffer, partition: u32, currency: &str, start: i64, r: &Revenue, is_final: bool) {
    let key = format!("{partition}/{currency}");
    out.push_with(OutputKind::Revenue, key.as_bytes(), |o| {
        o.extend_from_slice(b"{\"partition\":");
        json::int(o, partition);
        json::field(o, "currency");
        json::string(o, currency);
        json::field(o, "windowStart");
        json::int(o, start);
        json::field(o, "windowEnd");
        json::int(o, start + MINUTE_MS);
        json::field(o, "orders");
        json::int(o, r.orders);
        json::field(o, "items");
        json::int(o, r.items);
        json::field(o, "revenue");
        // The nearest double to the exact decimal sum; it prints as that decimal.
        json::num(o, r.micros as f64 / 1e6);
        json::final_flag(o, is_final);
    });
}

/// The two records of a 5-minute window: top purchased products and the purchase side of the funnel.
fn write_five(out: &mut OutputBuffer, o: PurchaseOptions, start: i64, w: &PurchaseWindow, is_final: bool) {
    let end = start + FIVE_MINUTES_MS;
    write_top(out, "purchases", o.partition, start, end, &w.top.top(o.top_k_size), is_final);
    let side = FunnelSide { purchases: w.purchases, buyers: Some(&w.buyers), ..Default::default() };
    write_funnel(out, PURCHASES_SOURCE, o.partition, start, end, &side, is_final);
}

impl PartitionOutputs for PurchasesPartition {
    fn core(&self) -> &Core {
        &self.core
    }

    fn core_mut(&mut self) -> &mut Core {
        &mut self.core
    }

    fn add_record(&mut self, record: &[u8], clock_ms: i64, now_ms: i64) -> Result<(), (RejectReason, String)> {
        let order = parse_purchase(record).map_err(|e| (e.reason, e.detail))?;
        self.add(&order, clock_ms, now_ms)
    }
}

/// Small and bounded (no per-user state), so always checkpointed whole.
impl Checkpoint for PurchasesPartition {
    fn encode_base(&mut self, next_offset: i64, _chain: u32) -> Writer {
        self.write_snapshot(next_offset)
    }
}
