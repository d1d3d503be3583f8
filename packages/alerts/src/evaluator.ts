import { expandTemplate, fingerprint, type AlertTransition, type Labels } from './model.js';
import type { Rule } from './rules.js';

/**
 * The rule evaluator (docs/alerting.md, "Semantics"): Prometheus's alert state machine driven by the
 * records of Pulse's output topics instead of by scrapes. It is pure: time comes in with every call, so
 * a test drives it with timestamps (as Kafka Streams' TopologyTestDriver does) and a replay from the
 * same offsets gives the same transitions.
 *
 * Two clocks: rules over stream records (user_activity, sensor_*, dead_letter_rate) measure `for` and
 * `keep_firing_for` in stream time, the largest record timestamp seen; consumer_lag is sampled, and
 * measured in wall-clock time.
 *
 * Per-key state is kept only for keys with a pending or firing alert, except sensor_silent, which must
 * remember when each sensor was last heard of (bounded by `maxTrackedKeys`, alerts.maxTrackedKeys).
 */
interface ActiveAlert {
  fingerprint: string;
  rule: Rule;
  labels: Labels;
  status: 'pending' | 'firing';
  activeAt: number;
  startsAt: number;
  /** Whether the condition held at the last evaluation. */
  active: boolean;
  /** Since when the condition has not held while firing (keep_firing_for). */
  keepFiringSince: number | null;
  value: number;
  /** The key the rule evaluates (userId, "sensorId/metric", group, or ""). */
  key: string;
  /** user_activity and sensor_anomaly: the window whose count or statistics the alert is about. */
  windowStart: number;
  /** user_activity: the partition of user-activity-counts the user's counts arrive on. */
  partition: number;
}

/** The evaluator's durable state, as JSON, snapshotted with the input offsets it covers. */
export interface EvaluatorSnapshot {
  streamTime: number;
  activityWindows: [number, number][];
  alerts: Omit<ActiveAlert, 'rule'>[];
  alertRules: string[];
  lastSeen: Record<string, [string, number][]>;
  deadLetterSeconds: [number, number][];
  revenue: [string, { first: number; evaluated: number; minutes: [number, [number, number][]][] }][];
  latencySeconds: [number, number[]][];
}

/** Latency histogram buckets: bucket i holds [1.05^i − 1, 1.05^(i+1) − 1) ms, up to ~37 minutes. */
const LATENCY_BUCKETS = 300;
const LATENCY_BASE = Math.log(1.05);
const latencyBucket = (ms: number): number => Math.min(LATENCY_BUCKETS - 1, Math.max(0, Math.floor(Math.log(ms + 1) / LATENCY_BASE)));
const bucketUpper = (i: number): number => Math.round(Math.exp((i + 1) * LATENCY_BASE) - 1);

/** A pulse-revenue record: revenue of one source partition, currency and minute. */
export interface RevenueMinute {
  partition: number;
  currency: string;
  windowStart: number;
  revenue: number;
}

const MINUTE = 60_000;

interface RevenueSeries {
  /** The first minute seen: a baseline needs history from before it. */
  first: number;
  /** The last minute judged. */
  evaluated: number;
  /** Minute → source partition → revenue (absolute, upserted). */
  minutes: Map<number, Map<number, number>>;
}

/** A user-activity-counts record. */
export interface ActivityCount {
  userId: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  final: boolean;
  /** Event time of the oldest event the update reports, when it reports new events. */
  oldestEventTs?: number;
}

export interface SensorStats {
  sensorId: string;
  metric: string;
  windowStart: number;
  min: number;
  max: number;
  anomalyScore: number;
  final: boolean;
}

const KEY_SEP = '/';

