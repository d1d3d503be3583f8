//! The synthetic shop: a pure, seeded event source. Each `next(ts, …)` writes one record for one of the
//! three input topics, as the exact JSON of docs/specification.md, "Event records".
//!
//! Shoppers: `sessions` sessions are open at any time; each user-topic event advances one of them,
//! picked at random, so sessions interleave. A session belongs to a user drawn from `users`, has a
//! source (web or mobile, mostly the user's usual one) and a category of interest. It starts with a
//! landing page view, then browses: searches, category pages, clicks and product views. Products are
//! Zipf-popular (rank k has weight 1/k^zipf_exponent) and a view is from the session's category 60% of
//! the time, so products co-occur within sessions as they do in real shops.
//!
//! The funnel, with each rate an expectation over many sessions:
//!   product_view → add_to_cart                   `view_to_cart` of product views are put in the cart
//!   cart → checkout_started                      `cart_to_checkout` of sessions with a cart check out
//!   checkout_started → purchase                  `checkout_to_purchase` of checkouts complete
//! Whether a cart is bought is decided when it is created, so the session plays out to that end
//! (occasionally removing items first); abandoned carts and checkouts end their session silently.
//!
//! Sensors: `sensors` devices of a few kinds (fridges, freezers, greenhouses, …) report in turn, each a
//! mean-reverting level plus noise, with rare anomaly episodes of a few readings far off the level.
//!
//! Topic mix: sensor readings take exactly `mix_sensors` of the events (spread evenly); all others are
//! session steps, split between clicks and purchases by the funnel. So `mix_clicks` and `mix_purchases`
//! only matter through their sum: the purchase share is what the funnel produces (about 1% of user
//! events with the default rates), and `event_counts()` reports it.

use crate::json::{js_round, push_cents, push_number, push_u64};
use crate::prng::{fmix32, push_hex8, push_sequence_uuid, seed_words, Rng};
use crate::zipf::ZipfSampler;

/// The input topic a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Clicks = 0,
    Purchases = 1,
    Sensors = 2,
}

/// Every event type the model emits, in the order of `event_counts()`.
pub const EVENT_TYPES: [&str; 9] = ["page_view", "product_view", "click", "add_to_cart", "remove_from_cart", "search", "checkout_started", "purchase", "sensor"];
const PAGE_VIEW: usize = 0;
const PRODUCT_VIEW: usize = 1;
const CLICK: usize = 2;
const ADD_TO_CART: usize = 3;
const REMOVE_FROM_CART: usize = 4;
const SEARCH: usize = 5;
const CHECKOUT_STARTED: usize = 6;
const PURCHASE: usize = 7;
const SENSOR: usize = 8;

/// The model's options, resolved (defaults filled in) by the caller; `new` checks them.
#[derive(Debug, Clone)]
pub struct ShopOptions {
    pub users: u32,
    pub products: u32,
    pub categories: u32,
    pub zipf_exponent: f64,
    pub sessions: u32,
    /// Mean number of browsing steps of a session that puts nothing in its cart.
    pub session_length: f64,
    pub sensors: u32,
    /// Probability per reading that a sensor starts an anomaly episode.
    pub anomaly_rate: f64,
    pub mix_clicks: f64,
    pub mix_purchases: f64,
    pub mix_sensors: f64,
    pub view_to_cart: f64,
    pub cart_to_checkout: f64,
    pub checkout_to_purchase: f64,
    pub currency: String,
}

impl ShopOptions {
    fn check(&self) -> Result<(), String> {
        let counts = [("users", self.users), ("products", self.products), ("categories", self.categories), ("sessions", self.sessions), ("sensors", self.sensors)];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        let probabilities = [
            ("anomalyRate", self.anomaly_rate),
            ("funnel.viewToCart", self.view_to_cart),
            ("funnel.cartToCheckout", self.cart_to_checkout),
            ("funnel.checkoutToPurchase", self.checkout_to_purchase),
        ];
        if let Some((name, p)) = probabilities.iter().find(|(_, p)| !(0.0..=1.0).contains(p)) {
            return Err(format!("{name} must be a probability, got {p}"));
        }
        let weights = [self.mix_clicks, self.mix_purchases, self.mix_sensors];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0 {
            return Err("mix must give non-negative weights, some topic a positive one".into());
        }
        if !(self.session_length.is_finite() && self.session_length >= 1.0) {
            return Err(format!("sessionLength must be at least 1, got {}", self.session_length));
        }
        if !(self.zipf_exponent.is_finite() && self.zipf_exponent >= 0.0) {
            return Err(format!("zipfExponent must be ≥ 0, got {}", self.zipf_exponent));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|c| c.is_ascii_uppercase()) {
            return Err(format!("currency must be a three-letter ISO 4217 code, got {:?}", self.currency));
        }
        Ok(())
    }
}

