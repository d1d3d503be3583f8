//! The streaming session recommender (docs/recommendations.md, "The model"): a session-kNN in the
//! manner of STAN/VSTAN blended with sequential rules, both computed from a bounded store of recent
//! sessions that every event updates in place, and time-decayed popularity as the fallback.
//!
//! - Every event appends its item to its user's current session in the store; a pause longer than
//!   `session_gap_ms`, or a session reaching `max_session_items`, starts a new one. The store keeps the
//!   last `max_sessions` sessions (a ring: the oldest goes first) and, per item, the sessions holding it
//!   (its postings), so both are bounded by `max_sessions · max_session_items` entries.
//! - Neighbour sessions (STAN, Garg et al. 2019; VSTAN, Ludewig et al. 2021): the user's session items
//!   weigh exp((p − n)/λspw) by position (latest 1); a past session that shares items scores the sum of
//!   the shared items' weights over the norm of the weights and its length to the power
//!   `length_exponent`, times exp(−Δt/λsnh) for its age; each of the `neighbours` best adds to every item it holds
//!   its similarity × exp(−|p − p*|/λinh) (distance to the last shared item) × exp((q − n)/λipw) (q: where
//!   in the user's session that shared item was) × (1 + λidf · idf) × the event's weight (purchase >
//!   cart > view).
//! - Sequential rules (SR, Ludewig & Jannach 2018): in the recent sessions holding the user's last item,
//!   the items that follow it within `rule_steps` events, weighted 1/distance.
//! - The two score lists are each scaled to a maximum of 1 and added, the rules weighted `rule_weight`.
//! - The item table holds at most `max_items` items; when full, the least recently seen one is evicted
//!   (its entries leave the stored sessions) to make room for a new one.
//! - Popularity uses forward decay: an increment at time t is scaled by 2^((t − t₀)/half_life), so old
//!   evidence fades relative to new without touching stored values; they are rescaled when the factor
//!   grows large.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
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

