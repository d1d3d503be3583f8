import { describe, expect, it, vi } from 'vitest';
import { TOPICS } from '@pulse/kafka';
import { CLICK_TYPES, createShopModel, resolveShopOptions, type GeneratedEvent, type ShopModelOptions } from '../src/index.js';

const T0 = 1_764_100_000_000;

// Statistical tests draw hundreds of thousands of events; the machine may be busy.
vi.setConfig({ testTimeout: 60_000 });

function generate(seed: string | number, n: number, options: ShopModelOptions = {}): GeneratedEvent[] {
  const model = createShopModel(seed, options);
  const out: GeneratedEvent[] = [];
  for (let i = 0; i < n; i++) out.push(model.next(T0 + i));
  return out;
}

type Json = Record<string, unknown>;
const parse = (e: GeneratedEvent): Json => JSON.parse(e.value) as Json;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const CLICK_FIELDS = ['eventId', 'type', 'userId', 'sessionId', 'productId', 'source', 'ts', 'properties'];
const PURCHASE_FIELDS = ['eventId', 'type', 'userId', 'sessionId', 'orderId', 'items', 'total', 'currency', 'ts'];
const SENSOR_FIELDS = ['eventId', 'sensorId', 'metric', 'value', 'unit', 'ts'];

describe('determinism', () => {
  it('gives the same events for the same seed and options', () => {
    expect(generate(42, 20_000)).toEqual(generate(42, 20_000));
    expect(generate('42', 1000)).toEqual(generate(42, 1000));
  });

  it('gives different events for another seed or other options', () => {
    const a = generate(42, 1000).map((e) => e.value);
    const b = generate(43, 1000).map((e) => e.value);
    expect(a.filter((v, i) => v === b[i])).toHaveLength(0);
    const c = generate(42, 1000, { users: 500 }).map((e) => e.value);
    expect(c).not.toEqual(a);
  });

  it('puts the given intended time in ts', () => {
    const model = createShopModel(1);
    for (const ts of [0, 1, T0, T0 + 999, 2 ** 53 - 1]) expect(parse(model.next(ts)).ts).toBe(ts);
  });
});

/** What is wrong with one record's shape, if anything (plain checks: expect() per field is slow). */
function shapeErrors(e: GeneratedEvent): string[] {
  const errors: string[] = [];
  const v = parse(e);
  const want = (ok: boolean, what: string) => {
    if (!ok) errors.push(`${what}: ${e.value}`);
  };
  want(typeof v.eventId === 'string' && UUID.test(v.eventId), 'eventId');
  want(Number.isSafeInteger(v.ts), 'ts');
  if (e.topic === TOPICS.userClicks) {
    want((CLICK_TYPES as readonly unknown[]).includes(v.type), 'type');
    // Only events about one product carry a productId.
    const hasProduct = ['product_view', 'click', 'add_to_cart', 'remove_from_cart'].includes(v.type as string);
    const fields = hasProduct ? CLICK_FIELDS : CLICK_FIELDS.filter((f) => f !== 'productId');
    want(Object.keys(v).join() === fields.join(), 'fields');
    want(!hasProduct || /^p-\d+$/.test(v.productId as string), 'productId');
    want(/^u-\d+$/.test(v.userId as string), 'userId');
    want(/^s-[0-9a-f]{8}$/.test(v.sessionId as string), 'sessionId');
    want(v.source === 'web' || v.source === 'mobile', 'source');
    want(typeof v.properties === 'object' && v.properties !== null && !Array.isArray(v.properties), 'properties');
    want(e.key === v.userId, 'key');
  } else if (e.topic === TOPICS.userPurchases) {
    want(Object.keys(v).join() === PURCHASE_FIELDS.join(), 'fields');
    want(v.type === 'purchase', 'type');
    want(/^u-\d+$/.test(v.userId as string) && /^s-[0-9a-f]{8}$/.test(v.sessionId as string), 'ids');
    want(/^o-[0-9a-f]{8}$/.test(v.orderId as string), 'orderId');
    want(v.currency === 'USD', 'currency');
    const items = v.items as { productId: string; quantity: number; price: number }[];
    want(Array.isArray(items) && items.length > 0, 'items');
    let cents = 0;
    for (const item of items) {
      want(Object.keys(item).join() === 'productId,quantity,price', 'item fields');
      want(/^p-\d+$/.test(item.productId), 'item productId');
      want(Number.isInteger(item.quantity) && item.quantity >= 1, 'quantity');
      want(typeof item.price === 'number' && item.price > 0 && Math.round(item.price * 100) / 100 === item.price, 'price');
      cents += item.quantity * Math.round(item.price * 100);
    }
    want(v.total === cents / 100, 'total is the sum of quantity × price');
    want(e.key === v.userId, 'key');
  } else {
    want(e.topic === TOPICS.sensorData, 'topic');
    want(Object.keys(v).join() === SENSOR_FIELDS.join(), 'fields');
    want(typeof v.sensorId === 'string' && typeof v.metric === 'string' && typeof v.unit === 'string', 'strings');
    want(typeof v.value === 'number' && Number.isFinite(v.value), 'value');
    want(e.key === v.sensorId, 'key');
  }
  return errors;
}

