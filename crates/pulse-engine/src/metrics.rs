//! Business metrics of a `user-clicks` partition, kept next to its activity counts and updated in the
//! same pass over a batch: top viewed and carted products (Space-Saving), unique active users per
//! 1- and 5-minute window (HyperLogLog) and the click side of the view → cart → purchase funnel.
//! Also the record writers shared with the purchase engine.

use crate::event::{Click, ClickKind};
use crate::hll::{hash64, HyperLogLog};
use crate::output::{json, OutputBuffer, OutputKind};
use crate::snapshot::{Reader, SnapshotError, Writer};
use crate::topk::{SpaceSaving, Top};
use crate::window::{TumblingWindows, WindowRing};

pub const MINUTE_MS: i64 = 60_000;
pub const FIVE_MINUTES_MS: i64 = 300_000;
pub const DEFAULT_TOP_K_CAPACITY: usize = 1000;
pub const DEFAULT_TOP_K_SIZE: usize = 10;

/// Source-topic names as they appear in `pulse-funnel` records.
pub const CLICKS_SOURCE: &str = "user-clicks";
pub const PURCHASES_SOURCE: &str = "user-purchases";

/// `pulse-top-products`: key `"<metric>/<partition>"`.
pub fn write_top(out: &mut OutputBuffer, metric: &str, partition: u32, start: i64, end: i64, top: &Top, is_final: bool) {
    let key = format!("{metric}/{partition}");
    out.push_with(OutputKind::TopProducts, key.as_bytes(), |o| {
        o.extend_from_slice(b"{\"partition\":");
        json::int(o, partition);
        json::field(o, "metric");
        json::string(o, metric);
        json::field(o, "windowStart");
        json::int(o, start);
        json::field(o, "windowEnd");
        json::int(o, end);
        o.extend_from_slice(b",\"items\":[");
        for (i, c) in top.items.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            o.extend_from_slice(b"{\"productId\":");
            json::string(o, &c.item);
            json::field(o, "count");
            json::int(o, c.count);
            json::field(o, "error");
            json::int(o, c.error);
            o.push(b'}');
        }
        o.push(b']');
        json::field(o, "threshold");
        json::int(o, top.threshold);
        json::final_flag(o, is_final);
    });
}

/// `pulse-unique-users`: key `"<granularity>/<partition>"`.
pub fn write_unique(out: &mut OutputBuffer, granularity: &str, partition: u32, start: i64, end: i64, users: &HyperLogLog, is_final: bool) {
    let key = format!("{granularity}/{partition}");
    out.push_with(OutputKind::UniqueUsers, key.as_bytes(), |o| {
        o.extend_from_slice(b"{\"partition\":");
        json::int(o, partition);
        json::field(o, "granularity");
        json::string(o, granularity);
        json::field(o, "windowStart");
        json::int(o, start);
        json::field(o, "windowEnd");
        json::int(o, end);
        json::field(o, "estimate");
        json::int(o, users.estimate());
        json::final_flag(o, is_final);
    });
}

/// One side of the funnel: event counts and distinct-user estimates of its stages.
#[derive(Debug, Default)]
pub struct FunnelSide<'a> {
    pub views: u64,
    pub carts: u64,
    pub purchases: u64,
    pub viewers: Option<&'a HyperLogLog>,
    pub carters: Option<&'a HyperLogLog>,
    pub buyers: Option<&'a HyperLogLog>,
}

/// `pulse-funnel`: key `"<source>/<partition>"`.
pub fn write_funnel(out: &mut OutputBuffer, source: &str, partition: u32, start: i64, end: i64, side: &FunnelSide, is_final: bool) {
    let key = format!("{source}/{partition}");
    let estimate = |h: Option<&HyperLogLog>| h.map_or(0, HyperLogLog::estimate);
    out.push_with(OutputKind::Funnel, key.as_bytes(), |o| {
        o.extend_from_slice(b"{\"source\":");
        json::string(o, source);
        json::field(o, "partition");
        json::int(o, partition);
        json::field(o, "windowStart");
        json::int(o, start);
        json::field(o, "windowEnd");
        json::int(o, end);
        for (name, v) in [
            ("views", side.views),
            ("carts", side.carts),
            ("purchases", side.purchases),
            ("viewers", estimate(side.viewers)),
            ("carters", estimate(side.carters)),
            ("buyers", estimate(side.buyers)),
        ] {
            json::field(o, name);
            json::int(o, v);
        }
        json::final_flag(o, is_final);
    });
}

