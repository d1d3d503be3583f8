//! The streaming session recommender: item-to-item scores learned event by event from sessions (the
//! family of session-kNN / sequential-rule models that match neural models on e-commerce data),
//! time-decayed popularity as the fallback, and each user's recent items.
//!
//! - When a session sees item `i` after items `j` (the last `session_window` of them), the pair scores
//!   `j → i` (forward, weight 1) and `i → j` (backward, `backward_weight`) grow by
//!   `weight(kind of i) · weight(kind of j) · position_decay^(distance − 1)`.
//! - Time decay is "forward decay": an increment at time t is scaled by 2^((t − t₀)/half_life), so old
//!   evidence fades relative to new without touching stored scores; they are rescaled when the factor
//!   grows large.
//! - Memory is bounded: at most `max_neighbours` neighbours per item (a new neighbour replaces the
//!   weakest when it outscores it), at most `max_items` items, at most `max_users` users with
//!   `recent_items` items each (the least recently active user is forgotten first).
//! - A user's recommendations add up, for each of their recent items (newest weighted most), the
//!   neighbours' scores normalised by the two items' popularity (`score / (pop(j)^α · pop(i)^(1−α))`);
//!   when that yields fewer than `k` items, trending items fill the rest.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Deserialize;

use crate::snapshot::{Reader, SnapshotError, Writer};

/// What a user did with an item; purchases say more than carts, carts more than views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    View,
    Cart,
    Purchase,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecsOptions {
    pub session_window: usize,
    pub position_decay: f64,
    pub backward_weight: f64,
    pub cart_weight: f64,
    pub purchase_weight: f64,
    pub half_life_ms: f64,
    /// α of the popularity normalisation: 0 penalises popular candidates, 1 only the source item.
    pub normalisation_alpha: f64,
    /// How fast the weight of a user's older recent items falls (1 = all equal).
    pub recency_decay: f64,
    pub recent_items: usize,
    pub max_neighbours: usize,
    pub max_items: usize,
    pub max_users: usize,
    /// A gap longer than this starts a new session for the pair scores (the user's recent items stay).
    pub session_gap_ms: i64,
}

impl Default for RecsOptions {
    /// Window, decays, backward weight and α were chosen by `pulse recs tune` on a validation split of
    /// the Diginetica sample's training file (its last 20% of sessions), never on its test file.
    fn default() -> Self {
        Self {
            session_window: 10,
            position_decay: 0.3,
            backward_weight: 0.25,
            cart_weight: 3.0,
            purchase_weight: 5.0,
            half_life_ms: 7.0 * 24.0 * 3_600_000.0,
            normalisation_alpha: 1.0,
            recency_decay: 0.7,
            recent_items: 10,
            max_neighbours: 100,
            // Bounds the model snapshot (items × neighbours × 12 bytes ≤ 60 MB before LZ4) below the
            // 64 MiB a record of pulse-recs-model may hold.
            max_items: 50_000,
            max_users: 1_000_000,
            session_gap_ms: 30 * 60_000,
        }
    }
}

type ItemId = u32;

#[derive(Debug, Default)]
struct Neighbours {
    entries: Vec<(ItemId, f64)>,
}

