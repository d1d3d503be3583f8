import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The pinned list of Apache Kafka's jars with Maven Central's published checksums (docs/install.md):
 * generated from scripts/kafka/pom.xml by scripts/kafka/lock-jars.mjs, and shipped inside this package
 * so that an installed Pulse finds it beside its own files.
 */
export const DEFAULT_JAR_LOCK = fileURLToPath(new URL('../kafka-jars.json', import.meta.url));

/** Written into the lib folder after a complete fetch; a folder without it is a leftover and is refetched. */
const MARKER = '.pulse-complete';
/** Parallel downloads: enough to hide per-request latency, few enough to be polite to Maven Central. */
const PARALLEL = 6;

export type Log = (line: string) => void;

export interface LockedJar {
  readonly group: string;
  readonly artifact: string;
  readonly version: string;
  readonly classifier?: string;
  /** The file name in the lib folder (and in the repository). */
  readonly file: string;
  readonly size: number;
  readonly sha1: string;
  /** Present where Maven Central publishes one. */
  readonly sha512?: string;
}

export interface JarLock {
  readonly kafkaVersion: string;
  /** Base URL of the Maven repository the jars come from (Maven Central). */
  readonly repository: string;
  readonly jars: readonly LockedJar[];
}

export interface KafkaJars {
  readonly kafkaVersion: string;
  readonly libDir: string;
  /** The `-cp` argument: every jar of libDir (java expands the wildcard itself). */
  readonly classpath: string;
}

export interface JarOptions {
  /** The jar list; defaults to the one shipped with this package. */
  lock?: string;
  /** Overrides the lock's repository (a mirror of Maven Central). */
  repository?: string;
  /** Defaults to `$XDG_CACHE_HOME/pulse` or `~/.cache/pulse`. */
  cacheDir?: string;
  log?: Log;
  env?: NodeJS.ProcessEnv;
}

const HEX = (n: number) => new RegExp(`^[0-9a-f]{${n}}$`);

/** Reads and checks a jar lock; errors name the file and the entry. */
export function readJarLock(path: string = DEFAULT_JAR_LOCK): JarLock {
  let lock: JarLock;
  try {
    lock = JSON.parse(readFileSync(path, 'utf8')) as JarLock;
  } catch (err) {
    throw new Error(`cannot read the Kafka jar list ${path}: ${(err as Error).message}`);
  }
  if (typeof lock?.kafkaVersion !== 'string' || typeof lock.repository !== 'string' || !Array.isArray(lock.jars) || lock.jars.length === 0) {
    throw new Error(`${path} is not a Kafka jar list (kafkaVersion, repository and a non-empty jars array)`);
  }
  for (const [i, jar] of lock.jars.entries()) {
    const ok =
      typeof jar.group === 'string' &&
      typeof jar.artifact === 'string' &&
      typeof jar.version === 'string' &&
      typeof jar.file === 'string' &&
      /^[\w.-]+\.jar$/.test(jar.file) &&
      Number.isInteger(jar.size) &&
      HEX(40).test(jar.sha1) &&
      (jar.sha512 === undefined || HEX(128).test(jar.sha512));
    if (!ok) throw new Error(`${path}: jars[${i}] needs group, artifact, version, file (*.jar), size, sha1 (40 hex digits) and optionally sha512`);
  }
  return lock;
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'pulse');
}

/** Where a jar lives in a Maven repository. */
export function jarUrl(repository: string, jar: LockedJar): string {
  return `${repository.replace(/\/+$/, '')}/${jar.group.replace(/\./g, '/')}/${jar.artifact}/${jar.version}/${jar.file}`;
}

/**
 * Returns Apache Kafka's jars, downloading them from Maven Central over HTTPS into the user cache the
 * first time; no Maven is needed. Every jar must match the size and checksums pinned in the lock (the
 * ones Maven Central publishes), or the fetch fails and nothing is cached. The fetch goes to a temporary
 * folder renamed into place at the end, so an interrupted fetch never looks complete and two concurrent
 * first runs do not mix their files. A changed lock is noticed through its hash; jars of an earlier lib
 * folder that still match are copied instead of downloaded again.
 */
