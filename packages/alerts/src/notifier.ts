import { createHmac, randomUUID } from 'node:crypto';
import type { AlertTransition, Labels } from './model.js';
import { silences, type Silence } from './silences.js';

/**
 * Notifications (docs/alerting.md, "Notifications"): Alertmanager's API and signed webhooks.
 *
 * - Alertmanager: a firing alert is posted to `<url>/api/v2/alerts` at once and again every
 *   `resendIntervalMs` with endsAt = now + 4 × that interval; a resolved one is posted with endsAt =
 *   its resolution time at once and again for 15 minutes, as Prometheus does, so that an Alertmanager
 *   that restarted or missed a post still learns of the resolution.
 * - Webhooks: alerts are grouped by `groupBy` labels as Alertmanager's dispatcher does (group_wait
 *   before a group's first notification, group_interval between notifications of changes,
 *   repeat_interval for unchanged firing groups), rendered as Alertmanager's webhook payload
 *   (version 4), queued per URL and sent in order, each retried with exponential backoff under the same
 *   `webhook-id` until the receiver answers 2xx. Nothing here is awaited by the evaluator: transitions
 *   are handed over and the work happens on timers.
 *
 * The groups, the delivery queues and the alerts still being re-posted are in `snapshot()`, which the
 * runner stores with the offsets it covers, so a restart resumes them.
 */
export interface NotifierOptions {
  alertmanagerUrls: readonly string[];
  resendIntervalMs: number;
  webhooks: readonly string[];
  webhookSecret: string;
  groupBy: readonly string[];
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  webhookTimeoutMs: number;
  externalUrl: string;
  log: (line: string) => void;
  now?: () => number;
}

/** How long a resolved alert is re-posted to Alertmanager (Prometheus's resolvedRetention). */
export const RESOLVED_RETENTION_MS = 15 * 60_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A webhook delivery that has failed for this long is given up (and counted). */
const DELIVERY_MAX_AGE_MS = 24 * 3_600_000;
/** Deliveries queued per URL at most; past it the oldest are given up (and counted). */
const QUEUE_MAX = 10_000;
const TICK_MS = 50;
/** Alertmanager's "no end" time in webhook payloads. */
const ZERO_TIME = '0001-01-01T00:00:00Z';

interface Group {
  key: string;
  labels: Labels;
  alerts: Map<string, AlertTransition>;
  nextFlushAt: number;
  lastSentAt: number;
  sentFiring: string[];
}

export interface Delivery {
  id: string;
  body: string;
  createdAt: number;
  attempts: number;
  nextAt: number;
}

interface Queue {
  url: string;
  items: Delivery[];
  busy: boolean;
}

