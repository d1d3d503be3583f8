import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PostgresStore } from './postgres-store.js';

/** A throwaway PostgreSQL cluster (tests and benchmarks). */
export interface LocalPostgres {
  /** URL of a fresh database in it. */
  url: string;
  /** Creates another empty database and returns its URL. */
  freshDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/** Debian's binaries (scripts/setup.sh installs the `postgresql` package): the newest major version. */
function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')));
  if (dir === undefined) throw new Error('PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb); run scripts/setup.sh');
  return dir;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * initdb + postgres on a free port, in `dir` (emptied first; removed by stop), with a fresh database
 * `pulse_test`. PostgreSQL refuses to run as root, so when the tests run
 * as root (CI containers) the cluster runs as the `postgres` user the Debian package creates.
 */
export async function startLocalPostgres(dir: string): Promise<LocalPostgres> {
  const bin = binDir();
  const port = await freePort();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  let owner: { uid: number; gid: number } | undefined;
  if (process.getuid?.() === 0) {
    owner = { uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })), gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })) };
    chownSync(dir, owner.uid, owner.gid);
  }
  const data = join(dir, 'data');
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', 'pulse', '-A', 'trust', '-E', 'UTF8', '--no-sync'], { stdio: 'pipe', ...owner });
  const server: ChildProcess = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    ...owner,
  });
  let log = '';
  server.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));

  const admin = `postgres://pulse@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const store = await PostgresStore.open(admin);
      await store.query('CREATE DATABASE pulse_test', []).finally(() => store.close());
      break;
    } catch (err) {
      if (Date.now() > deadline || server.exitCode !== null) throw new Error(`PostgreSQL did not start: ${(err as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const base = `postgres://pulse@127.0.0.1:${port}`;
  return {
    url: `${base}/pulse_test`,
    async freshDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const store = await PostgresStore.open(admin);
      await store.query(`CREATE DATABASE ${name}`, []).finally(() => store.close());
      return `${base}/${name}`;
    },
    async stop() {
      server.kill('SIGINT'); // fast shutdown
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
