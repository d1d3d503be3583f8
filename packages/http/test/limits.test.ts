import { connect, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { loadConfig } from '@pulse/config';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@pulse/log';
import { limitLoad, loggingOptions, serverOptions, traceRequests } from '../src/index.js';

const limits = { ...loadConfig({ env: {} }).http, headersTimeoutMs: 1000, requestTimeoutMs: 1500, maxConnections: 3 };

interface RawClient {
  socket: Socket;
  received: () => string;
  /** Resolves with the milliseconds from connect to close. */
  closed: Promise<number>;
}

/** A raw socket, so that a test can send part of a request and stall, as a hostile client does. */
function open(port: number): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => (received += d.toString()));
    const started = Date.now();
    const closed = new Promise<number>((done) => socket.on('close', () => done(Date.now() - started)));
    socket.once('connect', () => resolve({ socket, received: () => received, closed }));
    socket.once('error', reject);
  });
}

describe('HTTP server limits', () => {
  let app: FastifyInstance;
  let port: number;
  const bodies: unknown[] = [];

  const start = async () => {
    app = Fastify(serverOptions(limits));
    await limitLoad(app, limits, { error: 'overloaded' });
    app.post('/echo', async (request) => {
      bodies.push(request.body);
      return { ok: true };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
  };
  afterEach(async () => {
    bodies.length = 0;
    await app.close();
  });

  it('closes a client that sends part of its headers and stalls', async () => {
    await start();
    const client = await open(port);
    client.socket.write('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    expect(await client.closed).toBeLessThan(limits.headersTimeoutMs + 2500);
  });

  it('answers 408 to a client that sends part of its body and stalls, and never handles the request', async () => {
    await start();
    const client = await open(port);
    client.socket.write('POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 20\r\n\r\n{"a":');
    expect(await client.closed).toBeLessThan(limits.requestTimeoutMs + 2500);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(bodies).toEqual([]);
  });

  it('accepts at most maxConnections at once, and new ones once those close', async () => {
    await start();
    const clients: RawClient[] = [];
    for (let i = 0; i < limits.maxConnections + 2; i++) clients.push(await open(port));
    const closedAtOnce = await Promise.all(clients.map((c) => Promise.race([c.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 500))])));
    expect(closedAtOnce).toEqual([false, false, false, true, true]);
    for (const c of clients) c.socket.destroy();
    await Promise.all(clients.map((c) => c.closed));
    const res = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(res.status).toBe(200);
    expect(bodies).toEqual([{ a: 1 }]);
  });
});

describe('request ids and request logs', () => {
  it('answers with the request id, keeps a sane one the client sent, and logs a 5xx with it', async () => {
    let text = '';
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    });
    const app = Fastify({ ...serverOptions(limits), ...loggingOptions(createLogger('api', { level: 'info', format: 'json' }, stream)) });
    traceRequests(app);
    app.get('/ok', async () => ({ ok: true }));
    app.get('/boom', async () => {
      throw new Error('boom');
    });
    try {
      const given = await app.inject({ url: '/ok', headers: { 'x-request-id': 'client-42' } });
      expect(given.headers['x-request-id']).toBe('client-42');
      const fresh = await app.inject({ url: '/ok' });
      expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      // An id that could forge a log line is replaced.
      const forged = await app.inject({ url: '/ok', headers: { 'x-request-id': 'a\\n{"level":"fatal"}' } });
      expect(forged.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
      const failed = await app.inject({ url: '/boom', headers: { 'x-request-id': 'req-boom' } });
      expect(failed.statusCode).toBe(500);
      const lines = text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      // Successful requests are logged at debug only; the failure at error (fastify) and warn (its answer), both with its id.
      expect(lines.every((l) => l.reqId === 'req-boom')).toBe(true);
      expect(lines.map((l) => l.level)).toEqual(expect.arrayContaining(['error', 'warn']));
    } finally {
      await app.close();
    }
  });
});