export interface NotifierSnapshot {
  groups: (Omit<Group, 'alerts'> & { alerts: AlertTransition[] })[];
  queues: Record<string, Delivery[]>;
  amFiring: AlertTransition[];
  amResolved: [AlertTransition, number][];
  amLastResend: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export class Notifier {
  private readonly groups = new Map<string, Group>();
  /** The earliest nextFlushAt of any group: a tick looks at the groups only from then on. */
  private nextGroupDue = Infinity;
  private readonly queues: Queue[];
  private readonly amFiring = new Map<string, AlertTransition>();
  /** Resolved alerts and the wall-clock time they resolved, re-posted until RESOLVED_RETENTION_MS after. */
  private readonly amResolved = new Map<string, [AlertTransition, number]>();
  private amLastResend = 0;
  private silenceList: Silence[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  readonly counters = { amPosts: 0, amFailures: 0, webhookSent: 0, webhookFailures: 0, webhookDropped: 0, notifications: 0, muted: 0 };

  constructor(private readonly options: NotifierOptions) {
    this.now = options.now ?? Date.now;
    this.queues = options.webhooks.map((url) => ({ url, items: [], busy: false }));
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  setSilences(list: readonly Silence[]): void {
    this.silenceList = [...list];
  }

  /** Deliveries not yet acknowledged by their receiver, over all webhook URLs. */
  queued(): number {
    return this.queues.reduce((n, q) => n + q.items.length, 0);
  }

  /** Hands over a transition; firing and resolved ones are notified, pending and inactive ones are not. */
  onTransition(t: AlertTransition): void {
    if (t.status !== 'firing' && t.status !== 'resolved') return;
    const now = this.now();
    if (this.options.alertmanagerUrls.length > 0) {
      if (t.status === 'firing') {
        this.amFiring.set(t.fingerprint, t);
        this.amResolved.delete(t.fingerprint);
      } else {
        this.amFiring.delete(t.fingerprint);
        this.amResolved.set(t.fingerprint, [t, now]);
      }
      this.postToAlertmanager([t], now);
    }
    if (this.queues.length > 0) this.group(t, now);
  }

  private group(t: AlertTransition, now: number): void {
    const labels: Record<string, string> = {};
    for (const name of this.options.groupBy) if (t.labels[name] !== undefined) labels[name] = t.labels[name]!;
    const key = `{}:{${Object.keys(labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(labels[k])}`)
      .join(', ')}}`;
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { key, labels, alerts: new Map(), nextFlushAt: now + this.options.groupWaitMs, lastSentAt: 0, sentFiring: [] };
      this.groups.set(key, g);
    }
    g.alerts.set(t.fingerprint, t);
    if (this.options.groupWaitMs === 0 && g.lastSentAt === 0) this.flush(g, now);
    this.nextGroupDue = Math.min(this.nextGroupDue, g.nextFlushAt);
  }

  /** Runs every TICK_MS: group flushes, webhook retries, Alertmanager re-posts. */
  tick(): void {
    const now = this.now();
    if (now >= this.nextGroupDue) {
      let next = Infinity;
      for (const g of [...this.groups.values()]) {
        if (now >= g.nextFlushAt) this.flush(g, now);
        if (this.groups.has(g.key)) next = Math.min(next, g.nextFlushAt);
      }
      this.nextGroupDue = next;
    }
    for (const q of this.queues) void this.pump(q);
    if (this.options.alertmanagerUrls.length > 0 && now - this.amLastResend >= this.options.resendIntervalMs) {
      this.amLastResend = now;
      for (const [fp, [, at]] of this.amResolved) if (now - at > RESOLVED_RETENTION_MS) this.amResolved.delete(fp);
      const all = [...this.amFiring.values(), ...[...this.amResolved.values()].map(([a]) => a)];
      if (all.length > 0) this.postToAlertmanager(all, now);
    }
  }

  private flush(g: Group, now: number): void {
    g.nextFlushAt = now + this.options.groupIntervalMs;
    const all = [...g.alerts.values()];
    const shown = all.filter((a) => !this.silenceList.some((s) => silences(s, a.labels, now)));
    const firing = shown.filter((a) => a.status === 'firing');
    const resolved = shown.filter((a) => a.status === 'resolved');
    const firingKeys = firing.map((a) => a.fingerprint).sort();
    // As Alertmanager's deduplication: notify when the firing alerts differ from those last notified
    // (new ones, or ones a silence no longer hides), when some resolved, or when repeat_interval is up.
    const firingChanged = firingKeys.join() !== g.sentFiring.join();
    const repeat = firing.length > 0 && now - g.lastSentAt >= this.options.repeatIntervalMs;
    if (firingChanged || resolved.length > 0 || repeat) {
      this.counters.muted += all.length - shown.length;
      this.enqueue(this.payload(g, [...firing, ...resolved]), now);
      g.lastSentAt = now;
      g.sentFiring = firingKeys;
    }
    for (const a of all) if (a.status === 'resolved') g.alerts.delete(a.fingerprint);
    if (g.alerts.size === 0) this.groups.delete(g.key);
  }

  /** Alertmanager's webhook payload, version 4. */
  private payload(g: Group, alerts: AlertTransition[]): string {
    const common = (pick: (a: AlertTransition) => Labels): Record<string, string> => {
      const out: Record<string, string> = { ...pick(alerts[0]!) };
      for (const a of alerts.slice(1)) for (const k of Object.keys(out)) if (pick(a)[k] !== out[k]) delete out[k];
      return out;
    };
    return JSON.stringify({
      version: '4',
      groupKey: g.key,
      truncatedAlerts: 0,
      status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
      receiver: 'pulse-webhook',
      groupLabels: g.labels,
      commonLabels: common((a) => a.labels),
      commonAnnotations: common((a) => a.annotations),
      externalURL: this.options.externalUrl,
      alerts: alerts.map((a) => ({
        status: a.status,
        labels: a.labels,
        annotations: a.annotations,
        startsAt: iso(a.startsAt),
        endsAt: a.status === 'resolved' ? iso(a.endsAt) : ZERO_TIME,
        generatorURL: this.generatorUrl(a),
        fingerprint: a.fingerprint,
      })),
    });
  }

  private generatorUrl(a: AlertTransition): string {
    return `${this.options.externalUrl.replace(/\/$/, '')}/api/v1/alerts/history?fingerprint=${a.fingerprint}`;
  }

  private enqueue(body: string, now: number): void {
    this.counters.notifications++;
    for (const q of this.queues) {
      q.items.push({ id: `msg_${randomUUID()}`, body, createdAt: now, attempts: 0, nextAt: now });
      while (q.items.length > QUEUE_MAX) {
        q.items.shift();
        this.counters.webhookDropped++;
      }
      void this.pump(q);
    }
  }

  /** Sends the head of a queue when it is due; one request per URL at a time, so receivers see notifications in order. */
  private async pump(q: Queue): Promise<void> {
    if (q.busy) return;
    q.busy = true;
    try {
      for (;;) {
        const d = q.items[0];
        const now = this.now();
        if (d === undefined || d.nextAt > now) return;
        if (now - d.createdAt > DELIVERY_MAX_AGE_MS) {
          q.items.shift();
          this.counters.webhookDropped++;
          this.options.log(`gave up webhook ${d.id} to ${q.url} after ${d.attempts} attempts`);
          continue;
        }
        d.attempts++;
        const error = await this.send(q.url, d).catch((err: Error) => err.message);
        if (q.items[0] !== d) continue; // dropped meanwhile
        if (error === null) {
          q.items.shift();
          this.counters.webhookSent++;
        } else {
          this.counters.webhookFailures++;
          d.nextAt = this.now() + Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (d.attempts - 1));
          if (d.attempts === 1 || d.attempts % 10 === 0) this.options.log(`webhook ${q.url} failed (${error}); attempt ${d.attempts}, retrying with the same webhook-id`);
          return;
        }
      }
    } finally {
      q.busy = false;
    }
  }

  private async send(url: string, d: Delivery): Promise<string | null> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.webhookSecret !== '') Object.assign(headers, signWebhook(this.options.webhookSecret, d.id, Math.floor(this.now() / 1000), d.body));
    const res = await fetch(url, { method: 'POST', headers, body: d.body, signal: AbortSignal.timeout(this.options.webhookTimeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    return res.ok ? null : `HTTP ${res.status}`;
  }

  private postToAlertmanager(alerts: AlertTransition[], now: number): void {
    const endsAtFiring = iso(now + 4 * this.options.resendIntervalMs);
    const body = JSON.stringify(
      alerts.map((a) => ({
        labels: a.labels,
        annotations: a.annotations,
        startsAt: iso(a.startsAt),
        endsAt: a.status === 'firing' ? endsAtFiring : iso(a.endsAt),
        generatorURL: this.generatorUrl(a),
      })),
    );
    for (const base of this.options.alertmanagerUrls) {
      const url = `${base.replace(/\/$/, '')}/api/v2/alerts`;
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(this.options.webhookTimeoutMs) })
        .then(async (res) => {
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          this.counters.amPosts++;
        })
        .catch((err: Error) => {
          // The next re-post (every resendIntervalMs) carries every firing and recently resolved alert.
          this.counters.amFailures++;
          if (this.counters.amFailures === 1 || this.counters.amFailures % 100 === 0) this.options.log(`posting to ${url} failed: ${err.message}`);
        });
    }
  }

  snapshot(): NotifierSnapshot {
    return {
      groups: [...this.groups.values()].map((g) => ({ ...g, alerts: [...g.alerts.values()] })),
      queues: Object.fromEntries(this.queues.map((q) => [q.url, q.items.map((d) => ({ ...d }))])),
      amFiring: [...this.amFiring.values()],
      amResolved: [...this.amResolved.values()],
      amLastResend: this.amLastResend,
    };
  }

  /** Restores a snapshot; queues of URLs no longer configured are dropped. */
  restore(s: NotifierSnapshot): void {
    for (const g of s.groups) {
      this.groups.set(g.key, { ...g, alerts: new Map(g.alerts.map((a) => [a.fingerprint, a])) });
      this.nextGroupDue = Math.min(this.nextGroupDue, g.nextFlushAt);
    }
    for (const q of this.queues) q.items = (s.queues[q.url] ?? []).map((d) => ({ ...d }));
    if (this.options.alertmanagerUrls.length > 0) {
      for (const a of s.amFiring) this.amFiring.set(a.fingerprint, a);
      for (const [a, at] of s.amResolved) this.amResolved.set(a.fingerprint, [a, at]);
      // Re-post everything at once: Alertmanager may have restarted too.
      this.amLastResend = 0;
    }
  }
}

/**
 * The Standard Webhooks headers: `webhook-signature` is `v1,` and the base64 HMAC-SHA256, keyed with
 * the secret's UTF-8 bytes, of "<webhook-id>.<webhook-timestamp>.<body>".
 */
export function signWebhook(secret: string, id: string, timestampSec: number, body: string): Record<string, string> {
  const signature = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${id}.${timestampSec}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSec), 'webhook-signature': `v1,${signature}` };
}
