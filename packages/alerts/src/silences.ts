import { randomUUID } from 'node:crypto';
import type { Labels } from './model.js';

/**
 * Silences (docs/alerting.md, "Silences"), shaped as Alertmanager's API v2 takes them: matchers on
 * labels, a time range, who and why. A silence mutes the webhook notifications of the alerts it
 * matches while it is active; alerts themselves are still evaluated, recorded and sent to Alertmanager
 * (which has silences of its own).
 */
export interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual: boolean;
}

export interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: number;
  endsAt: number;
  createdBy: string;
  comment: string;
  createdAt: number;
}

/** Whether a silence applies to an alert with these labels at time `now`. */
export function silences(s: Silence, labels: Labels, now: number): boolean {
  if (now < s.startsAt || now >= s.endsAt) return false;
  return s.matchers.every((m) => {
    const v = labels[m.name] ?? '';
    const hit = m.isRegex ? new RegExp(`^(?:${m.value})$`).test(v) : v === m.value;
    return hit === m.isEqual;
  });
}

/** Whether a record read from pulse-alert-silences has the shape `silences()` relies on. */
export function isSilence(x: unknown): x is Silence {
  const s = x as Silence | null;
  return (
    s !== null &&
    typeof s === 'object' &&
    typeof s.id === 'string' &&
    typeof s.startsAt === 'number' &&
    typeof s.endsAt === 'number' &&
    Array.isArray(s.matchers) &&
    s.matchers.every((m) => typeof m?.name === 'string' && typeof m.value === 'string' && typeof m.isRegex === 'boolean' && typeof m.isEqual === 'boolean' && (!m.isRegex || isRegex(m.value)))
  );
}

function isRegex(text: string): boolean {
  try {
    new RegExp(text);
    return true;
  } catch {
    return false;
  }
}

export class SilenceError extends Error {
  override readonly name = 'SilenceError';
}

/**
 * Validates a silence as POST /api/v1/silences receives it (times as ISO strings or ms since the
 * epoch), and gives it an id.
 */
export function parseSilence(raw: unknown, now: number): Silence {
  const r = (raw ?? {}) as Record<string, unknown>;
  if (!Array.isArray(r.matchers) || r.matchers.length === 0) throw new SilenceError('matchers: at least one matcher is required');
  const matchers = r.matchers.map((m: unknown, i: number): Matcher => {
    const x = (m ?? {}) as Record<string, unknown>;
    if (typeof x.name !== 'string' || x.name === '') throw new SilenceError(`matchers[${i}].name: expected a label name`);
    if (typeof x.value !== 'string') throw new SilenceError(`matchers[${i}].value: expected a string`);
    const isRegex = x.isRegex === undefined ? false : x.isRegex;
    const isEqual = x.isEqual === undefined ? true : x.isEqual;
    if (typeof isRegex !== 'boolean') throw new SilenceError(`matchers[${i}].isRegex: expected a boolean`);
    if (typeof isEqual !== 'boolean') throw new SilenceError(`matchers[${i}].isEqual: expected a boolean`);
    if (isRegex) {
      try {
        new RegExp(x.value);
      } catch (err) {
        throw new SilenceError(`matchers[${i}].value: not a regular expression: ${(err as Error).message}`);
      }
    }
    return { name: x.name, value: x.value, isRegex, isEqual };
  });
  const time = (field: string, fallback: number | null): number => {
    const v = r[field];
    if (v === undefined && fallback !== null) return fallback;
    const t = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
    if (!Number.isFinite(t)) throw new SilenceError(`${field}: expected an ISO 8601 time or milliseconds since the epoch, got ${JSON.stringify(v)}`);
    return t;
  };
  const startsAt = time('startsAt', now);
  const endsAt = time('endsAt', null);
  if (endsAt <= startsAt) throw new SilenceError('endsAt: must be after startsAt');
  const text = (field: string, fallback: string): string => {
    const v = r[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'string') throw new SilenceError(`${field}: expected a string`);
    return v;
  };
  return { id: randomUUID(), matchers, startsAt, endsAt, createdBy: text('createdBy', 'api'), comment: text('comment', ''), createdAt: now };
}
