import { describe, expect, it } from 'vitest';
import type { AlertsSource, AlertTransition, Silence } from '@pulse/alerts';
import { buildApi } from '../src/index.js';
import { emptyRecommender, http } from './helpers.js';


const t = (fingerprint: string, status: AlertTransition['status'], at: number, userId = 'u-1'): AlertTransition => ({
  fingerprint,
  status,
  rule: 'UserActivitySpike',
  labels: { alertname: 'UserActivitySpike', userId, severity: 'warning' },
  annotations: { summary: 's' },
  activeAt: 1000,
  startsAt: status === 'pending' ? 0 : 1000,
  endsAt: status === 'resolved' ? at : 0,
  value: 600,
  at,
});

function source(): AlertsSource & { added: Silence[] } {
  const added: Silence[] = [];
  const history = [t('aaaaaaaaaaaaaaaa', 'firing', 1000), t('bbbbbbbbbbbbbbbb', 'pending', 2000, 'u-2'), t('aaaaaaaaaaaaaaaa', 'resolved', 3000), t('cccccccccccccccc', 'firing', 4000, 'u-3')];
  return {
    added,
    active: () => [history[1]!, history[3]!],
    history: () => history,
    silences: () => added,
    addSilence: async (s) => {
      added.push(s);
    },
    ready: () => true,
  };
}

const silence = { matchers: [{ name: 'userId', value: 'u-3' }], endsAt: '2099-01-01T00:00:00Z', comment: 'known load test' };

describe('alerting API', () => {
  it('lists pending and firing alerts, and the history newest first', async () => {
    const app = buildApi({ recommender: emptyRecommender, alerts: source(), tokens: [], http });
    const all = await app.inject('/api/v1/alerts');
    expect(all.statusCode).toBe(200);
    expect(all.json().alerts.map((a: AlertTransition) => [a.fingerprint, a.status])).toEqual([
      ['bbbbbbbbbbbbbbbb', 'pending'],
      ['cccccccccccccccc', 'firing'],
    ]);
    expect((await app.inject('/api/v1/alerts?status=firing')).json().alerts).toHaveLength(1);
    expect((await app.inject('/api/v1/alerts?status=resolved')).statusCode).toBe(400);

    const history = await app.inject('/api/v1/alerts/history?limit=3');
    expect(history.json().transitions.map((x: AlertTransition) => x.at)).toEqual([4000, 3000, 2000]);
    const one = await app.inject('/api/v1/alerts/history?fingerprint=aaaaaaaaaaaaaaaa');
    expect(one.json().transitions.map((x: AlertTransition) => x.status)).toEqual(['resolved', 'firing']);
    expect(one.json().transitions[0]).toMatchObject({ labels: { userId: 'u-1' }, annotations: { summary: 's' }, endsAt: 3000 });
    expect((await app.inject('/api/v1/alerts/history?fingerprint=nothex')).statusCode).toBe(400);
  });

  it('always wants a token to create a silence, even with reads open', async () => {
    const alerts = source();
    const open = buildApi({ recommender: emptyRecommender, alerts, tokens: [], http });
    expect((await open.inject('/api/v1/alerts')).statusCode).toBe(200);
    const refused = await open.inject({ method: 'POST', url: '/api/v1/silences', payload: silence });
    expect(refused.statusCode).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer');
    expect(alerts.added).toEqual([]);

    const secured = buildApi({ recommender: emptyRecommender, alerts, tokens: ['t0k3n'], http });
    expect((await secured.inject('/api/v1/alerts')).statusCode).toBe(401);
    expect((await secured.inject({ method: 'POST', url: '/api/v1/silences', payload: silence, headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    const ok = await secured.inject({ method: 'POST', url: '/api/v1/silences', payload: silence, headers: { authorization: 'Bearer t0k3n' } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().silenceID).toBe(alerts.added[0]!.id);
    expect(alerts.added[0]).toMatchObject({ matchers: [{ name: 'userId', value: 'u-3', isRegex: false, isEqual: true }], endsAt: Date.parse(silence.endsAt), comment: 'known load test' });
    const listed = await secured.inject({ url: '/api/v1/silences', headers: { authorization: 'Bearer t0k3n' } });
    expect(listed.json().silences).toHaveLength(1);
  });

  it('rejects bad silences with a message naming the field', async () => {
    const alerts = source();
    const app = buildApi({ recommender: emptyRecommender, alerts, tokens: ['k'], http });
    const post = (payload: object) => app.inject({ method: 'POST', url: '/api/v1/silences', payload, headers: { authorization: 'Bearer k' } });
    const noMatchers = await post({ matchers: [], endsAt: silence.endsAt });
    expect(noMatchers.statusCode).toBe(400);
    expect(noMatchers.json().message).toMatch(/matchers/);
    const backwards = await post({ ...silence, startsAt: '2099-02-01T00:00:00Z' });
    expect(backwards.statusCode).toBe(400);
    expect(backwards.json().message).toBe('endsAt: must be after startsAt');
    const badTime = await post({ ...silence, endsAt: 'tomorrow' });
    expect(badTime.json().message).toMatch(/^endsAt: expected an ISO 8601 time/);
    const badRegex = await post({ ...silence, matchers: [{ name: 'userId', value: '(', isRegex: true }] });
    expect(badRegex.json().message).toMatch(/^matchers\[0\]\.value: not a regular expression/);
    expect(alerts.added).toEqual([]);
  });
});
