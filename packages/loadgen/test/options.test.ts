import { describe, expect, it } from 'vitest';
import { parseFunnel, parseMix } from '../src/index.js';

describe('--mix and --funnel parsing', () => {
  it('reads name=value lists in any order, leaving out names', () => {
    expect(parseMix('clicks=0.9,purchases=0.02,sensors=0.08')).toEqual({ clicks: 0.9, purchases: 0.02, sensors: 0.08 });
    expect(parseMix(' sensors = 1 ')).toEqual({ sensors: 1 });
    expect(parseFunnel('cart-checkout=0.4,view-cart=0.1')).toEqual({ cartToCheckout: 0.4, viewToCart: 0.1 });
  });

  it('names what is wrong', () => {
    expect(() => parseMix('clicks=0.9,views=0.1')).toThrow(/--mix: unknown name "views"; expected clicks, purchases, sensors/);
    expect(() => parseMix('clicks=lots')).toThrow(/--mix: clicks must be a number ≥ 0, got "lots"/);
    expect(() => parseMix('clicks')).toThrow(/clicks must be a number/);
    expect(() => parseMix('sensors=-1')).toThrow(/sensors must be a number ≥ 0/);
    expect(() => parseFunnel('view-cart=1.2')).toThrow(/--funnel: view-cart is a probability/);
  });
});
