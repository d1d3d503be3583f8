// The dashboard's weight and time to first number, measured with headless Chromium against a running
// Pulse (`pulse up`), and screenshots of its pages:
//
//   node bench/dist/dashboard/run.js [--url http://127.0.0.1:8080] [--token T] [--runs 5]
//        [--out bench/results/dashboard] [--screenshots docs/images] [--chromium /usr/bin/chromium]
//
// Each run is a fresh browser context (cold cache). Weight: bytes on the wire (compressed bodies and
// headers) of every response the page loads, the stream excepted (it never ends). Time to first number:
// from the start of navigation until the events-in figure shows a number.
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';

interface Run {
  assetsBytes: number;
  apiBytes: number;
  requests: number;
  firstContentfulPaintMs: number;
  firstNumberMs: number;
  byUrl: Record<string, number>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The page's globals this script reads (it is compiled without the DOM's types). */
type InPage = { document: { querySelector(s: string): { textContent: string | null } | null }; performance: { now(): number; getEntriesByName(n: string): { startTime: number }[] } };
/** In the page: the events-in figure shows a number. Self-contained functions (they are sent to the page), not strings: the page's CSP forbids eval. */
const SHOWS_NUMBER = () => /^\d/.test((globalThis as unknown as InPage).document.querySelector('[data-metric="events-in-per-second"]')?.textContent ?? '');