impl Neighbours {
    fn add(&mut self, item: ItemId, amount: f64, cap: usize) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.0 == item) {
            e.1 += amount;
        } else if self.entries.len() < cap {
            self.entries.push((item, amount));
        } else if let Some(weakest) = self.entries.iter_mut().min_by(|a, b| a.1.total_cmp(&b.1)) {
            if amount > weakest.1 {
                *weakest = (item, amount);
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
struct UserState {
    /// Newest last: (item, interaction weight).
    recent: VecDeque<(ItemId, f64)>,
    /// Items of the current session, for the pair scores; newest last.
    session: VecDeque<(ItemId, f64)>,
    last_ts: i64,
    last_seq: u64,
}

/// One recommended item with its score and the recent item that contributed most to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub item: String,
    pub score: f64,
    pub because: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recommendations {
    pub items: Vec<Recommendation>,
    /// True when the answer is the popularity fallback only (a cold user, or unknown items).
    pub fallback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecsStats {
    pub events: u64,
    pub items: u64,
    pub users: u64,
    pub pairs: u64,
    pub dropped_items: u64,
}

#[derive(Debug)]
pub struct RecsModel {
    opts: RecsOptions,
    ids: FxHashMap<Box<str>, ItemId>,
    names: Vec<Box<str>>,
    neighbours: Vec<Neighbours>,
    popularity: Vec<f64>,
    users: FxHashMap<Box<str>, UserState>,
    /// Forward-decay origin and the factor of "now" relative to it.
    origin_ms: Option<i64>,
    seq: u64,
    /// A cache that queries refresh; behind its own lock so that queries need only `&self` and can
    /// share the model with each other while an ingest waits.
    trending: Mutex<Trending>,
    stats: RecsStats,
}

#[derive(Debug)]
struct Trending {
    items: Vec<ItemId>,
    /// `stats.events` when `items` was computed; `u64::MAX` before the first time.
    at_event: u64,
}

/// Forward-decay factors above this are folded back into the stored scores.
const RESCALE_ABOVE: f64 = 1e100;
/// Trending items are recomputed at most once per this many events.
const TRENDING_EVERY: u64 = 1000;
const TRENDING_SIZE: usize = 200;

impl RecsModel {
    pub fn new(opts: RecsOptions) -> Self {
        Self {
            opts,
            ids: FxHashMap::default(),
            names: Vec::new(),
            neighbours: Vec::new(),
            popularity: Vec::new(),
            users: FxHashMap::default(),
            origin_ms: None,
            seq: 0,
            trending: Mutex::new(Trending { items: Vec::new(), at_event: u64::MAX }),
            stats: RecsStats::default(),
        }
    }

    fn item_id(&mut self, item: &str) -> Option<ItemId> {
        if let Some(&id) = self.ids.get(item) {
            return Some(id);
        }
        if self.names.len() >= self.opts.max_items {
            self.stats.dropped_items += 1;
            return None;
        }
        let id = self.names.len() as ItemId;
        self.ids.insert(item.into(), id);
        self.names.push(item.into());
        self.neighbours.push(Neighbours::default());
        self.popularity.push(0.0);
        Some(id)
    }

    /// The forward-decay factor of time `ts`, rescaling stored scores when it grows too large.
    fn boost(&mut self, ts: i64) -> f64 {
        let origin = *self.origin_ms.get_or_insert(ts);
        let factor = ((ts - origin) as f64 / self.opts.half_life_ms).exp2();
        if factor <= RESCALE_ABOVE {
            return factor.max(f64::MIN_POSITIVE);
        }
        // Move the origin to `ts`: every stored score shrinks by the same factor, so order is kept.
        for n in &mut self.neighbours {
            for e in &mut n.entries {
                e.1 /= factor;
            }
        }
        for p in &mut self.popularity {
            *p /= factor;
        }
        self.origin_ms = Some(ts);
        1.0
    }

    fn kind_weight(&self, kind: Interaction) -> f64 {
        match kind {
            Interaction::View => 1.0,
            Interaction::Cart => self.opts.cart_weight,
            Interaction::Purchase => self.opts.purchase_weight,
        }
    }

    /// Learns from one event.
    pub fn observe(&mut self, user: &str, item: &str, kind: Interaction, ts_ms: i64) {
        let Some(item) = self.item_id(item) else { return };
        let boost = self.boost(ts_ms);
        let weight = self.kind_weight(kind);
        self.popularity[item as usize] += weight * boost;
        self.seq += 1;
        self.stats.events += 1;

        if !self.users.contains_key(user) {
            if self.users.len() >= self.opts.max_users {
                self.forget_least_recent_users();
            }
            self.users.insert(user.into(), UserState::default());
        }
        let opts = self.opts;
        let seq = self.seq;
        let user_state = self.users.get_mut(user).expect("inserted above");
        if ts_ms - user_state.last_ts > opts.session_gap_ms {
            user_state.session.clear();
        }
        let mut pairs: Vec<(ItemId, ItemId, f64)> = Vec::with_capacity(user_state.session.len() * 2);
        let mut position = 1.0;
        for &(previous, previous_weight) in user_state.session.iter().rev() {
            if previous != item {
                let amount = weight * previous_weight * position * boost;
                pairs.push((previous, item, amount));
                pairs.push((item, previous, amount * opts.backward_weight));
            }
            position *= opts.position_decay;
        }
        push_bounded(&mut user_state.session, (item, weight), opts.session_window);
        user_state.recent.retain(|&(i, _)| i != item);
        push_bounded(&mut user_state.recent, (item, weight), opts.recent_items);
        user_state.last_ts = user_state.last_ts.max(ts_ms);
        user_state.last_seq = seq;
        for (from, to, amount) in pairs {
            self.neighbours[from as usize].add(to, amount, opts.max_neighbours);
        }
    }

    /// Forgets the least recently active tenth of the users at once, so the scan is amortised.
    fn forget_least_recent_users(&mut self) {
        let mut seqs: Vec<u64> = self.users.values().map(|u| u.last_seq).collect();
        let cut = (seqs.len() / 10).max(1).min(seqs.len()) - 1;
        let (_, threshold, _) = seqs.select_nth_unstable(cut);
        let threshold = *threshold;
        self.users.retain(|_, u| u.last_seq > threshold);
    }

    /// The trending items, recomputed when at least `TRENDING_EVERY` events came in since the last time.
    fn trending(&self) -> std::sync::MutexGuard<'_, Trending> {
        // The cache is rebuilt whole before it is stored, so a panic elsewhere cannot leave it half-made.
        let mut trending = self.trending.lock().unwrap_or_else(PoisonError::into_inner);
        if trending.at_event != u64::MAX && self.stats.events - trending.at_event < TRENDING_EVERY {
            return trending;
        }
        let mut all: Vec<ItemId> = (0..self.names.len() as ItemId).collect();
        let n = TRENDING_SIZE.min(all.len());
        let pop = &self.popularity;
        if n > 0 && n < all.len() {
            all.select_nth_unstable_by(n - 1, |a, b| pop[*b as usize].total_cmp(&pop[*a as usize]));
            all.truncate(n);
        }
        all.sort_by(|a, b| pop[*b as usize].total_cmp(&pop[*a as usize]).then(a.cmp(b)));
        *trending = Trending { items: all, at_event: self.stats.events };
        trending
    }

    /// Top `k` items for a user; `exclude_seen` leaves out the user's recent items.
    pub fn recommend(&self, user: &str, k: usize, exclude_seen: bool) -> Recommendations {
        let recent: Vec<(ItemId, f64)> = self.users.get(user).map(|u| u.recent.iter().copied().collect()).unwrap_or_default();
        let mut scores: FxHashMap<ItemId, (f64, ItemId, f64)> = FxHashMap::default();
        let mut recency = 1.0;
        for &(source, source_weight) in recent.iter().rev() {
            let source_pop = self.popularity[source as usize].max(f64::MIN_POSITIVE);
            for &(candidate, pair) in &self.neighbours[source as usize].entries {
                let cand_pop = self.popularity[candidate as usize].max(f64::MIN_POSITIVE);
                let norm = source_pop.powf(self.opts.normalisation_alpha) * cand_pop.powf(1.0 - self.opts.normalisation_alpha);
                let contribution = recency * source_weight.sqrt() * pair / norm;
                let entry = scores.entry(candidate).or_insert((0.0, source, 0.0));
                entry.0 += contribution;
                if contribution > entry.2 {
                    entry.1 = source;
                    entry.2 = contribution;
                }
            }
            recency *= self.opts.recency_decay;
        }
        let seen: FxHashSet<ItemId> = if exclude_seen { recent.iter().map(|r| r.0).collect() } else { FxHashSet::default() };
        let mut ranked: Vec<(ItemId, f64, ItemId)> = scores.into_iter().filter(|(i, _)| !seen.contains(i)).map(|(i, (s, because, _))| (i, s, because)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        let fallback = ranked.is_empty();
        let mut items: Vec<Recommendation> = ranked
            .iter()
            .map(|&(i, s, because)| Recommendation { item: self.names[i as usize].to_string(), score: s, because: Some(self.names[because as usize].to_string()) })
            .collect();
        if items.len() < k {
            let trending = self.trending();
            let taken: FxHashSet<ItemId> = ranked.iter().map(|r| r.0).collect();
            // The most popular item at the last refresh sets the scale: no pass over all items per request.
            let scale = trending.items.first().map_or(1.0, |&i| self.popularity[i as usize]).max(f64::MIN_POSITIVE);
            for &i in &trending.items {
                if items.len() >= k {
                    break;
                }
                if taken.contains(&i) || seen.contains(&i) {
                    continue;
                }
                // Trending fill: scored by relative popularity, marked by having no source item.
                items.push(Recommendation { item: self.names[i as usize].to_string(), score: self.popularity[i as usize] / scale, because: None });
            }
        }
        Recommendations { items, fallback }
    }

    /// Items most often seen together with `item`, by the same normalised scores.
    pub fn similar(&self, item: &str, k: usize) -> Vec<Recommendation> {
        let Some(&id) = self.ids.get(item) else { return Vec::new() };
        let source_pop = self.popularity[id as usize].max(f64::MIN_POSITIVE);
        let mut ranked: Vec<(ItemId, f64)> = self.neighbours[id as usize]
            .entries
            .iter()
            .map(|&(c, pair)| {
                let cand_pop = self.popularity[c as usize].max(f64::MIN_POSITIVE);
                (c, pair / (source_pop.powf(self.opts.normalisation_alpha) * cand_pop.powf(1.0 - self.opts.normalisation_alpha)))
            })
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked.into_iter().map(|(c, s)| Recommendation { item: self.names[c as usize].to_string(), score: s, because: Some(item.to_string()) }).collect()
    }

    pub fn stats(&self) -> RecsStats {
        RecsStats {
            items: self.names.len() as u64,
            users: self.users.len() as u64,
            pairs: self.neighbours.iter().map(|n| n.entries.len() as u64).sum(),
            ..self.stats
        }
    }
}

/// What one `ingest` call learned from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestCounts {
    /// Item interactions learned (a purchase of three products counts three).
    pub learned: u32,
    /// Valid events that carry no product (page views, searches, checkouts started).
    pub skipped: u32,
    /// Records that are not usable events; the aggregator reports those as dead letters.
    pub invalid: u32,
}

#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(rename = "productId", borrow)]
    product_id: Cow<'a, str>,
}

#[derive(Deserialize)]
struct RawInteraction<'a> {
    #[serde(rename = "userId", borrow)]
    user_id: Cow<'a, str>,
    #[serde(rename = "type", borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(rename = "productId", borrow, default)]
    product_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    items: Option<Vec<RawItem<'a>>>,
    ts: i64,
}

