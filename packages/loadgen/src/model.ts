import { NativeShopModel, type PackedShopRecords } from '@pulse/engine';
import { TOPICS } from '@pulse/kafka';

/**
 * The synthetic shop's options and its JavaScript face. The shop is a pure, seeded source of the
 * three input topics' events, as the exact JSON of docs/specification.md, "Event records": interleaved shopping sessions of
 * Zipf-popular products through a view → cart → checkout → purchase funnel, and IoT sensors drifting
 * around their levels with rare anomaly episodes. How it behaves is described with the model itself,
 * in crates/pulse-shop/src/model.rs.
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

/** A generator seed: `42` and `"42"` are the same seed. */
export type Seed = string | number;

/** One topic's records of a paced burst, packed as `BatchProducer.sendPacked` takes them. */
export interface PackedEvents extends PackedShopRecords {
  readonly topic: string;
}

/**
 * The shop itself runs in Rust (crates/pulse-shop): writing the events' JSON there costs a fraction of
 * a microsecond each, where building them as JavaScript strings took the generator most of a core at
 * 100 000 events/s. Seeds mean the same traffic as they did in the first, JavaScript, implementation.
 */
export class ShopModel {
  readonly options: ResolvedShopOptions;
  private readonly native: NativeShopModel;
  private readonly topicNames: readonly string[];

  constructor(
    readonly seed: Seed,
    options: ShopModelOptions = {},
  ) {
    const o = (this.options = resolveShopOptions(options));
    this.topicNames = [o.topics.clicks, o.topics.purchases, o.topics.sensors];
    this.native = new NativeShopModel(String(seed), {
      users: o.users,
      products: o.products,
      categories: o.categories,
      zipfExponent: o.zipfExponent,
      sessions: o.sessions,
      sessionLength: o.sessionLength,
      sensors: o.sensors,
      anomalyRate: o.anomalyRate,
      mixClicks: o.mix.clicks,
      mixPurchases: o.mix.purchases,
      mixSensors: o.mix.sensors,
      viewToCart: o.funnel.viewToCart,
      cartToCheckout: o.funnel.cartToCheckout,
      checkoutToPurchase: o.funnel.checkoutToPurchase,
      currency: o.currency,
    });
  }

  /** Events generated so far; the sequence number of the next event. */
  get sequence(): number {
    return this.native.sequence;
  }

  /** The next event, with `ts` = the intended send time in epoch milliseconds. */
  next(ts: number): GeneratedEvent {
    const e = this.native.next(ts);
    return { topic: this.topicNames[e.topic]!, key: e.key, value: e.value };
  }

  /**
   * The next `count` events of a run paced at `rate` events/s from `t0`, where the sequence number is
   * the event's index in the run (event i carries ts = t0 + intendedOffsetMs(i, rate)); packed by topic,
   * topics without events left out.
   */
  nextPaced(t0: number, rate: number, count: number): PackedEvents[] {
    const out: PackedEvents[] = [];
    this.native.nextPaced(t0, rate, count).forEach((records, i) => {
      if (records.ends.length > 0) out.push({ ...records, topic: this.topicNames[i]! });
    });
    return out;
  }

  /** How many events of each type were generated so far. */
  eventCounts(): Record<EventType, number> {
    const counts = this.native.eventCounts();
    const out = {} as Record<EventType, number>;
    EVENT_TYPES.forEach((t, i) => (out[t] = counts[i]!));
    return out;
  }
}

/** A seeded shop; the same seed and options always give the same events for the same `ts` values. */
export function createShopModel(seed: Seed, options: ShopModelOptions = {}): ShopModel {
  return new ShopModel(seed, options);
}