/// Checks that a snapshot was taken with the same sketch settings, which would otherwise change
/// results silently.
pub fn check_setting(what: &str, snapshot: u64, configured: u64) -> Result<(), SnapshotError> {
    if snapshot == configured {
        Ok(())
    } else {
        Err(SnapshotError::Mismatch(format!("taken with {what} {snapshot}, configured {configured}")))
    }
}

const DIRTY_VIEWS: u8 = 1;
const DIRTY_CARTS: u8 = 2;
const DIRTY_USERS: u8 = 4;
const DIRTY_FUNNEL: u8 = 8;
const DIRTY_ALL: u8 = DIRTY_VIEWS | DIRTY_CARTS | DIRTY_USERS | DIRTY_FUNNEL;

#[derive(Debug)]
struct ClickWindow {
    views: SpaceSaving,
    carts: SpaceSaving,
    users: HyperLogLog,
    viewers: HyperLogLog,
    carters: HyperLogLog,
    view_events: u64,
    cart_events: u64,
    /// Which of the window's records changed since they were last reported (`DIRTY_*` bits).
    dirty: u8,
}

#[derive(Debug)]
struct UsersWindow {
    users: HyperLogLog,
    dirty: bool,
}

/// Settings of the click metrics (part of `ActivityOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClickMetricsOptions {
    pub partition: u32,
    pub grace_ms: i64,
    pub top_k_capacity: usize,
    pub top_k_size: usize,
    pub hll_precision: u8,
}

#[derive(Debug)]
pub struct ClickMetrics {
    options: ClickMetricsOptions,
    five: WindowRing<ClickWindow>,
    one: WindowRing<UsersWindow>,
}

impl ClickMetrics {
    pub fn new(options: ClickMetricsOptions) -> Self {
        Self {
            options,
            five: WindowRing::new(TumblingWindows::new(FIVE_MINUTES_MS, options.grace_ms)),
            one: WindowRing::new(TumblingWindows::new(MINUTE_MS, options.grace_ms)),
        }
    }

    /// Adds a click to every metric window still open at `stream_time` (which already includes the
    /// click's own time). Returns false if a window it belongs to had closed, so that the caller can
    /// count the event as partially late.
    pub fn record(&mut self, click: &Click, stream_time: i64) -> bool {
        let o = self.options;
        let user = hash64(click.user_id.as_bytes());
        let mut complete = true;
        match self.five.open(click.ts, stream_time, || ClickWindow {
            views: SpaceSaving::new(o.top_k_capacity),
            carts: SpaceSaving::new(o.top_k_capacity),
            users: HyperLogLog::new(o.hll_precision),
            viewers: HyperLogLog::new(o.hll_precision),
            carters: HyperLogLog::new(o.hll_precision),
            view_events: 0,
            cart_events: 0,
            dirty: 0,
        }) {
            Some((_, w)) => {
                if w.users.insert_hash(user) {
                    w.dirty |= DIRTY_USERS;
                }
                match click.kind {
                    ClickKind::ProductView => {
                        w.view_events += 1;
                        w.viewers.insert_hash(user);
                        w.dirty |= DIRTY_FUNNEL;
                        if let Some(product) = &click.product_id {
                            w.views.add(product, 1);
                            w.dirty |= DIRTY_VIEWS;
                        }
                    }
                    ClickKind::AddToCart => {
                        w.cart_events += 1;
                        w.carters.insert_hash(user);
                        w.dirty |= DIRTY_FUNNEL;
                        if let Some(product) = &click.product_id {
                            w.carts.add(product, 1);
                            w.dirty |= DIRTY_CARTS;
                        }
                    }
                    ClickKind::Other => {}
                }
            }
            None => complete = false,
        }
        match self.one.open(click.ts, stream_time, || UsersWindow { users: HyperLogLog::new(o.hll_precision), dirty: false }) {
            Some((_, w)) => {
                if w.users.insert_hash(user) {
                    w.dirty = true;
                }
            }
            None => complete = false,
        }
        complete
    }

