import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, type AlertTransition } from '../src/model.js';
import { Notifier, RESOLVED_RETENTION_MS, signWebhook, type NotifierOptions } from '../src/notifier.js';
import { isSilence, parseSilence } from '../src/silences.js';

interface Req {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server;
let requests: Req[];
let base: string;

beforeEach(async () => {
  requests = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const settle = async (n: number, path: string) => {
  const deadline = Date.now() + 5000;
  while (requests.filter((r) => r.path === path).length < n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} requests to ${path}, got ${requests.filter((r) => r.path === path).length}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 50)); // and no more
  return requests.filter((r) => r.path === path);
};

function alert(userId: string, status: 'firing' | 'resolved', at: number, alertname = 'UserActivitySpike'): AlertTransition {
  const labels = { alertname, userId, severity: 'warning' };
  return { fingerprint: fingerprint(labels), status, rule: alertname, labels, annotations: { summary: `${userId} busy` }, activeAt: 1000, startsAt: 1000, endsAt: status === 'resolved' ? at : 0, value: 600, at };
}

function notifier(clock: { now: number }, options: Partial<NotifierOptions>): Notifier {
  return new Notifier({
    alertmanagerUrls: [],
    resendIntervalMs: 60_000,
    webhooks: [`${base}/hook`],
    webhookSecret: '',
    groupBy: ['alertname'],
    groupWaitMs: 0,
    groupIntervalMs: 10_000,
    repeatIntervalMs: 3_600_000,
    webhookTimeoutMs: 2000,
    externalUrl: 'http://pulse.example',
    log: () => {},
    now: () => clock.now,
    ...options,
  });
}

describe('webhook grouping', () => {
  it('waits group_wait for a new group, then group_interval between changes, and repeats unchanged firing groups', async () => {
    const clock = { now: 1_000_000 };
    const n = notifier(clock, { groupWaitMs: 1000, repeatIntervalMs: 60_000 });
    n.onTransition(alert('a', 'firing', 1));
    n.onTransition(alert('b', 'firing', 2));
    n.onTransition(alert('x', 'firing', 2, 'Other'));
    n.tick();
    await new Promise((r) => setTimeout(r, 100));
    expect(requests).toEqual([]);
    clock.now += 1000;
    n.tick();
    const first = await settle(2, '/hook');
    const bodies = first.map((r) => JSON.parse(r.body));
    const spike = bodies.find((b) => b.groupLabels.alertname === 'UserActivitySpike');
    expect(spike.alerts.map((a: { labels: { userId: string } }) => a.labels.userId).sort()).toEqual(['a', 'b']);
    expect(spike).toMatchObject({ version: '4', status: 'firing', groupKey: '{}:{alertname="UserActivitySpike"}', commonLabels: { alertname: 'UserActivitySpike', severity: 'warning' } });
    expect(spike.commonLabels.userId).toBeUndefined();
    expect(spike.alerts[0].endsAt).toBe('0001-01-01T00:00:00Z');

    // A resolution within group_interval waits for it.
    clock.now += 500;
    n.onTransition(alert('a', 'resolved', 5000));
    n.tick();
    await new Promise((r) => setTimeout(r, 100));
    expect(requests).toHaveLength(2);
    clock.now += 9500;
    n.tick();
    const [, , third] = await settle(3, '/hook');
    const resolved = JSON.parse(third!.body);
    expect(resolved.status).toBe('firing'); // b still fires
    expect(resolved.alerts.map((a: { labels: { userId: string }; status: string }) => [a.labels.userId, a.status]).sort()).toEqual([
      ['a', 'resolved'],
      ['b', 'firing'],
    ]);
    expect(resolved.alerts.find((a: { status: string }) => a.status === 'resolved').endsAt).toBe(new Date(5000).toISOString());

    // Nothing changes: nothing until repeat_interval, then b again.
    clock.now += 10_000;
    n.tick();
    await new Promise((r) => setTimeout(r, 100));
    expect(requests.filter((r) => r.path === '/hook')).toHaveLength(3);
    clock.now += 60_000;
    n.tick();
    const all = await settle(5, '/hook'); // the Other group repeats too
    expect(all.slice(3).flatMap((r) => JSON.parse(r.body).alerts.map((a: { labels: { userId: string } }) => a.labels.userId)).sort()).toEqual(['b', 'x']);
  });

  it('silences mute matching alerts only while active', async () => {
    const clock = { now: 2_000_000 };
    const n = notifier(clock, {});
    n.setSilences([parseSilence({ matchers: [{ name: 'userId', value: 'load-.*', isRegex: true }], endsAt: clock.now + 60_000 }, clock.now)]);
    n.onTransition(alert('load-7', 'firing', 1));
    await new Promise((r) => setTimeout(r, 100));
    expect(requests).toEqual([]);
    expect(n.counters.muted).toBe(0);
    n.onTransition(alert('real', 'firing', 2));
    clock.now += 10_000;
    n.tick();
    const [sent] = await settle(1, '/hook');
    expect(JSON.parse(sent!.body).alerts.map((a: { labels: { userId: string } }) => a.labels.userId)).toEqual(['real']);
    // The silence ends: load-7 shows up at the next group_interval.
    clock.now += 60_000;
    n.tick();
    const [, second] = await settle(2, '/hook');
    expect(JSON.parse(second!.body).alerts.map((a: { labels: { userId: string } }) => a.labels.userId).sort()).toEqual(['load-7', 'real']);
  });

  it('signs with the Standard Webhooks scheme', async () => {
    const clock = { now: Date.now() };
    const n = notifier(clock, { webhookSecret: 's3cret' });
    n.onTransition(alert('a', 'firing', 1));
    const [r] = await settle(1, '/hook');
    const id = r!.headers['webhook-id'] as string;
    const ts = r!.headers['webhook-timestamp'] as string;
    expect(id).toMatch(/^msg_/);
    expect(Number(ts)).toBe(Math.floor(clock.now / 1000));
    const expected = createHmac('sha256', Buffer.from('s3cret', 'utf8')).update(`${id}.${ts}.${r!.body}`).digest('base64');
    expect(r!.headers['webhook-signature']).toBe(`v1,${expected}`);
    expect(signWebhook('s3cret', id, Number(ts), r!.body)['webhook-signature']).toBe(`v1,${expected}`);
  });
});

describe('Alertmanager', () => {
  it('posts firing alerts at once and on every resend with endsAt = now + 4 × the interval, resolved ones for 15 minutes', async () => {
    const clock = { now: 3_000_000 };
    const n = notifier(clock, { webhooks: [], alertmanagerUrls: [base], resendIntervalMs: 60_000 });
    n.onTransition(alert('a', 'firing', 1));
    const [first] = await settle(1, '/api/v2/alerts');
    expect(JSON.parse(first!.body)).toEqual([
      {
        labels: { alertname: 'UserActivitySpike', userId: 'a', severity: 'warning' },
        annotations: { summary: 'a busy' },
        startsAt: new Date(1000).toISOString(),
        endsAt: new Date(3_000_000 + 240_000).toISOString(),
        generatorURL: expect.stringMatching(/^http:\/\/pulse\.example\/api\/v1\/alerts\/history\?fingerprint=[0-9a-f]{16}$/),
      },
    ]);
    n.tick(); // the first resend is due at once (nothing sent by the resend loop yet)
    await settle(2, '/api/v2/alerts');
    clock.now += 30_000;
    n.onTransition(alert('a', 'resolved', 9000));
    const [, , resolved] = await settle(3, '/api/v2/alerts');
    expect(JSON.parse(resolved!.body)[0]).toMatchObject({ endsAt: new Date(9000).toISOString() });
    clock.now += 30_000;
    n.tick();
    const [, , , resent] = await settle(4, '/api/v2/alerts');
    expect(JSON.parse(resent!.body)[0]).toMatchObject({ endsAt: new Date(9000).toISOString() });
    clock.now += RESOLVED_RETENTION_MS;
    n.tick();
    await new Promise((r) => setTimeout(r, 100));
    expect(requests).toHaveLength(4);
  });
});

describe('silences read back from Kafka', () => {
  it('are checked for the shape matching relies on', () => {
    const good = parseSilence({ matchers: [{ name: 'a', value: 'b.*', isRegex: true }], endsAt: 10_000 }, 0);
    expect(isSilence(JSON.parse(JSON.stringify(good)))).toBe(true);
    expect(isSilence({ ...good, matchers: 'all' })).toBe(false);
    expect(isSilence({ ...good, matchers: [{ name: 'a', value: '(', isRegex: true, isEqual: true }] })).toBe(false);
    expect(isSilence({ ...good, endsAt: '2099-01-01' })).toBe(false);
    expect(isSilence(null)).toBe(false);
  });
});