export async function ensureKafkaJars(options: JarOptions = {}): Promise<KafkaJars> {
  const log = options.log ?? (() => {});
  const lockPath = resolve(options.lock ?? DEFAULT_JAR_LOCK);
  const lock = readJarLock(lockPath);
  const lockHash = createHash('sha256').update(readFileSync(lockPath)).digest('hex');
  const repository = options.repository ?? lock.repository;
  const home = join(options.cacheDir ?? defaultCacheDir(options.env), `kafka-${lock.kafkaVersion}`);
  const libDir = join(home, 'lib');
  const result: KafkaJars = { kafkaVersion: lock.kafkaVersion, libDir, classpath: join(libDir, '*') };

  if (readMarker(libDir)?.lockHash === lockHash) return result;

  const totalMb = lock.jars.reduce((n, j) => n + j.size, 0) / 1e6;
  log(`fetching Apache Kafka ${lock.kafkaVersion}'s ${lock.jars.length} jars (${totalMb.toFixed(0)} MB) from ${repository}… (once, into ${libDir})`);
  const started = Date.now();
  mkdirSync(home, { recursive: true });
  const tmp = join(home, `lib.tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp);
  try {
    let downloaded = 0;
    let reused = 0;
    const queue = [...lock.jars];
    const worker = async () => {
      for (let jar = queue.shift(); jar !== undefined; jar = queue.shift()) {
        const target = join(tmp, jar.file);
        if (reuse(join(libDir, jar.file), target, jar)) {
          reused += 1;
          continue;
        }
        writeFileSync(target, await download(repository, jar));
        downloaded += 1;
        if (downloaded % 20 === 0) log(`  ${downloaded + reused}/${lock.jars.length} jars`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    writeFileSync(join(tmp, MARKER), JSON.stringify({ lockHash, kafkaVersion: lock.kafkaVersion, jars: lock.jars.length, fetchedAt: new Date().toISOString() }) + '\n');
    rmSync(libDir, { recursive: true, force: true });
    try {
      renameSync(tmp, libDir);
    } catch (err) {
      // Another process finished the same fetch first: use its copy.
      if (readMarker(libDir)?.lockHash !== lockHash) throw err;
    }
    log(`fetched ${downloaded} jars${reused > 0 ? ` (and kept ${reused} already cached)` : ''}, checksums verified, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return result;
}

function readMarker(libDir: string): { lockHash?: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(libDir, MARKER), 'utf8')) as { lockHash?: string };
  } catch {
    return undefined;
  }
}

/** The first checksum the bytes fail, or undefined when they match the lock. */
function checksumMismatch(bytes: Buffer, jar: LockedJar): string | undefined {
  if (bytes.length !== jar.size) return `its size is ${bytes.length} bytes, not ${jar.size}`;
  const sha1 = createHash('sha1').update(bytes).digest('hex');
  if (sha1 !== jar.sha1) return `its sha1 is ${sha1}, not ${jar.sha1}`;
  if (jar.sha512 !== undefined) {
    const sha512 = createHash('sha512').update(bytes).digest('hex');
    if (sha512 !== jar.sha512) return `its sha512 is ${sha512.slice(0, 16)}…, not ${jar.sha512.slice(0, 16)}…`;
  }
  return undefined;
}

function reuse(cached: string, target: string, jar: LockedJar): boolean {
  let bytes: Buffer;
  try {
    bytes = readFileSync(cached);
  } catch {
    return false;
  }
  if (checksumMismatch(bytes, jar) !== undefined) return false;
  copyFileSync(cached, target);
  return true;
}

async function download(repository: string, jar: LockedJar): Promise<Buffer> {
  const url = jarUrl(repository, jar);
  let bytes: Buffer;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    bytes = Buffer.from(await res.arrayBuffer());
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause?.message ?? (err as Error).message;
    throw new Error(`cannot download ${url} (${cause}); the local Kafka needs Maven Central to be reachable once, to fetch its jars`);
  }
  const mismatch = checksumMismatch(bytes, jar);
  if (mismatch !== undefined) throw new Error(`refusing ${jar.file} from ${url}: ${mismatch} (the checksum Maven Central publishes, pinned in the Kafka jar list)`);
  return bytes;
}
