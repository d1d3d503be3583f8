import { connect, type AddressInfo, type Socket } from 'node:net';
import { loadConfig } from '@pulse/config';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { limitLoad, serverOptions } from '../src/index.js';

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
