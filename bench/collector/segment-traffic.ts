import { createShopModel } from '@pulse/loadgen';

/**
 * Realistic Segment traffic for the collector benchmark: the load generator's shoppers (page views,
 * searches, product views, carts, checkouts, orders), each event rewritten as the call analytics.js
 * would send for it, with a browser's context. Events are prepared once; each request gets fresh
 * messageIds and timestamps spliced in, so that deduplication never drops a benchmark event.
 */
export class SegmentTraffic {
  /** Each event's JSON without its opening brace, so that per-request fields can be put in front. */
  private readonly events: string[];
  /** The track calls among them, for single-event requests to /v1/track. */
  private readonly tracks: string[];
  private cursor = 0;
  private sequence = 0;

  constructor(
    seed: string,
    pool: number,
    private readonly runId: string,
  ) {
    const model = createShopModel(seed, { mix: { clicks: 1, purchases: 0, sensors: 0 } });
    const calls = Array.from({ length: pool }, () => toSegment(JSON.parse(model.next(0).value) as Shop));
    this.events = calls.map((c) => JSON.stringify(c).slice(1));
    this.tracks = calls.filter((c) => c.type === 'track').map((c) => JSON.stringify(c).slice(1));
  }

  /** The body of one `/v1/track` call. */
  track(): string {
    return this.event(this.tracks, new Date().toISOString());
  }

  /** The body of a `/v1/batch` request of `size` events. */
  batch(size: number): string {
    const now = new Date().toISOString();
    let body = '{"batch":[';
    for (let i = 0; i < size; i++) body += (i > 0 ? ',' : '') + this.event(this.events, now);
    return `${body}],"sentAt":"${now}"}`;
  }

  private event(from: readonly string[], timestamp: string): string {
    const e = from[this.cursor % from.length]!;
    this.cursor++;
    return `{"messageId":"${this.runId}-${this.sequence++}","timestamp":"${timestamp}",${e}`;
  }
}

interface Shop {
  type: string;
  userId: string;
  sessionId: string;
  productId?: string;
  orderId?: string;
  items?: { productId: string; quantity: number; price: number }[];
  total?: number;
  currency?: string;
  properties?: Record<string, unknown>;
}

const EVENT_NAMES: Record<string, string> = {
  product_view: 'Product Viewed',
  click: 'Product Clicked',
  add_to_cart: 'Product Added',
  remove_from_cart: 'Product Removed',
  search: 'Products Searched',
  checkout_started: 'Checkout Started',
  purchase: 'Order Completed',
};

const CONTEXT = {
  library: { name: 'analytics.js', version: 'npm:next-1.70.0' },
  locale: 'en-US',
  userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
};

function toSegment(e: Shop): Record<string, unknown> {
  const page = typeof e.properties?.page === 'string' ? e.properties.page : '/';
  const context = { ...CONTEXT, page: { path: page, url: `https://shop.example${page}`, referrer: 'https://www.google.com/', title: 'Pulse Shop' } };
  const common = { type: 'track', userId: e.userId, anonymousId: `a-${e.userId}`, context };
  if (e.type === 'page_view') return { ...common, type: 'page', name: page, properties: { path: page, sessionId: e.sessionId } };
  if (e.type === 'purchase') {
    const products = e.items!.map((i) => ({ product_id: i.productId, quantity: i.quantity, price: i.price }));
    return { ...common, event: EVENT_NAMES.purchase, properties: { order_id: e.orderId, total: e.total, currency: e.currency, products, sessionId: e.sessionId } };
  }
  return { ...common, event: EVENT_NAMES[e.type], properties: { ...e.properties, product_id: e.productId, sessionId: e.sessionId } };
}
