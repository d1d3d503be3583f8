import { describe, expect, it } from 'vitest';
import { Evaluator } from '../src/evaluator.js';
import { fingerprint } from '../src/model.js';
import { builtInRules, parseRule, type Rule } from '../src/rules.js';

const MIN = 60_000;
const W = 5 * MIN;
const T0 = 1_764_099_900_000; // a window boundary

const spike = builtInRules({ userActivityThreshold: 500, aggregatorGroup: 'pulse-aggregator' }).filter((r) => r.name === 'UserActivitySpike');
const rule = (raw: object): Rule => parseRule(raw, 'test');
const act = (ev: Evaluator, userId: string, windowStart: number, count: number, t: number, partition = 0, final = false) =>
  ev.observeActivity({ userId, windowStart, windowEnd: windowStart + W, count, final }, t, partition);

describe('user_activity (UserActivitySpike)', () => {
  it('fires at the threshold, with its labels and fingerprint, and resolves once a newer window is current', () => {
    const ev = new Evaluator(spike);
    act(ev, 'u-1', T0, 499, T0 + 1000);
    expect(ev.takeTransitions()).toEqual([]);
    act(ev, 'u-1', T0, 500, T0 + 2000);
    const [fired, ...rest] = ev.takeTransitions();
    expect(rest).toEqual([]);
    expect(fired).toMatchObject({ status: 'firing', rule: 'UserActivitySpike', labels: { alertname: 'UserActivitySpike', userId: 'u-1', severity: 'warning' }, startsAt: T0 + 2000, endsAt: 0, value: 500 });
    expect(fired!.fingerprint).toBe(fingerprint({ alertname: 'UserActivitySpike', severity: 'warning', userId: 'u-1' }));
    expect(fired!.annotations.description).toContain('User u-1 sent 500 events');

    // More counts in the same window: still firing, no new transition.
    act(ev, 'u-1', T0, 900, T0 + 3000);
    ev.tick(T0 + 4000, 0);
    expect(ev.takeTransitions()).toEqual([]);
    expect(ev.active().map((a) => a.status)).toEqual(['firing']);

    // Another user's count in the next window moves the current window on: u-1's count there is 0.
    act(ev, 'u-2', T0 + W, 3, T0 + W + 10);
    const [resolved] = ev.takeTransitions();
    expect(resolved).toMatchObject({ status: 'resolved', startsAt: T0 + 2000, endsAt: T0 + W + 10, fingerprint: fired!.fingerprint });
    expect(ev.active()).toEqual([]);
  });

  it('keeps the current window per partition, and a final record closes it', () => {
    const ev = new Evaluator(spike);
    act(ev, 'bot', T0, 600, T0 + 100, 3);
    act(ev, 'u-2', T0 + W, 1, T0 + W, 4); // another partition moves on: says nothing about partition 3
    expect(ev.takeTransitions().map((t) => t.status)).toEqual(['firing']);
    // The bot's own final record: its window closed and nothing of it came in the next one.
    act(ev, 'bot', T0, 600, T0 + W + MIN, 3, true);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', endsAt: T0 + W + MIN, labels: { userId: 'bot' } }]);
  });

  it('ignores updates of a window that is no longer current', () => {
    const ev = new Evaluator(spike);
    act(ev, 'u-2', T0 + W, 1, T0 + W);
    act(ev, 'u-1', T0, 800, T0 + W + 5);
    expect(ev.takeTransitions()).toEqual([]);
  });

  it('stays firing while the user stays above the threshold in the next window', () => {
    const ev = new Evaluator(spike);
    act(ev, 'u-1', T0, 600, T0 + 100);
    act(ev, 'u-1', T0 + W, 600, T0 + W + 100);
    // The first record of the new window resolves it (its count there is below), the second re-fires:
    // as specified, the condition is the count in the current window.
    expect(ev.takeTransitions().map((t) => t.status)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('1 000 000 users below the threshold leave no per-user state', () => {
    const ev = new Evaluator(spike);
    for (let i = 0; i < 1_000_000; i++) act(ev, `u-${i}`, T0, 10, T0 + i);
    expect(ev.snapshot().alerts).toEqual([]);
    expect(ev.counters.records).toBe(1_000_000);
  });
});

describe('for and keep_firing_for', () => {
  const held = rule({ alert: 'Held', kind: 'user_activity', threshold: 10, for: '2m', keep_firing_for: '1m' });

  it('is pending until `for` has elapsed in stream time, then fires with startsAt = that time', () => {
    const ev = new Evaluator([held]);
    act(ev, 'u-1', T0, 10, T0 + 1000);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'pending', activeAt: T0 + 1000, startsAt: 0 }]);
    ev.tick(T0 + 1000 + 2 * MIN - 1, 0);
    expect(ev.takeTransitions()).toEqual([]);
    ev.tick(T0 + 1000 + 2 * MIN, 0);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', activeAt: T0 + 1000, startsAt: T0 + 1000 + 2 * MIN }]);
  });

  it('a pending alert whose condition ends goes inactive without firing', () => {
    const ev = new Evaluator([rule({ alert: 'Long', kind: 'user_activity', threshold: 10, for: '10m' })]);
    act(ev, 'u-1', T0, 10, T0 + 1000);
    act(ev, 'u-9', T0 + W, 1, T0 + W);
    expect(ev.takeTransitions().map((t) => t.status)).toEqual(['pending', 'inactive']);
    expect(ev.active()).toEqual([]);
  });

  it('fires when `for` elapsed before the record that ends the condition, even with no tick in between', () => {
    const ev = new Evaluator([held]);
    act(ev, 'u-1', T0, 10, T0 + 1000);
    act(ev, 'u-9', T0 + W, 1, T0 + W);
    expect(ev.takeTransitions()).toMatchObject([
      { status: 'pending' },
      { status: 'firing', startsAt: T0 + 1000 + 2 * MIN },
    ]);
    // keep_firing_for (1m) holds it from the window's end on.
    ev.tick(T0 + W + MIN, 0);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', endsAt: T0 + W + MIN }]);
  });

  it('keep_firing_for holds a firing alert after its condition ends, and a return of the condition resets it', () => {
    const ev = new Evaluator([rule({ alert: 'Kept', kind: 'sensor_anomaly', valueAbove: 8, keep_firing_for: '1m' })]);
    const stats = (max: number, t: number) => ev.observeSensor({ sensorId: 'fridge-7', metric: 'temperature', windowStart: t - (t % MIN), min: 4, max, anomalyScore: 0, final: false }, t);
    stats(9, T0);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', labels: { sensorId: 'fridge-7', metric: 'temperature' }, value: 9 }]);
    stats(5, T0 + MIN);
    ev.tick(T0 + MIN + 30_000, 0);
    expect(ev.takeTransitions()).toEqual([]);
    stats(9.5, T0 + MIN + 40_000); // back above: keep_firing_for starts again later
    stats(5, T0 + 2 * MIN);
    ev.tick(T0 + 3 * MIN - 1, 0);
    expect(ev.takeTransitions()).toEqual([]);
    ev.tick(T0 + 3 * MIN, 0);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', startsAt: T0, endsAt: T0 + 3 * MIN }]);
  });
});

