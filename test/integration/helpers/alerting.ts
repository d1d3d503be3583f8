import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  /** The status the receiver answered. */
  status: number;
}

/**
 * An HTTP receiver of notifications on a fixed port that a test can take down (nothing listening:
 * connections are refused), bring up again, or make answer 503 for a while.
 */
export class Receiver {
  readonly requests: Received[] = [];
  /** Requests to `failPath` still to answer with 503. */
  failNext = 0;
  failPath = '/hook';
  private server: Server | null = null;

  private constructor(readonly port: number) {}

  static async start(): Promise<Receiver> {
    const r = new Receiver(await freePort());
    await r.up();
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const status = this.failNext > 0 && req.url === this.failPath ? 503 : 200;
        if (status !== 200) this.failNext--;
        this.requests.push({ path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }

  /** Bodies of the requests answered 200 on `path`, parsed. */
  accepted<T = WebhookPayload>(path: string): T[] {
    return this.requests.filter((r) => r.path === path && r.status === 200).map((r) => JSON.parse(r.body) as T);
  }
}

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

/** Verifies a request's Standard Webhooks signature with the secret, independently of Pulse's signer. */
export function verifySignature(r: Received, secret: string): boolean {
  const id = r.headers['webhook-id'];
  const ts = r.headers['webhook-timestamp'];
  const sig = r.headers['webhook-signature'];
  if (typeof id !== 'string' || typeof ts !== 'string' || typeof sig !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${id}.${ts}.${r.body}`).digest();
  return sig.split(' ').some((s) => {
    const [version, b64] = s.split(',');
    const got = Buffer.from(b64 ?? '', 'base64');
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected);
  });
}

/** A real Alertmanager (Debian's prometheus-alertmanager) whose one receiver is a webhook to `webhookUrl`. */
export class Alertmanager {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly dir: string,
    readonly log: () => string,
  ) {}

  static async start(webhookUrl: string): Promise<Alertmanager> {
    const dir = mkdtempSync(join(tmpdir(), 'pulse-alertmanager-'));
    const port = await freePort();
    writeFileSync(
      join(dir, 'alertmanager.yml'),
      [
        'route:',
        '  receiver: test',
        "  group_by: ['alertname']",
        '  group_wait: 500ms',
        '  group_interval: 1s',
        '  repeat_interval: 1h',
        'receivers:',
        '  - name: test',
        '    webhook_configs:',
        `      - url: ${JSON.stringify(webhookUrl)}`,
        '        send_resolved: true',
        '',
      ].join('\n'),
    );
    const child = spawn(
      '/usr/bin/prometheus-alertmanager',
      [`--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
    const am = new Alertmanager(child, `http://127.0.0.1:${port}`, dir, () => text);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${am.url}/-/ready`).then((r) => r.ok, () => false);
      if (ok) return am;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Alertmanager did not start:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Alerts Alertmanager holds (API v2). */
  async alerts(): Promise<{ labels: Record<string, string>; fingerprint: string; startsAt: string; endsAt: string; status: { state: string } }[]> {
    const res = await fetch(`${this.url}/api/v2/alerts`);
    return (await res.json()) as never;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