export class Evaluator {
  private readonly alerts = new Map<string, ActiveAlert>();
  /** Per rule: its alerts by the key it evaluates, so the hot path finds one without hashing labels. */
  private readonly byRule = new Map<string, Map<string, ActiveAlert>>();
  private readonly out: AlertTransition[] = [];
  /**
   * Alerts that time alone can change: pending ones waiting out `for`, and firing ones held by
   * keep_firing_for. A tick visits these only, so that many firing alerts cost nothing per batch.
   */
  private readonly timed = new Set<ActiveAlert>();
  private streamTimeValue = 0;
  /**
   * Per partition of user-activity-counts, the start of its current window: the newest window seen,
   * or the end of the newest window closed by a final record. Per partition, as stream time is in
   * Kafka Streams: records of one partition come in order, so a replay sees the same windows.
   */
  private readonly activityWindows = new Map<number, number>();
  /** sensor_silent: per rule, when each sensor ("sensorId/metric") was last heard of. */
  private readonly lastSeen = new Map<string, Map<string, number>>();
  private lastSilentSweep = 0;
  /** dead_letter_rate: dead letters per second of stream time, oldest first. */
  private deadLetterSeconds: [number, number][] = [];
  private readonly deadLetterSpan: number;
  /** revenue_drop: per currency, the minutes still needed for a baseline. */
  private readonly revenue = new Map<string, RevenueSeries>();
  private readonly revenueSpan: number;
  /** latency_p95: per second of stream time, a histogram of event → activity-count latency. */
  private latencySeconds: [number, number[]][] = [];
  private readonly latencySpan: number;
  private lastLatencyCheck = 0;
  readonly counters = { records: 0, transitions: 0, untrackedKeys: 0 };

  constructor(
    readonly rules: readonly Rule[],
    private readonly maxTrackedKeys = 1_000_000,
  ) {
    for (const r of rules) {
      this.byRule.set(r.name, new Map());
      if (r.kind === 'sensor_silent') this.lastSeen.set(r.name, new Map());
    }
    this.deadLetterSpan = Math.max(0, ...rules.map((r) => (r.kind === 'dead_letter_rate' ? r.windowMs : 0)));
    this.latencySpan = Math.max(0, ...rules.map((r) => (r.kind === 'latency_p95' ? r.windowMs : 0)));
    this.revenueSpan = Math.max(0, ...rules.map((r) => (r.kind === 'revenue_drop' ? r.baselineMs : 0))) + 3 * MINUTE;
  }

  /** Stream time: the largest record timestamp seen. */
  streamTime(): number {
    return this.streamTimeValue;
  }

  /** The transitions since the last call, in order. */
  takeTransitions(): AlertTransition[] {
    return this.out.splice(0, this.out.length);
  }

  /** Pending and firing alerts. */
  active(): AlertTransition[] {
    return [...this.alerts.values()].map((a) => this.record(a, a.status, 0, a.value, this.streamTimeValue));
  }

  private advance(t: number): number {
    if (t > this.streamTimeValue) this.streamTimeValue = t;
    return this.streamTimeValue;
  }

  /**
   * A user-activity-counts record from partition `partition`, with its timestamp `t`. The condition is
   * the user's count in the current window of that partition; when that window moves on (a newer
   * window's record, or a final record closing the current one), every user still alerting on an
   * older window has a count of 0 in the current one.
   */
  observeActivity(r: ActivityCount, t: number, partition = 0): void {
    this.counters.records++;
    this.advance(t);
    if (this.latencySpan > 0 && r.oldestEventTs !== undefined) this.observeLatency(t - r.oldestEventTs, t);
    const current = this.activityWindows.get(partition) ?? -Infinity;
    const opens = r.final ? r.windowEnd : r.windowStart;
    if (opens > current) {
      this.activityWindows.set(partition, opens);
      for (const rule of this.rules) {
        if (rule.kind !== 'user_activity') continue;
        for (const a of [...this.byRule.get(rule.name)!.values()]) if (a.partition === partition && a.windowStart < opens) this.evaluate(rule, a.key, a.labels, false, 0, t, opens);
      }
    }
    if (r.final || r.windowStart < opens || r.windowStart < current) return; // not a count of the current window
    for (const rule of this.rules) {
      if (rule.kind !== 'user_activity') continue;
      const firing = r.count >= rule.threshold;
      const existing = this.byRule.get(rule.name)!.get(r.userId);
      if (!firing && existing === undefined) continue;
      this.evaluate(rule, r.userId, existing?.labels ?? { ...rule.labels, userId: r.userId }, firing, r.count, t, r.windowStart, t, partition);
    }
  }