const SNAPSHOT_MAGIC: &[u8; 4] = b"PLSR";
const SNAPSHOT_VERSION: u16 = 1;

/// One item interaction read from a record, borrowing the record's bytes where it can.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation<'a> {
    pub user: Cow<'a, str>,
    pub item: Cow<'a, str>,
    pub kind: Interaction,
    pub ts_ms: i64,
}

impl Observation<'_> {
    /// The same observation owning its strings, to outlive the record bytes.
    pub fn into_owned(self) -> Observation<'static> {
        Observation { user: Cow::Owned(self.user.into_owned()), item: Cow::Owned(self.item.into_owned()), kind: self.kind, ts_ms: self.ts_ms }
    }
}

/// Reads a batch of `user-clicks` and `user-purchases` record values (`ends[i]` is where record `i`
/// ends): product views and clicks, add-to-carts, and each product of a purchase, in record order.
/// Needs no model, so it can run while others read the model.
pub fn parse_interactions<'a>(values: &'a [u8], ends: &[u32]) -> (Vec<Observation<'a>>, IngestCounts) {
    let mut counts = IngestCounts::default();
    let mut observations = Vec::with_capacity(ends.len());
    let mut start = 0usize;
    for &end in ends {
        let Some(record) = values.get(start..end as usize) else {
            counts.invalid += 1;
            continue;
        };
        start = end as usize;
        let Ok(event) = serde_json::from_slice::<RawInteraction>(record) else {
            counts.invalid += 1;
            continue;
        };
        let kind = match event.kind.as_deref() {
            Some("product_view") | Some("click") => Interaction::View,
            Some("add_to_cart") => Interaction::Cart,
            Some("purchase") => Interaction::Purchase,
            _ => {
                counts.skipped += 1;
                continue;
            }
        };
        if kind == Interaction::Purchase {
            for item in event.items.into_iter().flatten() {
                observations.push(Observation { user: event.user_id.clone(), item: item.product_id, kind, ts_ms: event.ts });
                counts.learned += 1;
            }
        } else if let Some(item) = event.product_id {
            observations.push(Observation { user: event.user_id, item, kind, ts_ms: event.ts });
            counts.learned += 1;
        } else {
            counts.skipped += 1;
        }
    }
    (observations, counts)
}

