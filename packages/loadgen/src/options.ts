import type { Funnel, Mix } from './model.js';

/**
 * Parses `name=value,name=value` lists such as `--mix clicks=0.9,sensors=0.1`. Names may be given in
 * any order and left out (they keep their defaults); unknown names and non-numbers are errors that
 * say which.
 */
export function parseWeights<K extends string>(text: string, names: readonly K[], what: string): Partial<Record<K, number>> {
  const out: Partial<Record<K, number>> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const name = (eq < 0 ? item : item.slice(0, eq).trim()) as K;
    if (!names.includes(name)) throw new RangeError(`${what}: unknown name ${JSON.stringify(name)}; expected ${names.join(', ')}`);
    const raw = eq < 0 ? '' : item.slice(eq + 1).trim();
    const value = Number(raw);
    if (raw === '' || !Number.isFinite(value) || value < 0) throw new RangeError(`${what}: ${name} must be a number ≥ 0, got ${JSON.stringify(raw)}`);
    out[name] = value;
  }
  return out;
}

export const MIX_NAMES = ['clicks', 'purchases', 'sensors'] as const satisfies readonly (keyof Mix)[];

/** Funnel names as written on the command line, and the option each sets. */
export const FUNNEL_NAMES = { 'view-cart': 'viewToCart', 'cart-checkout': 'cartToCheckout', 'checkout-purchase': 'checkoutToPurchase' } as const satisfies Record<
  string,
  keyof Funnel
>;

export function parseMix(text: string): Partial<Mix> {
  return parseWeights(text, MIX_NAMES, '--mix');
}

export function parseFunnel(text: string): Partial<Funnel> {
  const named = parseWeights(text, Object.keys(FUNNEL_NAMES) as (keyof typeof FUNNEL_NAMES)[], '--funnel');
  const out: { -readonly [K in keyof Funnel]?: number } = {};
  for (const [name, value] of Object.entries(named) as [keyof typeof FUNNEL_NAMES, number][]) {
    if (value > 1) throw new RangeError(`--funnel: ${name} is a probability and must be ≤ 1, got ${value}`);
    out[FUNNEL_NAMES[name]] = value;
  }
  return out;
}