// Browsing behaviour of a session step that is not a funnel step.
const P_SEARCH: f64 = 0.12;
const P_CATEGORY_PAGE: f64 = 0.1;
const P_CLICK: f64 = 0.08;
/// Share of product choices made within the session's category of interest.
const P_IN_CATEGORY: f64 = 0.6;
/// Chance per step that a session with a cart moves on to the cart's fate.
const P_PROCEED: f64 = 0.25;
/// Chance per step that a session with two or more cart items removes one.
const P_REMOVE: f64 = 0.05;
const CART_MAX: usize = 8;
/// About a session's mean length: long enough for the open sessions to reach their steady state.
const WARMUP_STEPS_PER_SESSION: usize = 15;
const MAX_WARMUP_STEPS: usize = 2_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Browse,
    PendingAdd,
    Checkout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    None,
    Abandon,
    AbandonCheckout,
    Purchase,
}

const CATEGORY_NAMES: [&str; 20] = [
    "shoes", "shirts", "jackets", "bags", "watches", "phones", "laptops", "headphones", "cameras", "books", "toys", "games", "kitchen", "garden", "tools", "beauty",
    "sports", "music", "furniture", "lighting",
];
const ADJECTIVES: [&str; 12] = ["red", "blue", "black", "white", "cheap", "new", "best", "small", "large", "wireless", "organic", "vintage"];
const CLICK_ELEMENTS: [&str; 4] = ["recommendation", "banner", "related", "search-result"];

#[derive(Debug)]
struct SensorKind {
    prefix: &'static str,
    metric: &'static str,
    unit: &'static str,
    /// Typical level, and how far one device's own level sits from it.
    base: f64,
    spread: f64,
    /// Random-walk step of the level per reading, and measurement noise.
    drift: f64,
    noise: f64,
    /// Offset of an anomaly episode.
    spike: f64,
    decimals: i32,
    min: f64,
    max: f64,
}

#[rustfmt::skip]
const SENSOR_KINDS: [SensorKind; 7] = [
    SensorKind { prefix: "fridge", metric: "temperature", unit: "C", base: 4.0, spread: 1.0, drift: 0.05, noise: 0.1, spike: 6.0, decimals: 1, min: -40.0, max: 60.0 },
    SensorKind { prefix: "freezer", metric: "temperature", unit: "C", base: -18.0, spread: 2.0, drift: 0.05, noise: 0.2, spike: 10.0, decimals: 1, min: -40.0, max: 60.0 },
    SensorKind { prefix: "warehouse", metric: "temperature", unit: "C", base: 17.0, spread: 3.0, drift: 0.08, noise: 0.2, spike: 12.0, decimals: 1, min: -40.0, max: 60.0 },
    SensorKind { prefix: "greenhouse", metric: "humidity", unit: "%", base: 70.0, spread: 8.0, drift: 0.2, noise: 0.5, spike: 25.0, decimals: 1, min: 0.0, max: 100.0 },
    SensorKind { prefix: "server-room", metric: "temperature", unit: "C", base: 22.0, spread: 2.0, drift: 0.05, noise: 0.15, spike: 15.0, decimals: 1, min: -40.0, max: 80.0 },
    SensorKind { prefix: "office", metric: "co2", unit: "ppm", base: 650.0, spread: 150.0, drift: 5.0, noise: 10.0, spike: 1200.0, decimals: 0, min: 350.0, max: 5000.0 },
    SensorKind { prefix: "boiler", metric: "pressure", unit: "bar", base: 1.5, spread: 0.3, drift: 0.005, noise: 0.01, spike: 1.5, decimals: 2, min: 0.0, max: 10.0 },
];
/// Pull of a sensor's level back to its own mean, per reading.
const SENSOR_REVERSION: f64 = 0.02;