impl Interaction {
    fn code(self) -> u8 {
        match self {
            Interaction::View => 0,
            Interaction::Cart => 1,
            Interaction::Purchase => 2,
        }
    }
    fn from_code(code: u8) -> Option<Self> {
        [Interaction::View, Interaction::Cart, Interaction::Purchase].get(code as usize).copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecsOptions {
    /// Neighbour sessions that score (k of session-kNN).
    pub neighbours: usize,
    /// Most recent sessions looked at per item of the user's session when finding neighbours.
    pub sample_per_item: usize,
    /// Most recent distinct items of the user's session that neighbours are looked up by.
    pub lookup_items: usize,
    /// λspw: position weight of the user's session items, exp((p − n)/λ).
    pub position_lambda: f64,
    /// How a neighbour's similarity is divided by its number of distinct items: their count to this
    /// power (0.5 is the cosine of STAN; 0 counts the shared items alone, as V-SKNN does).
    pub length_exponent: f64,
    /// λsnh: a neighbour session's weight falls as exp(−age/λ).
    pub session_age_ms: f64,
    /// λinh: a candidate's weight falls with its distance to the shared item in the neighbour, exp(−d/λ).
    pub neighbour_position_lambda: f64,
    /// λipw: weight of the position, in the user's session, of the latest item shared with a neighbour.
    pub shared_position_lambda: f64,
    /// λidf: a candidate's score is multiplied by 1 + λ · idf (rarer items count more).
    pub idf_weight: f64,
    /// Weight of the sequential rules beside the neighbour sessions (each scaled to a maximum of 1).
    pub rule_weight: f64,
    /// How many events after the last item a rule reaches.
    pub rule_steps: usize,
    pub cart_weight: f64,
    pub purchase_weight: f64,
    /// Half-life of the popularity behind the trending fallback.
    pub half_life_ms: f64,
    pub max_sessions: usize,
    pub max_session_items: usize,
    pub max_items: usize,
    pub max_users: usize,
    /// A pause longer than this starts a new session.
    pub session_gap_ms: i64,
}

impl Default for RecsOptions {
    /// The λs are session-rec's VSTAN defaults; idf weight, length exponent and rule weight are `pulse recs
    /// tune`'s choice on the validation splits of docs/recommendations.md, never on a test split.
    fn default() -> Self {
        Self {
            neighbours: 100,
            sample_per_item: 500,
            lookup_items: 5,
            position_lambda: 1.02,
            length_exponent: 0.25,
            session_age_ms: 5.0 * 24.0 * 3_600_000.0,
            neighbour_position_lambda: 2.05,
            shared_position_lambda: 1.02,
            idf_weight: 0.0,
            rule_weight: 0.25,
            rule_steps: 10,
            cart_weight: 3.0,
            purchase_weight: 5.0,
            half_life_ms: 7.0 * 24.0 * 3_600_000.0,
            max_sessions: 100_000,
            max_session_items: 50,
            // With the sessions, bounds the model snapshot below the 64 MiB a record of pulse-recs-model
            // may hold (docs/recommendations.md, "Memory").
            max_items: 100_000,
            max_users: 1_000_000,
            session_gap_ms: 30 * 60_000,
        }
    }
}

type ItemId = u32;
type Slot = u32;
/// An item evicted from a stored session.
const GONE: ItemId = ItemId::MAX;

#[derive(Debug, Default, Clone)]
struct StoredSession {
    /// Which session this slot of the ring holds; users and postings check it.
    serial: u64,
    end_ms: i64,
    /// In event order, with repeats; evicted items are `GONE`.
    items: Vec<(ItemId, Interaction)>,
    /// Distinct live items.
    distinct: u32,
}

#[derive(Debug, Default, Clone, Copy)]
struct UserState {
    slot: Slot,
    serial: u64,
    last_ts: i64,
    last_seq: u64,
}

/// One recommended item with its score and the session item that contributed most to it.
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
    pub sessions: u64,
    pub evicted_items: u64,
}

#[derive(Debug)]
pub struct RecsModel {
    opts: RecsOptions,
    ids: FxHashMap<Box<str>, ItemId>,
    names: Vec<Box<str>>,
    popularity: Vec<f64>,
    /// Per item, the slots of the stored sessions that hold it, oldest first.
    postings: Vec<VecDeque<Slot>>,
    /// Per item, the event sequence number it was last seen at; `lru` orders items by it.
    last_seen: Vec<u64>,
    lru: BTreeMap<u64, ItemId>,
    sessions: Vec<StoredSession>,
    /// The slot the next new session takes once the ring is full.
    next_slot: usize,
    next_serial: u64,
    users: FxHashMap<Box<str>, UserState>,
    /// Forward-decay origin of the popularity.
    origin_ms: Option<i64>,
    /// The latest event time seen.
    clock_ms: i64,
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

/// Forward-decay factors above this are folded back into the stored popularity.
const RESCALE_ABOVE: f64 = 1e100;
/// Trending items are recomputed at most once per this many events.
const TRENDING_EVERY: u64 = 1000;
const TRENDING_SIZE: usize = 200;

/// Candidate scores with the session item behind the largest contribution.
type Scored = FxHashMap<ItemId, (f64, ItemId, f64)>;

fn credit(scores: &mut Scored, item: ItemId, amount: f64, source: ItemId) {
    let e = scores.entry(item).or_insert((0.0, source, 0.0));
    e.0 += amount;
    if amount > e.2 {
        e.1 = source;
        e.2 = amount;
    }
}

impl RecsModel {
    pub fn new(opts: RecsOptions) -> Self {
        Self {
            opts,
            ids: FxHashMap::default(),
            names: Vec::new(),
            popularity: Vec::new(),
            postings: Vec::new(),
            last_seen: Vec::new(),
            lru: BTreeMap::new(),
            sessions: Vec::new(),
            next_slot: 0,
            next_serial: 1,
            users: FxHashMap::default(),
            origin_ms: None,
            clock_ms: i64::MIN,
            seq: 0,
            trending: Mutex::new(Trending { items: Vec::new(), at_event: u64::MAX }),
            stats: RecsStats::default(),
        }
    }