describe('sensor_anomaly', () => {
  const r = rule({ alert: 'Anomalous', kind: 'sensor_anomaly', anomalyScoreAbove: 5, metric: 'temperature' });
  const at = (score: number, windowStart: number, final = false) => ({ sensorId: 's-1', metric: 'temperature', windowStart, min: 0, max: 0, anomalyScore: score, final });

  it('fires on the score, resolves on a normal reading, ignores other metrics and late final records of older windows', () => {
    const ev = new Evaluator([r]);
    ev.observeSensor({ ...at(9, T0), metric: 'humidity' }, T0);
    expect(ev.takeTransitions()).toEqual([]);
    ev.observeSensor(at(9, T0 + MIN), T0 + MIN);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', value: 9 }]);
    ev.observeSensor(at(1, T0, true), T0 + MIN + 1); // older window: says nothing about now
    expect(ev.takeTransitions()).toEqual([]);
    ev.observeSensor(at(1, T0 + MIN), T0 + MIN + 2);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved' }]);
  });
});

describe('sensor_silent', () => {
  it('fires for a known sensor that sends nothing for silentFor, and resolves when it is heard again', () => {
    const ev = new Evaluator([rule({ alert: 'Silent', kind: 'sensor_silent', silentFor: '2m' })]);
    const stats = (sensorId: string, t: number) => ev.observeSensor({ sensorId, metric: 'temperature', windowStart: t - (t % MIN), min: 1, max: 1, anomalyScore: 0, final: false }, t);
    stats('a', T0);
    stats('b', T0);
    stats('b', T0 + 90_000);
    ev.tick(T0 + 2 * MIN, 0);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', labels: { sensorId: 'a', metric: 'temperature' }, value: 2 * MIN }]);
    stats('a', T0 + 3 * MIN);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', labels: { sensorId: 'a' } }]);
  });
});

