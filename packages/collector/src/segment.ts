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
const TRACK_TYPES = new Map<string, string>([
  ['product viewed', 'product_view'],
  ['product clicked', 'click'],
  ['product added', 'add_to_cart'],
  ['product removed', 'remove_from_cart'],
  ['products searched', 'search'],
  ['checkout started', 'checkout_started'],
  ['order completed', 'purchase'],
]);

/** Properties that become fields of the record, so they are not repeated in `properties`. */
const PRODUCT_KEYS = ['product_id', 'productId', 'sku'];
const SESSION_KEYS = ['sessionId', 'session_id'];
const ORDER_KEYS = ['order_id', 'orderId', 'products', 'total', 'currency', ...SESSION_KEYS];

/** Maps one Segment call to the Pulse record of PRODUCT.md §3; `path` names it in errors (`batch[3]`). */
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
  const base = { eventId, userId, ts };

  switch (type) {
    case 'identify':
    case 'group':
    case 'alias': {
      const value =
        type === 'alias'
          ? { eventId, type, userId, previousId: String(call.previousId), ts }
          : type === 'group'
            ? { eventId, type, userId, groupId: String(call.groupId), traits: call.traits ?? {}, ts }
            : { eventId, type, userId, anonymousId: present(call.anonymousId) === undefined ? undefined : String(call.anonymousId), traits: call.traits ?? {}, ts };
      return { topic: topics.identities, key: userId, value: JSON.stringify(value), dedupId: call.messageId };
    }
    case 'page':
    case 'screen': {
      const context = call.context ?? envelope.context;
      const [sessionId, props] = take(call.properties ?? {}, SESSION_KEYS, fieldPath(path, 'properties'));
      const properties: Json = { ...props };
      // The page's path, as the generator writes it; a screen's name plays that part in an app.
      const page = type === 'screen' ? call.name : (props.path ?? nested(context, 'page', 'path'));
      if (page !== undefined && properties.page === undefined) properties.page = page;
      if (call.name !== undefined && properties.name === undefined) properties.name = call.name;
      if (call.category !== undefined && properties.category === undefined) properties.category = call.category;
      const value = { eventId, type: 'page_view', userId, sessionId: sessionId ?? contextSession(context), source: sourceOf(context), ts, properties };
      return { topic: topics.clicks, key: userId, value: JSON.stringify(value), dedupId: call.messageId };
    }
    case 'track': {
      const name = call.event!;
      const pulseType = TRACK_TYPES.get(name.toLowerCase().replace(/_/g, ' '));
      const propsField = fieldPath(path, 'properties');
      const context = call.context ?? envelope.context;
      if (pulseType === 'purchase') {
        return { topic: topics.purchases, key: userId, value: JSON.stringify(purchase(base, call.properties ?? {}, propsField, context)), dedupId: call.messageId };
      }
      const [sessionId, rest] = take(call.properties ?? {}, SESSION_KEYS, propsField);
      let productId: string | undefined;
      let properties = rest;
      if (pulseType !== undefined && pulseType !== 'search' && pulseType !== 'checkout_started') [productId, properties] = take(rest, PRODUCT_KEYS, propsField);
      if (pulseType === undefined) properties = { ...properties, event: name };
      const value = {
        eventId,
        type: pulseType ?? 'click',
        userId,
        sessionId: sessionId ?? contextSession(context),
        productId,
        source: sourceOf(context),
        ts,
        properties,
      };
      return { topic: topics.clicks, key: userId, value: JSON.stringify(value), dedupId: call.messageId };
    }
  }
}

