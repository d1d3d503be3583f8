import { describe, expect, it } from 'vitest';
import { countAlerts, lastMinute } from '../src/index.js';

const MIN = 60_000;
const T = 1_764_100_200_000; // a minute boundary

describe('lastMinute', () => {
  const buckets = [
    { start: T - MIN, currency: 'USD', orders: 10, revenue: 100 },
    { start: T, currency: 'USD', orders: 4, revenue: 30 },
    { start: T, currency: 'EUR', orders: 1, revenue: 5 },
    { start: T - 2 * MIN, currency: 'USD', orders: 99, revenue: 999 },
  ];

  it('adds the current minute so far to the share of the previous minute still within 60 s', () => {
    expect(lastMinute(buckets, T)).toEqual({ perMinute: 130, orders: 14, currency: 'USD' });
    expect(lastMinute(buckets, T + 15_000)).toEqual({ perMinute: 105, orders: 12, currency: 'USD' });
    expect(lastMinute(buckets, T + 59_999)).toEqual({ perMinute: 30, orders: 4, currency: 'USD' });
  });

  it('takes the currency with the most revenue, and says nothing without orders', () => {
    expect(lastMinute([{ start: T, currency: 'EUR', orders: 1, revenue: 5 }, { start: T, currency: 'GBP', orders: 1, revenue: 7 }], T + 1000)).toMatchObject({ currency: 'GBP', perMinute: 7 });
    expect(lastMinute([], T)).toBeNull();
    expect(lastMinute([{ start: T - 5 * MIN, currency: 'USD', orders: 1, revenue: 1 }], T)).toBeNull();
  });
});

describe('countAlerts', () => {
  it('reads a list, an object with alerts, or Prometheus data.alerts, by state or status', () => {
    expect(countAlerts([{ state: 'firing' }, { state: 'pending' }, { state: 'resolved' }])).toEqual({ firing: 1, pending: 1 });
    expect(countAlerts({ alerts: [{ status: 'firing' }, { status: { state: 'active' } }, { state: 'PENDING' }] })).toEqual({ firing: 2, pending: 1 });
    expect(countAlerts({ data: { alerts: [{ state: 'firing' }] } })).toEqual({ firing: 1, pending: 0 });
    expect(countAlerts({ nothing: true })).toEqual({ firing: 0, pending: 0 });
  });
});
