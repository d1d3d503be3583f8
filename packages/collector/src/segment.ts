import { randomUUID } from 'node:crypto';
import { badRequest, fieldPath } from './errors.js';
import type { OutRecord } from './ingest.js';
import { parseIsoTime, segmentEventTime } from './time.js';

/** Topics the collector writes to; the spec's unless overridden (tests). */
export interface TopicNames {
  readonly clicks: string;
  readonly purchases: string;
  readonly sensors: string;
  readonly identities: string;
}

/** The topic of each kind of record mapped natively (crates/pulse-engine/src/segment.rs: 0 clicks, 1 purchases, 2 identities). */
export function outputTopics(topics: TopicNames): string[] {
  return [topics.clicks, topics.purchases, topics.identities];
}

export type SegmentType = 'track' | 'page' | 'screen' | 'identify' | 'group' | 'alias';
export const SEGMENT_TYPES: readonly SegmentType[] = ['track', 'page', 'screen', 'identify', 'group', 'alias'];

type Json = Record<string, unknown>;

/** A Segment call as its JSON schema lets it through (schemas.ts). */
export interface SegmentCall {
  type?: SegmentType;
  /** analytics.js sends `null` for a user it does not know yet. */
  userId?: string | number | null;
  anonymousId?: string | number | null;
  messageId?: string;
  timestamp?: string;
  originalTimestamp?: string;
  sentAt?: string;
  event?: string;
  name?: string;
  category?: string;
  groupId?: string | number;
  previousId?: string | number;
  properties?: Json;
  traits?: Json;
  context?: Json;
}

/** What a call shares with the rest of its request. */
export interface Envelope {
  /** When the request arrived (epoch ms). */
  readonly receivedAt: number;
  /** The batch's `sentAt`, epoch ms. */
  readonly sentAt?: number;
  /** The batch's `context`, for calls without their own. */
  readonly context?: Json;
}

/**
 * Segment's e-commerce spec events (v2) and the Pulse type each becomes. Names are matched
 * case-insensitively, with `_` read as a space (`product_viewed` = `Product Viewed`). Any other track
 * event is a `click` with its name in `properties.event`.
 */
const SPEC_EVENTS: readonly [string, string][] = [
  ['Product Viewed', 'product_view'],
  ['Product Clicked', 'click'],
  ['Product Added', 'add_to_cart'],
  ['Product Removed', 'remove_from_cart'],
  ['Products Searched', 'search'],
  ['Checkout Started', 'checkout_started'],
  ['Order Completed', 'purchase'],
];
/** The spec's names as they are, and normalised (looked up only when the exact name misses). */
const TRACK_TYPES = new Map<string, string>(SPEC_EVENTS.flatMap(([name, type]) => [[name, type], [name.toLowerCase(), type]] as [string, string][]));

/** Maps one Segment call to the Pulse record of docs/specification.md, "Event records"; `path` names it in errors (`batch[3]`). */
export function mapSegmentCall(call: SegmentCall, type: SegmentType, envelope: Envelope, path: string, topics: TopicNames): OutRecord {
  const user = present(call.userId) ?? present(call.anonymousId);
  if (user === undefined) {
    throw badRequest('missing_field', fieldPath(path, 'userId'), `${fieldPath(path, 'userId')} or ${fieldPath(path, 'anonymousId')} is required`);
  }
  const userId = String(user);
  const sentAt = call.sentAt === undefined ? envelope.sentAt : parseIsoTime(call.sentAt, fieldPath(path, 'sentAt'));
  const timestampField = fieldPath(path, call.timestamp === undefined && call.originalTimestamp !== undefined ? 'originalTimestamp' : 'timestamp');
  const ts = segmentEventTime(call.timestamp ?? call.originalTimestamp, sentAt, envelope.receivedAt, timestampField);
  const eventId = call.messageId ?? randomUUID();
  const record = (topic: string, value: object): OutRecord => ({ topic, key: userId, value: JSON.stringify(value), dedupId: call.messageId });

  if (type === 'identify' || type === 'group' || type === 'alias') {
    if (type === 'alias') return record(topics.identities, { eventId, type, userId, previousId: String(call.previousId), ts });
    if (type === 'group') return record(topics.identities, { eventId, type, userId, groupId: String(call.groupId), traits: call.traits ?? {}, ts });
    const anonymousId = present(call.anonymousId);
    return record(topics.identities, { eventId, type, userId, anonymousId: anonymousId === undefined ? undefined : String(anonymousId), traits: call.traits ?? {}, ts });
  }

  const context = call.context ?? envelope.context;
  const props = call.properties ?? {};
  const propsField = fieldPath(path, 'properties');
  // Properties that become fields of the record are not repeated in `properties` (object rest copies
  // the others as own properties, so a client's `__proto__` key stays an ordinary key).
  const sessionId = idValue(props.sessionId ?? props.session_id, propsField, 'sessionId') ?? contextSession(context);
  const source = sourceOf(context);

  if (type === 'page' || type === 'screen') {
    const { sessionId: _s, session_id: _t, ...properties } = props;
    // The page's path, as the generator writes it; a screen's name plays that part in an app.
    const page = type === 'screen' ? call.name : (props.path ?? nested(context, 'page', 'path'));
    if (page !== undefined && properties.page === undefined) properties.page = page;
    if (call.name !== undefined && properties.name === undefined) properties.name = call.name;
    if (call.category !== undefined && properties.category === undefined) properties.category = call.category;
    return record(topics.clicks, { eventId, type: 'page_view', userId, sessionId, source, ts, properties });
  }

  const name = call.event!;
  const pulseType = TRACK_TYPES.get(name) ?? TRACK_TYPES.get(name.toLowerCase().replace(/_/g, ' '));
  if (pulseType === 'purchase') return record(topics.purchases, purchase(eventId, userId, sessionId, ts, props, propsField));
  if (pulseType === undefined || pulseType === 'search' || pulseType === 'checkout_started') {
    const { sessionId: _s, session_id: _t, ...properties } = props;
    if (pulseType === undefined) properties.event = name;
    return record(topics.clicks, { eventId, type: pulseType ?? 'click', userId, sessionId, source, ts, properties });
  }
  const { product_id, productId: camel, sku, sessionId: _s, session_id: _t, ...properties } = props;
  const productId = idValue(product_id ?? camel ?? sku, propsField, 'product_id');
  return record(topics.clicks, { eventId, type: pulseType, userId, sessionId, productId, source, ts, properties });
}

