import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pom that pins Apache Kafka's version; the only place it is pinned. */
export const DEFAULT_POM = resolve(dirname(fileURLToPath(import.meta.url)), '../../../scripts/kafka/pom.xml');

/** Written into the lib folder after a complete fetch; a folder without it is a leftover and is refetched. */
const MARKER = '.pulse-complete';

export type Log = (line: string) => void;

export interface KafkaJars {
  readonly kafkaVersion: string;
  readonly libDir: string;
  /** The `-cp` argument: every jar of libDir (java expands the wildcard itself). */
  readonly classpath: string;
}

export interface JarOptions {
  pom?: string;
  /** Defaults to `$XDG_CACHE_HOME/pulse` or `~/.cache/pulse`. */
  cacheDir?: string;
  log?: Log;
  env?: NodeJS.ProcessEnv;
}

export interface PomVersions {
  readonly kafka: string;
  readonly log4j: string | undefined;
}

export function readPomVersions(pomXml: string): PomVersions {
  const kafka = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pomXml)?.[1];
  if (kafka === undefined) throw new Error('the pom has no <kafka.version> property');
  const log4j = /<log4j\.version>\s*([^<\s]+)\s*<\/log4j\.version>/.exec(pomXml)?.[1];
  return { kafka, log4j };
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.length > 0 ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'pulse');
}

/**
 * Returns Apache Kafka's jars, fetching them with Maven into the user cache the first time. The fetch
 * goes to a temporary folder renamed into place at the end, so an interrupted fetch never looks complete
 * and two concurrent first runs do not mix their files. A changed pom (same Kafka version, other
 * log4j, say) is noticed through its hash and refetched.
 */
export async function ensureKafkaJars(options: JarOptions = {}): Promise<KafkaJars> {
  const log = options.log ?? (() => {});
  const pom = resolve(options.pom ?? DEFAULT_POM);
  const pomXml = readFileSync(pom, 'utf8');
  const versions = readPomVersions(pomXml);
  const pomHash = createHash('sha256').update(pomXml).digest('hex');
  const home = join(options.cacheDir ?? defaultCacheDir(options.env), `kafka-${versions.kafka}`);
  const libDir = join(home, 'lib');
  const result: KafkaJars = { kafkaVersion: versions.kafka, libDir, classpath: join(libDir, '*') };

  if (readMarker(libDir)?.pomHash === pomHash) return result;

  log(`fetching Apache Kafka ${versions.kafka} jars from Maven Central… (once, into ${libDir})`);
  const started = Date.now();
  mkdirSync(home, { recursive: true });
  const tmp = join(home, `lib.tmp-${process.pid}-${Date.now()}`);
  try {
    await runMaven(['-q', '-B', '-f', pom, 'dependency:copy-dependencies', `-DoutputDirectory=${tmp}`, '-DincludeScope=runtime']);
    await fixSlf4jBinding(tmp, versions.log4j, log);
    const jars = readdirSync(tmp).filter((f) => f.endsWith('.jar'));
    if (!jars.some((f) => f.startsWith(`kafka_2.13-${versions.kafka}`))) throw new Error(`Maven finished but ${tmp} has no kafka_2.13-${versions.kafka}.jar`);
    writeFileSync(join(tmp, MARKER), JSON.stringify({ pomHash, kafkaVersion: versions.kafka, jars: jars.length, fetchedAt: new Date().toISOString() }) + '\n');
    rmSync(libDir, { recursive: true, force: true });
    try {
      renameSync(tmp, libDir);
    } catch (err) {
      // Another process finished the same fetch first: use its copy.
      if (readMarker(libDir)?.pomHash !== pomHash) throw err;
    }
    log(`fetched ${jars.length} jars in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return result;
}

function readMarker(libDir: string): { pomHash: string } | undefined {
  try {
    return JSON.parse(readFileSync(join(libDir, MARKER), 'utf8')) as { pomHash: string };
  } catch {
    return undefined;
  }
}

/**
 * Kafka 4.x logs through the SLF4J 1.7 API (slf4j-api 1.7.36 wins Maven's dependency mediation), but
 * log4j's `log4j-slf4j2-impl` binding only works with SLF4J 2: with it the broker either logs nothing
 * (SLF4J falls back to its no-op logger) or fails to start with NoClassDefFoundError. Kafka's own
 * distribution ships the SLF4J 1.x binding, `log4j-slf4j-impl`; swap it in, at the pom's log4j version.
 * Does nothing when the pom already resolves a matching pair.
 */
async function fixSlf4jBinding(libDir: string, log4jVersion: string | undefined, log: Log): Promise<void> {
  const files = readdirSync(libDir);
  const api1 = files.some((f) => /^slf4j-api-1\./.test(f));
  const slf4j2Binding = files.find((f) => f.startsWith('log4j-slf4j2-impl-'));
  if (!api1 || slf4j2Binding === undefined) return;
  const version = log4jVersion ?? /^log4j-slf4j2-impl-(.+)\.jar$/.exec(slf4j2Binding)?.[1];
  if (version === undefined) return;
  log(`using log4j-slf4j-impl ${version} (the SLF4J 1.x binding Kafka's own distribution ships) instead of ${slf4j2Binding}`);
  await runMaven(['-q', '-B', 'dependency:copy', `-Dartifact=org.apache.logging.log4j:log4j-slf4j-impl:${version}`, `-DoutputDirectory=${libDir}`]);
  rmSync(join(libDir, slf4j2Binding));
}

function runMaven(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('mvn', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error('Maven (`mvn`) is needed once to fetch Apache Kafka\'s jars from Maven Central; install it (e.g. `apt-get install maven`) and retry')
          : err,
      );
    });
    child.on('close', (code) => {
      if (code === 0) resolvePromise();
      else reject(new Error(`mvn ${args.filter((a) => !a.startsWith('-')).join(' ')} failed (exit ${code}):\n${output.trim()}`));
    });
  });
}