describe('event shapes (docs/specification.md, "Event records")', () => {
  const events = generate('shapes', 100_000);

  it('writes every event with exactly the fields of its topic, of the right types', () => {
    expect(events.flatMap(shapeErrors).slice(0, 5)).toEqual([]);
    const types = new Set(events.filter((e) => e.topic === TOPICS.userClicks).map((e) => parse(e).type));
    expect([...types].sort()).toEqual([...CLICK_TYPES].sort());
    expect(events.some((e) => e.topic === TOPICS.userPurchases)).toBe(true);
    expect(events.some((e) => e.topic === TOPICS.sensorData)).toBe(true);
  });

  it('needs no JSON escaping: every value is already its own canonical JSON', () => {
    // Ids, names and numbers are generated, so template strings are safe; a round trip would change
    // any escape, any non-ASCII character or any number JavaScript would print differently.
    const changed = (list: GeneratedEvent[]) => list.filter((e) => JSON.stringify(JSON.parse(e.value)) !== e.value || !/^[\x20-\x7e]+$/.test(e.value) || e.value.includes('\\'));
    expect(changed(events).slice(0, 3)).toEqual([]);
    // Generated names beyond the built-in lists are safe too.
    expect(changed(generate('many', 20_000, { categories: 300, sensors: 50_000 })).slice(0, 3)).toEqual([]);
  });

  it('gives every event a distinct id and every order a distinct orderId', () => {
    const ids = new Set(events.map((e) => parse(e).eventId));
    expect(ids.size).toBe(events.length);
    const orders = events.filter((e) => e.topic === TOPICS.userPurchases).map((e) => parse(e).orderId);
    expect(new Set(orders).size).toBe(orders.length);
  });

  it('sends from web and mobile, each session from one source and one user', () => {
    const sessions = new Map<string, string>();
    let mobile = 0;
    let clicks = 0;
    for (const e of events) {
      if (e.topic !== TOPICS.userClicks) continue;
      const v = parse(e);
      const id = `${v.userId as string}/${v.source as string}`;
      expect(sessions.get(v.sessionId as string) ?? id).toBe(id);
      sessions.set(v.sessionId as string, id);
      clicks++;
      if (v.source === 'mobile') mobile++;
    }
    expect(mobile / clicks).toBeGreaterThan(0.3);
    expect(mobile / clicks).toBeLessThan(0.55);
  });
});

