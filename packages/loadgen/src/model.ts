import { TOPICS } from '@pulse/kafka';
import { Rng, fmix32, hex8, seedWords, sequenceUuid, type Seed } from './prng.js';
import { ZipfSampler } from './zipf.js';

/**
 * The synthetic shop: a pure, seeded event source with no Kafka in it. Each `next(ts)` returns one
 * record for one of the three input topics, as the exact JSON of PRODUCT.md §3.
 *
 * Shoppers: `sessions` sessions are open at any time; each user-topic event advances one of them,
 * picked at random, so sessions interleave. A session belongs to a user drawn from `users`, has a
 * source (web or mobile, mostly the user's usual one) and a category of interest. It starts with a
 * landing page view, then browses: searches, category pages, clicks and product views. Products are
 * Zipf-popular (rank k has weight 1/k^zipfExponent) and a view is from the session's category 60% of
 * the time, so products co-occur within sessions as they do in real shops.
 *
 * The funnel, with each rate an expectation over many sessions:
 *   product_view → add_to_cart                   `viewToCart` of product views are put in the cart
 *   cart → checkout_started                      `cartToCheckout` of sessions with a cart check out
 *   checkout_started → purchase                  `checkoutToPurchase` of checkouts complete
 * Whether a cart is bought is decided when it is created, so the session plays out to that end
 * (occasionally removing items first); abandoned carts and checkouts end their session silently.
 *
 * Sensors: `sensors` devices of a few kinds (fridges, freezers, greenhouses, …) report in turn, each a
 * mean-reverting level plus noise, with rare anomaly episodes of a few readings far off the level.
 *
 * Topic mix: sensor readings take exactly `mix.sensors` of the events (spread evenly); all others are
 * session steps, split between clicks and purchases by the funnel. So `mix.clicks` and `mix.purchases`
 * only matter through their sum: the purchase share is what the funnel produces (about 1% of user
 * events with the default rates), and `eventCounts()` reports it.
 */

export interface Mix {
  readonly clicks: number;
  readonly purchases: number;
  readonly sensors: number;
}

export interface Funnel {
  readonly viewToCart: number;
  readonly cartToCheckout: number;
  readonly checkoutToPurchase: number;
}

/** Where each kind of event goes; the spec's topics unless overridden (tests, benchmarks). */
export interface TopicNames {
  readonly clicks: string;
  readonly purchases: string;
  readonly sensors: string;
}

export interface ShopModelOptions {
  /** Size of the user population (`u-1` … `u-N`). */
  users?: number;
  /** Size of the catalogue (`p-1` … `p-N`). */
  products?: number;
  categories?: number;
  /** Zipf exponent of product popularity. */
  zipfExponent?: number;
  /** Sessions open at once. */
  sessions?: number;
  /** Mean number of browsing steps of a session that puts nothing in its cart. */
  sessionLength?: number;
  sensors?: number;
  /** Probability per reading that a sensor starts an anomaly episode. */
  anomalyRate?: number;
  mix?: Partial<Mix>;
  funnel?: Partial<Funnel>;
  currency?: string;
  topics?: Partial<TopicNames>;
}

/** Purchases are ~1% of user events with the default funnel; their weight here only adds to the user share. */
export const DEFAULT_MIX: Mix = { clicks: 0.91, purchases: 0.01, sensors: 0.08 };
export const DEFAULT_FUNNEL: Funnel = { viewToCart: 0.08, cartToCheckout: 0.5, checkoutToPurchase: 0.6 };

export const MODEL_DEFAULTS = {
  users: 100_000,
  products: 10_000,
  categories: 20,
  zipfExponent: 1.0,
  sessions: 10_000,
  sessionLength: 12,
  sensors: 2_000,
  anomalyRate: 0.001,
  mix: DEFAULT_MIX,
  funnel: DEFAULT_FUNNEL,
  currency: 'USD',
  topics: { clicks: TOPICS.userClicks, purchases: TOPICS.userPurchases, sensors: TOPICS.sensorData } satisfies TopicNames,
} as const;

