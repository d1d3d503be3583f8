import { brotliDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { buildApi } from '../src/index.js';
import { emptyRecommender, http } from './helpers.js';


describe('the dashboard page and its assets', () => {
  it('serves GET / and every asset compressed, with a strict CSP, open even when reads need a token', async () => {
    const app = buildApi({ recommender: emptyRecommender, tokens: ['s3cret'], http });
    const page = await app.inject({ url: '/', headers: { 'accept-encoding': 'br, gzip' } });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-encoding']).toBe('br');
    const html = brotliDecompressSync(page.rawPayload).toString();
    expect(html).toContain('data-metric="events-in-per-second"');
    const csp = String(page.headers['content-security-policy']);
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) expect(csp).toContain(directive);
    expect(csp).not.toMatch(/unsafe|https?:/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    // Every script and stylesheet the page names is served by Pulse itself.
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]*)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(expect.arrayContaining(['/vendor/uPlot.iife.min.js', '/vendor/uPlot.min.css', '/app.js', '/style.css']));
    for (const path of assets) {
      const res = await app.inject({ url: path, headers: { 'accept-encoding': 'gzip' } });
      expect(res.statusCode, path).toBe(200);
      if (res.rawPayload.length > 1024) expect(res.headers['content-encoding'], path).toBe('gzip');
    }
    await app.close();
  });

  it('leaves the API’s responses and paths to the API', async () => {
    const app = buildApi({ recommender: emptyRecommender, tokens: [], http });
    const res = await app.inject('/api/v1/recommendations/u-1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-security-policy']).toBeUndefined();
    expect((await app.inject('/api/v1/no-such-route')).statusCode).toBe(404);
    expect((await app.inject('/no-such-file.js')).statusCode).toBe(404);
    await app.close();
  });
});