/** `Order Completed` as a purchase: items from `products`, `total` (or `revenue`, `value`), `currency`. */
function purchase(base: { eventId: string; userId: string; ts: number }, props: Json, field: string, context: Json | undefined): Json {
  const orderId = idValue(props.order_id ?? props.orderId, fieldPath(field, 'order_id'));
  if (orderId === undefined) throw badRequest('missing_field', fieldPath(field, 'order_id'), `${fieldPath(field, 'order_id')} is required for Order Completed`);
  const products = props.products ?? [];
  if (!Array.isArray(products)) throw badRequest('wrong_type', fieldPath(field, 'products'), `${fieldPath(field, 'products')} must be an array of products`);
  const items = products.map((p: unknown, i) => {
    const at = fieldPath(fieldPath(field, 'products'), i);
    if (p === null || typeof p !== 'object' || Array.isArray(p)) throw badRequest('wrong_type', at, `${at} must be an object`);
    const product = p as Json;
    const productId = idValue(product.product_id ?? product.productId ?? product.sku, fieldPath(at, 'product_id'));
    if (productId === undefined) throw badRequest('missing_field', fieldPath(at, 'product_id'), `${fieldPath(at, 'product_id')} is required`);
    const quantity = product.quantity ?? 1;
    if (typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
      throw badRequest('invalid_value', fieldPath(at, 'quantity'), `${fieldPath(at, 'quantity')} must be a whole number of at least 1, got ${JSON.stringify(quantity)}`);
    }
    const price = amount(product.price, fieldPath(at, 'price'));
    if (price === undefined) throw badRequest('missing_field', fieldPath(at, 'price'), `${fieldPath(at, 'price')} is required`);
    return { productId, quantity, price };
  });
  const total =
    amount(props.total, fieldPath(field, 'total')) ??
    amount(props.revenue, fieldPath(field, 'revenue')) ??
    amount(props.value, fieldPath(field, 'value')) ??
    Math.round(items.reduce((sum, item) => sum + item.quantity * item.price, 0) * 100) / 100;
  const currency = props.currency ?? 'USD';
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
    throw badRequest('invalid_value', fieldPath(field, 'currency'), `${fieldPath(field, 'currency')} must be a three-letter ISO 4217 code, got ${JSON.stringify(currency)}`);
  }
  const [sessionId] = take(props, SESSION_KEYS, field);
  const properties = without(props, ORDER_KEYS);
  return {
    eventId: base.eventId,
    type: 'purchase',
    userId: base.userId,
    sessionId: sessionId ?? contextSession(context),
    orderId,
    items,
    total,
    currency: currency.toUpperCase(),
    ts: base.ts,
    properties: Object.keys(properties).length > 0 ? properties : undefined,
  };
}

/**
 * Where the call came from, in §3's `source`: `mobile` for Segment's mobile libraries and devices,
 * `web` for analytics.js and anything with a page or user agent, else `server`.
 */
export function sourceOf(context: Json | undefined): 'web' | 'mobile' | 'server' {
  if (context === undefined) return 'server';
  const library = nested(context, 'library', 'name');
  const device = nested(context, 'device', 'type');
  if ((typeof device === 'string' && /^(ios|android)$/i.test(device)) || (typeof library === 'string' && /ios|android|react-native|flutter|swift|kotlin|xamarin/i.test(library))) {
    return 'mobile';
  }
  if ((typeof library === 'string' && /^analytics[.-](js|next)/i.test(library)) || context.page !== undefined || context.userAgent !== undefined) return 'web';
  return 'server';
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
function idValue(value: unknown, field: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw badRequest('wrong_type', field, `${field} must be a string, got ${JSON.stringify(value)}`);
}

function amount(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw badRequest('invalid_value', field, `${field} must be a number of at least 0, got ${JSON.stringify(value)}`);
  return value;
}

/** The first of `keys` present in `props` as an id, and `props` without any of them. */
function take(props: Json, keys: readonly string[], field: string): [string | undefined, Json] {
  let found: string | undefined;
  for (const k of keys) if (found === undefined && props[k] !== undefined) found = idValue(props[k], fieldPath(field, k));
  return [found, without(props, keys)];
}

/** A copy without `keys` (the object itself when it has none of them). */
function without(props: Json, keys: readonly string[]): Json {
  if (!keys.some((k) => Object.hasOwn(props, k))) return props;
  // Spread defines own properties, so a `__proto__` key from the client stays an ordinary key.
  const copy = { ...props };
  for (const k of keys) delete copy[k];
  return copy;
}