  /** A pulse-sensor-stats record. */
  observeSensor(s: SensorStats, t: number): void {
    this.counters.records++;
    const now = t;
    this.advance(t);
    const key = s.sensorId + KEY_SEP + s.metric;
    for (const rule of this.rules) {
      if ((rule.kind !== 'sensor_anomaly' && rule.kind !== 'sensor_silent') || (rule.metric !== null && rule.metric !== s.metric)) continue;
      const existing = this.byRule.get(rule.name)!.get(key);
      if (rule.kind === 'sensor_silent') {
        const seen = this.lastSeen.get(rule.name)!;
        if (seen.has(key) || seen.size < this.maxTrackedKeys) seen.set(key, now);
        else this.counters.untrackedKeys++;
        if (existing !== undefined) this.evaluate(rule, key, existing.labels, false, 0, now, 0);
        continue;
      }
      // An older window's record (a late final one) says nothing about the sensor now.
      if (existing !== undefined ? s.windowStart < existing.windowStart : s.final) continue;
      let anomalous = false;
      let value = s.anomalyScore;
      if (rule.anomalyScoreAbove !== null && s.anomalyScore > rule.anomalyScoreAbove) anomalous = true;
      if (rule.valueAbove !== null && s.max > rule.valueAbove) [anomalous, value] = [true, s.max];
      if (rule.valueBelow !== null && s.min < rule.valueBelow) [anomalous, value] = [true, s.min];
      if (!anomalous && existing === undefined) continue;
      this.evaluate(rule, key, existing?.labels ?? { ...rule.labels, sensorId: s.sensorId, metric: s.metric }, anomalous, value, now, s.windowStart);
    }
  }

  /**
   * A pulse-revenue record. A minute is judged once a record of a minute two later arrives (the
   * aggregator's updates of it are in by then, its final record at its end plus the grace of one
   * minute): its revenue, summed over source partitions, against the mean per minute of the
   * `baseline` before it. Without that much history, nothing is judged.
   */
  observeRevenue(r: RevenueMinute, t: number): void {
    this.counters.records++;
    this.advance(t);
    if (this.revenueSpan === 3 * MINUTE) return; // no revenue_drop rule
    let series = this.revenue.get(r.currency);
    if (series === undefined) this.revenue.set(r.currency, (series = { first: r.windowStart, evaluated: -Infinity, minutes: new Map() }));
    if (r.windowStart <= series.evaluated) return; // judged already
    let minute = series.minutes.get(r.windowStart);
    if (minute === undefined) series.minutes.set(r.windowStart, (minute = new Map()));
    minute.set(r.partition, r.revenue);
    const newest = Math.max(...series.minutes.keys());
    for (const m of [...series.minutes.keys()].sort((a, b) => a - b)) {
      if (m <= series.evaluated || m + 2 * MINUTE > newest) continue;
      this.judgeRevenue(r.currency, series, m, t);
      series.evaluated = m;
    }
    for (const m of series.minutes.keys()) if (m < newest - this.revenueSpan) series.minutes.delete(m);
  }

  private judgeRevenue(currency: string, series: RevenueSeries, m: number, t: number): void {
    const total = (minute: number) => {
      let sum = 0;
      for (const v of series.minutes.get(minute)?.values() ?? []) sum += v;
      return sum;
    };
    const revenue = total(m);
    for (const rule of this.rules) {
      if (rule.kind !== 'revenue_drop' || (rule.currency !== null && rule.currency !== currency)) continue;
      if (m - rule.baselineMs < series.first) continue;
      let sum = 0;
      for (let b = m - rule.baselineMs; b < m; b += MINUTE) sum += total(b);
      const baseline = sum / (rule.baselineMs / MINUTE);
      const holds = baseline > 0 && baseline >= rule.minBaseline && revenue < rule.share * baseline;
      const existing = this.byRule.get(rule.name)!.get(currency);
      if (!holds && existing === undefined) continue;
      this.evaluate(rule, currency, existing?.labels ?? { ...rule.labels, currency }, holds, Math.round(revenue * 100) / 100, t, m);
    }
  }

