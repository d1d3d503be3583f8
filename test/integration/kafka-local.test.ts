import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { clusterStatus, killNode, readState, startCluster, startNode, stateFile, stopCluster } from '../../packages/kafka-local/src/index.js';
import { waitForBroker } from '../../packages/kafka/src/index.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cli = resolve(repoRoot, 'packages/cli/dist/main.js');
const dataDir = inject('kafkaDataDir');

/** A second cluster of its own, beside the shared test broker, for the lifecycle tests. */
const lifecycleDir = resolve(repoRoot, '.pulse/test-kafka-lifecycle');
const lifecyclePort = Number(process.env.PULSE_TEST_KAFKA_PORT ?? 19092) + 100;

function pulse(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(dataDir === null)('the shared test cluster', () => {
  it('reports running, with a pid, an answering port and the bootstrap string', async () => {
    const status = await clusterStatus(dataDir!);
    expect(status.running).toBe(true);
    expect(status.bootstrap).toBe(inject('kafkaBootstrap'));
    expect(status.nodes).toHaveLength(1);
    expect(status.nodes[0]).toMatchObject({ id: 1, alive: true, listening: true });
    expect(existsSync(status.nodes[0]!.serverLog)).toBe(true);
    // The broker logs through log4j2 to its file (not to nowhere, as with a mismatched SLF4J binding).
    expect(readFileSync(status.nodes[0]!.serverLog, 'utf8')).toContain('Kafka Server started');
  });

  it('`pulse kafka status` exits 0 for it, and 3 for a data dir with no cluster', () => {
    const up = pulse(['kafka', 'status'], { PULSE_DATA_DIR: dataDir! });
    expect(up.status, up.stderr).toBe(0);
    expect(up.stdout).toContain('running');
    expect(up.stdout).toMatch(/node 1\s+up/);
    const none = pulse(['kafka', 'status'], { PULSE_DATA_DIR: resolve(repoRoot, '.pulse/test-kafka-none') });
    expect(none.status).toBe(3);
    expect(none.stdout).toContain('no local Kafka');
  });
});

describe('a cluster lifecycle (own data dir and port)', () => {
  afterAll(async () => {
    await stopCluster({ dataDir: lifecycleDir });
  });

  it('starts, says so when already running, survives a node kill and restart, and stops', async () => {
    const first = await startCluster({ dataDir: lifecycleDir, port: lifecyclePort, fresh: true });
    expect(first).toMatchObject({ alreadyRunning: false, running: true, started: [1], bootstrap: `127.0.0.1:${lifecyclePort}` });
    console.log(`[kafka-local test] a fresh single node came up in ${(first.elapsedMs / 1000).toFixed(1)} s`);

    const again = await startCluster({ dataDir: lifecycleDir });
    expect(again).toMatchObject({ alreadyRunning: true, started: [] });
    expect(again.nodes[0]!.pid).toBe(first.nodes[0]!.pid);

    const state = readState(lifecycleDir)!;
    expect(state).toMatchObject({ port: lifecyclePort, bootstrap: `127.0.0.1:${lifecyclePort}` });
    expect(state.clusterId).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);

    // A crash: the status shows it, and the node comes back on the same storage.
    const killed = await killNode(lifecycleDir, 1, 'SIGKILL');
    expect(killed).toBe(first.nodes[0]!.pid);
    const down = await clusterStatus(lifecycleDir);
    expect(down.running).toBe(false);
    expect(down.nodes[0]).toMatchObject({ alive: false, listening: false });
    const back = await startNode(lifecycleDir, 1);
    expect(back).toMatchObject({ alive: true, listening: true });
    expect(readState(lifecycleDir)!.clusterId).toBe(state.clusterId);

    expect(await stopCluster({ dataDir: lifecycleDir })).toEqual({ stopped: [1], killed: [] });
    expect((await clusterStatus(lifecycleDir)).running).toBe(false);
    await expect(waitForBroker(`127.0.0.1:${lifecyclePort}`, 1, 1_500)).rejects.toThrow(/did not list 1 broker/);
    // Stopping again is harmless.
    expect(await stopCluster({ dataDir: lifecycleDir })).toEqual({ stopped: [], killed: [] });
  });

  it('never signals a process that merely has a recorded pid (pid reuse)', async () => {
    // A stranger: a live process whose pid we write into cluster.json as if it were the broker.
    const stranger = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const state = readState(lifecycleDir)!;
      state.nodes[0]!.pid = stranger.pid!;
      writeFileSync(stateFile(lifecycleDir), JSON.stringify(state));
      expect((await clusterStatus(lifecycleDir)).nodes[0]).toMatchObject({ pid: stranger.pid, alive: false });
      expect(await stopCluster({ dataDir: lifecycleDir, timeoutMs: 1_000 })).toEqual({ stopped: [], killed: [] });
      await expect(killNode(lifecycleDir, 1)).rejects.toThrow(/not running/);
      expect(stranger.exitCode).toBeNull();
      expect(stranger.signalCode).toBeNull();
    } finally {
      stranger.kill('SIGKILL');
    }
  });

  it('refuses to start on a port another process holds, naming the port', async () => {
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(lifecyclePort + 50, '127.0.0.1', r));
    try {
      const err = await startCluster({ dataDir: `${lifecycleDir}-busy`, port: lifecyclePort + 50, fresh: true }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(new RegExp(`port ${lifecyclePort + 50} on 127.0.0.1 is taken`));
    } finally {
      server.close();
      rmSync(`${lifecycleDir}-busy`, { recursive: true, force: true });
    }
  });

  it('without Java, says so before downloading any jar', () => {
    const cache = mkdtempSync(join(tmpdir(), 'pulse-nojava-cache-'));
    try {
      const r = pulse(['kafka', 'start', '--port', String(lifecyclePort + 60)], { PULSE_DATA_DIR: resolve(repoRoot, '.pulse/test-kafka-nojava'), JAVA_HOME: '/nonexistent-jdk', XDG_CACHE_HOME: cache });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('pulse kafka start: cannot run /nonexistent-jdk/bin/java: the local Kafka broker needs a Java runtime, 17 or later');
      // An error the user can fix is one line, not a stack trace.
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(readdirSync(cache)).toEqual([]);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  });
});
