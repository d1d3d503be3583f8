import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetPool } from '../lib/http-connection.js';
import { pacedGetLoad } from '../lib/http-load.js';

let server: http.Server;
let port: number;
const connections = new Set<string>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    connections.add(`${req.socket.remotePort}`);
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/chunked') {
      res.write('no');
      res.end(' length');
    } else if (url.pathname === '/hang-up') {
      req.socket.destroy();
    } else {
      const body = JSON.stringify({ path: url.pathname, pad: 'x'.repeat(Number(url.searchParams.get('pad') ?? 0)) });
      res.writeHead(url.pathname === '/missing' ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const get = (pool: GetPool, path: string) => new Promise<number>((resolve) => pool.get(path, resolve));

describe('GetPool', () => {
  it('reads responses by Content-Length, however they are split, over kept-alive connections', async () => {
    connections.clear();
    const pool = new GetPool('127.0.0.1', port, 2);
    // 200 KB bodies arrive in many reads; several requests share the two connections in turn.
    const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => get(pool, `/ok${i}?pad=200000`)));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(connections.size).toBe(2);
    expect(await get(pool, '/missing')).toBe(404);
    pool.close();
  });

  it('fails a response it cannot delimit and a connection the server drops, and goes on with new connections', async () => {
    const pool = new GetPool('127.0.0.1', port, 1);
    expect(await get(pool, '/chunked')).toBe(0);
    expect(await get(pool, '/hang-up')).toBe(0);
    expect(await get(pool, '/after')).toBe(200);
    pool.close();
  });

  it('fails requests to a port nobody listens on', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const free = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const pool = new GetPool('127.0.0.1', free, 4);
    expect(await get(pool, '/')).toBe(0);
    pool.close();
  });
});

describe('pacedGetLoad', () => {
  it('sends the paced requests, counts failures, and times each second', async () => {
    let i = 0;
    const r = await pacedGetLoad({ host: '127.0.0.1', port, rate: 200, durationSec: 1, path: () => (i++ % 10 === 0 ? '/missing' : '/ok') });
    expect(r.requests).toBe(200);
    expect(r.errors).toBe(20);
    expect(r.series).toHaveLength(1);
    expect(r.series[0]!.requests).toBe(180);
    expect(r.series[0]!.max).toBeGreaterThanOrEqual(r.series[0]!.p99);
  });
});
