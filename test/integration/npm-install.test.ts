import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../packages/config/src/index.js';
import { TOPIC_SPECS, TOPICS } from '../../packages/kafka/src/index.js';
import { createShopModel, intendedOffsetMs } from '../../packages/loadgen/src/index.js';
import { TEST_PORT } from './global-setup.js';
import { waitForUserCounts } from './helpers/index.js';
import { pulseEnv, spawnPulse, type PulseProcess } from './helpers/pipeline.js';

/**
 * Pulse as a user gets it (docs/install.md): the tarballs `pnpm pack:npm` writes, installed with npm into
 * an empty directory with no Rust toolchain on PATH, then the installed `pulse` starts its own Kafka and
 * runs the pipeline. The integration run happens after `pnpm build`, so the pack reuses that build.
 */
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PORT = TEST_PORT + 200;
const RATE = 2000;
const SECONDS = 2;
const SEED = 'npm-install';
/** One minute into a 5-minute window, so that the run's events share one window per user. */
const START_TS = 1_764_099_900_000 + 60_000;

const tmp = mkdtempSync(join(tmpdir(), 'pulse-npm-install-'));
const app = join(tmp, 'app');
const dataDir = join(tmp, 'data');
const bin = join(app, 'node_modules/.bin/pulse');
/** The addon this machine built (`pulse.linux-x64-gnu.node` here), which names its platform package. */
const addon = readdirSync(join(repoRoot, 'crates/pulse-napi')).find((f) => /^pulse\..+\.node$/.test(f));
const platform = addon?.slice('pulse.'.length, -'.node'.length);

/** PATH without the folders that hold cargo or rustc: nothing can compile Rust. */
const PATH = process.env.PATH!.split(delimiter)
  .filter((dir) => !['cargo', 'rustc'].some((tool) => existsSync(join(dir, tool))))
  .join(delimiter);
/** What a user sets for the Kafka client's source build (docs/install.md); the rest of the caller's env minus PULSE_*. */
const userEnv: Record<string, string> = {
  ...pulseEnv(`127.0.0.1:${PORT}`),
  PATH,
  CKJS_LINKING: 'dynamic',
  ...(existsSync('/usr/include/node/node_api.h') ? { npm_config_nodedir: '/usr' } : {}),
  PULSE_DATA_DIR: dataDir,
};

/**
 * `@confluentinc/kafka-javascript` has no prebuilt binary that installs here, so npm would build librdkafka
 * from source (2-3 minutes). The workspace has already built that same version: this packs it, build
 * output included, and npm installs it in place of the registry's tarball; its install script
 * (`node-pre-gyp install`) then finds the binary and compiles nothing. Hard links are stored as files,
 * since npm does not unpack them.
 */
function prebuiltKafkaClient(into: string): string {
  const pkgJson = createRequire(join(repoRoot, 'packages/kafka/package.json')).resolve('@confluentinc/kafka-javascript/package.json');
  const dir = dirname(pkgJson);
  const version = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string }).version;
  const file = join(into, `confluentinc-kafka-javascript-${version}-built.tgz`);
  const excludes = ['./deps', './node_modules', '*.a', '*.so', './build/Release/obj.target', './build/Release/.deps', './build/deps/include'];
  execFileSync('tar', ['-czf', file, '--hard-dereference', '-C', dir, '--transform', 's,^\\.,package,', ...excludes.map((e) => `--exclude=${e}`), '.']);
  return file;
}

let tarballs: string[];
const processes: PulseProcess[] = [];

