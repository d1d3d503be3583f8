import { describe, expect, it } from 'vitest';
import { loadConfig } from '@pulse/config';
import { configuredRules } from '../src/service.js';

describe('alerting configuration', () => {
  it('has the documented defaults', () => {
    expect(loadConfig({ env: {} }).alerts).toMatchObject({
      userActivityThreshold: 500,
      resendIntervalMs: 60_000,
      alertmanagerUrls: [],
      webhooks: [],
      webhookSecret: '',
      groupBy: ['alertname'],
      rulesFile: '',
    });
  });

  it('takes the documented environment variables', () => {
    const config = loadConfig({
      env: {
        PULSE_ALERTS_USER_ACTIVITY_THRESHOLD: '42',
        PULSE_ALERTMANAGER_URL: 'http://am-1:9093, http://am-2:9093',
        PULSE_ALERTS_RESEND_INTERVAL_MS: '30000',
        PULSE_ALERT_WEBHOOKS: 'https://hooks.example/a,https://hooks.example/b',
        PULSE_ALERT_WEBHOOK_SECRET: 'whsec-test',
      },
    });
    expect(config.alerts).toMatchObject({
      userActivityThreshold: 42,
      alertmanagerUrls: ['http://am-1:9093', 'http://am-2:9093'],
      resendIntervalMs: 30_000,
      webhooks: ['https://hooks.example/a', 'https://hooks.example/b'],
      webhookSecret: 'whsec-test',
    });
    expect(configuredRules(config).find((r) => r.name === 'UserActivitySpike')).toMatchObject({ kind: 'user_activity', threshold: 42 });
    expect(() => loadConfig({ env: { PULSE_ALERTS_USER_ACTIVITY_THRESHOLD: '0' } })).toThrow('configuration alerts.userActivityThreshold (from environment PULSE_ALERTS_USER_ACTIVITY_THRESHOLD): must be at least 1');
  });
});