export type ResolvedShopOptions = Required<Omit<ShopModelOptions, 'mix' | 'funnel' | 'topics'>> & { mix: Mix; funnel: Funnel; topics: TopicNames };

/** One Kafka record: topic, key (userId or sensorId) and the JSON value. */
export interface GeneratedEvent {
  readonly topic: string;
  readonly key: string;
  readonly value: string;
}

export const CLICK_TYPES = ['page_view', 'product_view', 'click', 'add_to_cart', 'remove_from_cart', 'search', 'checkout_started'] as const;
export type ClickType = (typeof CLICK_TYPES)[number];

/** Every event type the model emits, in the order of `eventCounts()`. */
const EVENT_TYPES = [...CLICK_TYPES, 'purchase', 'sensor'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
const T = {
  page_view: 0,
  product_view: 1,
  click: 2,
  add_to_cart: 3,
  remove_from_cart: 4,
  search: 5,
  checkout_started: 6,
  purchase: 7,
  sensor: 8,
} as const;

// Browsing behaviour of a session step that is not a funnel step.
const P_SEARCH = 0.12;
const P_CATEGORY_PAGE = 0.1;
const P_CLICK = 0.08;
/** Share of product choices made within the session's category of interest. */
const P_IN_CATEGORY = 0.6;
/** Chance per step that a session with a cart moves on to the cart's fate. */
const P_PROCEED = 0.25;
/** Chance per step that a session with two or more cart items removes one. */
const P_REMOVE = 0.05;
const CART_MAX = 8;
/** About a session's mean length: long enough for the open sessions to reach their steady state. */
const WARMUP_STEPS_PER_SESSION = 15;
const MAX_WARMUP_STEPS = 2_000_000;

const enum Phase {
  New = 0,
  Browse = 1,
  PendingAdd = 2,
  Checkout = 3,
}

const enum Fate {
  None = 0,
  Abandon = 1,
  AbandonCheckout = 2,
  Purchase = 3,
}

const CATEGORY_NAMES = [
  'shoes', 'shirts', 'jackets', 'bags', 'watches', 'phones', 'laptops', 'headphones', 'cameras', 'books',
  'toys', 'games', 'kitchen', 'garden', 'tools', 'beauty', 'sports', 'music', 'furniture', 'lighting',
];
const ADJECTIVES = ['red', 'blue', 'black', 'white', 'cheap', 'new', 'best', 'small', 'large', 'wireless', 'organic', 'vintage'];
const CLICK_ELEMENTS = ['recommendation', 'banner', 'related', 'search-result'];

interface SensorKind {
  readonly prefix: string;
  readonly metric: string;
  readonly unit: string;
  /** Typical level, and how far one device's own level sits from it. */
  readonly base: number;
  readonly spread: number;
  /** Random-walk step of the level per reading, and measurement noise. */
  readonly drift: number;
  readonly noise: number;
  /** Offset of an anomaly episode. */
  readonly spike: number;
  readonly decimals: number;
  readonly min: number;
  readonly max: number;
}

const SENSOR_KINDS: readonly SensorKind[] = [
  { prefix: 'fridge', metric: 'temperature', unit: 'C', base: 4, spread: 1, drift: 0.05, noise: 0.1, spike: 6, decimals: 1, min: -40, max: 60 },
  { prefix: 'freezer', metric: 'temperature', unit: 'C', base: -18, spread: 2, drift: 0.05, noise: 0.2, spike: 10, decimals: 1, min: -40, max: 60 },
  { prefix: 'warehouse', metric: 'temperature', unit: 'C', base: 17, spread: 3, drift: 0.08, noise: 0.2, spike: 12, decimals: 1, min: -40, max: 60 },
  { prefix: 'greenhouse', metric: 'humidity', unit: '%', base: 70, spread: 8, drift: 0.2, noise: 0.5, spike: 25, decimals: 1, min: 0, max: 100 },
  { prefix: 'server-room', metric: 'temperature', unit: 'C', base: 22, spread: 2, drift: 0.05, noise: 0.15, spike: 15, decimals: 1, min: -40, max: 80 },
  { prefix: 'office', metric: 'co2', unit: 'ppm', base: 650, spread: 150, drift: 5, noise: 10, spike: 1200, decimals: 0, min: 350, max: 5000 },
  { prefix: 'boiler', metric: 'pressure', unit: 'bar', base: 1.5, spread: 0.3, drift: 0.005, noise: 0.01, spike: 1.5, decimals: 2, min: 0, max: 10 },
];
/** Pull of a sensor's level back to its own mean, per reading. */
const SENSOR_REVERSION = 0.02;

/** Integer cents as a JSON number: 3998 → 39.98 (exact: c/100 is the double nearest the decimal). */
function formatCents(cents: number): string {
  return String(cents / 100);
}

function check(name: string, value: number, min: number, max: number, integer: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

/** Fills in defaults and validates; errors name the option. */
export function resolveShopOptions(options: ShopModelOptions = {}): ResolvedShopOptions {
  const d = MODEL_DEFAULTS;
  const mix = { ...d.mix, ...options.mix };
  const funnel = { ...d.funnel, ...options.funnel };
  for (const [k, v] of Object.entries(mix)) check(`mix.${k}`, v, 0, 1e9, false);
  if (mix.clicks + mix.purchases + mix.sensors <= 0) throw new RangeError('mix must give some topic a positive weight');
  for (const [k, v] of Object.entries(funnel)) check(`funnel.${k}`, v, 0, 1, false);
  const topics = { ...d.topics, ...options.topics };
  for (const [k, v] of Object.entries(topics)) {
    if (typeof v !== 'string' || !/^[a-zA-Z0-9._-]{1,249}$/.test(v)) throw new RangeError(`topics.${k} must be a Kafka topic name, got ${JSON.stringify(v)}`);
  }
  const currency = options.currency ?? d.currency;
  if (!/^[A-Z]{3}$/.test(currency)) throw new RangeError(`currency must be a three-letter ISO 4217 code, got ${JSON.stringify(currency)}`);
  return {
    users: check('users', options.users ?? d.users, 1, 100_000_000, true),
    products: check('products', options.products ?? d.products, 1, 10_000_000, true),
    categories: check('categories', options.categories ?? d.categories, 1, 1000, true),
    zipfExponent: check('zipfExponent', options.zipfExponent ?? d.zipfExponent, 0, 5, false),
    sessions: check('sessions', options.sessions ?? d.sessions, 1, 10_000_000, true),
    sessionLength: check('sessionLength', options.sessionLength ?? d.sessionLength, 1, 1_000_000, false),
    sensors: check('sensors', options.sensors ?? d.sensors, 1, 10_000_000, true),
    anomalyRate: check('anomalyRate', options.anomalyRate ?? d.anomalyRate, 0, 1, false),
    mix,
    funnel,
    currency,
    topics,
  };
}

export class ShopModel {
  readonly options: ResolvedShopOptions;
  /** Events generated so far; the sequence number of the next event. */
  sequence = 0;

  private readonly rng: Rng;
  private readonly sensorRng: Rng;
  private readonly idKey: number[];
  private readonly sessionKey: number;
  private readonly orderKey: number;
  private readonly sourceKey: number;
  private readonly typeCounts = new Float64Array(EVENT_TYPES.length);

  // Topic interleaving: a sensor reading whenever the accumulated sensor share crosses an integer.
  private readonly sensorShare: number;
  private sensorCredit = 0;

  // Catalogue.
  private readonly userIds: string[];
  private readonly productIds: string[];
  private readonly productCategory: Int32Array;
  private readonly priceCents: Int32Array;
  private readonly priceText: string[];
  private readonly categoryNames: string[];
  /** Products of each category, most popular first, and a Zipf sampler per category. */
  private readonly categoryProducts: Int32Array[];
  private readonly categorySamplers: ZipfSampler[];
  /** Product of each global popularity rank. */
  private readonly productByRank: Int32Array;
  private readonly productSampler: ZipfSampler;

  // Open sessions, one slot each, as parallel arrays (no object per session).
  private sessionSeq = 0;
  private orderSeq = 0;
  private readonly sUser: Int32Array;
  private readonly sId: string[];
  private readonly sSource: Uint8Array;
  private readonly sCategory: Int32Array;
  private readonly sPhase: Uint8Array;
  private readonly sFate: Uint8Array;
  private readonly sProduct: Int32Array;
  private readonly sCartLen: Uint8Array;
  private readonly cartItem: Int32Array;
  private readonly cartQty: Uint8Array;
  private readonly endChance: number;

  // Sensors.
  private sensorCursor = 0;
  private readonly sensorIds: string[];
  private readonly sensorKind: Uint8Array;
  private readonly sensorMean: Float64Array;
  private readonly sensorLevel: Float64Array;
  private readonly sensorEpisode: Uint8Array;
  private readonly sensorOffset: Float64Array;
  private readonly sensorScale: Float64Array;

  constructor(
    readonly seed: Seed,
    options: ShopModelOptions = {},
  ) {
    const o = (this.options = resolveShopOptions(options));
    const setup = new Rng(seed, 0);
    this.rng = new Rng(seed, 1);
    this.sensorRng = new Rng(seed, 2);
    const words = seedWords(seed);
    this.idKey = words.map((w, i) => fmix32(w ^ (0x9e3779b9 * (i + 1))));
    this.sessionKey = fmix32(words[0] ^ 0x5e55);
    this.orderKey = fmix32(words[1] ^ 0x0bde);
    this.sourceKey = fmix32(words[2] ^ 0x50c3);
    const total = o.mix.clicks + o.mix.purchases + o.mix.sensors;
    this.sensorShare = o.mix.sensors / total;
    this.endChance = 1 / o.sessionLength;

    this.userIds = Array.from({ length: o.users }, (_, i) => `u-${i + 1}`);
    this.productIds = Array.from({ length: o.products }, (_, i) => `p-${i + 1}`);
    this.categoryNames = Array.from({ length: o.categories }, (_, i) => CATEGORY_NAMES[i] ?? `category-${i + 1}`);

    // Popularity ranks are a seeded shuffle of the catalogue, so the best sellers are not p-1, p-2, …
    this.productByRank = new Int32Array(o.products);
    for (let i = 0; i < o.products; i++) this.productByRank[i] = i;
    for (let i = o.products - 1; i > 0; i--) {
      const j = setup.int(i + 1);
      const t = this.productByRank[i]!;
      this.productByRank[i] = this.productByRank[j]!;
      this.productByRank[j] = t;
    }
    this.productSampler = new ZipfSampler(o.products, o.zipfExponent);
    this.productCategory = new Int32Array(o.products);
    this.priceCents = new Int32Array(o.products);
    this.priceText = new Array<string>(o.products);
    const lo = Math.log(2);
    const hi = Math.log(500);
    for (let p = 0; p < o.products; p++) {
      this.productCategory[p] = setup.int(o.categories);
      // Log-uniform $2–$500, priced at .99.
      const cents = Math.round(Math.exp(lo + setup.float() * (hi - lo))) * 100 - 1;
      this.priceCents[p] = cents;
      this.priceText[p] = formatCents(cents);
    }
    const lists: number[][] = Array.from({ length: o.categories }, () => []);
    for (let r = 0; r < o.products; r++) {
      const p = this.productByRank[r]!;
      lists[this.productCategory[p]!]!.push(p);
    }
    // An empty category (tiny catalogues) borrows the whole catalogue.
    this.categoryProducts = lists.map((l) => Int32Array.from(l.length > 0 ? l : this.productByRank));
    this.categorySamplers = this.categoryProducts.map((l) => new ZipfSampler(l.length, o.zipfExponent));

    const n = o.sessions;
    this.sUser = new Int32Array(n);
    this.sId = new Array<string>(n);
    this.sSource = new Uint8Array(n);
    this.sCategory = new Int32Array(n);
    this.sPhase = new Uint8Array(n);
    this.sFate = new Uint8Array(n);
    this.sProduct = new Int32Array(n);
    this.sCartLen = new Uint8Array(n);
    this.cartItem = new Int32Array(n * CART_MAX);
    this.cartQty = new Uint8Array(n * CART_MAX);
    for (let s = 0; s < n; s++) this.startSession(s);
    // Run the shop for a while before the first event, so that it starts in its steady state, with
    // sessions at every stage of the funnel, rather than with every session just arrived.
    const warmup = Math.min(WARMUP_STEPS_PER_SESSION * n, MAX_WARMUP_STEPS);
    for (let k = 0; k < warmup; k++) this.sessionStep('', 0);
    this.typeCounts.fill(0);

    const m = o.sensors;
    this.sensorIds = new Array<string>(m);
    this.sensorKind = new Uint8Array(m);
    this.sensorMean = new Float64Array(m);
    this.sensorLevel = new Float64Array(m);
    this.sensorEpisode = new Uint8Array(m);
    this.sensorOffset = new Float64Array(m);
    this.sensorScale = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const k = i % SENSOR_KINDS.length;
      const kind = SENSOR_KINDS[k]!;
      this.sensorIds[i] = `${kind.prefix}-${Math.floor(i / SENSOR_KINDS.length) + 1}`;
      this.sensorKind[i] = k;
      this.sensorMean[i] = this.sensorLevel[i] = kind.base + (setup.float() * 2 - 1) * kind.spread;
      this.sensorScale[i] = Math.pow(10, kind.decimals);
    }
  }

  /** The next event, with `ts` = the intended send time in epoch milliseconds. */
  next(ts: number): GeneratedEvent {
    const eventId = sequenceUuid(this.idKey, this.sequence++);
    this.sensorCredit += this.sensorShare;
    if (this.sensorCredit >= 1) {
      this.sensorCredit -= 1;
      return this.sensorReading(eventId, ts);
    }
    return this.sessionStep(eventId, ts);
  }

  /** How many events of each type were generated so far. */
  eventCounts(): Record<EventType, number> {
    const out = {} as Record<EventType, number>;
    EVENT_TYPES.forEach((t, i) => (out[t] = this.typeCounts[i]!));
    return out;
  }

  private startSession(s: number): void {
    const user = this.rng.int(this.options.users);
    this.sUser[s] = user;
    this.sId[s] = 's-' + hex8(fmix32((this.sessionSeq++ ^ this.sessionKey) >>> 0));
    // Most users keep to one platform: 40% prefer the app, and 10% of sessions are on the other one.
    const prefersApp = fmix32((user ^ this.sourceKey) >>> 0) < 0.4 * 4294967296;
    this.sSource[s] = prefersApp !== (this.rng.float() < 0.1) ? 1 : 0;
    this.sCategory[s] = this.productCategory[this.productByRank[this.productSampler.sample(this.rng)]!]!;
    this.sPhase[s] = Phase.New;
    this.sFate[s] = Fate.None;
    this.sCartLen[s] = 0;
  }

  private pickProduct(s: number): number {
    const rng = this.rng;
    if (rng.float() < P_IN_CATEGORY) {
      const c = this.sCategory[s]!;
      return this.categoryProducts[c]![this.categorySamplers[c]!.sample(rng)]!;
    }
    return this.productByRank[this.productSampler.sample(rng)]!;
  }

  private click(type: ClickType, eventId: string, s: number, product: number, ts: number, properties: string): GeneratedEvent {
    this.typeCounts[T[type]]!++;
    const user = this.userIds[this.sUser[s]!]!;
    const productField = product < 0 ? '' : `"productId":"${this.productIds[product]}",`;
    return {
      topic: this.options.topics.clicks,
      key: user,
      value: `{"eventId":"${eventId}","type":"${type}","userId":"${user}","sessionId":"${this.sId[s]}",${productField}"source":"${this.sSource[s] === 1 ? 'mobile' : 'web'}","ts":${ts},"properties":{${properties}}}`,
    };
  }

  private sessionStep(eventId: string, ts: number): GeneratedEvent {
    const rng = this.rng;
    const o = this.options;
    // Sessions that end without an event of their own (abandoned carts) hand the step to a new one.
    for (;;) {
      const s = rng.int(o.sessions);
      switch (this.sPhase[s] as Phase) {
        case Phase.New:
          this.sPhase[s] = Phase.Browse;
          return this.click('page_view', eventId, s, -1, ts, '"page":"/"');

        case Phase.PendingAdd: {
          const p = this.sProduct[s]!;
          const q = rng.float() < 0.75 ? 1 : rng.float() < 0.72 ? 2 : 3;
          const base = s * CART_MAX;
          let len = this.sCartLen[s]!;
          let at = 0;
          while (at < len && this.cartItem[base + at] !== p) at++;
          if (at === len) {
            this.cartItem[base + at] = p;
            this.cartQty[base + at] = q;
            this.sCartLen[s] = ++len;
          } else {
            this.cartQty[base + at] = Math.min(99, this.cartQty[base + at]! + q);
          }
          if (this.sFate[s] === Fate.None) {
            const f = o.funnel;
            const r = rng.float();
            this.sFate[s] = r < f.cartToCheckout * f.checkoutToPurchase ? Fate.Purchase : r < f.cartToCheckout ? Fate.AbandonCheckout : Fate.Abandon;
          }
          this.sPhase[s] = Phase.Browse;
          return this.click('add_to_cart', eventId, s, p, ts, `"quantity":${q},"price":${this.priceText[p]}`);
        }

        case Phase.Checkout: {
          if (this.sFate[s] === Fate.Purchase) {
            const event = this.purchase(eventId, s, ts);
            this.startSession(s);
            return event;
          }
          this.startSession(s);
          continue;
        }

        case Phase.Browse: {
          const len = this.sCartLen[s]!;
          if (len > 0) {
            if (rng.float() < P_PROCEED) {
              if (this.sFate[s] === Fate.Abandon) {
                this.startSession(s);
                continue;
              }
              this.sPhase[s] = Phase.Checkout;
              return this.click('checkout_started', eventId, s, -1, ts, `"items":${len},"value":${formatCents(this.cartTotal(s))}`);
            }
            if (len >= 2 && rng.float() < P_REMOVE) {
              const base = s * CART_MAX;
              this.sCartLen[s] = len - 1;
              return this.click('remove_from_cart', eventId, s, this.cartItem[base + len - 1]!, ts, `"quantity":${this.cartQty[base + len - 1]}`);
            }
          } else if (rng.float() < this.endChance) {
            this.startSession(s);
            continue;
          }
          return this.browse(eventId, s, ts);
        }
      }
    }
  }

  private browse(eventId: string, s: number, ts: number): GeneratedEvent {
    const rng = this.rng;
    const r = rng.float();
    if (r < P_SEARCH) {
      const c = rng.float() < P_IN_CATEGORY ? this.sCategory[s]! : rng.int(this.options.categories);
      const query = `${ADJECTIVES[rng.int(ADJECTIVES.length)]} ${this.categoryNames[c]}`;
      return this.click('search', eventId, s, -1, ts, `"query":"${query}","results":${rng.int(200)}`);
    }
    if (r < P_SEARCH + P_CATEGORY_PAGE) {
      const page = rng.float() < 0.8 ? `/c/${this.categoryNames[this.sCategory[s]!]}` : '/deals';
      return this.click('page_view', eventId, s, -1, ts, `"page":"${page}"`);
    }
    const p = this.pickProduct(s);
    if (r < P_SEARCH + P_CATEGORY_PAGE + P_CLICK) {
      return this.click('click', eventId, s, p, ts, `"element":"${CLICK_ELEMENTS[rng.int(CLICK_ELEMENTS.length)]}"`);
    }
    if (this.sCartLen[s]! < CART_MAX && rng.float() < this.options.funnel.viewToCart) {
      this.sPhase[s] = Phase.PendingAdd;
      this.sProduct[s] = p;
    }
    return this.click('product_view', eventId, s, p, ts, `"category":"${this.categoryNames[this.productCategory[p]!]}","price":${this.priceText[p]}`);
  }

  private cartTotal(s: number): number {
    const base = s * CART_MAX;
    let cents = 0;
    for (let i = 0; i < this.sCartLen[s]!; i++) cents += this.cartQty[base + i]! * this.priceCents[this.cartItem[base + i]!]!;
    return cents;
  }

  private purchase(eventId: string, s: number, ts: number): GeneratedEvent {
    this.typeCounts[T.purchase]!++;
    const base = s * CART_MAX;
    let items = '';
    for (let i = 0; i < this.sCartLen[s]!; i++) {
      const p = this.cartItem[base + i]!;
      items += `${i > 0 ? ',' : ''}{"productId":"${this.productIds[p]}","quantity":${this.cartQty[base + i]},"price":${this.priceText[p]}}`;
    }
    const user = this.userIds[this.sUser[s]!]!;
    const orderId = 'o-' + hex8(fmix32((this.orderSeq++ ^ this.orderKey) >>> 0));
    return {
      topic: this.options.topics.purchases,
      key: user,
      value: `{"eventId":"${eventId}","type":"purchase","userId":"${user}","sessionId":"${this.sId[s]}","orderId":"${orderId}","items":[${items}],"total":${formatCents(this.cartTotal(s))},"currency":"${this.options.currency}","ts":${ts}}`,
    };
  }

  private sensorReading(eventId: string, ts: number): GeneratedEvent {
    this.typeCounts[T.sensor]!++;
    const rng = this.sensorRng;
    const i = this.sensorCursor;
    this.sensorCursor = i + 1 === this.options.sensors ? 0 : i + 1;
    const kind = SENSOR_KINDS[this.sensorKind[i]!]!;
    // Ornstein–Uhlenbeck level: wanders, but is pulled back to the device's own mean.
    let level = this.sensorLevel[i]!;
    level += SENSOR_REVERSION * (this.sensorMean[i]! - level) + kind.drift * rng.gaussian();
    this.sensorLevel[i] = level;
    let value = level + kind.noise * rng.gaussian();
    if (this.sensorEpisode[i]! > 0) {
      this.sensorEpisode[i]!--;
      value += this.sensorOffset[i]!;
    } else if (rng.float() < this.options.anomalyRate) {
      // A door left open, a failing compressor: several readings far off the level.
      this.sensorEpisode[i] = 2 + rng.int(8);
      this.sensorOffset[i] = (rng.float() < 0.7 ? 1 : -1) * kind.spike * (0.6 + 0.8 * rng.float());
      value += this.sensorOffset[i]!;
    }
    value = Math.min(kind.max, Math.max(kind.min, value));
    const scale = this.sensorScale[i]!;
    const id = this.sensorIds[i]!;
    return {
      topic: this.options.topics.sensors,
      key: id,
      value: `{"eventId":"${eventId}","sensorId":"${id}","metric":"${kind.metric}","value":${Math.round(value * scale) / scale},"unit":"${kind.unit}","ts":${ts}}`,
    };
  }
}

/** A seeded shop; the same seed and options always give the same events for the same `ts` values. */
export function createShopModel(seed: Seed, options: ShopModelOptions = {}): ShopModel {
  return new ShopModel(seed, options);
}