async function newPage(browser: Browser, token: string | undefined, viewport = { width: 1440, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  if (token !== undefined) await context.addInitScript(`sessionStorage.setItem('pulse.apiToken', ${JSON.stringify(token)})`);
  return context.newPage();
}

async function measure(browser: Browser, url: string, token: string | undefined): Promise<Run> {
  const page = await newPage(browser, token);
  const sizes: Promise<{ url: string; bytes: number }>[] = [];
  page.on('requestfinished', (request) => {
    sizes.push(request.sizes().then((s) => ({ url: new URL(request.url()).pathname, bytes: s.responseBodySize + s.responseHeadersSize })));
  });
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForFunction(SHOWS_NUMBER, undefined, { polling: 'raf', timeout: 30_000 });
  const firstNumberMs = await page.evaluate(() => (globalThis as unknown as InPage).performance.now());
  // What the page loads after its first number (the API reads of the first refresh) counts too; the
  // stream never ends, so the network is never idle: a fixed second instead.
  await page.waitForTimeout(1000);
  const fcp = await page.evaluate(() => (globalThis as unknown as InPage).performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1);
  const done = await Promise.all(sizes);
  await page.context().close();
  const byUrl: Record<string, number> = {};
  for (const s of done) byUrl[s.url] = (byUrl[s.url] ?? 0) + s.bytes;
  const isApi = (u: string) => u.startsWith('/api/');
  return {
    assetsBytes: done.filter((s) => !isApi(s.url)).reduce((n, s) => n + s.bytes, 0),
    apiBytes: done.filter((s) => isApi(s.url)).reduce((n, s) => n + s.bytes, 0),
    requests: done.length,
    firstContentfulPaintMs: Math.round(fcp),
    firstNumberMs: Math.round(firstNumberMs),
    byUrl,
  };
}

/** The user with the most activity among the first few ids the generator uses, for the Users screenshot. */
async function busyUser(url: string, token: string | undefined): Promise<string> {
  let best = { id: 'u-1', total: -1 };
  for (let i = 1; i <= 40; i++) {
    const res = await fetch(`${url}/api/v1/users/u-${i}/activity`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
    const total = ((await res.json()) as { total?: number }).total ?? 0;
    if (total > best.total) best = { id: `u-${i}`, total };
  }
  return best.id;
}

async function screenshots(browser: Browser, url: string, token: string | undefined, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  /** What shows that a tab has its data. */
  const ready: Record<string, string> = {
    live: '#topics tbody tr:nth-child(3)',
    business: '#top tbody tr td:nth-child(2)',
    sensors: '#sensors tbody tr[data-sensor]',
    alerts: '#alerts tbody tr',
    users: '#similar li button',
    phone: '#topics tbody tr',
  };
  const shoot = async (page: Page, name: string) => {
    // Let charts and tables fill, then capture what a wall screen shows.
    await page.waitForSelector(ready[name]!, { timeout: 30_000 });
    await page.waitForTimeout(1500);
    const file = join(dir, `dashboard-${name}.png`);
    await page.screenshot({ path: file, fullPage: name === 'business' || name === 'users' });
    files.push(file);
  };
  const page = await newPage(browser, token);
  for (const tab of ['live', 'business', 'sensors', 'alerts']) {
    await page.goto(`${url}/#${tab}`);
    await page.waitForFunction(SHOWS_NUMBER);
    await shoot(page, tab);
  }
  const user = await busyUser(url, token);
  await page.goto(`${url}/#users`);
  await page.fill('#user-id', user);
  await page.click('#user-form button');
  await page.waitForSelector('#recs li');
  await page.click('#recs li button');
  await shoot(page, 'users');
  await page.context().close();
  const phone = await newPage(browser, token, { width: 390, height: 844 });
  await phone.goto(`${url}/#live`);
  await shoot(phone, 'phone');
  await phone.context().close();
  return files;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      token: { type: 'string' },
      runs: { type: 'string', default: '5' },
      out: { type: 'string', default: 'bench/results/dashboard' },
      screenshots: { type: 'string' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
    },
  });
  const url = values.url.replace(/\/$/, '');
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number ≥ 1, got ${values.runs}`);
  const browser = await chromium.launch({ executablePath: values.chromium, args: ['--disable-background-networking'] });
  try {
    // One warm-up load: the server's first answers (file reads, first queries) are not the page's.
    await measure(browser, url, values.token);
    const loadBefore = loadavg()[0]!;
    const results: Run[] = [];
    for (let i = 0; i < runs; i++) results.push(await measure(browser, url, values.token));
    const summary = {
      measuredAt: new Date().toISOString(),
      command: `node bench/dist/dashboard/run.js ${process.argv.slice(2).filter((a, i, all) => a !== '--token' && all[i - 1] !== '--token').join(' ')}`.trim(),
      chromium: browser.version(),
      /** The machine's 1-minute load average before and after the runs (2 cores, shared). */
      loadAverage: [Math.round(loadBefore * 10) / 10, Math.round(loadavg()[0]! * 10) / 10],
      runs,
      medianAssetsKB: Math.round(median(results.map((r) => r.assetsBytes)) / 102.4) / 10,
      medianApiKB: Math.round(median(results.map((r) => r.apiBytes)) / 102.4) / 10,
      medianFirstContentfulPaintMs: median(results.map((r) => r.firstContentfulPaintMs)),
      medianFirstNumberMs: median(results.map((r) => r.firstNumberMs)),
      results,
    };
    mkdirSync(values.out, { recursive: true });
    writeFileSync(join(values.out, 'dashboard.json'), `${JSON.stringify(summary, null, 2)}\n`);
    const assets = Object.entries(results[0]!.byUrl).filter(([u]) => !u.startsWith('/api/'));
    writeFileSync(
      join(values.out, 'dashboard.md'),
      `# Dashboard: page weight and time to first number

Measured ${summary.measuredAt} with headless Chromium ${summary.chromium} against \`pulse up\` on this
machine (the page, the API and the whole pipeline with its demo load on 2 cores, shared with other
work: 1-minute load average ${summary.loadAverage[0]} before the runs, ${summary.loadAverage[1]} after), ${runs} cold loads
after one warm-up, each in a fresh browser context. Command:

    ${summary.command}

| | median | target |
|---|---|---|
| assets on the wire (HTML, CSS, JS, icon; compressed) | **${summary.medianAssetsKB} KB** | < 300 KB |
| query API answers on load (JSON; the Live tab reads only the stream, which is not counted) | ${summary.medianApiKB} KB | |
| first contentful paint | ${summary.medianFirstContentfulPaintMs} ms | |
| time to first number (events in/s shown) | **${summary.medianFirstNumberMs} ms** | < 1 000 ms |

Per run (ms to first number): ${results.map((r) => r.firstNumberMs).join(', ')}.

Bytes per asset (first run): ${assets.map(([u, b]) => `\`${u}\` ${b}`).join(', ')}.
`,
    );
    console.log(JSON.stringify({ ...summary, results: undefined }, null, 2));
    if (values.screenshots !== undefined) console.log((await screenshots(browser, url, values.token, values.screenshots)).join('\n'));
  } finally {
    await browser.close();
  }
}

main().catch((err: Error) => {
  console.error(`dashboard bench: ${err.message}`);
  process.exit(1);
});
