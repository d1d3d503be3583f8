/**
 * Why a request was refused. `code` is stable (clients and metrics key on it); `field` names the part
 * of the request at fault in the path notation of the body (`batch[3].properties.products[0].price`).
 */
export type RejectCode =
  | 'invalid_json'
  | 'invalid_encoding'
  | 'too_deep'
  | 'missing_field'
  | 'wrong_type'
  | 'invalid_value'
  | 'invalid_timestamp'
  | 'unknown_type'
  | 'too_large'
  | 'unauthorized'
  | 'rate_limited'
  | 'unavailable'
  | 'overloaded';

export class CollectorError extends Error {
  override readonly name = 'CollectorError';
  constructor(
    readonly statusCode: 400 | 401 | 413 | 429 | 503,
    readonly code: RejectCode,
    message: string,
    readonly field?: string,
    /** Seconds, for 429 and 503. */
    readonly retryAfterSec?: number,
  ) {
    super(message);
  }

  /** The JSON body of the answer. */
  toJSON(): { success: false; code: RejectCode; message: string; field?: string } {
    return this.field === undefined ? { success: false, code: this.code, message: this.message } : { success: false, code: this.code, message: this.message, field: this.field };
  }
}

export const badRequest = (code: RejectCode, field: string | undefined, message: string): CollectorError => new CollectorError(400, code, message, field);

/** `batch[3].userId` from a base path and a property name or an index. */
export function fieldPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}