    fn item_id(&mut self, item: &str) -> ItemId {
        if let Some(&id) = self.ids.get(item) {
            return id;
        }
        if self.names.len() >= self.opts.max_items.max(1) {
            let id = self.evict_least_recent_item();
            self.ids.insert(item.into(), id);
            self.names[id as usize] = item.into();
            return id;
        }
        let id = self.names.len() as ItemId;
        self.ids.insert(item.into(), id);
        self.names.push(item.into());
        self.popularity.push(0.0);
        self.postings.push(VecDeque::new());
        self.last_seen.push(0);
        id
    }

    /// Frees the least recently seen item's id: it leaves the stored sessions and the tables.
    fn evict_least_recent_item(&mut self) -> ItemId {
        let (_, id) = self.lru.pop_first().expect("a full item table has items");
        for slot in std::mem::take(&mut self.postings[id as usize]) {
            let session = &mut self.sessions[slot as usize];
            for entry in session.items.iter_mut().filter(|e| e.0 == id) {
                entry.0 = GONE;
            }
            session.distinct -= 1;
        }
        let name = std::mem::take(&mut self.names[id as usize]);
        self.ids.remove(&name);
        self.popularity[id as usize] = 0.0;
        self.stats.evicted_items += 1;
        id
    }

    fn touch(&mut self, item: ItemId) {
        let previous = std::mem::replace(&mut self.last_seen[item as usize], self.seq);
        self.lru.remove(&previous);
        self.lru.insert(self.seq, item);
    }

    /// The forward-decay factor of time `ts`, rescaling stored popularity when it grows too large.
    fn boost(&mut self, ts: i64) -> f64 {
        let origin = *self.origin_ms.get_or_insert(ts);
        let factor = ((ts - origin) as f64 / self.opts.half_life_ms).exp2();
        if factor <= RESCALE_ABOVE {
            return factor.max(f64::MIN_POSITIVE);
        }
        // Move the origin to `ts`: every stored value shrinks by the same factor, so order is kept.
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

    /// A slot for a new session: a fresh one until the ring is full, then the oldest session's.
    fn new_session(&mut self, ts_ms: i64) -> (Slot, u64) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let fresh = StoredSession { serial, end_ms: ts_ms, items: Vec::new(), distinct: 0 };
        if self.sessions.len() < self.opts.max_sessions.max(1) {
            self.sessions.push(fresh);
            return ((self.sessions.len() - 1) as Slot, serial);
        }
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % self.sessions.len();
        let old = std::mem::replace(&mut self.sessions[slot], fresh);
        let mut seen = FxHashSet::default();
        for (item, _) in old.items {
            if item != GONE && seen.insert(item) {
                let postings = &mut self.postings[item as usize];
                // The oldest sessions leave first, so the slot is nearly always at the front.
                if let Some(at) = postings.iter().position(|&s| s == slot as Slot) {
                    postings.remove(at);
                }
            }
        }
        (slot as Slot, serial)
    }

    fn live_session(&self, user: &UserState) -> Option<&StoredSession> {
        self.sessions.get(user.slot as usize).filter(|s| s.serial == user.serial)
    }

