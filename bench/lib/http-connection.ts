import { connect, type Socket } from 'node:net';

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:\s*(\d+)/i;

/**
 * A keep-alive HTTP/1.1 connection for GET requests, one at a time: the request is written as one
 * string and the response is read by its Content-Length, with no objects per request beyond the
 * callback. Node's http client costs the load generator about a fifth of a core at 1 000 requests/s,
 * and on a two-core machine whatever the load generator spends is taken from the server it measures.
 * A response without Content-Length (chunked) counts as a failure: the API sends none.
 */
export class GetConnection {
  private readonly socket: Socket;
  private pending: Buffer = Buffer.alloc(0);
  private done: ((status: number) => void) | null = null;
  private closed = false;

  constructor(
    private readonly host: string,
    port: number,
    private readonly onClose: (c: GetConnection) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', () => this.close());
    this.socket.on('close', () => this.close());
  }

  /** Sends a GET; `done` gets the status code, or 0 if the connection failed first. */
  get(path: string, done: (status: number) => void): void {
    if (this.closed) return done(0);
    this.done = done;
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${this.host}\r\n\r\n`);
  }

  private read(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const headerEnd = this.pending.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.pending.toString('latin1', 0, headerEnd);
    const length = CONTENT_LENGTH.exec(head);
    if (length === null) return this.close();
    const end = headerEnd + HEADER_END.length + Number(length[1]);
    if (this.pending.length < end) return;
    this.pending = this.pending.subarray(end);
    const done = this.done;
    this.done = null;
    done?.(Number(head.slice(9, 12)));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    const done = this.done;
    this.done = null;
    done?.(0);
    this.onClose(this);
  }
}

/** Up to `maxConnections` keep-alive connections; a request waits for a free one once all are busy. */
export class GetPool {
  private readonly idle: GetConnection[] = [];
  private readonly waiting: [string, (status: number) => void][] = [];
  private open = 0;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly maxConnections: number,
  ) {}

  get(path: string, done: (status: number) => void): void {
    let c = this.idle.pop();
    if (c === undefined && this.open < this.maxConnections) {
      this.open++;
      c = new GetConnection(this.host, this.port, (closed) => this.forget(closed));
    }
    if (c === undefined) this.waiting.push([path, done]);
    else this.send(c, path, done);
  }

  private send(c: GetConnection, path: string, done: (status: number) => void): void {
    c.get(path, (status) => {
      done(status);
      if (status === 0) return;
      const next = this.waiting.shift();
      if (next === undefined) this.idle.push(c);
      else this.send(c, ...next);
    });
  }

  private forget(c: GetConnection): void {
    this.open--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    // A request that waited for a connection gets a new one.
    const next = this.waiting.shift();
    if (next !== undefined) this.get(...next);
  }

  close(): void {
    for (const c of [...this.idle]) c.close();
  }
}
