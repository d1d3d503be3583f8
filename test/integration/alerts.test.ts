import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFailed } from 'vitest';
import { AlertsView, parseSilence, type AlertTransition } from '../../packages/alerts/src/index.js';
import { LagSampler } from '../../packages/alerts/src/lag.js';
import { BatchConsumer, type KafkaSettings } from '../../packages/engine/src/index.js';
import { consumerConfig, ensureTopics, TOPICS } from '../../packages/kafka/src/index.js';
import { Alertmanager, Receiver, verifySignature, type WebhookAlert, type WebhookPayload } from './helpers/alerting.js';
import { createTopic, produceRecords, readAll, testBootstrap, testConfig, uniqueTopic } from './helpers/index.js';
import { pulseEnv, spawnPulse, testAggregators, waitUntil, type PulseProcess } from './helpers/pipeline.js';

const SECRET = 'test-webhook-secret';
const WINDOW = 300_000;
const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

describe('pulse alerts against a real broker and a real Alertmanager', () => {
  const config = testConfig();
  let receiver: Receiver;
  let am: Alertmanager;
  let env: Record<string, string>;
  const procs: PulseProcess[] = [];
  // Synthetic activity counts are for windows an hour ahead, so that the current windows the real
  // aggregator of the first test leaves behind (whichever side of a window boundary it ran) are older.
  const W = Math.floor(Date.now() / WINDOW) * WINDOW + 12 * WINDOW;

  const start = async (): Promise<PulseProcess> => {
    const p = spawnPulse(['alerts'], env);
    procs.push(p);
    await p.waitFor(/alerts: listening on/, 60_000);
    return p;
  };
  const transitions = async (): Promise<AlertTransition[]> => (await readAll(config, TOPICS.alerts)).map((r) => JSON.parse(r.value!.toString()) as AlertTransition);
  const transitionsOf = async (labelName: string, value: string) => (await transitions()).filter((t) => t.labels[labelName] === value);
  const webhookAlerts = (): (WebhookAlert & { payload: WebhookPayload })[] => receiver.accepted('/hook').flatMap((p) => p.alerts.map((a) => ({ ...a, payload: p })));
  const amAlerts = (): WebhookAlert[] => receiver.accepted('/am').flatMap((p) => p.alerts);
  const activity = (userId: string, windowStart: number, count: number) => ({ key: userId, value: { userId, windowStart, windowEnd: windowStart + WINDOW, count, final: false } });

  beforeAll(async () => {
    await ensureTopics(config);
    receiver = await Receiver.start();
    am = await Alertmanager.start(`${receiver.url}/am`);
    const dir = mkdtempSync(join(tmpdir(), 'pulse-alert-rules-'));
    const rulesFile = join(dir, 'rules.json');
    writeFileSync(
      rulesFile,
      JSON.stringify({
        rules: [
          { alert: 'FridgeTooWarm', kind: 'sensor_anomaly', metric: 'fridge_temperature', valueAbove: 8, severity: 'critical', annotations: { summary: '{{ $labels.sensorId }} at {{ $value }} C' } },
          { alert: 'Rejects', kind: 'dead_letter_rate', threshold: 3, window: '1m' },
          { alert: 'RevenueDip', kind: 'revenue_drop', currency: 'TST', share: 0.5, baseline: '3m' },
        ],
      }),
    );
    env = pulseEnv(testBootstrap(), {
      PULSE_ALERTS_USER_ACTIVITY_THRESHOLD: '100',
      PULSE_ALERTS_PORT: '0',
      PULSE_ALERTMANAGER_URL: am.url,
      PULSE_ALERT_WEBHOOKS: `${receiver.url}/hook`,
      PULSE_ALERT_WEBHOOK_SECRET: SECRET,
      PULSE_ALERTS_RULES_FILE: rulesFile,
      // No periodic snapshot: a kill finds every transition after the first one unsnapshotted.
      PULSE_ALERTS_SNAPSHOT_INTERVAL_MS: '600000',
      PULSE_ALERTS_GROUP_INTERVAL_MS: '300',
      PULSE_ALERTS_RESEND_INTERVAL_MS: '2000',
      PULSE_ALERTS_EXTERNAL_URL: 'http://pulse.test:8080',
    });
  });

  beforeEach(() => {
    onTestFailed(() => {
      for (const p of procs) console.log(`--- pulse alerts output:\n${p.output().slice(-4000)}`);
    });
  });

  // A test that failed half-way leaves no process behind to disturb the next one.
  afterEach(async () => {
    for (const p of procs.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
  });

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await am?.stop();
    await receiver?.down();
  });

  // First: the later tests write activity counts of future windows, which would make the real
  // aggregator's current windows look old.
  it('catches the bot that `pulse generate --bot-rate` injects, through the real aggregator', async () => {
    const aggregators = testAggregators(testBootstrap());
    try {
      const proc = await start();
      aggregators.start('alerts-test-aggregator');
      const gen = spawnPulse(['generate', '--rate', '200', '--duration', '15', '--bot-rate', '40', '--bot-user', 'bot-e2e', '--bot-for', '10'], env);
      const fired = await waitUntil('the bot alert', async () => (await transitionsOf('userId', 'bot-e2e')).find((t) => t.status === 'firing'), 90_000);
      expect(fired).toMatchObject({ rule: 'UserActivitySpike', labels: { alertname: 'UserActivitySpike', userId: 'bot-e2e', severity: 'warning' } });
      expect(fired.value).toBeGreaterThanOrEqual(100);
      // The shop's own users, sensors and revenue raise nothing with the built-in rules (the pipeline's
      // own latency and lag may, on a busy machine: they watch the machine, not the traffic).
      expect((await transitions()).filter((t) => t.labels.userId !== 'bot-e2e' && t.rule !== 'PipelineLatencyHigh' && t.rule !== 'ConsumerLagHigh')).toEqual([]);
      await waitUntil('the bot webhook', async () => webhookAlerts().find((a) => a.labels.userId === 'bot-e2e'), 30_000, 100);
      expect(await gen.exited).toBe(0);
      expect(gen.output()).toMatch(/bot bot-e2e sent 400 page views \(0 failed\)/);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      await aggregators.killAll();
    }
  });

  it('fires UserActivitySpike, survives a SIGKILL with the same alert and startsAt, and sends the resolution to webhooks and Alertmanager', async () => {
    const first = await start();
    await produceRecords(config, TOPICS.userActivityCounts, [activity('bot-1', W, 50), activity('u-calm', W, 3), activity('bot-1', W, 150)]);

    const [fired] = await waitUntil('the firing transition on pulse-alerts', async () => {
      const ts = await transitionsOf('userId', 'bot-1');
      return ts.length > 0 ? ts : undefined;
    }, 30_000);
    expect(fired).toMatchObject({ status: 'firing', rule: 'UserActivitySpike', labels: { alertname: 'UserActivitySpike', userId: 'bot-1', severity: 'warning' }, value: 150, endsAt: 0 });
    expect((await transitions()).some((t) => t.labels.userId === 'u-calm')).toBe(false);

    // Webhook: Alertmanager's payload, version 4, signed.
    const hooked = await waitUntil('the firing webhook', async () => webhookAlerts().find((a) => a.labels.userId === 'bot-1' && a.status === 'firing'), 30_000, 100);
    expect(hooked.fingerprint).toBe(fired!.fingerprint);
    expect(hooked.startsAt).toBe(new Date(fired!.startsAt).toISOString());
    expect(hooked.generatorURL).toMatch(/^http:\/\/pulse\.test:8080\//);
    expect(hooked.payload).toMatchObject({ version: '4', status: 'firing', receiver: expect.any(String), groupKey: '{}:{alertname="UserActivitySpike"}', groupLabels: { alertname: 'UserActivitySpike' }, externalURL: 'http://pulse.test:8080' });
    // The group also holds the bot of the test before (still firing): common labels are those all share.
    expect(hooked.payload.commonLabels).toMatchObject({ alertname: 'UserActivitySpike', severity: 'warning' });
    expect(hooked.payload.commonLabels.userId).toBeUndefined();
    const hookRequests = receiver.requests.filter((r) => r.path === '/hook');
    expect(hookRequests.length).toBeGreaterThan(0);
    for (const r of hookRequests) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(verifySignature(r, SECRET)).toBe(true);
      expect(verifySignature(r, 'another secret')).toBe(false);
    }

    // Alertmanager took the alert and notified its own receiver; it computes the same fingerprint.
    const viaAm = await waitUntil('Alertmanager to notify the firing alert', async () => amAlerts().find((a) => a.labels.userId === 'bot-1' && a.status === 'firing'), 30_000, 200);
    expect(viaAm.fingerprint).toBe(fired!.fingerprint);
    expect(viaAm.startsAt).toBe(new Date(fired!.startsAt).toISOString());

    // Killed with the firing transition recorded after its last snapshot; meanwhile the aggregator
    // closes bot-1's window (its final record), and nothing of bot-1 came in the next one.
    first.child.kill('SIGKILL');
    await first.exited;
    await produceRecords(config, TOPICS.userActivityCounts, [{ key: 'bot-1', value: { ...activity('bot-1', W, 160).value, final: true } }]);
    const second = await start();

    const resolved = await waitUntil('the resolution on pulse-alerts', async () => (await transitionsOf('userId', 'bot-1')).find((t) => t.status === 'resolved'), 30_000);
    const all = await transitionsOf('userId', 'bot-1');
    expect(all.map((t) => t.status)).toEqual(['firing', 'resolved']);
    expect(resolved).toMatchObject({ fingerprint: fired!.fingerprint, startsAt: fired!.startsAt, activeAt: fired!.activeAt });
    expect(resolved.endsAt).toBeGreaterThanOrEqual(fired!.startsAt);

    const hookResolved = await waitUntil('the resolved webhook', async () => webhookAlerts().find((a) => a.labels.userId === 'bot-1' && a.status === 'resolved'), 30_000, 100);
    expect(hookResolved).toMatchObject({ fingerprint: fired!.fingerprint, startsAt: new Date(fired!.startsAt).toISOString(), endsAt: new Date(resolved.endsAt).toISOString() });
    // At least once: every firing notification of bot-1 (one before the kill, maybe one after) is the same alert.
    for (const a of webhookAlerts().filter((x) => x.labels.userId === 'bot-1' && x.status === 'firing')) expect(a.startsAt).toBe(hookResolved.startsAt);
    await waitUntil('Alertmanager to notify the resolution', async () => amAlerts().find((a) => a.labels.userId === 'bot-1' && a.status === 'resolved'), 30_000, 200);

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('delivers everything to a webhook receiver that was down and then failing, retrying under the same webhook-id; sensor and dead-letter rules fire and resolve', async () => {
    const proc = await start();
    await receiver.down();
    await produceRecords(config, TOPICS.userActivityCounts, [activity('bot-2', W + WINDOW, 120)]);
    const sensor = (max: number, windowStart: number) => ({
      key: 'fridge-7',
      value: { sensorId: 'fridge-7', metric: 'fridge_temperature', unit: 'C', windowStart, windowEnd: windowStart + 60_000, count: 3, min: 3.9, max, mean: 5, ewma: 5, anomalyScore: 1, final: false },
    });
    const M = W + WINDOW;
    await produceRecords(config, TOPICS.sensorStats, [sensor(4.5, M), sensor(12.5, M)]);
    await waitUntil('both firings on pulse-alerts', async () => {
      const ts = await transitions();
      return ts.some((t) => t.labels.userId === 'bot-2' && t.status === 'firing') && ts.some((t) => t.rule === 'FridgeTooWarm' && t.status === 'firing') ? true : undefined;
    }, 30_000);
    // The receiver is down for a while (connections refused), then answers 503 twice, then 200.
    await new Promise((r) => setTimeout(r, 3000));
    receiver.failNext = 2;
    await receiver.up();

    const bot2 = await waitUntil('bot-2 delivered', async () => webhookAlerts().find((a) => a.labels.userId === 'bot-2' && a.status === 'firing'), 60_000, 200);
    expect(bot2.labels).toMatchObject({ alertname: 'UserActivitySpike', severity: 'warning' });
    const fridge = await waitUntil('the fridge delivered', async () => webhookAlerts().find((a) => a.labels.alertname === 'FridgeTooWarm' && a.status === 'firing'), 60_000, 200);
    expect(fridge).toMatchObject({ labels: { sensorId: 'fridge-7', metric: 'fridge_temperature', severity: 'critical' }, annotations: { summary: 'fridge-7 at 12.5 C' } });
    const hooks = receiver.requests.filter((r) => r.path === '/hook');
    const failed = hooks.filter((r) => r.status === 503);
    expect(failed.length).toBe(2);
    const acceptedIds = new Set(hooks.filter((r) => r.status === 200).map((r) => r.headers['webhook-id']));
    for (const f of failed) expect(acceptedIds.has(f.headers['webhook-id'])).toBe(true);
    for (const r of hooks) expect(verifySignature(r, SECRET)).toBe(true);

    // The fridge cools down in its next minute: resolved.
    await produceRecords(config, TOPICS.sensorStats, [sensor(4.1, M + 60_000)]);
    await waitUntil('the fridge resolved', async () => webhookAlerts().find((a) => a.labels.alertname === 'FridgeTooWarm' && a.status === 'resolved'), 30_000, 200);

    // Three dead letters within a minute.
    await produceRecords(config, TOPICS.deadLetters, [1, 2, 3].map((i) => ({ key: `k-${i}`, value: 'not json', headers: { 'pulse.error.reason': 'invalid_json' } })));
    const rejects = await waitUntil('Rejects firing', async () => (await transitions()).find((t) => t.rule === 'Rejects' && t.status === 'firing'), 30_000);
    expect(rejects).toMatchObject({ value: 3, labels: { alertname: 'Rejects', severity: 'warning' } });

    // Revenue per minute (two source partitions) dips to under half its 3-minute baseline.
    const revenue = [100, 100, 100, 40, 100, 100].flatMap((total, m) =>
      [0, 1].map((partition) => ({ key: `${partition}/TST`, value: { partition, currency: 'TST', windowStart: W + m * 60_000, windowEnd: W + (m + 1) * 60_000, orders: 1, items: 1, revenue: total / 2, final: true } })),
    );
    await produceRecords(config, TOPICS.revenue, revenue);
    const dip = await waitUntil('RevenueDip firing', async () => (await transitions()).find((t) => t.rule === 'RevenueDip' && t.status === 'firing'), 30_000);
    expect(dip).toMatchObject({ value: 40, labels: { alertname: 'RevenueDip', currency: 'TST' } });

    const metrics = await fetch(`http://127.0.0.1:${/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(proc.output())![1]}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/^pulse_alerts_webhook_failures_total [1-9]/m);
    expect(metrics).toMatch(/^pulse_alerts_webhook_queued 0$/m);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it("serve's view of pulse-alerts lists the alerts and their history, and its silences mute webhooks of pulse alerts", async () => {
    const view = new AlertsView(config);
    await view.start();
    try {
      await waitUntil('the view to catch up', async () => (view.ready() && view.history().length > 0 ? true : undefined), 30_000, 100);
      const history = await transitions();
      expect(view.history()).toEqual(history);
      const active = view.active().map((a) => a.labels.userId ?? a.rule);
      expect(active).toContain('bot-2');
      expect(active).not.toContain('bot-1'); // resolved

      const silence = parseSilence({ matchers: [{ name: 'userId', value: 'bot-3' }], endsAt: Date.now() + 3_600_000, comment: 'expected load' }, Date.now());
      await view.addSilence(silence);
      const proc = await start();
      await produceRecords(config, TOPICS.userActivityCounts, [activity('bot-3', W + WINDOW, 150)]);
      await waitUntil('bot-3 firing on pulse-alerts', async () => (await transitionsOf('userId', 'bot-3')).find((t) => t.status === 'firing'), 30_000);
      await waitUntil('the view to see it', async () => view.active().find((a) => a.labels.userId === 'bot-3'), 30_000, 100);
      // Not silenced: bot-4 is notified, after which bot-3 would have been too.
      await produceRecords(config, TOPICS.userActivityCounts, [activity('bot-4', W + WINDOW, 150)]);
      await waitUntil('bot-4 delivered', async () => webhookAlerts().find((a) => a.labels.userId === 'bot-4'), 30_000, 100);
      expect(webhookAlerts().some((a) => a.labels.userId === 'bot-3')).toBe(false);
      proc.child.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    } finally {
      await view.stop();
    }
  });

  it('samples a consumer group’s lag for consumer_lag rules: end offsets minus committed offsets', async () => {
    const topic = uniqueTopic('alerts-lag');
    await createTopic(config, topic, 2);
    await produceRecords(config, topic, Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: i % 2 })));
    const group = `${topic}-group`;
    const c = new BatchConsumer(consumerConfig(config, 'lag-test', group) as KafkaSettings);
    c.assign([{ topic, partition: 0, offset: 0 }, { topic, partition: 1, offset: 0 }]);
    c.commit([{ topic, partition: 0, offset: 3 }, { topic, partition: 1, offset: 5 }]);
    await c.close();
    const samples: [string, number][] = [];
    const sampler = new LagSampler(config, [group, 'no-such-group'], 300, (g, lag) => samples.push([g, lag]), () => {});
    sampler.start();
    try {
      await waitUntil('a lag sample', async () => (samples.length > 0 ? true : undefined), 20_000, 100);
    } finally {
      await sampler.stop();
    }
    // 5 + 5 records, 3 and 5 committed: 2 + 0 behind; a group without offsets gives no sample.
    expect(samples[0]).toEqual([group, 2]);
    expect(samples.every(([g]) => g === group)).toBe(true);
  });

  it('rejects a bad rules file naming the rule and the field', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-bad-rules-'));
    const file = join(dir, 'rules.json');
    writeFileSync(file, JSON.stringify({ rules: [{ alert: 'Ok', kind: 'consumer_lag', threshold: 5 }, { alert: 'Broken', kind: 'sensor_anomaly', valueAbove: 'hot' }] }));
    const run = spawnSync(process.execPath, [CLI, 'alerts', '--check'], { env: pulseEnv(testBootstrap(), { PULSE_ALERTS_RULES_FILE: file }), encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain(`alert rule "Broken" (${file}), field valueAbove: expected a number, got "hot"`);
  });
});
