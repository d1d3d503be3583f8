import { MAX_BATCH_EVENTS } from './body.js';
import { CollectorError, badRequest } from './errors.js';
import { SEGMENT_TYPES, type SegmentType } from './segment.js';

/**
 * JSON schemas of the request bodies, compiled by fastify's validator (Ajv). They check shapes and
 * types; what a schema cannot say clearly (userId *or* anonymousId, time formats, e-commerce
 * properties) is checked while mapping, with errors that name the field the same way.
 */

const id = { type: ['string', 'number'], minLength: 1, maxLength: 1024 };
/** analytics.js sends `"userId": null` until it knows the user. */
const optionalId = { type: ['string', 'number', 'null'], maxLength: 1024 };
const text = { type: 'string', maxLength: 1024 };
const time = { type: 'string', maxLength: 64 };
const object = { type: 'object' };

const segmentFields = {
  userId: optionalId,
  anonymousId: optionalId,
  messageId: { type: 'string', minLength: 1, maxLength: 256 },
  timestamp: time,
  originalTimestamp: time,
  sentAt: time,
  context: object,
  integrations: object,
  properties: object,
  traits: object,
};

/** What each call type requires beyond the common fields. */
const segmentSpecific: Record<SegmentType, { required: string[]; properties: Record<string, unknown> }> = {
  track: { required: ['event'], properties: { event: { type: 'string', minLength: 1, maxLength: 256 } } },
  page: { required: [], properties: { name: text, category: text } },
  screen: { required: [], properties: { name: text, category: text } },
  identify: { required: [], properties: {} },
  group: { required: ['groupId'], properties: { groupId: id } },
  alias: { required: ['previousId', 'userId'], properties: { previousId: id, userId: id } },
};

/** The body of `/v1/<type>`: one call (its `type` field, if any, is ignored: the path says it). */
export function segmentCallSchema(type: SegmentType): object {
  const s = segmentSpecific[type];
  return { type: 'object', required: s.required, properties: { ...segmentFields, ...s.properties, writeKey: { type: 'string' } } };
}

/** The body of `/v1/batch`. */
export const batchSchema = {
  type: 'object',
  required: ['batch'],
  properties: {
    batch: {
      type: 'array',
      maxItems: MAX_BATCH_EVENTS,
      items: {
        type: 'object',
        required: ['type'],
        discriminator: { propertyName: 'type' },
        oneOf: SEGMENT_TYPES.map((t) => ({
          type: 'object',
          required: segmentSpecific[t].required,
          properties: { ...segmentFields, ...segmentSpecific[t].properties, type: { const: t } },
        })),
      },
    },
    sentAt: time,
    context: object,
    integrations: object,
    writeKey: { type: 'string' },
  },
};

const CLICK_TYPES = ['page_view', 'product_view', 'click', 'add_to_cart', 'remove_from_cart', 'search', 'checkout_started'] as const;
const NATIVE_TYPES = [...CLICK_TYPES, 'purchase'];

const nativeEvent = {
  type: 'object',
  required: ['type', 'userId', 'ts'],
  properties: {
    eventId: { type: 'string', minLength: 1, maxLength: 256 },
    type: { type: 'string', enum: NATIVE_TYPES },
    userId: { type: 'string', minLength: 1, maxLength: 1024 },
    sessionId: text,
    productId: text,
    source: text,
    ts: { type: 'integer' },
    properties: object,
    orderId: text,
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['productId', 'quantity', 'price'],
        properties: { productId: text, quantity: { type: 'integer', minimum: 1 }, price: { type: 'number', minimum: 0 } },
      },
    },
    total: { type: 'number', minimum: 0 },
    currency: { type: 'string', pattern: '^[A-Z]{3}$' },
  },
};

const sensorReading = {
  type: 'object',
  required: ['sensorId', 'metric', 'value', 'ts'],
  properties: {
    eventId: { type: 'string', minLength: 1, maxLength: 256 },
    sensorId: { type: 'string', minLength: 1, maxLength: 1024 },
    metric: { type: 'string', minLength: 1, maxLength: 256 },
    value: { type: 'number' },
    unit: text,
    ts: { type: 'integer' },
    properties: object,
  },
};

/** One event or an array of at most MAX_BATCH_EVENTS of them. */
function oneOrMany(item: object): object {
  return { if: { type: 'array' }, then: { type: 'array', maxItems: MAX_BATCH_EVENTS, items: item }, else: item };
}

export const nativeEventsSchema = oneOrMany(nativeEvent);
export const sensorReadingsSchema = oneOrMany(sensorReading);

/** The part of an Ajv error the collector reads. */
export interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
  data?: unknown;
}

/** `/batch/3/userId` → `batch[3].userId`. */
function pointerToPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    path = /^\d+$/.test(part) ? `${path}[${part}]` : /^[A-Za-z_$][\w$]*$/.test(part) ? (path === '' ? part : `${path}.${part}`) : `${path}[${JSON.stringify(part)}]`;
  }
  return path;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)?.slice(0, 64)}`;
}

/** The first schema violation as the collector's 400 (or 413 for too many events). */
export function schemaError(errors: readonly SchemaError[]): CollectorError {
  // `if` only reports that its branch failed, after the branch's own, more precise error.
  const e = errors.find((x) => x.keyword !== 'if') ?? errors[0]!;
  const at = pointerToPath(e.instancePath);
  const field = at === '' ? undefined : at;
  const name = field ?? 'the body';
  switch (e.keyword) {
    case 'required': {
      const missing = at === '' ? String(e.params.missingProperty) : `${at}.${String(e.params.missingProperty)}`;
      return badRequest('missing_field', missing, `${missing} is required`);
    }
    case 'type':
      return badRequest('wrong_type', field, `${name} must be ${String(e.params.type).replace(/,/g, ' or ')}, got ${describe(e.data)}`);
    case 'discriminator':
      return badRequest('unknown_type', field === undefined ? 'type' : `${field}.type`, `${field === undefined ? 'type' : `${field}.type`} must be one of ${SEGMENT_TYPES.join(', ')}, got ${describe(e.params.tagValue)}`);
    case 'enum':
      if (at.endsWith('type')) return badRequest('unknown_type', field, `${name} must be one of ${(e.params.allowedValues as string[]).join(', ')}, got ${describe(e.data)}`);
      return badRequest('invalid_value', field, `${name} must be one of ${(e.params.allowedValues as unknown[]).map(String).join(', ')}`);
    case 'maxItems':
      return new CollectorError(413, 'too_large', `${name} has ${Array.isArray(e.data) ? e.data.length : 'too many'} events; a request may carry at most ${MAX_BATCH_EVENTS}`, field);
    default:
      return badRequest('invalid_value', field, `${name} ${e.message ?? 'is not valid'}`);
  }
}