    /// Learns from one event.
    pub fn observe(&mut self, user: &str, item: &str, kind: Interaction, ts_ms: i64) {
        self.seq += 1;
        self.stats.events += 1;
        self.clock_ms = self.clock_ms.max(ts_ms);
        let item = self.item_id(item);
        self.touch(item);
        let boost = self.boost(ts_ms);
        self.popularity[item as usize] += self.kind_weight(kind) * boost;

        if !self.users.contains_key(user) {
            if self.users.len() >= self.opts.max_users.max(1) {
                self.forget_least_recent_users();
            }
            self.users.insert(user.into(), UserState { last_ts: i64::MIN, ..Default::default() });
        }
        let state = self.users[user];
        let continues = self
            .live_session(&state)
            .is_some_and(|s| ts_ms.saturating_sub(state.last_ts) <= self.opts.session_gap_ms && s.items.len() < self.opts.max_session_items.max(1));
        let (slot, serial) = if continues { (state.slot, state.serial) } else { self.new_session(ts_ms) };
        let session = &mut self.sessions[slot as usize];
        let first_time = !session.items.iter().any(|e| e.0 == item);
        session.items.push((item, kind));
        session.end_ms = session.end_ms.max(ts_ms);
        if first_time {
            session.distinct += 1;
            self.postings[item as usize].push_back(slot);
        }
        let seq = self.seq;
        let u = self.users.get_mut(user).expect("inserted above");
        *u = UserState { slot, serial, last_ts: u.last_ts.max(ts_ms), last_seq: seq };
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

    /// idf of an item: the log of how many stored sessions there are per session holding it.
    fn idf(&self, item: ItemId) -> f64 {
        let holding = self.postings[item as usize].len().max(1) as f64;
        (self.sessions.len().max(1) as f64 / holding).ln().max(0.0)
    }

    /// The session-kNN scores for a session's items (in event order), `own` being its own slot.
    fn neighbour_scores(&self, items: &[(ItemId, Interaction)], own: Option<Slot>, now_ms: i64, scores: &mut Scored) {
        let o = &self.opts;
        let n = items.len();
        // Each distinct item weighs by its latest position; `position` keeps that position.
        let mut weight: FxHashMap<ItemId, (f64, usize)> = FxHashMap::default();
        for (p, &(item, _)) in items.iter().enumerate() {
            weight.insert(item, ((((p + 1) as f64 - n as f64) / o.position_lambda).exp(), p + 1));
        }
        let norm = weight.values().map(|w| w.0 * w.0).sum::<f64>().sqrt();
        let mut lookup: Vec<(ItemId, f64, usize)> = weight.iter().map(|(&i, &(w, p))| (i, w, p)).collect();
        lookup.sort_unstable_by_key(|e| std::cmp::Reverse(e.2));
        lookup.truncate(o.lookup_items.max(1));
        let mut dots: FxHashMap<Slot, f64> = FxHashMap::with_capacity_and_hasher(lookup.len() * o.sample_per_item.min(4096), Default::default());
        for &(item, w, _) in &lookup {
            for &slot in self.postings[item as usize].iter().rev().take(o.sample_per_item) {
                if Some(slot) != own {
                    *dots.entry(slot).or_insert(0.0) += w;
                }
            }
        }
        // A session holds at most `max_session_items` distinct items: their length weights, once.
        let length_weight: Vec<f64> = (0..=o.max_session_items.max(1)).map(|d| 1.0 / (norm * (d.max(1) as f64).powf(o.length_exponent))).collect();
        let mut neighbours: Vec<(Slot, f64)> = dots
            .into_iter()
            .map(|(slot, dot)| {
                let s = &self.sessions[slot as usize];
                let age = (now_ms - s.end_ms).max(0) as f64;
                let length = length_weight.get(s.distinct as usize).copied().unwrap_or_else(|| 1.0 / (norm * (s.distinct as f64).powf(o.length_exponent)));
                (slot, dot * length * (-age / o.session_age_ms).exp())
            })
            .collect();
        let by_similarity = |a: &(Slot, f64), b: &(Slot, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if neighbours.len() > o.neighbours && o.neighbours > 0 {
            neighbours.select_nth_unstable_by(o.neighbours - 1, by_similarity);
            neighbours.truncate(o.neighbours);
        }
        neighbours.sort_unstable_by(by_similarity);
        let mut counted = FxHashSet::default();
        for (slot, similarity) in neighbours.into_iter().take(o.neighbours) {
            let held = &self.sessions[slot as usize].items;
            // p*: the neighbour's last position holding an item of the session; q: the latest
            // position in the session of an item the neighbour holds.
            let (mut anchor, mut anchor_item, mut shared_at) = (0usize, GONE, 0usize);
            for (p, &(item, _)) in held.iter().enumerate() {
                if let Some(&(_, q)) = weight.get(&item) {
                    anchor = p + 1;
                    if q > shared_at {
                        shared_at = q;
                        anchor_item = item;
                    }
                }
            }
            let shared = similarity * ((shared_at as f64 - n as f64) / o.shared_position_lambda).exp();
            counted.clear();
            // Each item once, at its last position in the neighbour.
            for (p, &(item, kind)) in held.iter().enumerate().rev() {
                if item == GONE || !counted.insert(item) {
                    continue;
                }
                let distance = (p + 1).abs_diff(anchor) as f64;
                let rarity = if o.idf_weight > 0.0 { 1.0 + o.idf_weight * self.idf(item) } else { 1.0 };
                let amount = shared * (-distance / o.neighbour_position_lambda).exp() * rarity * self.kind_weight(kind);
                credit(scores, item, amount, anchor_item);
            }
        }
    }

    /// Sequential-rule scores: what followed `last` in the recent sessions that hold it.
    fn rule_scores(&self, last: ItemId, own: Option<Slot>, scores: &mut Scored) {
        for &slot in self.postings[last as usize].iter().rev().take(self.opts.sample_per_item) {
            if Some(slot) == own {
                continue;
            }
            let held = &self.sessions[slot as usize].items;
            for (p, _) in held.iter().enumerate().filter(|(_, e)| e.0 == last) {
                for (d, &(item, kind)) in held[p + 1..].iter().take(self.opts.rule_steps).enumerate() {
                    if item != GONE {
                        credit(scores, item, self.kind_weight(kind) / (d + 1) as f64, last);
                    }
                }
            }
        }
    }

    /// Both models' scores for a session, each scaled to a maximum of 1, the rules weighted.
    fn session_scores(&self, items: &[(ItemId, Interaction)], own: Option<Slot>, now_ms: i64) -> Scored {
        let mut knn = Scored::with_capacity_and_hasher(4096, Default::default());
        self.neighbour_scores(items, own, now_ms, &mut knn);
        let mut rules = Scored::default();
        if let Some(&(last, _)) = items.last() {
            if self.opts.rule_weight > 0.0 {
                self.rule_scores(last, own, &mut rules);
            }
        }
        let max = |s: &Scored| s.values().map(|v| v.0).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
        let (knn_max, rules_max) = (max(&knn), max(&rules));
        let mut out = Scored::with_capacity_and_hasher(knn.len() + rules.len(), Default::default());
        for (item, (score, source, best)) in knn {
            out.insert(item, (score / knn_max, source, best / knn_max));
        }
        for (item, (score, source, best)) in rules {
            credit(&mut out, item, 0.0, source);
            let e = out.get_mut(&item).expect("credited above");
            let (score, best) = (self.opts.rule_weight * score / rules_max, self.opts.rule_weight * best / rules_max);
            e.0 += score;
            if best > e.2 {
                e.1 = source;
                e.2 = best;
            }
        }
        out
    }

    /// Top `k` items for a user from their latest session; `exclude_seen` leaves out that session's items.
    pub fn recommend(&self, user: &str, k: usize, exclude_seen: bool) -> Recommendations {
        let state = self.users.get(user);
        let live = state.and_then(|u| self.live_session(u).map(|s| (u, s)));
        let items: Vec<(ItemId, Interaction)> = live.map(|(_, s)| s.items.iter().copied().filter(|e| e.0 != GONE).collect()).unwrap_or_default();
        let scores = if items.is_empty() { Scored::default() } else { self.session_scores(&items, live.map(|(u, _)| u.slot), live.map_or(0, |(u, _)| u.last_ts)) };
        let seen: FxHashSet<ItemId> = if exclude_seen { items.iter().map(|e| e.0).collect() } else { FxHashSet::default() };
        let mut ranked: Vec<(ItemId, f64, ItemId)> = scores.into_iter().filter(|(i, _)| !seen.contains(i)).map(|(i, (s, because, _))| (i, s, because)).collect();
        let best_first = |a: &(ItemId, f64, ItemId), b: &(ItemId, f64, ItemId)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        // Candidates run into thousands: select the k best before sorting them.
        if k > 0 && ranked.len() > k {
            ranked.select_nth_unstable_by(k - 1, best_first);
        }
        ranked.truncate(k);
        ranked.sort_unstable_by(best_first);
        let fallback = ranked.is_empty();
        let mut out: Vec<Recommendation> = ranked
            .iter()
            .map(|&(i, s, because)| Recommendation { item: self.names[i as usize].to_string(), score: s, because: (because != GONE).then(|| self.names[because as usize].to_string()) })
            .collect();
        if out.len() < k {
            let trending = self.trending();
            let taken: FxHashSet<ItemId> = ranked.iter().map(|r| r.0).collect();
            // The most popular item at the last refresh sets the scale: no pass over all items per request.
            let scale = trending.items.first().map_or(1.0, |&i| self.popularity[i as usize]).max(f64::MIN_POSITIVE);
            for &i in &trending.items {
                if out.len() >= k {
                    break;
                }
                // An item evicted since the refresh has no name.
                if taken.contains(&i) || seen.contains(&i) || self.names[i as usize].is_empty() {
                    continue;
                }
                // Trending fill: scored by relative popularity, marked by having no source item.
                out.push(Recommendation { item: self.names[i as usize].to_string(), score: self.popularity[i as usize] / scale, because: None });
            }
        }
        Recommendations { items: out, fallback }
    }

    /// Items of the sessions that hold `item`, scored as for a session of that one item.
    pub fn similar(&self, item: &str, k: usize) -> Vec<Recommendation> {
        let Some(&id) = self.ids.get(item) else { return Vec::new() };
        let scores = self.session_scores(&[(id, Interaction::View)], None, self.clock_ms);
        let mut ranked: Vec<(ItemId, f64)> = scores.into_iter().filter(|(i, _)| *i != id).map(|(i, (s, _, _))| (i, s)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(k);
        ranked.into_iter().map(|(c, s)| Recommendation { item: self.names[c as usize].to_string(), score: s, because: Some(item.to_string()) }).collect()
    }

    pub fn stats(&self) -> RecsStats {
        RecsStats { items: self.ids.len() as u64, users: self.users.len() as u64, sessions: self.sessions.len() as u64, ..self.stats }
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
/// 2: the session store replaced the item-pair scores.
const SNAPSHOT_VERSION: u16 = 2;

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
        self.encode().finish()
    }

    /// The snapshot before compression: what needs the model. Compressing it (`Writer::finish`, the
    /// larger part of the work) needs only the returned bytes, so a caller that shares the model can let
    /// it go first.
    pub fn encode(&self) -> Writer {
        let mut w = Writer::new(SNAPSHOT_MAGIC, SNAPSHOT_VERSION);
        w.i64(self.origin_ms.unwrap_or(i64::MIN));
        w.i64(self.clock_ms);
        w.u64(self.seq);
        w.u64(self.stats.events);
        w.u64(self.stats.evicted_items);
        w.u32(self.names.len() as u32);
        for (i, name) in self.names.iter().enumerate() {
            w.bytes(name.as_bytes());
            w.u64(self.popularity[i].to_bits());
            w.u64(self.last_seen[i]);
            w.u32(self.postings[i].len() as u32);
            for &slot in &self.postings[i] {
                w.u32(slot);
            }
        }
        w.u64(self.next_slot as u64);
        w.u64(self.next_serial);
        w.u32(self.sessions.len() as u32);
        for s in &self.sessions {
            w.u64(s.serial);
            w.i64(s.end_ms);
            w.u32(s.distinct);
            w.u32(s.items.len() as u32);
            for &(item, kind) in &s.items {
                w.u32(item);
                w.u16(kind.code() as u16);
            }
        }
        let mut users: Vec<(&Box<str>, &UserState)> = self.users.iter().collect();
        users.sort_unstable_by(|a, b| a.0.cmp(b.0));
        w.u32(users.len() as u32);
        for (name, u) in users {
            w.bytes(name.as_bytes());
            w.u32(u.slot);
            w.u64(u.serial);
            w.i64(u.last_ts);
            w.u64(u.last_seq);
        }
        w
    }

    pub fn restore(frame: &[u8], opts: RecsOptions) -> Result<Self, SnapshotError> {
        let corrupt = |m: &str| SnapshotError::Corrupt(m.to_owned());
        let mut r = Reader::open(frame, SNAPSHOT_MAGIC, SNAPSHOT_VERSION)?;
        let mut m = RecsModel::new(opts);
        let origin = r.i64()?;
        m.origin_ms = (origin != i64::MIN).then_some(origin);
        m.clock_ms = r.i64()?;
        m.seq = r.u64()?;
        m.stats.events = r.u64()?;
        m.stats.evicted_items = r.u64()?;
        let items = r.u32()? as usize;
        for id in 0..items {
            let name: Box<str> = std::str::from_utf8(r.bytes()?).map_err(|_| corrupt("item id is not UTF-8"))?.into();
            m.popularity.push(f64::from_bits(r.u64()?));
            let seen = r.u64()?;
            m.last_seen.push(seen);
            if !name.is_empty() {
                m.ids.insert(name.clone(), id as ItemId);
                m.lru.insert(seen, id as ItemId);
            }
            m.names.push(name);
            let n = r.count(4)?;
            let mut postings = VecDeque::with_capacity(n);
            for _ in 0..n {
                postings.push_back(r.u32()?);
            }
            m.postings.push(postings);
        }
        m.next_slot = r.u64()? as usize;
        m.next_serial = r.u64()?;
        let sessions = r.u32()? as usize;
        for _ in 0..sessions {
            let (serial, end_ms, distinct) = (r.u64()?, r.i64()?, r.u32()?);
            // Each entry: an item (4 bytes) and its kind (2).
            let n = r.count(6)?;
            let mut held = Vec::with_capacity(n);
            for _ in 0..n {
                let item = r.u32()?;
                if item != GONE && item as usize >= items {
                    return Err(corrupt("session item out of range"));
                }
                let kind = u8::try_from(r.u16()?).ok().and_then(Interaction::from_code).ok_or_else(|| corrupt("unknown interaction"))?;
                held.push((item, kind));
            }
            m.sessions.push(StoredSession { serial, end_ms, items: held, distinct });
        }
        if m.postings.iter().flatten().any(|&slot| slot as usize >= sessions) || (sessions > 0 && m.next_slot >= sessions) {
            return Err(corrupt("session slot out of range"));
        }
        let users = r.u32()? as usize;
        for _ in 0..users {
            let name: Box<str> = std::str::from_utf8(r.bytes()?).map_err(|_| corrupt("user id is not UTF-8"))?.into();
            let u = UserState { slot: r.u32()?, serial: r.u64()?, last_ts: r.i64()?, last_seq: r.u64()? };
            m.users.insert(name, u);
        }
        r.finish()?;
        Ok(m)
    }
}