  private observeLatency(ms: number, t: number): void {
    const second = Math.floor(t / 1000);
    let last = this.latencySeconds[this.latencySeconds.length - 1];
    if (last === undefined || last[0] !== second) {
      // Records of several partitions interleave: a second may come again out of order; it joins its own.
      last = this.latencySeconds.find((s) => s[0] === second);
      if (last === undefined) {
        this.latencySeconds.push((last = [second, new Array<number>(LATENCY_BUCKETS).fill(0)]));
        this.latencySeconds.sort((a, b) => a[0] - b[0]);
      }
    }
    last[1][latencyBucket(Math.max(0, ms))]!++;
  }

  /** p95 of the latency over each latency_p95 rule's window, once per second of stream time. */
  private evaluateLatency(now: number): void {
    if (this.latencySpan === 0 || now - this.lastLatencyCheck < 1000) return;
    this.lastLatencyCheck = now;
    const oldest = Math.floor((now - this.latencySpan) / 1000);
    while (this.latencySeconds.length > 0 && this.latencySeconds[0]![0] <= oldest) this.latencySeconds.shift();
    for (const rule of this.rules) {
      if (rule.kind !== 'latency_p95') continue;
      const from = Math.floor((now - rule.windowMs) / 1000);
      const sum = new Array<number>(LATENCY_BUCKETS).fill(0);
      let n = 0;
      for (const [second, h] of this.latencySeconds) {
        if (second <= from) continue;
        for (let i = 0; i < LATENCY_BUCKETS; i++) sum[i]! += h[i]!;
        for (const c of h) n += c;
      }
      let p95 = 0;
      for (let i = 0, seen = 0; i < LATENCY_BUCKETS && n > 0; i++) {
        seen += sum[i]!;
        if (seen >= 0.95 * n) {
          p95 = bucketUpper(i);
          break;
        }
      }
      const existing = this.byRule.get(rule.name)!.get('');
      const holds = n > 0 && p95 >= rule.thresholdMs;
      if (!holds && existing === undefined) continue;
      this.evaluate(rule, '', existing?.labels ?? rule.labels, holds, p95, now, 0);
    }
  }

  /** A record on dead-letters. */
  observeDeadLetter(t: number): void {
    this.counters.records++;
    const now = this.advance(t);
    const second = Math.floor(now / 1000);
    const last = this.deadLetterSeconds[this.deadLetterSeconds.length - 1];
    if (last !== undefined && last[0] === second) last[1]++;
    else this.deadLetterSeconds.push([second, 1]);
    this.evaluateDeadLetters(now);
  }

  /** A sample of a consumer group's total lag, at wall-clock time `now`. */
  observeLag(group: string, lag: number, now: number): void {
    for (const rule of this.rules) {
      if (rule.kind !== 'consumer_lag' || rule.group !== group) continue;
      const existing = this.byRule.get(rule.name)!.get(group);
      if (lag < rule.threshold && existing === undefined) continue;
      this.evaluate(rule, group, existing?.labels ?? { ...rule.labels, group }, lag >= rule.threshold, lag, now, 0);
    }
  }

  /**
   * Lets time pass: pending alerts whose `for` has elapsed fire, alerts kept firing by keep_firing_for
   * resolve, silent sensors are found. `streamTime` may be the same as before (no records since);
   * `wallNow` drives the wall-clock rules.
   */
  tick(streamTime: number, wallNow: number): void {
    const now = this.advance(streamTime);
    this.evaluateDeadLetters(now);
    this.evaluateLatency(now);
    // Silent sensors: once per second of stream time is as precise as the data (1-minute windows).
    if (this.lastSeen.size > 0 && now - this.lastSilentSweep >= 1000) {
      this.lastSilentSweep = now;
      for (const rule of this.rules) {
        if (rule.kind !== 'sensor_silent') continue;
        const alerts = this.byRule.get(rule.name)!;
        for (const [key, seen] of this.lastSeen.get(rule.name)!) {
          if (now - seen < rule.silentForMs || alerts.has(key)) continue;
          const slash = key.lastIndexOf(KEY_SEP);
          // Active since the moment it fell silent, whichever batch finds it: replays agree.
          this.evaluate(rule, key, { ...rule.labels, sensorId: key.slice(0, slash), metric: key.slice(slash + 1) }, true, now - seen, now, 0, seen + rule.silentForMs);
        }
      }
    }
    for (const a of [...this.timed]) this.evaluate(a.rule, a.key, a.labels, a.active, a.value, a.rule.kind === 'consumer_lag' ? wallNow : now, a.windowStart);
  }

