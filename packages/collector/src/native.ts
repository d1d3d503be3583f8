import { randomUUID } from 'node:crypto';
import { fieldPath } from './errors.js';
import type { OutRecord } from './ingest.js';
import type { TopicNames } from './segment.js';
import { checkEventTime } from './time.js';

type Json = Record<string, unknown>;

/** A user event in the shape of docs/specification.md, "Event records", as its JSON schema lets it through (schemas.ts). */
export interface NativeEvent {
  eventId?: string;
  type: string;
  userId: string;
  sessionId?: string;
  productId?: string;
  source?: string;
  orderId?: string;
  items?: { productId: string; quantity: number; price: number }[];
  total?: number;
  currency?: string;
  ts: number;
  properties?: Json;
  [extra: string]: unknown;
}

export interface SensorReading {
  eventId?: string;
  sensorId: string;
  metric: string;
  value: number;
  unit?: string;
  ts: number;
  properties?: Json;
  [extra: string]: unknown;
}

/** Fields beyond the §3 shape are kept, in `properties` (a field of that name wins). */
function withExtras(properties: Json | undefined, extra: Json): Json | undefined {
  return Object.keys(extra).length === 0 ? properties : { ...extra, ...properties };
}

/** A §3 user event, with its eventId filled in when the client left it out; `path` names it in errors. */
export function mapNativeEvent(event: NativeEvent, receivedAt: number, path: string, topics: TopicNames): OutRecord {
  const ts = checkEventTime(event.ts, receivedAt, fieldPath(path, 'ts'));
  const eventId = event.eventId ?? randomUUID();
  if (event.type === 'purchase') {
    const { eventId: _id, type, userId, sessionId, orderId, items, total, currency, ts: _ts, properties, ...extra } = event;
    const value = { eventId, type, userId, sessionId, orderId, items, total, currency, ts, properties: withExtras(properties, extra) };
    return { topic: topics.purchases, key: userId, value: JSON.stringify(value), dedupId: event.eventId };
  }
  const { eventId: _id, type, userId, sessionId, productId, source, ts: _ts, properties, ...extra } = event;
  const value = { eventId, type, userId, sessionId, productId, source, ts, properties: withExtras(properties, extra) ?? {} };
  return { topic: topics.clicks, key: userId, value: JSON.stringify(value), dedupId: event.eventId };
}

export function mapSensorReading(reading: SensorReading, receivedAt: number, path: string, topics: TopicNames): OutRecord {
  const ts = checkEventTime(reading.ts, receivedAt, fieldPath(path, 'ts'));
  const { eventId: _id, sensorId, metric, value, unit, ts: _ts, properties, ...extra } = reading;
  const record = { eventId: reading.eventId ?? randomUUID(), sensorId, metric, value, unit, ts, properties: withExtras(properties, extra) };
  return { topic: topics.sensors, key: sensorId, value: JSON.stringify(record), dedupId: reading.eventId };
}
