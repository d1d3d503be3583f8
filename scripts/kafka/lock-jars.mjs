#!/usr/bin/env node
// Regenerates packages/kafka-local/kafka-jars.json, the pinned list of Apache Kafka's jars that
// `pulse kafka start` fetches from Maven Central, from the dependency tree that Maven resolves for
// scripts/kafka/pom.xml. Run it after changing the pom (needs `mvn` and network, once, here; users
// need neither Maven nor this script). Every jar's checksums are the ones Maven Central publishes
// (.sha1 always, .sha512 where there is one), checked against the jar Maven downloaded.
// Usage: node scripts/kafka/lock-jars.mjs [POM OUT]   (defaults: the broker's pom and kafka-local's list;
// bench/peers/kafka-streams keeps its Kafka Streams application's jars the same way)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPOSITORY = 'https://repo1.maven.org/maven2';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const [pomArg, outArg] = process.argv.slice(2);
if ((pomArg === undefined) !== (outArg === undefined)) throw new Error('usage: node scripts/kafka/lock-jars.mjs [POM OUT]');
const pom = pomArg === undefined ? join(root, 'scripts/kafka/pom.xml') : resolve(pomArg);
const out = outArg === undefined ? join(root, 'packages/kafka-local/kafka-jars.json') : resolve(outArg);

const pomXml = readFileSync(pom, 'utf8');
const kafkaVersion = /<kafka\.version>\s*([^<\s]+)\s*<\/kafka\.version>/.exec(pomXml)?.[1];
if (kafkaVersion === undefined) throw new Error(`${pom} has no <kafka.version> property`);

const tmp = mkdtempSync(join(tmpdir(), 'pulse-lock-jars-'));
let listing;
try {
  const listFile = join(tmp, 'deps.txt');
  execFileSync('mvn', ['-q', '-B', '-f', pom, 'dependency:list', '-DincludeScope=runtime', '-DoutputAbsoluteArtifactFilename=true', `-DoutputFile=${listFile}`], { stdio: 'inherit' });
  listing = readFileSync(listFile, 'utf8');
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// Lines look like `   group:artifact:jar[:classifier]:version:scope:/abs/path.jar` (the path may hold colons
// only after the scope, so split the coordinates off first).
const deps = [];
for (const line of listing.split('\n')) {
  const m = /^\s+([^:\s]+):([^:\s]+):jar:(?:([^:\s]+):)?([^:\s]+):(compile|runtime):(\/.+\.jar)\s*$/.exec(line);
  if (m === null) continue;
  const [, group, artifact, classifier, version, , path] = m;
  deps.push({ group, artifact, version, ...(classifier ? { classifier } : {}), path });
}
if (!deps.some((d) => d.group === 'org.apache.kafka' && d.version === kafkaVersion)) throw new Error(`Maven resolved no org.apache.kafka jar of version ${kafkaVersion}`);

async function published(url) {
  const res = await fetch(url);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  // Some checksum files carry the file name after the digest.
  return (await res.text()).trim().split(/\s+/)[0].toLowerCase();
}

const jars = [];
for (const d of deps.sort((a, b) => `${a.group}:${a.artifact}`.localeCompare(`${b.group}:${b.artifact}`))) {
  const file = `${d.artifact}-${d.version}${d.classifier ? `-${d.classifier}` : ''}.jar`;
  if (basename(d.path) !== file) throw new Error(`unexpected file name ${d.path} for ${d.group}:${d.artifact}`);
  if (jars.some((j) => j.file === file)) throw new Error(`two artifacts would both be ${file} in the lib folder`);
  const url = `${REPOSITORY}/${d.group.replace(/\./g, '/')}/${d.artifact}/${d.version}/${file}`;
  const bytes = readFileSync(d.path);
  const sha1 = await published(`${url}.sha1`);
  if (sha1 === undefined) throw new Error(`Maven Central publishes no ${url}.sha1`);
  const sha512 = await published(`${url}.sha512`);
  if (createHash('sha1').update(bytes).digest('hex') !== sha1) throw new Error(`${d.path} does not match ${url}.sha1`);
  if (sha512 !== undefined && createHash('sha512').update(bytes).digest('hex') !== sha512) throw new Error(`${d.path} does not match ${url}.sha512`);
  jars.push({ group: d.group, artifact: d.artifact, version: d.version, ...(d.classifier ? { classifier: d.classifier } : {}), file, size: bytes.length, sha1, ...(sha512 ? { sha512 } : {}) });
  process.stderr.write('.');
}
process.stderr.write('\n');

const lock = {
  generatedBy: `node scripts/kafka/lock-jars.mjs${pomArg === undefined ? '' : ` ${relative(root, pom)} ${relative(root, out)}`} (from ${relative(root, pom)}; do not edit by hand)`,
  kafkaVersion,
  repository: REPOSITORY,
  jars,
};
writeFileSync(out, JSON.stringify(lock, null, 2) + '\n');
console.log(`wrote ${out}: ${jars.length} jars, ${(jars.reduce((n, j) => n + j.size, 0) / 1e6).toFixed(1)} MB, ${jars.filter((j) => j.sha512).length} with a published sha512`);