  private retime(a: ActiveAlert): void {
    if ((a.status === 'pending' && a.active) || (a.status === 'firing' && !a.active && a.keepFiringSince !== null)) this.timed.add(a);
    else this.timed.delete(a);
  }

  private evaluateDeadLetters(now: number): void {
    if (this.deadLetterSpan === 0) return;
    const oldest = Math.floor((now - this.deadLetterSpan) / 1000);
    while (this.deadLetterSeconds.length > 0 && this.deadLetterSeconds[0]![0] <= oldest) this.deadLetterSeconds.shift();
    for (const rule of this.rules) {
      if (rule.kind !== 'dead_letter_rate') continue;
      const from = Math.floor((now - rule.windowMs) / 1000);
      let count = 0;
      for (const [second, n] of this.deadLetterSeconds) if (second > from) count += n;
      const existing = this.byRule.get(rule.name)!.get('');
      if (count < rule.threshold && existing === undefined) continue;
      this.evaluate(rule, '', existing?.labels ?? rule.labels, count >= rule.threshold, count, now, 0);
    }
  }

  /** Prometheus's state machine for one alert: the condition `holds` (or not) at time `t`. */
  private evaluate(rule: Rule, key: string, labels: Labels, holds: boolean, value: number, t: number, windowStart: number, activeAt = t, partition = 0): void {
    const alerts = this.byRule.get(rule.name)!;
    let a = alerts.get(key);
    // What time alone would have done by `t` happens first, whether or not a tick came in between:
    // the transitions depend on each key's records, not on how batches fell.
    if (a !== undefined && a.active && a.status === 'pending' && t - a.activeAt >= rule.forMs) this.fire(a);
    if (a !== undefined && !a.active && a.status === 'firing' && a.keepFiringSince !== null && t - a.keepFiringSince >= rule.keepFiringForMs) {
      this.resolve(a, a.keepFiringSince + rule.keepFiringForMs);
      a = undefined;
    }
    if (holds) {
      if (a === undefined) {
        a = { fingerprint: fingerprint(labels), rule, labels, status: 'pending', activeAt, startsAt: 0, active: true, keepFiringSince: null, value, key, windowStart, partition };
        alerts.set(key, a);
        this.alerts.set(a.fingerprint, a);
        if (rule.forMs > 0) this.emit(a, 'pending', 0, t);
      }
      a.active = true;
      a.keepFiringSince = null;
      a.value = value;
      a.windowStart = Math.max(a.windowStart, windowStart);
      if (a.status === 'pending' && t - a.activeAt >= rule.forMs) this.fire(a);
      this.retime(a);
      return;
    }
    if (a === undefined) return;
    a.active = false;
    if (a.status === 'pending') {
      this.remove(a);
      this.emit(a, 'inactive', t, t);
      return;
    }
    a.keepFiringSince ??= t;
    a.value = value;
    if (t - a.keepFiringSince >= rule.keepFiringForMs) this.resolve(a, rule.keepFiringForMs > 0 ? a.keepFiringSince + rule.keepFiringForMs : t);
    else this.retime(a);
  }

  private fire(a: ActiveAlert): void {
    a.status = 'firing';
    // The moment `for` elapsed, not the evaluation that noticed it: a replay gives the same startsAt.
    a.startsAt = a.activeAt + a.rule.forMs;
    this.emit(a, 'firing', 0, a.startsAt);
  }

  private resolve(a: ActiveAlert, endsAt: number): void {
    this.remove(a);
    this.emit(a, 'resolved', endsAt, endsAt);
  }

  /**
   * After a restart, a replayed transition that was already recorded: the alert takes the recorded
   * times, so that what follows (its resolution) carries what receivers were told.
   */
  reconcile(recorded: AlertTransition): void {
    const a = this.alerts.get(recorded.fingerprint);
    if (a === undefined) return;
    a.activeAt = recorded.activeAt;
    if (a.status === 'firing') a.startsAt = recorded.startsAt;
  }

