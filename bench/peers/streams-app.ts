import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { defaultCacheDir, ensureKafkaJars } from '@pulse/kafka-local';

/** bench/peers/kafka-streams, from this file as source (bench/peers/) or compiled (bench/dist/peers/). */
export const STREAMS_DIR = fileURLToPath(new URL(import.meta.url.includes('/bench/dist/') ? '../../peers/kafka-streams/' : './kafka-streams/', import.meta.url));
const LOCK = join(STREAMS_DIR, 'streams-jars.json');
const SOURCES = join(STREAMS_DIR, 'src');
const MAIN = 'dev.pulse.peers.ActivityCounts';

export interface StreamsApp {
  /** The `-cp` of the compiled application and its jars. */
  classpath: string;
  kafkaVersion: string;
}

function javaSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? javaSources(join(dir, e.name)) : e.name.endsWith('.java') ? [join(dir, e.name)] : []))
    .sort();
}

/**
 * The Kafka Streams application of bench/peers/kafka-streams, ready to run: its jars fetched from Maven
 * Central against the pinned list (checksums checked, cached under ~/.cache/pulse/kafka-streams) and its
 * sources compiled with `javac` into the same cache, once per version of the sources and the list.
 */
export async function buildStreamsApp(log: (line: string) => void): Promise<StreamsApp> {
  const cache = join(defaultCacheDir(), 'kafka-streams');
  const jars = await ensureKafkaJars({ lock: LOCK, cacheDir: cache, log });
  const sources = javaSources(SOURCES);
  const hash = createHash('sha256').update(readFileSync(LOCK));
  for (const s of sources) hash.update(s.slice(SOURCES.length)).update(readFileSync(s));
  const classes = join(cache, `classes-${hash.digest('hex').slice(0, 16)}`);
  if (!existsSync(classes)) {
    log(`compiling the Kafka Streams application (${sources.length} source files) into ${classes}`);
    const tmp = `${classes}.tmp-${process.pid}`;
    mkdirSync(tmp, { recursive: true });
    try {
      await promisify(execFile)('javac', ['--release', '17', '-Xlint:all', '-Werror', '-d', tmp, '-cp', jars.classpath, ...sources]);
      renameSync(tmp, classes);
    } catch (err) {
      const e = err as Error & { stderr?: string; code?: string };
      if (e.code === 'ENOENT') throw new Error('javac not found: the Kafka Streams peer needs a JDK 17 or later (Debian: openjdk-17-jdk-headless)');
      throw new Error(`javac failed:\n${e.stderr ?? e.message}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { classpath: `${classes}:${jars.classpath}`, kafkaVersion: jars.kafkaVersion };
}

export interface StreamsRun {
  child: ChildProcess;
  /** Resolves once Kafka Streams reports RUNNING (every task assigned and restored). */
  running: Promise<void>;
}

/**
 * Starts the application with `options` (`--name value` pairs of ActivityCounts.java: store, emit,
 * application-id, … and Kafka Streams settings). The JVM's heap is bounded like the broker's (RocksDB lives
 * outside it), not committed up front, so that RSS shows what the application uses.
 */
export function startStreamsApp(app: StreamsApp, options: Record<string, string>, heap = '512m'): StreamsRun {
  const args = [
    `-Xmx${heap}`,
    `-Dlog4j2.configurationFile=${join(STREAMS_DIR, 'log4j2.properties')}`,
    '-cp',
    app.classpath,
    MAIN,
    ...Object.entries(options).flatMap(([k, v]) => [`--${k}`, v]),
  ];
  const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const running = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (/^state RUNNING$/m.test(out)) resolve();
      if (/^state ERROR$/m.test(out)) reject(new Error(`the Kafka Streams application failed:\n${stderr}`));
    });
    child.once('exit', (code) => reject(new Error(`the Kafka Streams application exited (${code}) before it ran:\n${stderr}`)));
    child.once('error', reject);
  });
  return { child, running };
}