describe('traffic shape', () => {
  it('makes product popularity Zipf-skewed', () => {
    const views = new Map<string, number>();
    for (const e of generate('zipf', 300_000)) {
      if (e.topic !== TOPICS.userClicks) continue;
      const v = parse(e);
      if (v.type === 'product_view') views.set(v.productId as string, (views.get(v.productId as string) ?? 0) + 1);
    }
    const counts = [...views.values()].sort((a, b) => b - a);
    const total = counts.reduce((a, b) => a + b, 0);
    const top10 = counts.slice(0, 10).reduce((a, b) => a + b, 0);
    // 0.1% of the catalogue gets over an eighth of the views; the head dwarfs the middle.
    expect(top10 / total).toBeGreaterThan(0.12);
    expect(counts[0]!).toBeGreaterThan(100 * counts[Math.floor(counts.length / 2)]!);
    // The best sellers are not simply p-1, p-2, …
    const top = [...views.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([p]) => p);
    expect(top).not.toEqual(['p-1', 'p-2', 'p-3', 'p-4', 'p-5']);
  });

  it('converts through the funnel at the configured rates', () => {
    const funnel = { viewToCart: 0.1, cartToCheckout: 0.5, checkoutToPurchase: 0.6 };
    // Few open sessions, so that sessions still open at the end barely bias the ratios.
    const model = createShopModel('funnel', { sessions: 200, funnel, mix: { sensors: 0 } });
    const cartSessions = new Set<string>();
    let views = 0;
    let adds = 0;
    let checkouts = 0;
    let purchases = 0;
    for (let i = 0; i < 600_000; i++) {
      const e = model.next(T0 + i);
      const v = parse(e);
      if (v.type === 'product_view') views++;
      else if (v.type === 'add_to_cart') {
        adds++;
        cartSessions.add(v.sessionId as string);
      } else if (v.type === 'checkout_started') checkouts++;
      else if (v.type === 'purchase') purchases++;
    }
    expect(adds / views).toBeCloseTo(funnel.viewToCart, 2);
    expect(checkouts / cartSessions.size).toBeGreaterThan(funnel.cartToCheckout - 0.03);
    expect(checkouts / cartSessions.size).toBeLessThan(funnel.cartToCheckout + 0.03);
    expect(purchases / checkouts).toBeGreaterThan(funnel.checkoutToPurchase - 0.03);
    expect(purchases / checkouts).toBeLessThan(funnel.checkoutToPurchase + 0.03);
    const counts = model.eventCounts();
    expect(counts.purchase).toBe(purchases);
    expect(counts.add_to_cart).toBe(adds);
  });

  it('gives sensors exactly their share of the mix, and none when their weight is 0', () => {
    const n = 100_000;
    const count = (options: ShopModelOptions) => generate('mix', n, options).filter((e) => e.topic === TOPICS.sensorData).length;
    expect(Math.abs(count({ mix: { clicks: 0.75, purchases: 0, sensors: 0.25 } }) - n / 4)).toBeLessThanOrEqual(1);
    expect(count({ mix: { sensors: 0 } })).toBe(0);
    expect(count({ mix: { clicks: 0, purchases: 0, sensors: 1 } })).toBe(n);
  });

  it('lets sensors drift slowly around their own level, with rare anomalies', () => {
    const sensors = 21;
    const series = new Map<string, number[]>();
    for (const e of generate('iot', 168_000, { sensors, anomalyRate: 0.005, mix: { clicks: 0, purchases: 0, sensors: 1 } })) {
      const v = parse(e);
      const list = series.get(v.sensorId as string) ?? [];
      list.push(v.value as number);
      series.set(v.sensorId as string, list);
    }
    expect(series.size).toBe(sensors);
    const fridge = series.get('fridge-1')!;
    expect(fridge).toHaveLength(8000);
    const sorted = [...fridge].sort((a, b) => a - b);
    const median = sorted[fridge.length >> 1]!;
    expect(median).toBeGreaterThan(2);
    expect(median).toBeLessThan(6);
    // Mostly small steps between readings; some readings far off (the anomalies), but few.
    const small = fridge.slice(1).filter((x, i) => Math.abs(x - fridge[i]!) < 1).length;
    expect(small / fridge.length).toBeGreaterThan(0.95);
    const far = fridge.filter((x) => Math.abs(x - median) > 3).length;
    expect(far).toBeGreaterThan(0);
    expect(far / fridge.length).toBeLessThan(0.1);
  });
});

describe('options', () => {
  it('names the bad option', () => {
    expect(() => resolveShopOptions({ users: 0 })).toThrow(/^users must be/);
    expect(() => resolveShopOptions({ zipfExponent: Number.NaN })).toThrow(/^zipfExponent/);
    expect(() => resolveShopOptions({ funnel: { viewToCart: 1.5 } })).toThrow(/^funnel.viewToCart/);
    expect(() => resolveShopOptions({ mix: { clicks: 0, purchases: 0, sensors: 0 } })).toThrow(/mix/);
    expect(() => resolveShopOptions({ currency: 'usd' })).toThrow(/currency/);
  });
});