  /**
   * Takes a recorded transition of a rule that is not replayed (consumer_lag, on the wall clock) as
   * that alert's state, after a restart.
   */
  adopt(t: AlertTransition): void {
    const rule = this.rules.find((r) => r.name === t.rule);
    if (rule === undefined) return;
    const alerts = this.byRule.get(rule.name)!;
    const key = rule.kind === 'consumer_lag' ? (t.labels.group ?? '') : '';
    const old = alerts.get(key);
    if (old !== undefined) this.remove(old);
    if (t.status === 'pending' || t.status === 'firing') {
      const a: ActiveAlert = { fingerprint: t.fingerprint, rule, labels: t.labels, status: t.status, activeAt: t.activeAt, startsAt: t.startsAt, active: true, keepFiringSince: null, value: t.value, key, windowStart: 0, partition: 0 };
      alerts.set(key, a);
      this.alerts.set(a.fingerprint, a);
      this.retime(a);
    }
  }

  private remove(a: ActiveAlert): void {
    this.timed.delete(a);
    this.byRule.get(a.rule.name)!.delete(a.key);
    this.alerts.delete(a.fingerprint);
  }

  private emit(a: ActiveAlert, status: AlertTransition['status'], endsAt: number, at: number): void {
    this.counters.transitions++;
    this.out.push(this.record(a, status, endsAt, a.value, at));
  }

  private record(a: ActiveAlert, status: AlertTransition['status'], endsAt: number, value: number, at: number): AlertTransition {
    const annotations: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.rule.annotations)) annotations[k] = expandTemplate(v, a.labels, value);
    return { fingerprint: a.fingerprint, status, rule: a.rule.name, labels: a.labels, annotations, activeAt: a.activeAt, startsAt: a.startsAt, endsAt, value, at };
  }

  snapshot(): EvaluatorSnapshot {
    return {
      streamTime: this.streamTimeValue,
      activityWindows: [...this.activityWindows],
      alerts: [...this.alerts.values()].map(({ rule: _rule, ...rest }) => rest),
      alertRules: [...this.alerts.values()].map((a) => a.rule.name),
      lastSeen: Object.fromEntries([...this.lastSeen].map(([rule, m]) => [rule, [...m]])),
      deadLetterSeconds: this.deadLetterSeconds,
      latencySeconds: this.latencySeconds,
      revenue: [...this.revenue].map(([currency, r]) => [currency, { first: r.first, evaluated: r.evaluated, minutes: [...r.minutes].map(([m, parts]) => [m, [...parts]]) }]),
    };
  }

  /**
   * Restores a snapshot. Alerts of rules that no longer exist are dropped (and reported), as Prometheus
   * drops the alerts of a deleted rule.
   */
  restore(s: EvaluatorSnapshot): string[] {
    const dropped: string[] = [];
    this.streamTimeValue = s.streamTime;
    for (const [partition, start] of s.activityWindows) this.activityWindows.set(partition, start);
    this.deadLetterSeconds = s.deadLetterSeconds;
    this.latencySeconds = s.latencySeconds ?? [];
    for (const [currency, r] of s.revenue) {
      this.revenue.set(currency, { first: r.first, evaluated: r.evaluated ?? -Infinity, minutes: new Map(r.minutes.map(([m, parts]) => [m, new Map(parts)])) });
    }
    const rules = new Map(this.rules.map((r) => [r.name, r]));
    s.alerts.forEach((saved, i) => {
      const rule = rules.get(s.alertRules[i]!);
      if (rule === undefined) {
        dropped.push(`${s.alertRules[i]} ${saved.fingerprint}`);
        return;
      }
      const a: ActiveAlert = { ...saved, rule };
      this.alerts.set(a.fingerprint, a);
      this.byRule.get(rule.name)!.set(a.key, a);
      this.retime(a);
    });
    for (const [rule, entries] of Object.entries(s.lastSeen)) {
      const seen = this.lastSeen.get(rule);
      if (seen !== undefined) for (const [key, t] of entries) seen.set(key, t);
    }
    return dropped;
  }
}