describe('dead_letter_rate', () => {
  it('fires when the dead letters within the window reach the threshold and resolves as they age out', () => {
    const ev = new Evaluator([rule({ alert: 'Rejects', kind: 'dead_letter_rate', threshold: 3, window: '10s' })]);
    ev.observeDeadLetter(T0);
    ev.observeDeadLetter(T0 + 1000);
    expect(ev.takeTransitions()).toEqual([]);
    ev.observeDeadLetter(T0 + 2000);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', value: 3, labels: { alertname: 'Rejects', severity: 'warning' } }]);
    ev.tick(T0 + 10_500, 0);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', value: 2 }]);
  });
});

describe('consumer_lag', () => {
  it('measures `for` in wall-clock time between samples', () => {
    const ev = new Evaluator([rule({ alert: 'Lag', kind: 'consumer_lag', group: 'g', threshold: 1000, for: '30s' })]);
    ev.observeLag('g', 5000, 1_000);
    ev.observeLag('other', 5000, 1_000);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'pending', labels: { group: 'g' } }]);
    ev.tick(0, 31_000);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', startsAt: 31_000 }]);
    ev.observeLag('g', 10, 40_000);
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', endsAt: 40_000, value: 10 }]);
  });
});

describe('snapshots', () => {
  it('a restored evaluator carries on with the same alerts and startsAt, without a second firing', () => {
    const rules = [...spike, rule({ alert: 'Silent', kind: 'sensor_silent', silentFor: '1m' })];
    const ev = new Evaluator(rules);
    act(ev, 'u-1', T0, 700, T0 + 500);
    ev.observeSensor({ sensorId: 'x', metric: 'm', windowStart: T0, min: 0, max: 0, anomalyScore: 0, final: false }, T0 + 600);
    ev.takeTransitions();
    const saved = JSON.parse(JSON.stringify(ev.snapshot()));

    const again = new Evaluator(rules);
    expect(again.restore(saved)).toEqual([]);
    act(again, 'u-1', T0, 800, T0 + 1000);
    expect(again.takeTransitions()).toEqual([]);
    again.tick(T0 + 600 + MIN, 0);
    expect(again.takeTransitions()).toMatchObject([{ status: 'firing', rule: 'Silent' }]);
    act(again, 'u-2', T0 + W, 1, T0 + W);
    expect(again.takeTransitions()).toMatchObject([{ status: 'resolved', rule: 'UserActivitySpike', startsAt: T0 + 500 }]);
  });

  it('drops the alerts of a rule that no longer exists and says so', () => {
    const ev = new Evaluator(spike);
    act(ev, 'u-1', T0, 700, T0);
    const saved = ev.snapshot();
    expect(new Evaluator([]).restore(saved)).toEqual([`UserActivitySpike ${fingerprint({ alertname: 'UserActivitySpike', severity: 'warning', userId: 'u-1' })}`]);
  });
});