impl RecsModel {
    /// Learns from a batch of record values: `parse_interactions`, then `learn`.
    pub fn ingest(&mut self, values: &[u8], ends: &[u32]) -> IngestCounts {
        let (observations, counts) = parse_interactions(values, ends);
        for observation in &observations {
            self.learn(observation);
        }
        counts
    }

    /// Learns from one observation of `parse_interactions`; a caller that shares the model can let
    /// others read it between two.
    pub fn learn(&mut self, o: &Observation<'_>) {
        self.observe(&o.user, &o.item, o.kind, o.ts_ms);
    }

    /// The whole model as an LZ4 frame; users in key order so that equal models give equal bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.encode().compress()
    }

    /// The snapshot before compression: what needs the model. Compressing it (the larger part of the
    /// work) needs only the returned bytes, so a caller that shares the model can let it go first.
    pub fn encode(&self) -> EncodedSnapshot {
        let mut w = Writer::new(SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
        w.i64(self.origin_ms.unwrap_or(i64::MIN));
        w.u64(self.seq);
        w.u64(self.stats.events);
        w.u64(self.stats.dropped_items);
        w.u32(self.names.len() as u32);
        for (i, name) in self.names.iter().enumerate() {
            w.bytes(name.as_bytes());
            w.u64(self.popularity[i].to_bits());
            let entries = &self.neighbours[i].entries;
            w.u32(entries.len() as u32);
            for &(item, score) in entries {
                w.u32(item);
                w.u64(score.to_bits());
            }
        }
        let mut users: Vec<(&Box<str>, &UserState)> = self.users.iter().collect();
        users.sort_unstable_by(|a, b| a.0.cmp(b.0));
        w.u32(users.len() as u32);
        for (name, u) in users {
            w.bytes(name.as_bytes());
            w.i64(u.last_ts);
            w.u64(u.last_seq);
            for queue in [&u.recent, &u.session] {
                w.u32(queue.len() as u32);
                for &(item, weight) in queue {
                    w.u32(item);
                    w.u64(weight.to_bits());
                }
            }
        }
        EncodedSnapshot(w)
    }

    pub fn restore(frame: &[u8], opts: RecsOptions) -> Result<Self, SnapshotError> {
        let corrupt = |m: &str| SnapshotError::Corrupt(m.to_owned());
        let mut r = Reader::open(frame, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
        let mut m = RecsModel::new(opts);
        let origin = r.i64()?;
        m.origin_ms = (origin != i64::MIN).then_some(origin);
        m.seq = r.u64()?;
        m.stats.events = r.u64()?;
        m.stats.dropped_items = r.u64()?;
        let items = r.u32()? as usize;
        for id in 0..items {
            let name: Box<str> = std::str::from_utf8(r.bytes()?).map_err(|_| corrupt("item id is not UTF-8"))?.into();
            m.ids.insert(name.clone(), id as ItemId);
            m.names.push(name);
            m.popularity.push(f64::from_bits(r.u64()?));
            // Each neighbour: an item (4 bytes) and a weight (8).
            let n = r.count(12)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let item = r.u32()?;
                if item as usize >= items {
                    return Err(corrupt("neighbour out of range"));
                }
                entries.push((item, f64::from_bits(r.u64()?)));
            }
            m.neighbours.push(Neighbours { entries });
        }
        let users = r.u32()? as usize;
        for _ in 0..users {
            let name: Box<str> = std::str::from_utf8(r.bytes()?).map_err(|_| corrupt("user id is not UTF-8"))?.into();
            let mut u = UserState { last_ts: r.i64()?, last_seq: r.u64()?, ..Default::default() };
            for queue in [&mut u.recent, &mut u.session] {
                let n = r.u32()? as usize;
                for _ in 0..n {
                    let item = r.u32()?;
                    if item as usize >= items {
                        return Err(corrupt("recent item out of range"));
                    }
                    queue.push_back((item, f64::from_bits(r.u64()?)));
                }
            }
            m.users.insert(name, u);
        }
        r.finish()?;
        Ok(m)
    }
}

/// A model snapshot encoded but not yet compressed (see `RecsModel::encode`).
#[derive(Debug)]
pub struct EncodedSnapshot(Writer);

impl EncodedSnapshot {
    /// The LZ4 frame `RecsModel::restore` reads.
    pub fn compress(self) -> Vec<u8> {
        self.0.finish()
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, cap: usize) {
    if cap == 0 {
        return;
    }
    if queue.len() >= cap {
        queue.pop_front();
    }
    queue.push_back(value);
}