    fn write_window(options: ClickMetricsOptions, out: &mut OutputBuffer, start: i64, w: &ClickWindow, which: u8, is_final: bool) -> u64 {
        let (p, k) = (options.partition, options.top_k_size);
        let end = start + FIVE_MINUTES_MS;
        let mut n = 0;
        if which & DIRTY_VIEWS != 0 {
            write_top(out, "views", p, start, end, &w.views.top(k), is_final);
            n += 1;
        }
        if which & DIRTY_CARTS != 0 {
            write_top(out, "carts", p, start, end, &w.carts.top(k), is_final);
            n += 1;
        }
        if which & DIRTY_USERS != 0 {
            write_unique(out, "5m", p, start, end, &w.users, is_final);
            n += 1;
        }
        if which & DIRTY_FUNNEL != 0 {
            let side = FunnelSide { views: w.view_events, carts: w.cart_events, viewers: Some(&w.viewers), carters: Some(&w.carters), ..Default::default() };
            write_funnel(out, CLICKS_SOURCE, p, start, end, &side, is_final);
            n += 1;
        }
        n
    }

    /// Final records of every window `stream_time` has closed; returns how many.
    pub fn close(&mut self, stream_time: i64, out: &mut OutputBuffer) -> u64 {
        let mut n = 0;
        while let Some((start, w)) = self.one.pop_closed(stream_time) {
            write_unique(out, "1m", self.options.partition, start, start + MINUTE_MS, &w.users, true);
            n += 1;
        }
        while let Some((start, w)) = self.five.pop_closed(stream_time) {
            n += Self::write_window(self.options, out, start, &w, DIRTY_ALL, true);
        }
        n
    }

    /// Update records of every window with unreported changes; returns how many.
    pub fn flush(&mut self, out: &mut OutputBuffer) -> u64 {
        let mut n = 0;
        for (start, w) in self.one.iter_mut() {
            if w.dirty {
                write_unique(out, "1m", self.options.partition, *start, *start + MINUTE_MS, &w.users, false);
                w.dirty = false;
                n += 1;
            }
        }
        for (start, w) in self.five.iter_mut() {
            if w.dirty != 0 {
                n += Self::write_window(self.options, out, *start, w, w.dirty, false);
                w.dirty = 0;
            }
        }
        n
    }

    pub fn open_windows(&self) -> usize {
        self.five.len() + self.one.len()
    }

    pub fn pending(&self) -> u64 {
        let five: u32 = self.five.iter().map(|(_, w)| w.dirty.count_ones()).sum();
        five as u64 + self.one.iter().filter(|(_, w)| w.dirty).count() as u64
    }

    pub fn size_bytes(&self) -> usize {
        let five: usize = self.five.iter().map(|(_, w)| w.views.size_bytes() + w.carts.size_bytes() + 3 * w.users.size_bytes()).sum();
        five + self.one.iter().map(|(_, w)| w.users.size_bytes()).sum::<usize>()
    }

    pub fn write(&self, w: &mut Writer) {
        w.u64(self.options.partition as u64);
        w.u64(self.options.top_k_capacity as u64);
        w.u64(self.options.hll_precision as u64);
        w.u32(self.five.len() as u32);
        for (start, win) in self.five.iter() {
            w.i64(*start);
            win.views.write(w);
            win.carts.write(w);
            win.users.write(w);
            win.viewers.write(w);
            win.carters.write(w);
            w.u64(win.view_events);
            w.u64(win.cart_events);
            w.u16(win.dirty as u16);
        }
        w.u32(self.one.len() as u32);
        for (start, win) in self.one.iter() {
            w.i64(*start);
            win.users.write(w);
            w.u16(win.dirty as u16);
        }
    }

    pub fn read(r: &mut Reader, options: ClickMetricsOptions) -> Result<Self, SnapshotError> {
        check_setting("partition", r.u64()?, options.partition as u64)?;
        check_setting("top-K capacity", r.u64()?, options.top_k_capacity as u64)?;
        check_setting("HyperLogLog precision", r.u64()?, options.hll_precision as u64)?;
        let p = options.hll_precision;
        let mut m = Self::new(options);
        for _ in 0..r.u32()? {
            let start = r.i64()?;
            let win = ClickWindow {
                views: SpaceSaving::read(r, options.top_k_capacity)?,
                carts: SpaceSaving::read(r, options.top_k_capacity)?,
                users: HyperLogLog::read(r, p)?,
                viewers: HyperLogLog::read(r, p)?,
                carters: HyperLogLog::read(r, p)?,
                view_events: r.u64()?,
                cart_events: r.u64()?,
                dirty: r.u16()? as u8,
            };
            m.five.push_restored(start, win)?;
        }
        for _ in 0..r.u32()? {
            let start = r.i64()?;
            let win = UsersWindow { users: HyperLogLog::read(r, p)?, dirty: r.u16()? != 0 };
            m.one.push_restored(start, win)?;
        }
        Ok(m)
    }
}