describe('revenue_drop', () => {
  const drop = rule({ alert: 'RevenueDrop', kind: 'revenue_drop', share: 0.5, baseline: '3m', minBaseline: 10 });
  const minute = (ev: Evaluator, m: number, byPartition: number[], currency = 'USD') =>
    byPartition.forEach((revenue, partition) => ev.observeRevenue({ partition, currency, windowStart: T0 + m * MIN, revenue }, T0 + (m + 1) * MIN));

  it('judges each minute, summed over partitions, against the mean of the baseline before it, once two minutes later are seen', () => {
    const ev = new Evaluator([drop]);
    minute(ev, 0, [50, 50]);
    minute(ev, 1, [60, 40]);
    minute(ev, 2, [40, 60]);
    minute(ev, 3, [20, 29]); // 49 < 0.5 × 100, but not judged yet
    minute(ev, 4, [50, 50]);
    expect(ev.takeTransitions()).toEqual([]);
    minute(ev, 5, [50, 50]); // minute 3 is judged now
    expect(ev.takeTransitions()).toMatchObject([{ status: 'firing', labels: { alertname: 'RevenueDrop', currency: 'USD' }, value: 49 }]);
    minute(ev, 6, [50, 50]); // minute 4: 100 against a baseline of (100 + 100 + 49) / 3
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved' }]);
  });

  it('needs a full baseline and at least minBaseline per minute, and keeps currencies apart', () => {
    const ev = new Evaluator([drop]);
    minute(ev, 0, [100]);
    minute(ev, 1, [100]);
    minute(ev, 2, [0]); // a drop, but only two minutes of history before it
    minute(ev, 4, [100]);
    expect(ev.takeTransitions()).toEqual([]);
    minute(ev, 0, [5], 'EUR');
    minute(ev, 1, [5], 'EUR');
    minute(ev, 2, [5], 'EUR');
    minute(ev, 3, [0], 'EUR');
    minute(ev, 5, [5], 'EUR');
    expect(ev.takeTransitions()).toEqual([]); // EUR's baseline of 5 a minute is under minBaseline
  });
});

describe('latency_p95', () => {
  it('fires when the p95 from event to activity count over the window reaches the threshold, and resolves as slow seconds age out', () => {
    const ev = new Evaluator([rule({ alert: 'Slow', kind: 'latency_p95', threshold: '500ms', window: '10s' })]);
    const update = (t: number, latency: number) => ev.observeActivity({ userId: 'u', windowStart: T0, windowEnd: T0 + W, count: 1, final: false, oldestEventTs: t - latency }, t);
    for (let i = 0; i < 100; i++) update(T0 + i * 10, 20); // one second of fast updates
    ev.tick(T0 + 1000, 0);
    expect(ev.takeTransitions()).toEqual([]);
    for (let i = 0; i < 100; i++) update(T0 + 2000 + i * 10, i < 80 ? 20 : 800); // 10% of the window slow: p95 is slow
    ev.tick(T0 + 3000, 0);
    const [fired] = ev.takeTransitions();
    expect(fired).toMatchObject({ status: 'firing', labels: { alertname: 'Slow', severity: 'warning' } });
    expect(fired!.value).toBeGreaterThanOrEqual(800);
    expect(fired!.value).toBeLessThan(850); // bucket resolution: 5%
    ev.tick(T0 + 13_000, 0); // the slow second has left the window, and nothing came since
    expect(ev.takeTransitions()).toMatchObject([{ status: 'resolved', value: 0 }]);
  });
});
