import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ensureKafkaJars, jarUrl, readJarLock, type LockedJar } from '../src/jars.js';

/** A Maven repository over real HTTP, serving whatever bytes a test puts at a path. */
const served = new Map<string, Buffer>();
const requests: string[] = [];
let server: Server;
let repository: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push(req.url!);
    const body = served.get(req.url!);
    res.statusCode = body === undefined ? 404 : 200;
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  repository = `http://127.0.0.1:${(server.address() as AddressInfo).port}/maven2`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pulse-jars-test-'));
  served.clear();
  requests.length = 0;
  return () => rmSync(dir, { recursive: true, force: true });
});

function jar(artifact: string, content: string, withSha512 = true): { entry: LockedJar; bytes: Buffer } {
  const bytes = Buffer.from(content);
  const entry: LockedJar = {
    group: 'org.example.kafka',
    artifact,
    version: '1.0.0',
    file: `${artifact}-1.0.0.jar`,
    size: bytes.length,
    sha1: createHash('sha1').update(bytes).digest('hex'),
    ...(withSha512 ? { sha512: createHash('sha512').update(bytes).digest('hex') } : {}),
  };
  return { entry, bytes };
}

function writeLock(jars: LockedJar[], name = 'lock.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ kafkaVersion: '9.9.9', repository, jars }));
  return path;
}

function serve(j: { entry: LockedJar; bytes: Buffer }): void {
  served.set(new URL(jarUrl(repository, j.entry)).pathname, j.bytes);
}

describe('fetching the pinned Kafka jars over HTTP', () => {
  it('downloads every jar of the list into the cache, then answers from the cache', async () => {
    const a = jar('kafka-core', 'the broker classes');
    const b = jar('kafka-tools', 'the tools', false);
    serve(a);
    serve(b);
    const lock = writeLock([a.entry, b.entry]);
    const lines: string[] = [];
    const jars = await ensureKafkaJars({ lock, cacheDir: dir, log: (l) => lines.push(l) });
    expect(jars).toEqual({ kafkaVersion: '9.9.9', libDir: join(dir, 'kafka-9.9.9', 'lib'), classpath: join(dir, 'kafka-9.9.9', 'lib', '*') });
    expect(readFileSync(join(jars.libDir, 'kafka-core-1.0.0.jar'), 'utf8')).toBe('the broker classes');
    expect(readFileSync(join(jars.libDir, 'kafka-tools-1.0.0.jar'), 'utf8')).toBe('the tools');
    expect(requests.sort()).toEqual(['/maven2/org/example/kafka/kafka-core/1.0.0/kafka-core-1.0.0.jar', '/maven2/org/example/kafka/kafka-tools/1.0.0/kafka-tools-1.0.0.jar']);
    expect(lines.at(-1)).toMatch(/^fetched 2 jars, checksums verified/);

    requests.length = 0;
    await ensureKafkaJars({ lock, cacheDir: dir });
    expect(requests).toEqual([]);
  });

  it('refuses a corrupted jar, and caches nothing', async () => {
    const good = jar('kafka-core', 'the broker classes');
    const bad = jar('kafka-clients', 'the client classes');
    serve(good);
    // Same length, one byte flipped: only the checksum can tell.
    serve({ entry: bad.entry, bytes: Buffer.from('the client classeS') });
    const lock = writeLock([good.entry, bad.entry]);
    await expect(ensureKafkaJars({ lock, cacheDir: dir })).rejects.toThrow(
      new RegExp(`^refusing kafka-clients-1\\.0\\.0\\.jar from ${repository}/org/example/kafka/kafka-clients/1\\.0\\.0/kafka-clients-1\\.0\\.0\\.jar: its sha1 is [0-9a-f]{40}, not ${bad.entry.sha1}`),
    );
    expect(readdirSync(join(dir, 'kafka-9.9.9'))).toEqual([]);
  });

  it('refuses a jar whose sha1 matches but whose published sha512 does not, and a truncated one', async () => {
    const a = jar('kafka-core', 'the broker classes');
    serve({ entry: a.entry, bytes: Buffer.from('the broker') });
    await expect(ensureKafkaJars({ lock: writeLock([a.entry]), cacheDir: dir })).rejects.toThrow(/refusing kafka-core-1\.0\.0\.jar .*: its size is 10 bytes, not 18/);
    serve(a);
    const forged = { ...a.entry, sha512: 'ab'.repeat(64) };
    await expect(ensureKafkaJars({ lock: writeLock([forged]), cacheDir: dir })).rejects.toThrow(/refusing kafka-core-1\.0\.0\.jar .*: its sha512 is [0-9a-f]{16}…, not abababab/);
    expect(existsSync(join(dir, 'kafka-9.9.9', 'lib'))).toBe(false);
  });

  it('says which jar could not be downloaded and that Maven Central must be reachable', async () => {
    const missing = jar('kafka-gone', 'never served');
    await expect(ensureKafkaJars({ lock: writeLock([missing.entry]), cacheDir: dir })).rejects.toThrow(
      /cannot download .*kafka-gone-1\.0\.0\.jar \(HTTP 404 Not Found\); the local Kafka needs Maven Central to be reachable once/,
    );
  });

  it('keeps the cached jars that still match when the list changes, and downloads only the new ones', async () => {
    const a = jar('kafka-core', 'the broker classes');
    const b = jar('kafka-tools', 'the tools');
    serve(a);
    serve(b);
    await ensureKafkaJars({ lock: writeLock([a.entry]), cacheDir: dir });
    requests.length = 0;
    const lines: string[] = [];
    const jars = await ensureKafkaJars({ lock: writeLock([a.entry, b.entry], 'lock2.json'), cacheDir: dir, log: (l) => lines.push(l) });
    expect(requests).toEqual(['/maven2/org/example/kafka/kafka-tools/1.0.0/kafka-tools-1.0.0.jar']);
    expect(readdirSync(jars.libDir).sort()).toEqual(['.pulse-complete', 'kafka-core-1.0.0.jar', 'kafka-tools-1.0.0.jar']);
    expect(lines.at(-1)).toMatch(/^fetched 1 jars \(and kept 1 already cached\)/);
  });

  it('rejects a malformed list with the entry that is wrong', () => {
    const a = jar('kafka-core', 'x');
    expect(() => readJarLock(writeLock([{ ...a.entry, sha1: 'nope' }]))).toThrow(/lock\.json: jars\[0\] needs .*sha1 \(40 hex digits\)/);
    expect(() => readJarLock(join(dir, 'absent.json'))).toThrow(/cannot read the Kafka jar list .*absent\.json/);
  });
});