/** `Order Completed` as a purchase: items from `products`, `total` (or `revenue`, `value`), `currency`. */
function purchase(eventId: string, userId: string, sessionId: string | undefined, ts: number, props: Json, field: string): Json {
  const { order_id, orderId: camel, products = [], total, currency = 'USD', sessionId: _s, session_id: _t, ...rest } = props;
  const orderId = idValue(order_id ?? camel, field, 'order_id');
  if (orderId === undefined) throw badRequest('missing_field', fieldPath(field, 'order_id'), `${fieldPath(field, 'order_id')} is required for Order Completed`);
  if (!Array.isArray(products)) throw badRequest('wrong_type', fieldPath(field, 'products'), `${fieldPath(field, 'products')} must be an array of products`);
  const items = products.map((p: unknown, i) => {
    const at = fieldPath(fieldPath(field, 'products'), i);
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw badRequest('wrong_type', at, `${at} must be an object`);
    const product = p as Json;
    const productId = idValue(product.product_id ?? product.productId ?? product.sku, at, 'product_id');
    if (productId === undefined) throw badRequest('missing_field', fieldPath(at, 'product_id'), `${fieldPath(at, 'product_id')} is required`);
    const quantity = product.quantity ?? 1;
    if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
      throw badRequest('invalid_value', fieldPath(at, 'quantity'), `${fieldPath(at, 'quantity')} must be a whole number of at least 1, got ${JSON.stringify(quantity)}`);
    }
    const price = amount(product.price, at, 'price');
    if (price === undefined) throw badRequest('missing_field', fieldPath(at, 'price'), `${fieldPath(at, 'price')} is required`);
    return { productId, quantity, price };
  });
  const orderTotal =
    amount(total, field, 'total') ??
    amount(rest.revenue, field, 'revenue') ??
    amount(rest.value, field, 'value') ??
    Math.round(items.reduce((sum, item) => sum + item.quantity * item.price, 0) * 100) / 100;
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
    throw badRequest('invalid_value', fieldPath(field, 'currency'), `${fieldPath(field, 'currency')} must be a three-letter ISO 4217 code, got ${JSON.stringify(currency)}`);
  }
  return {
    eventId,
    type: 'purchase',
    userId,
    sessionId,
    orderId,
    items,
    total: orderTotal,
    currency: currency.toUpperCase(),
    ts,
    properties: Object.keys(rest).length > 0 ? rest : undefined,
  };
}

/** What each library name means for `source`, worked out once per name (there are few of them). */
const libraryKinds = new Map<string, 'web' | 'mobile' | 'server'>();
const MAX_LIBRARY_NAMES = 1000;

function libraryKind(library: string): 'web' | 'mobile' | 'server' {
  let kind = libraryKinds.get(library);
  if (kind === undefined) {
    kind = /ios|android|react-native|flutter|swift|kotlin|xamarin/i.test(library) ? 'mobile' : /^analytics[.-](js|next)/i.test(library) ? 'web' : 'server';
    if (libraryKinds.size < MAX_LIBRARY_NAMES) libraryKinds.set(library, kind);
  }
  return kind;
}

/**
 * Where the call came from, in §3's `source`: `mobile` for Segment's mobile libraries and devices,
 * `web` for analytics.js and anything with a page or user agent, else `server`.
 */
export function sourceOf(context: Json | undefined): 'web' | 'mobile' | 'server' {
  if (context === undefined) return 'server';
  const device = nested(context, 'device', 'type');
  if (typeof device === 'string' && /^(ios|android)$/i.test(device)) return 'mobile';
  const library = nested(context, 'library', 'name');
  const kind = typeof library === 'string' ? libraryKind(library) : 'server';
  return kind === 'server' && (context.page !== undefined || context.userAgent !== undefined) ? 'web' : kind;
}

function present<T>(value: T | null | undefined | ''): T | undefined {
  return value === null || value === undefined || value === '' ? undefined : value;
}

function contextSession(context: Json | undefined): string | undefined {
  const s = context?.sessionId ?? context?.session_id;
  return typeof s === 'string' || typeof s === 'number' ? String(s) : undefined;
}

function nested(obj: Json | undefined, a: string, b: string): unknown {
  const inner = obj?.[a];
  return inner !== null && typeof inner === 'object' ? (inner as Json)[b] : undefined;
}

/** An id given as a string or a number, as a string; undefined when absent. */
function idValue(value: unknown, path: string, key: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  const field = fieldPath(path, key);
  throw badRequest('wrong_type', field, `${field} must be a string, got ${JSON.stringify(value)}`);
}

function amount(value: unknown, path: string, key: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return value;
  const field = fieldPath(path, key);
  throw badRequest('invalid_value', field, `${field} must be a number of at least 0, got ${JSON.stringify(value)}`);
}