beforeAll(() => {
  const out = join(tmp, 'npm');
  execFileSync(process.execPath, [join(repoRoot, 'scripts/pack-npm.mjs'), '--no-build', '--out', out], { cwd: repoRoot, stdio: 'pipe' });
  tarballs = readdirSync(out).map((f) => join(out, f));
  mkdirSync(app);
  // npm 11 asks projects to list the dependencies whose install scripts may run; the Kafka client's script builds its binding.
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'shop-analytics', private: true, allowScripts: { '@confluentinc/kafka-javascript': true } }));
  const started = Date.now();
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', prebuiltKafkaClient(tmp), ...tarballs], { cwd: app, env: userEnv, stdio: 'pipe', timeout: 600_000 });
  console.log(`[npm-install] npm install took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}, 700_000);

afterAll(async () => {
  for (const p of processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  if (existsSync(bin)) spawnSync(bin, ['kafka', 'stop'], { env: userEnv, timeout: 60_000 });
  rmSync(tmp, { recursive: true, force: true });
});

describe('npm install of the packed tarballs', () => {
  it('writes the user package and the platform package of this machine, which npm installs without Rust', () => {
    expect(platform).toBe(`linux-${process.arch}-gnu`);
    expect(tarballs.map((t) => t.slice(t.lastIndexOf('/') + 1)).sort()).toEqual(['pulse-cli-0.1.0.tgz', `pulse-native-${platform}-0.1.0.tgz`]);
    expect(spawnSync('sh', ['-c', 'command -v cargo || command -v rustc'], { env: userEnv }).status).not.toBe(0);

    const native = JSON.parse(readFileSync(join(app, `node_modules/@pulse/native-${platform}/package.json`), 'utf8'));
    expect(native).toMatchObject({ name: `@pulse/native-${platform}`, os: ['linux'], cpu: [process.arch], libc: ['glibc'], main: addon });
    expect(existsSync(join(app, `node_modules/@pulse/native-${platform}`, addon!))).toBe(true);
    const cli = JSON.parse(readFileSync(join(app, 'node_modules/@pulse/cli/package.json'), 'utf8'));
    expect(cli.bin).toEqual({ pulse: './dist/main.js' });
    expect(cli.optionalDependencies).toEqual({ [`@pulse/native-${platform}`]: '0.1.0' });
    // The workspace packages are inside it, and none of them carries an addon of its own.
    expect(readdirSync(join(app, 'node_modules/@pulse/cli/node_modules/@pulse'))).toContain('native');
    expect(readdirSync(join(app, 'node_modules/@pulse/cli/node_modules/@pulse/native')).filter((f) => f.endsWith('.node'))).toEqual([]);
    // Third-party dependencies are ordinary npm dependencies at their pinned versions.
    expect(cli.dependencies.fastify).toMatch(/^\d+\.\d+\.\d+$/);
    expect(JSON.parse(readFileSync(join(app, 'node_modules/fastify/package.json'), 'utf8')).version).toBe(cli.dependencies.fastify);

    const help = spawnSync('npx', ['pulse', '--help'], { cwd: app, env: userEnv, encoding: 'utf8', timeout: 60_000 });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^Usage: pulse <command>/);
    for (const command of ['up', 'kafka', 'topics', 'generate', 'aggregate', 'serve', 'bench']) expect(help.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('starts a local Kafka, creates the topics, generates events and aggregates them to exact counts', async () => {
    const pulse = (args: string[], env: Record<string, string> = {}) => {
      const p = spawnPulse(args, { ...userEnv, ...env }, { bin });
      processes.push(p);
      return p;
    };
    const kafka = pulse(['kafka', 'start', '--fresh', '--port', String(PORT)]);
    expect(await kafka.exited, kafka.output()).toBe(0);
    expect(kafka.output()).toMatch(new RegExp(`Kafka \\d+\\.\\d+\\.\\d+ is up on 127\\.0\\.0\\.1:${PORT}`));

    const topics = pulse(['topics', 'create']);
    expect(await topics.exited, topics.output()).toBe(0);
    expect(topics.output()).toContain(`${TOPIC_SPECS.length} created, 0 already present`);

    const generator = pulse(['generate', '--rate', String(RATE), '--duration', String(SECONDS), '--seed', SEED, '--start-ts', String(START_TS), '--quiet']);
    const aggregator = pulse(['aggregate', '--progress', '0'], { PULSE_AGGREGATOR_GROUP_ID: `npm-install-${Date.now()}`, PULSE_AGGREGATOR_EMIT_INTERVAL_MS: '20' });
    expect(await generator.exited, generator.output()).toBe(0);
    expect(generator.output()).toContain(`delivered ${(RATE * SECONDS).toLocaleString('en-US')}, failed 0`);

    // The clicks the generator sent, per user: the model is deterministic for a seed and start time.
    const model = createShopModel(SEED);
    const expected = new Map<string, number>();
    for (let i = 0; i < RATE * SECONDS; i++) {
      const e = model.next(START_TS + intendedOffsetMs(i, RATE));
      if (e.topic === TOPICS.userClicks) expected.set(e.key, (expected.get(e.key) ?? 0) + 1);
    }
    expect(expected.size).toBeGreaterThan(100);

    writeFileSync(join(tmp, 'pulse.config.json'), '{}');
    const reader = loadConfig({ env: { KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${PORT}` }, file: join(tmp, 'pulse.config.json') });
    const counts = await waitForUserCounts(reader, expected, START_TS - 60_000);
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(expected));
    aggregator.child.kill('SIGTERM');
    expect(await aggregator.exited, aggregator.output()).toBe(0);

    // The API, the dashboard's files, uPlot and the OpenAPI document, all served from the installed package.
    const apiPort = PORT + 1000;
    const serve = pulse(['serve', '--port', String(apiPort)]);
    await serve.waitFor(/serve: dashboard on/, 60_000);
    const api = `http://127.0.0.1:${apiPort}`;
    expect(await (await fetch(`${api}/healthz`)).json()).toMatchObject({ status: 'ok', engine: { version: '0.1.0', target: `${process.arch === 'x64' ? 'x86_64' : 'aarch64'}-unknown-linux-gnu` } });
    const page = await fetch(`${api}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/vendor/uPlot.iife.min.js');
    for (const asset of ['/vendor/uPlot.iife.min.js', '/app.js', '/style.css']) expect((await fetch(`${api}${asset}`)).status, asset).toBe(200);
    expect(await (await fetch(`${api}/openapi.json`)).json()).toMatchObject({ openapi: '3.0.3', info: { title: 'Pulse API' } });
    serve.child.kill('SIGTERM');
    expect(await serve.exited, serve.output()).toBe(0);

    const stop = pulse(['kafka', 'stop']);
    expect(await stop.exited, stop.output()).toBe(0);
    const status = pulse(['kafka', 'status']);
    expect(await status.exited).toBe(3);
  });
});
