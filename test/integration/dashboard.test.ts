import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fingerprint, type AlertTransition } from '../../packages/alerts/src/index.js';
import { TOPICS } from '../../packages/kafka/src/index.js';
import { produceRecords, testConfig } from './helpers/index.js';
import { pulseEnv, resetTopics, spawnPulse, testAggregators, waitUntil, type PulseProcess } from './helpers/pipeline.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = 'dashboard-test-token';
const KEY_FIGURES = ['events-in-per-second', 'events-out-per-second', 'latency-p95-ms', 'consumer-lag', 'active-alerts'];
const isNumber = (text: string | null) => text !== null && /^-?\d+(\.\d+)?$/.test(text.trim());

/**
 * The dashboard in a real headless Chromium against a running pipeline (generator → Kafka → aggregator
 * → sink → store → `pulse serve`): what a user sees, over the API and the stream the page reads.
 */
describe('the dashboard in a browser', () => {
  const bootstrap = inject('kafkaBootstrap');
  const config = testConfig();
  const dir = join(repoRoot, `.pulse/test-dashboard-${process.pid}`);
  const port = 19400 + Math.floor(Math.random() * 400);
  const origin = `http://127.0.0.1:${port}`;
  const aggregators = testAggregators(bootstrap);
  const serveEnv = () => pulseEnv(bootstrap, { PULSE_SINK_DUCKDB_FILE: join(dir, 'store.duckdb'), PULSE_RECS_SNAPSHOT_INTERVAL_MS: '0', PULSE_API_TOKENS: TOKEN });
  let generator: PulseProcess;
  let serve: PulseProcess;
  let browser: Browser;
  let page: Page;
  /** Console errors and uncaught exceptions, with what the test was doing when they came. */
  const errors: { phase: string; text: string }[] = [];
  const requests: string[] = [];
  let phase = 'load';

  const startServe = async () => {
    serve = spawnPulse(['serve', '--port', String(port)], serveEnv());
    await serve.waitFor(/API on/);
  };
  const api = async (path: string) => (await fetch(`${origin}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as Promise<Record<string, any>>;
  const figure = (name: string) => page.textContent(`[data-metric="${name}"]`);
  const figures = async (names: string[]) => Promise.all(names.map(figure));
  /** Waits until `read` gives something other than `before` (the page shows new numbers by itself). */
  const changes = async (what: string, read: () => Promise<unknown>, timeoutMs = 15_000) => {
    const before = JSON.stringify(await read());
    await waitUntil(what, async () => (JSON.stringify(await read()) !== before ? true : undefined), timeoutMs, 250);
  };

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await resetTopics(config);
    aggregators.start('dashboard-test');
    // A small shop, so that in a minute every sensor reports often and the first users have history.
    generator = spawnPulse(['generate', '--rate', '300', '--duration', '300', '--sensors', '20', '--users', '2000', '--products', '500', '--quiet'], pulseEnv(bootstrap));
    await startServe();
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--disable-background-networking'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push({ phase, text: m.text() });
    });
    page.on('pageerror', (err) => errors.push({ phase, text: `uncaught: ${err.message}` }));
    page.on('request', (r) => requests.push(r.url()));
    // Data in the store before the page opens: revenue, sensors and users to show.
    await waitUntil('revenue and sensor statistics in the store', async () => {
      const to = Date.now() + 60_000;
      const [revenue, sensors] = await Promise.all([api(`/api/v1/revenue?from=${to - 600_000}&to=${to}`), api(`/api/v1/sensors?from=${to - 600_000}&to=${to}`)]);
      return revenue.buckets?.length > 0 && sensors.sensors?.length > 0 ? true : undefined;
    }, 60_000);
  });

  afterAll(async () => {
    await browser?.close();
    for (const p of [serve, generator]) if (p !== undefined && p.child.exitCode === null) p.child.kill('SIGKILL');
    await aggregators.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks for a token, refuses a wrong one and shows data with the right one', async () => {
    phase = 'token';
    await page.goto(`${origin}/`);
    await page.waitForSelector('#login[open]');
    // Nothing from the API is shown without a token.
    expect(await figure('events-in-per-second')).toBe('–');
    await page.fill('#token', 'not-the-token');
    await page.click('#login-form button');
    await page.waitForSelector('#login-error:not([hidden])');
    expect(await page.isVisible('#login[open]')).toBe(true);
    await page.fill('#token', TOKEN);
    await page.click('#login-form button');
    await page.waitForSelector('#login[open]', { state: 'detached' });
    await page.waitForFunction(() => /^\d/.test(document.querySelector('[data-metric="events-in-per-second"]')?.textContent ?? ''));
    expect(await page.evaluate(() => sessionStorage.getItem('pulse.apiToken'))).toBe(TOKEN);
    // Only the two refused tries reached the console (as failed loads of 401 answers).
    expect(errors.every((e) => /401/.test(e.text))).toBe(true);
    // The token went in a header, never in a URL.
    expect(requests.filter((u) => u.includes(TOKEN))).toEqual([]);
  });

  it('Live: key figures and charts with real numbers that change while we watch', async () => {
    phase = 'pages';
    await page.goto(`${origin}/#live`);
    await page.waitForFunction((names) => names.every((n) => /^\d/.test(document.querySelector(`[data-metric="${n}"]`)?.textContent ?? '')), KEY_FIGURES);
    for (const text of await figures(KEY_FIGURES)) expect(isNumber(text), String(text)).toBe(true);
    // The generator sends 300 events/s; the monitor samples the topics' offsets every few seconds.
    await waitUntil('events in near the generator rate', async () => (Math.abs(Number(await figure('events-in-per-second')) - 300) < 100 ? true : undefined), 20_000);
    expect(Number(await figure('events-out-per-second'))).toBeGreaterThan(0);
    await changes('a live figure to change', () => figures(KEY_FIGURES));
    expect(await page.locator('#page-live canvas').count()).toBeGreaterThanOrEqual(2);
    expect(await page.locator('#topics tbody tr').count()).toBeGreaterThanOrEqual(3);
  });

  it('Business: revenue per minute, funnel and top products from the pipeline', async () => {
    await page.click('a[data-tab="business"]');
    await page.waitForFunction(() => /^\d/.test(document.querySelector('[data-metric="revenue-per-minute"]')?.textContent ?? ''));
    expect(Number(await figure('revenue-per-minute'))).toBeGreaterThan(0);
    await page.waitForSelector('#top tbody tr td:nth-child(2):text-matches("^p-")');
    await page.waitForSelector('#funnel .stage');
    expect(await page.locator('#page-business canvas').count()).toBeGreaterThanOrEqual(2);
    await changes('revenue per minute to move', () => figure('revenue-per-minute'));
    // The range buttons ask the query API for that much history.
    const asked = page.waitForRequest((r) => {
      const q = new URL(r.url()).searchParams;
      return r.url().includes('/api/v1/revenue') && Number(q.get('to')) - Number(q.get('from')) > 23 * 3_600_000;
    });
    await page.click('[data-range="24h"]');
    await asked;
    await page.click('[data-range="15m"]');
  });

  it('Sensors: the worst sensor first, and its chart', async () => {
    await page.click('a[data-tab="sensors"]');
    await page.waitForSelector('#sensors tbody tr[data-sensor]');
    const scores = await page.$$eval('#sensors tbody tr[data-sensor] td:last-child', (tds) => tds.map((td) => td.textContent ?? ''));
    const numeric = scores.filter((s) => s !== '–').map((s) => Number(s.replace(/,/g, '')));
    expect(numeric.length).toBeGreaterThan(0);
    expect(numeric).toEqual([...numeric].sort((a, b) => b - a));
    await page.waitForFunction(() => document.querySelector('#sensor-name')?.textContent !== '–');
    await changes('the sensor table to refresh with new readings', () => page.textContent('#sensors tbody'));
  });

  it('Users & recommendations: a user’s activity windows, recommendations with "because", similar products', async () => {
    const now = Date.now();
    let user = '';
    for (let i = 1; i <= 60 && user === ''; i++) if ((await api(`/api/v1/users/u-${i}/activity?from=${now - 3_600_000}&to=${now + 60_000}`)).total > 0) user = `u-${i}`;
    expect(user).not.toBe('');
    await page.click('a[data-tab="users"]');
    await page.fill('#user-id', user);
    await page.click('#user-form button');
    await page.waitForFunction(() => Number((document.querySelector('#user-summary') as HTMLElement | null)?.dataset.total ?? 0) > 0);
    await page.waitForSelector('#recs li button');
    expect(await page.textContent('#recs')).toMatch(/because of p-|popular now/);
    await page.click('#recs li button');
    await page.waitForSelector('#similar li button');
    expect(await page.textContent('#similar')).toMatch(/p-\d+/);
  });

  it('Alerts: the firing alerts pulse alerts recorded, their history, the active silences, and their count on Live', async () => {
    // A transition as `pulse alerts` writes it, and a silence through the API, as an operator makes one.
    const now = Date.now();
    const labels = { alertname: 'UserActivitySpike', severity: 'warning', userId: 'u-dashboard' };
    const firing: AlertTransition = { fingerprint: fingerprint(labels), status: 'firing', rule: 'UserActivitySpike', labels, annotations: {}, activeAt: now, startsAt: now, endsAt: 0, value: 612, at: now };
    await produceRecords(config, TOPICS.alerts, [{ key: firing.fingerprint, value: JSON.stringify(firing) }]);
    const silence = await fetch(`${origin}/api/v1/silences`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: [{ name: 'userId', value: 'u-dashboard', isRegex: false, isEqual: true }], endsAt: now + 3_600_000, comment: 'known load test', createdBy: 'ops' }),
    });
    expect(silence.status).toBe(200);

    await page.click('a[data-tab="live"]');
    await page.waitForFunction(() => document.querySelector('[data-metric="active-alerts"]')?.textContent === '1', undefined, { timeout: 15_000 });
    await page.click('a[data-tab="alerts"]');
    await page.waitForFunction(() => (document.querySelector('#silences tbody')?.textContent ?? '').includes('known load test'), undefined, { timeout: 15_000 });
    expect(await page.textContent('#alerts tbody')).toMatch(/UserActivitySpike\s*firing\s*warning\s*userId=u-dashboard/);
    expect(await page.textContent('#alerts-history tbody')).toMatch(/UserActivitySpike\s*firing/);
    expect(await page.textContent('#silences tbody')).toMatch(/userId="u-dashboard".*known load test\s*ops/);
  });

  it('no console errors on the pages, and no request leaves 127.0.0.1', () => {
    expect(errors.filter((e) => e.phase === 'pages')).toEqual([]);
    const outside = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'));
    expect(outside).toEqual([]);
  });

  it('the stream resumes after pulse serve is stopped and started again on the same port', async () => {
    phase = 'restart';
    await page.click('a[data-tab="live"]');
    await page.waitForSelector('#conn[data-state="live"]');
    const streamRequests: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/v1/stream')) streamRequests.push(r.headers()['last-event-id']);
    });
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    await page.waitForSelector('#conn[data-state="down"]', { timeout: 10_000 });
    await startServe();
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 20_000 });
    await changes('live figures after the restart', () => figures(KEY_FIGURES), 20_000);
    // It reconnected on its own, saying which update it had seen last.
    expect(streamRequests.some((id) => id !== undefined && /^\d+$/.test(id))).toBe(true);
    // While the server was down only failed connections were logged, nothing else.
    expect(errors.filter((e) => e.phase === 'restart' && !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|net::/.test(e.text))).toEqual([]);
  });
});