/// One open session, in its slot.
#[derive(Debug, Clone, Copy)]
struct Session {
    user: u32,
    /// Hash behind the `s-…` id.
    id: u32,
    mobile: bool,
    category: u32,
    phase: Phase,
    fate: Fate,
    /// The product a pending add-to-cart is for.
    product: u32,
    cart_len: usize,
    cart_item: [u32; CART_MAX],
    cart_qty: [u8; CART_MAX],
}

const EMPTY_SESSION: Session =
    Session { user: 0, id: 0, mobile: false, category: 0, phase: Phase::New, fate: Fate::None, product: 0, cart_len: 0, cart_item: [0; CART_MAX], cart_qty: [0; CART_MAX] };

#[derive(Debug, Clone, Copy)]
struct Sensor {
    kind: usize,
    /// The device's number among its kind (`fridge-3`).
    ordinal: u32,
    mean: f64,
    level: f64,
    episode: u8,
    offset: f64,
    scale: f64,
}

/// What the event a session step writes is about, decided before anything is written.
enum Step {
    Click { kind: usize, session: usize, product: Option<u32>, properties: Properties },
    Purchase { session: usize },
}

enum Properties {
    Page(&'static str, Option<u32>),
    Search { adjective: &'static str, category: u32, results: usize },
    Element(&'static str),
    ProductView { category: u32, product: u32 },
    AddToCart { quantity: u8, product: u32 },
    Remove { quantity: u8 },
    Checkout { items: usize, cents: i64 },
}

#[derive(Debug)]
pub struct ShopModel {
    options: ShopOptions,
    /// Events generated so far; the sequence number of the next event.
    sequence: u64,
    rng: Rng,
    sensor_rng: Rng,
    id_key: [u32; 4],
    session_key: u32,
    order_key: u32,
    source_key: u32,
    type_counts: [u64; 9],

    // Topic interleaving: a sensor reading whenever the accumulated sensor share crosses an integer.
    sensor_share: f64,
    sensor_credit: f64,

    // Catalogue.
    product_category: Vec<u32>,
    price_cents: Vec<i64>,
    category_names: Vec<String>,
    /// Products of each category, most popular first, and a Zipf sampler per category.
    category_products: Vec<Vec<u32>>,
    category_samplers: Vec<ZipfSampler>,
    /// Product of each global popularity rank.
    product_by_rank: Vec<u32>,
    product_sampler: ZipfSampler,

    session_seq: u32,
    order_seq: u32,
    sessions: Vec<Session>,
    end_chance: f64,

    sensor_cursor: usize,
    sensors: Vec<Sensor>,
}

impl ShopModel {
    pub fn new(seed: &str, options: ShopOptions) -> Result<Self, String> {
        options.check()?;
        let o = &options;
        let mut setup = Rng::new(seed, 0);
        let words = seed_words(seed);
        let mut id_key = [0u32; 4];
        for (i, (key, word)) in id_key.iter_mut().zip(words).enumerate() {
            *key = fmix32(word ^ 0x9e37_79b9u32.wrapping_mul(i as u32 + 1));
        }
        let products = o.products as usize;
        let categories = o.categories as usize;

        // Popularity ranks are a seeded shuffle of the catalogue, so the best sellers are not p-1, p-2, …
        let mut product_by_rank: Vec<u32> = (0..o.products).collect();
        for i in (1..products).rev() {
            let j = setup.int(i + 1);
            product_by_rank.swap(i, j);
        }
        let mut product_category = vec![0u32; products];
        let mut price_cents = vec![0i64; products];
        let (lo, hi) = (2f64.ln(), 500f64.ln());
        for p in 0..products {
            product_category[p] = setup.int(categories) as u32;
            // Log-uniform $2–$500, priced at .99.
            price_cents[p] = js_round((lo + setup.float() * (hi - lo)).exp()) as i64 * 100 - 1;
        }
        let mut lists: Vec<Vec<u32>> = vec![Vec::new(); categories];
        for &p in &product_by_rank {
            lists[product_category[p as usize] as usize].push(p);
        }
        // An empty category (tiny catalogues) borrows the whole catalogue.
        let category_products: Vec<Vec<u32>> = lists.into_iter().map(|l| if l.is_empty() { product_by_rank.clone() } else { l }).collect();
        let category_samplers = category_products.iter().map(|l| ZipfSampler::new(l.len(), o.zipf_exponent)).collect();
        let category_names = (0..categories).map(|i| CATEGORY_NAMES.get(i).map_or_else(|| format!("category-{}", i + 1), |n| n.to_string())).collect();

        let total = o.mix_clicks + o.mix_purchases + o.mix_sensors;
        let mut model = ShopModel {
            sequence: 0,
            rng: Rng::new(seed, 1),
            sensor_rng: Rng::new(seed, 2),
            id_key,
            session_key: fmix32(words[0] ^ 0x5e55),
            order_key: fmix32(words[1] ^ 0x0bde),
            source_key: fmix32(words[2] ^ 0x50c3),
            type_counts: [0; 9],
            sensor_share: o.mix_sensors / total,
            sensor_credit: 0.0,
            product_sampler: ZipfSampler::new(products, o.zipf_exponent),
            product_category,
            price_cents,
            category_names,
            category_products,
            category_samplers,
            product_by_rank,
            session_seq: 0,
            order_seq: 0,
            sessions: vec![EMPTY_SESSION; o.sessions as usize],
            end_chance: 1.0 / o.session_length,
            sensor_cursor: 0,
            sensors: Vec::new(),
            options,
        };
        for s in 0..model.sessions.len() {
            model.start_session(s);
        }
        // Run the shop for a while before the first event, so that it starts in its steady state, with
        // sessions at every stage of the funnel, rather than with every session just arrived.
        let warmup = (WARMUP_STEPS_PER_SESSION * model.sessions.len()).min(MAX_WARMUP_STEPS);
        for _ in 0..warmup {
            if let Step::Purchase { session } = model.session_step() {
                model.order_seq = model.order_seq.wrapping_add(1);
                model.start_session(session);
            }
        }
        model.type_counts = [0; 9];

        model.sensors = (0..model.options.sensors as usize)
            .map(|i| {
                let kind = i % SENSOR_KINDS.len();
                let k = &SENSOR_KINDS[kind];
                let mean = k.base + (setup.float() * 2.0 - 1.0) * k.spread;
                Sensor { kind, ordinal: (i / SENSOR_KINDS.len()) as u32 + 1, mean, level: mean, episode: 0, offset: 0.0, scale: 10f64.powi(k.decimals) }
            })
            .collect();
        Ok(model)
    }

    pub fn options(&self) -> &ShopOptions {
        &self.options
    }

    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// How many events of each type (`EVENT_TYPES`) were generated so far.
    pub fn event_counts(&self) -> [u64; 9] {
        self.type_counts
    }

    /// Appends the next event's JSON to `value` and its key (userId or sensorId) to `key`, with
    /// `ts` = the intended send time in epoch milliseconds; returns its topic.
    pub fn next(&mut self, ts: u64, value: &mut Vec<u8>, key: &mut Vec<u8>) -> Topic {
        let sequence = self.sequence;
        self.sequence += 1;
        self.sensor_credit += self.sensor_share;
        if self.sensor_credit >= 1.0 {
            self.sensor_credit -= 1.0;
            self.sensor_reading(sequence, ts, value, key);
            return Topic::Sensors;
        }
        match self.session_step() {
            Step::Purchase { session } => {
                self.write_purchase(sequence, session, ts, value, key);
                self.start_session(session);
                Topic::Purchases
            }
            Step::Click { kind, session, product, properties } => {
                self.write_click(kind, sequence, session, product, ts, &properties, value, key);
                Topic::Clicks
            }
        }
    }

    fn start_session(&mut self, s: usize) {
        let user = self.rng.int(self.options.users as usize) as u32;
        let id = fmix32(self.session_seq ^ self.session_key);
        self.session_seq = self.session_seq.wrapping_add(1);
        // Most users keep to one platform: 40% prefer the app, and 10% of sessions are on the other one.
        let prefers_app = f64::from(fmix32(user ^ self.source_key)) < 0.4 * 4_294_967_296.0;
        let mobile = prefers_app != (self.rng.float() < 0.1);
        let rank = self.product_sampler.sample(&mut self.rng);
        let category = self.product_category[self.product_by_rank[rank] as usize];
        self.sessions[s] = Session { user, id, mobile, category, ..EMPTY_SESSION };
    }

    fn pick_product(&mut self, s: usize) -> u32 {
        if self.rng.float() < P_IN_CATEGORY {
            let c = self.sessions[s].category as usize;
            return self.category_products[c][self.category_samplers[c].sample(&mut self.rng)];
        }
        self.product_by_rank[self.product_sampler.sample(&mut self.rng)]
    }

    /// Advances a random session by one step and says what its event is; draws all its randomness.
    fn session_step(&mut self) -> Step {
        // Sessions that end without an event of their own (abandoned carts) hand the step to a new one.
        loop {
            let s = self.rng.int(self.sessions.len());
            let session = self.sessions[s];
            match session.phase {
                Phase::New => {
                    self.sessions[s].phase = Phase::Browse;
                    return self.click(PAGE_VIEW, s, None, Properties::Page("/", None));
                }
                Phase::PendingAdd => {
                    let p = session.product;
                    let rng = &mut self.rng;
                    let q: u8 = if rng.float() < 0.75 { 1 } else if rng.float() < 0.72 { 2 } else { 3 };
                    let f = &self.options;
                    let fate = match session.fate {
                        Fate::None => {
                            let r = rng.float();
                            if r < f.cart_to_checkout * f.checkout_to_purchase {
                                Fate::Purchase
                            } else if r < f.cart_to_checkout {
                                Fate::AbandonCheckout
                            } else {
                                Fate::Abandon
                            }
                        }
                        fate => fate,
                    };
                    let sess = &mut self.sessions[s];
                    match sess.cart_item[..sess.cart_len].iter().position(|&item| item == p) {
                        Some(at) => sess.cart_qty[at] = (sess.cart_qty[at] + q).min(99),
                        None => {
                            sess.cart_item[sess.cart_len] = p;
                            sess.cart_qty[sess.cart_len] = q;
                            sess.cart_len += 1;
                        }
                    }
                    sess.fate = fate;
                    sess.phase = Phase::Browse;
                    return self.click(ADD_TO_CART, s, Some(p), Properties::AddToCart { quantity: q, product: p });
                }
                Phase::Checkout => {
                    if session.fate == Fate::Purchase {
                        return Step::Purchase { session: s };
                    }
                    self.start_session(s);
                }
                Phase::Browse => {
                    let len = session.cart_len;
                    if len > 0 {
                        if self.rng.float() < P_PROCEED {
                            if session.fate == Fate::Abandon {
                                self.start_session(s);
                                continue;
                            }
                            self.sessions[s].phase = Phase::Checkout;
                            return self.click(CHECKOUT_STARTED, s, None, Properties::Checkout { items: len, cents: self.cart_total(s) });
                        }
                        if len >= 2 && self.rng.float() < P_REMOVE {
                            self.sessions[s].cart_len = len - 1;
                            let (item, quantity) = (session.cart_item[len - 1], session.cart_qty[len - 1]);
                            return self.click(REMOVE_FROM_CART, s, Some(item), Properties::Remove { quantity });
                        }
                    } else if self.rng.float() < self.end_chance {
                        self.start_session(s);
                        continue;
                    }
                    return self.browse(s);
                }
            }
        }
    }

    fn click(&mut self, kind: usize, session: usize, product: Option<u32>, properties: Properties) -> Step {
        self.type_counts[kind] += 1;
        Step::Click { kind, session, product, properties }
    }

    fn browse(&mut self, s: usize) -> Step {
        let r = self.rng.float();
        if r < P_SEARCH {
            let category = if self.rng.float() < P_IN_CATEGORY { self.sessions[s].category } else { self.rng.int(self.options.categories as usize) as u32 };
            let adjective = ADJECTIVES[self.rng.int(ADJECTIVES.len())];
            let results = self.rng.int(200);
            return self.click(SEARCH, s, None, Properties::Search { adjective, category, results });
        }
        if r < P_SEARCH + P_CATEGORY_PAGE {
            let page = if self.rng.float() < 0.8 { Properties::Page("/c/", Some(self.sessions[s].category)) } else { Properties::Page("/deals", None) };
            return self.click(PAGE_VIEW, s, None, page);
        }
        let p = self.pick_product(s);
        if r < P_SEARCH + P_CATEGORY_PAGE + P_CLICK {
            let element = CLICK_ELEMENTS[self.rng.int(CLICK_ELEMENTS.len())];
            return self.click(CLICK, s, Some(p), Properties::Element(element));
        }
        if self.sessions[s].cart_len < CART_MAX && self.rng.float() < self.options.view_to_cart {
            self.sessions[s].phase = Phase::PendingAdd;
            self.sessions[s].product = p;
        }
        self.click(PRODUCT_VIEW, s, Some(p), Properties::ProductView { category: self.product_category[p as usize], product: p })
    }

    fn cart_total(&self, s: usize) -> i64 {
        let sess = &self.sessions[s];
        (0..sess.cart_len).map(|i| i64::from(sess.cart_qty[i]) * self.price_cents[sess.cart_item[i] as usize]).sum()
    }

    /// `{"eventId":…,"type":…,"userId":…,"sessionId":"s-…` of a session's event; the userId is its key.
    fn write_session_head(&self, kind: usize, sequence: u64, sess: &Session, out: &mut Vec<u8>, key: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"eventId\":\"");
        push_sequence_uuid(out, &self.id_key, sequence);
        out.extend_from_slice(b"\",\"type\":\"");
        out.extend_from_slice(EVENT_TYPES[kind].as_bytes());
        out.extend_from_slice(b"\",\"userId\":\"");
        let user_at = out.len();
        out.extend_from_slice(b"u-");
        push_u64(out, u64::from(sess.user) + 1);
        key.extend_from_slice(&out[user_at..]);
        out.extend_from_slice(b"\",\"sessionId\":\"s-");
        push_hex8(out, sess.id);
    }

    #[allow(clippy::too_many_arguments)]
    fn write_click(&self, kind: usize, sequence: u64, s: usize, product: Option<u32>, ts: u64, properties: &Properties, out: &mut Vec<u8>, key: &mut Vec<u8>) {
        let sess = &self.sessions[s];
        self.write_session_head(kind, sequence, sess, out, key);
        if let Some(p) = product {
            out.extend_from_slice(b"\",\"productId\":\"p-");
            push_u64(out, u64::from(p) + 1);
        }
        out.extend_from_slice(if sess.mobile { b"\",\"source\":\"mobile\",\"ts\":" } else { b"\",\"source\":\"web\",\"ts\":" });
        push_u64(out, ts);
        out.extend_from_slice(b",\"properties\":{");
        match *properties {
            Properties::Page(page, category) => {
                out.extend_from_slice(b"\"page\":\"");
                out.extend_from_slice(page.as_bytes());
                if let Some(c) = category {
                    out.extend_from_slice(self.category_names[c as usize].as_bytes());
                }
                out.push(b'"');
            }
            Properties::Search { adjective, category, results } => {
                out.extend_from_slice(b"\"query\":\"");
                out.extend_from_slice(adjective.as_bytes());
                out.push(b' ');
                out.extend_from_slice(self.category_names[category as usize].as_bytes());
                out.extend_from_slice(b"\",\"results\":");
                push_u64(out, results as u64);
            }
            Properties::Element(element) => {
                out.extend_from_slice(b"\"element\":\"");
                out.extend_from_slice(element.as_bytes());
                out.push(b'"');
            }
            Properties::ProductView { category, product } => {
                out.extend_from_slice(b"\"category\":\"");
                out.extend_from_slice(self.category_names[category as usize].as_bytes());
                out.extend_from_slice(b"\",\"price\":");
                push_cents(out, self.price_cents[product as usize]);
            }
            Properties::AddToCart { quantity, product } => {
                out.extend_from_slice(b"\"quantity\":");
                push_u64(out, u64::from(quantity));
                out.extend_from_slice(b",\"price\":");
                push_cents(out, self.price_cents[product as usize]);
            }
            Properties::Remove { quantity } => {
                out.extend_from_slice(b"\"quantity\":");
                push_u64(out, u64::from(quantity));
            }
            Properties::Checkout { items, cents } => {
                out.extend_from_slice(b"\"items\":");
                push_u64(out, items as u64);
                out.extend_from_slice(b",\"value\":");
                push_cents(out, cents);
            }
        }
        out.extend_from_slice(b"}}");
    }

    fn write_purchase(&mut self, sequence: u64, s: usize, ts: u64, out: &mut Vec<u8>, key: &mut Vec<u8>) {
        self.type_counts[PURCHASE] += 1;
        let order = fmix32(self.order_seq ^ self.order_key);
        self.order_seq = self.order_seq.wrapping_add(1);
        let sess = &self.sessions[s];
        self.write_session_head(PURCHASE, sequence, sess, out, key);
        out.extend_from_slice(b"\",\"orderId\":\"o-");
        push_hex8(out, order);
        out.extend_from_slice(b"\",\"items\":[");
        for i in 0..sess.cart_len {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"productId\":\"p-");
            push_u64(out, u64::from(sess.cart_item[i]) + 1);
            out.extend_from_slice(b"\",\"quantity\":");
            push_u64(out, u64::from(sess.cart_qty[i]));
            out.extend_from_slice(b",\"price\":");
            push_cents(out, self.price_cents[sess.cart_item[i] as usize]);
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"total\":");
        push_cents(out, self.cart_total(s));
        out.extend_from_slice(b",\"currency\":\"");
        out.extend_from_slice(self.options.currency.as_bytes());
        out.extend_from_slice(b"\",\"ts\":");
        push_u64(out, ts);
        out.push(b'}');
    }

    fn sensor_reading(&mut self, sequence: u64, ts: u64, out: &mut Vec<u8>, key: &mut Vec<u8>) {
        self.type_counts[SENSOR] += 1;
        let i = self.sensor_cursor;
        self.sensor_cursor = if i + 1 == self.sensors.len() { 0 } else { i + 1 };
        let rng = &mut self.sensor_rng;
        let anomaly_rate = self.options.anomaly_rate;
        let sensor = &mut self.sensors[i];
        let kind = &SENSOR_KINDS[sensor.kind];
        // Ornstein–Uhlenbeck level: wanders, but is pulled back to the device's own mean.
        sensor.level += SENSOR_REVERSION * (sensor.mean - sensor.level) + kind.drift * rng.gaussian();
        let mut value = sensor.level + kind.noise * rng.gaussian();
        if sensor.episode > 0 {
            sensor.episode -= 1;
            value += sensor.offset;
        } else if rng.float() < anomaly_rate {
            // A door left open, a failing compressor: several readings far off the level.
            sensor.episode = 2 + rng.int(8) as u8;
            sensor.offset = (if rng.float() < 0.7 { 1.0 } else { -1.0 }) * kind.spike * (0.6 + 0.8 * rng.float());
            value += sensor.offset;
        }
        value = value.max(kind.min).min(kind.max);
        out.extend_from_slice(b"{\"eventId\":\"");
        push_sequence_uuid(out, &self.id_key, sequence);
        out.extend_from_slice(b"\",\"sensorId\":\"");
        let id_at = out.len();
        out.extend_from_slice(kind.prefix.as_bytes());
        out.push(b'-');
        push_u64(out, u64::from(sensor.ordinal));
        key.extend_from_slice(&out[id_at..]);
        out.extend_from_slice(b"\",\"metric\":\"");
        out.extend_from_slice(kind.metric.as_bytes());
        out.extend_from_slice(b"\",\"value\":");
        push_number(out, js_round(value * sensor.scale) / sensor.scale);
        out.extend_from_slice(b",\"unit\":\"");
        out.extend_from_slice(kind.unit.as_bytes());
        out.extend_from_slice(b"\",\"ts\":");
        push_u64(out, ts);
        out.push(b'}');
    }
}
