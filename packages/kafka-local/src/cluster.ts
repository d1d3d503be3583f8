import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { waitForBroker } from '@pulse/kafka';
import { ensureKafkaJars, type JarOptions, type KafkaJars, type Log } from './jars.js';
import {
  bootstrapOf,
  kafkaHome,
  log4jProperties,
  newClusterId,
  nodeFiles,
  planNodes,
  readState,
  serverProperties,
  writeState,
  type ClusterState,
  type NodeState,
} from './layout.js';
import { isListening, isOurNode, isPortFree, nodeMarker, signal, sleep, waitForExit } from './processes.js';
import { clientConnection, clientEnvironment, generateSecurity, hasSecurityFiles, scramFormatArgs, writeClientProperties, type Security, type SecurityState } from './security.js';

/** The port `pulse kafka start` uses (docs/specification.md, "Command line"). */
export const DEFAULT_PORT = 9092;

const noop: Log = () => {};

export interface StartOptions {
  /** Pulse's data directory (`config.dataDir`); the cluster lives in `<dataDir>/kafka`. */
  dataDir: string;
  /** Defaults to the layout already in dataDir, else 1. */
  nodes?: 1 | 3;
  /** Broker port of node 1; defaults to the layout already in dataDir, else 9092. */
  port?: number;
  /** Stop what this data dir runs and delete its storage before starting. */
  fresh?: boolean;
  /** TLS, or TLS with SCRAM logins; defaults to what the data dir ran before, else plaintext. */
  security?: Security;
  /** How long to wait until every broker answers; default 90 s (a 2-core machine under load is slow). */
  timeoutMs?: number;
  /** JVM heap of each node (-Xms and -Xmx): explicit, since the JVM default is a quarter of RAM each. */
  heap?: string;
  jars?: Omit<JarOptions, 'log'>;
  log?: Log;
}

export interface NodeStatus {
  readonly id: number;
  readonly pid: number | null;
  /** The recorded pid is alive and is this node's JVM. */
  readonly alive: boolean;
  /** The broker port accepts connections. */
  readonly listening: boolean;
  readonly brokerPort: number;
  readonly controllerPort: number;
  readonly dir: string;
  readonly serverLog: string;
}

export interface ClusterStatus {
  readonly dataDir: string;
  /** `<dataDir>/kafka` */
  readonly home: string;
  /** A cluster was ever started in this data dir (cluster.json exists). */
  readonly exists: boolean;
  /** Every node is alive and listening. */
  readonly running: boolean;
  readonly bootstrap: string | null;
  readonly clusterId: string | null;
  readonly kafkaVersion: string | null;
  readonly nodes: readonly NodeStatus[];
  readonly security: Security;
  /** librdkafka properties of a client of this cluster (security settings and credentials included). */
  readonly client: Readonly<Record<string, string>> | null;
  /** Pulse's environment variables for a client of this cluster. */
  readonly clientEnv: readonly [string, string][];
  /** A managed-service style client.properties of a secured cluster, for PULSE_KAFKA_CLIENT_PROPERTIES. */
  readonly clientProperties: string | null;
}

export interface StartResult extends ClusterStatus {
  /** Every node was already running; nothing was started. */
  readonly alreadyRunning: boolean;
  /** Ids of the nodes this call started. */
  readonly started: readonly number[];
  readonly elapsedMs: number;
}

/**
 * Starts a local KRaft cluster (combined broker+controller JVMs on 127.0.0.1) from Apache Kafka's jars
 * and waits until every broker answers a metadata request. The JVMs are detached: they outlive the
 * caller and are stopped with `stopCluster`. Nodes that are already running are left alone, so this
 * also restarts the missing nodes of a partly running cluster.
 */
export async function startCluster(options: StartOptions): Promise<StartResult> {
  const started = Date.now();
  const log = options.log ?? noop;
  const dataDir = resolve(options.dataDir);
  const home = kafkaHome(dataDir);
  let state = readState(dataDir);

  // Unless asked otherwise, keep the layout (node count, port) of what this data dir ran before.
  const nodeCount = options.nodes ?? (state?.nodes.length as 1 | 3 | undefined) ?? 1;
  const port = options.port ?? state?.port ?? DEFAULT_PORT;
  const security = options.security ?? (options.fresh ? undefined : state?.security?.security) ?? 'plaintext';

  if (options.fresh) {
    if (state !== undefined) await stopCluster({ dataDir, log });
    // Only <dataDir>/kafka: the rest of the data dir belongs to other parts of Pulse.
    rmSync(home, { recursive: true, force: true });
    state = undefined;
  }
  if (nodeCount !== 1 && nodeCount !== 3) throw new LocalKafkaError(`nodes must be 1 or 3, got ${String(nodeCount)}`);
  if (!Number.isInteger(port) || port < 1024 || port + 2 * nodeCount > 65535) throw new LocalKafkaError(`port must be an integer in 1024..${65535 - 2 * nodeCount}, got ${port}`);

  if (state !== undefined && (state.nodes.length !== nodeCount || state.port !== port || (state.security?.security ?? 'plaintext') !== security)) {
    const desc = `a ${state.nodes.length}-node ${state.security?.security ?? 'plaintext'} cluster on port ${state.port}`;
    if (state.nodes.some((n) => isOurNode(n.pid, n.dir))) {
      throw new LocalKafkaError(`${home} already runs ${desc} (${state.bootstrap}); stop it first, or use --fresh to replace it`);
    }
    throw new LocalKafkaError(`${home} holds the storage of ${desc}; use --fresh to replace it with a ${nodeCount}-node ${security} cluster on port ${port}`);
  }

  if (state !== undefined && state.nodes.every((n) => isOurNode(n.pid, n.dir))) {
    log(`Kafka is already running on ${state.bootstrap} (pids ${state.nodes.map((n) => n.pid).join(', ')}; data in ${home})`);
    return { ...(await clusterStatus(dataDir)), alreadyRunning: true, started: [], elapsedMs: Date.now() - started };
  }

  // Before fetching or formatting anything: a port held by a stranger is the most common failure.
  const planned = state?.nodes ?? planNodes(dataDir, nodeCount, port);
  for (const node of planned) if (!isOurNode(node.pid, node.dir)) await assertPortsFree(node, dataDir);

  await assertJava();
  const jars = await ensureKafkaJars({ ...options.jars, log });
  if (state === undefined) {
    const secured = security === 'plaintext' ? undefined : await generateSecurity(home, security);
    if (secured !== undefined) log(`generated a CA and the brokers' certificate in ${secured.caFile.replace(/\/ca\.pem$/, '')}${secured.scram ? `, SCRAM-SHA-512 user ${secured.scram.client.name}` : ''}`);
    state = {
      format: 1,
      clusterId: newClusterId(),
      kafkaVersion: jars.kafkaVersion,
      port,
      bootstrap: bootstrapOf(planned),
      nodes: planned,
      createdAt: new Date().toISOString(),
      ...(secured === undefined ? {} : { security: secured }),
    };
  } else if (state.security !== undefined && !hasSecurityFiles(state.security)) {
    throw new LocalKafkaError(`the TLS files of the ${state.security.security} cluster in ${home} are missing; use --fresh to start anew`);
  } else if (state.kafkaVersion !== jars.kafkaVersion) {
    log(`note: the storage in ${home} was last used by Kafka ${state.kafkaVersion}; starting Kafka ${jars.kafkaVersion} on it`);
    state = { ...state, kafkaVersion: jars.kafkaVersion };
  }

  // Rewritten on every start so that changed defaults apply to an existing cluster too.
  for (const node of state.nodes) writeNodeConfig(node, state.nodes, state.security);
  if (state.security !== undefined) writeClientProperties(clientPropertiesFile(home), state.bootstrap, state.security);
  const unformatted = state.nodes.filter((n) => !existsSync(join(nodeFiles(n).data, 'meta.properties')));
  if (unformatted.length > 0) {
    log(`formatting storage of ${unformatted.length === state.nodes.length ? 'a new cluster' : `node ${unformatted.map((n) => n.id).join(', ')}`} (cluster id ${state.clusterId}) in ${home}`);
    await Promise.all(unformatted.map((n) => formatStorage(jars, n, state!.clusterId, state!.security)));
  }
  writeState(dataDir, state);

  const toStart = state.nodes.filter((n) => !isOurNode(n.pid, n.dir));
  for (const node of toStart) {
    await spawnNode(jars, node, options.heap ?? '512m');
    writeState(dataDir, state);
    log(`started Kafka node ${node.id} (pid ${node.pid}) on 127.0.0.1:${node.brokerPort}, controller :${node.controllerPort}; log ${nodeFiles(node).serverLog}`);
  }

  try {
    await waitUntilUp(state, toStart, state.nodes.length, options.timeoutMs ?? 90_000);
  } catch (err) {
    // Do not leave a half-started cluster behind: the logs stay for the post-mortem.
    for (const node of toStart) if (isOurNode(node.pid, node.dir)) signal(node.pid, 'SIGKILL');
    throw err;
  }
  const elapsedMs = Date.now() - started;
  log(`Kafka ${state.kafkaVersion} is up on ${state.bootstrap} (${state.nodes.length} node${state.nodes.length > 1 ? 's' : ''}, ${(elapsedMs / 1000).toFixed(1)} s)`);
  return { ...(await clusterStatus(dataDir)), alreadyRunning: false, started: toStart.map((n) => n.id), elapsedMs };
}

export interface StopOptions {
  dataDir: string;
  /** Grace period after SIGTERM before SIGKILL; default 20 s. */
  timeoutMs?: number;
  log?: Log;
}

export interface StopResult {
  /** Ids of the nodes that were running and are now stopped. */
  readonly stopped: readonly number[];
  /** Ids of the nodes that needed SIGKILL. */
  readonly killed: readonly number[];
}

/**
 * Stops the JVMs recorded in `<dataDir>/kafka/cluster.json`, and only those: each pid is checked to
 * still be that node's JVM before it is signalled. SIGTERM lets Kafka shut down cleanly (no log
 * recovery on the next start); SIGKILL follows after the grace period.
 */
export async function stopCluster(options: StopOptions): Promise<StopResult> {
  const log = options.log ?? noop;
  const dataDir = resolve(options.dataDir);
  const state = readState(dataDir);
  if (state === undefined) {
    log(`no local Kafka in ${kafkaHome(dataDir)}`);
    return { stopped: [], killed: [] };
  }
  const running = state.nodes.filter((n) => isOurNode(n.pid, n.dir));
  if (running.length === 0) log(`Kafka in ${kafkaHome(dataDir)} is not running`);
  const killed: number[] = [];
  // All at once: stopping nodes one by one makes the last ones wait for a controller quorum that is gone.
  for (const node of running) signal(node.pid!, 'SIGTERM');
  await Promise.all(
    running.map(async (node) => {
      const pid = node.pid!;
      if (!(await waitForExit(pid, node.dir, options.timeoutMs ?? 20_000))) {
        if (isOurNode(pid, node.dir)) signal(pid, 'SIGKILL');
        killed.push(node.id);
        await waitForExit(pid, node.dir, 5_000);
      }
    }),
  );
  for (const node of state.nodes) {
    node.pid = null;
    node.startedAt = null;
  }
  writeState(dataDir, state);
  if (running.length > 0) {
    const how = killed.length > 0 ? ` (node ${killed.join(', ')} did not stop within the grace period and was killed)` : '';
    log(`stopped Kafka node ${running.map((n) => n.id).join(', ')} in ${kafkaHome(dataDir)}${how}`);
  }
  return { stopped: running.map((n) => n.id), killed };
}

/** What runs in `<dataDir>/kafka`: per node pid, liveness and whether its broker port answers. */
export async function clusterStatus(dataDir: string): Promise<ClusterStatus> {
  dataDir = resolve(dataDir);
  const home = kafkaHome(dataDir);
  const state = readState(dataDir);
  if (state === undefined) {
    return { dataDir, home, exists: false, running: false, bootstrap: null, clusterId: null, kafkaVersion: null, nodes: [], security: 'plaintext', client: null, clientEnv: [], clientProperties: null };
  }
  const nodes = await Promise.all(
    state.nodes.map(async (n): Promise<NodeStatus> => {
      const alive = isOurNode(n.pid, n.dir);
      return {
        id: n.id,
        pid: n.pid,
        alive,
        listening: alive && (await isListening(n.brokerPort)),
        brokerPort: n.brokerPort,
        controllerPort: n.controllerPort,
        dir: n.dir,
        serverLog: nodeFiles(n).serverLog,
      };
    }),
  );
  return {
    dataDir,
    home,
    exists: true,
    running: nodes.every((n) => n.alive && n.listening),
    bootstrap: state.bootstrap,
    clusterId: state.clusterId,
    kafkaVersion: state.kafkaVersion,
    nodes,
    security: state.security?.security ?? 'plaintext',
    client: clientConnection(state.bootstrap, state.security),
    clientEnv: clientEnvironment(state.bootstrap, state.security),
    clientProperties: state.security === undefined ? null : clientPropertiesFile(home),
  };
}

const clientPropertiesFile = (home: string): string => join(home, 'client.properties');

/**
 * Sends `sig` to one node's JVM (for failover tests: SIGKILL is a crash, SIGTERM a clean shutdown,
 * SIGSTOP a hang) and, unless the signal is SIGSTOP, waits until it has exited. `nodeId` is the broker
 * id that clients see in metadata (1..nodes). Returns the pid that was signalled.
 */
export async function killNode(dataDir: string, nodeId: number, sig: NodeJS.Signals = 'SIGKILL', waitMs = 20_000): Promise<number> {
  const { node } = findNode(dataDir, nodeId);
  if (!isOurNode(node.pid, node.dir)) throw new LocalKafkaError(`Kafka node ${nodeId} in ${kafkaHome(dataDir)} is not running`);
  const pid = node.pid;
  signal(pid, sig);
  if (sig !== 'SIGSTOP' && sig !== 'SIGCONT' && !(await waitForExit(pid, node.dir, waitMs))) {
    throw new Error(`Kafka node ${nodeId} (pid ${pid}) still runs ${waitMs} ms after ${sig}`);
  }
  return pid;
}

export interface StartNodeOptions {
  timeoutMs?: number;
  heap?: string;
  jars?: Omit<JarOptions, 'log'>;
  log?: Log;
}

/**
 * Starts one node of an existing cluster again (after `killNode`) and waits until it is back in the
 * cluster's metadata. Does nothing when it already runs.
 */
export async function startNode(dataDir: string, nodeId: number, options: StartNodeOptions = {}): Promise<NodeStatus> {
  const log = options.log ?? noop;
  dataDir = resolve(dataDir);
  const { state, node } = findNode(dataDir, nodeId);
  if (!isOurNode(node.pid, node.dir)) {
    const jars = await ensureKafkaJars({ ...options.jars, log });
    writeNodeConfig(node, state.nodes, state.security);
    for (let attempt = 1; ; attempt++) {
      // Clients still retrying the stopped node may hold its port for a while (see RESTART_PORT_PATIENCE_MS).
      await assertPortsFree(node, dataDir, RESTART_PORT_PATIENCE_MS);
      const logFrom = fileSize(nodeFiles(node).serverLog);
      await spawnNode(jars, node, options.heap ?? '512m');
      writeState(dataDir, state);
      log(`started Kafka node ${node.id} (pid ${node.pid}) on 127.0.0.1:${node.brokerPort}`);
      try {
        await waitUntilUp(state, [node], 1, options.timeoutMs ?? 90_000, [node.id]);
        break;
      } catch (err) {
        // Taken again between the check and the broker's bind, tens of seconds later: the same transient holder.
        const bindFailed = err instanceof NodeExitedError && readFileSync(nodeFiles(node).serverLog).subarray(logFrom).includes('Socket server failed to bind');
        if (attempt >= 3 || !bindFailed) throw err;
        log(`Kafka node ${node.id} could not bind its ports (attempt ${attempt}); starting it again`);
      }
    }
  }
  const status = await clusterStatus(dataDir);
  return status.nodes.find((n) => n.id === nodeId)!;
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function findNode(dataDir: string, nodeId: number): { state: ClusterState; node: NodeState } {
  const state = readState(dataDir);
  if (state === undefined) throw new LocalKafkaError(`no local Kafka in ${kafkaHome(dataDir)}`);
  const node = state.nodes.find((n) => n.id === nodeId);
  if (node === undefined) throw new LocalKafkaError(`no Kafka node ${nodeId} in ${kafkaHome(dataDir)} (nodes are ${state.nodes.map((n) => n.id).join(', ')})`);
  return { state, node };
}

function writeNodeConfig(node: NodeState, all: readonly NodeState[], security: SecurityState | undefined): void {
  mkdirSync(node.dir, { recursive: true });
  const files = nodeFiles(node);
  writeFileSync(files.properties, serverProperties(node, all, security), { mode: 0o600 });
  writeFileSync(files.log4j, log4jProperties(node));
}

function javaBin(): string {
  return process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
}

/** Fails early, before any jar is fetched, when there is no JVM to run them (the jars come from Maven Central, Java from the user). */
function assertJava(): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile(javaBin(), ['-version'], (err) => {
      if (err === null) resolvePromise();
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') reject(new LocalKafkaError(`cannot run ${javaBin()}: the local Kafka broker needs a Java runtime, 17 or later (e.g. \`apt-get install openjdk-17-jre-headless\`); set JAVA_HOME or put java on PATH`));
      else reject(new Error(`${javaBin()} -version failed: ${err.message}`));
    });
  });
}

function formatStorage(jars: KafkaJars, node: NodeState, clusterId: string, security: SecurityState | undefined): Promise<void> {
  const files = nodeFiles(node);
  // Static voters (controller.quorum.voters) need neither --standalone nor --initial-controllers.
  // SCRAM users are written into the cluster's metadata here, so that the brokers can log in to each
  // other on their first start.
  const args = ['-Xmx256m', `-Dlog4j2.configurationFile=${files.log4j}`, '-cp', jars.classpath, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', files.properties, ...scramFormatArgs(security)];
  return new Promise((resolvePromise, reject) => {
    execFile(javaBin(), args, { cwd: node.dir, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`formatting the storage of Kafka node ${node.id} failed: ${(stderr || stdout || err.message).trim()}`));
      else resolvePromise();
    });
  });
}

/**
 * How long a restarted node waits for its ports. While a node is down, its clients and peers retry it,
 * and on Linux a connection to a port in the ephemeral range (32768–60999 by default) can be given that
 * very port as its own and connect to itself; the port is then held until the client gives up on an
 * answer. connect() takes even ports, so it is the even ones of a cluster placed in that range.
 */
const RESTART_PORT_PATIENCE_MS = 30_000;

async function assertPortsFree(node: NodeState, dataDir: string, patienceMs = 2_000): Promise<void> {
  for (const port of [node.brokerPort, node.controllerPort]) {
    // A little patience: a node killed a moment ago may still be releasing its sockets.
    let free = await isPortFree(port);
    for (const until = Date.now() + patienceMs; !free && Date.now() < until; ) {
      await sleep(250);
      free = await isPortFree(port);
    }
    if (!free) {
      throw new Error(
        `port ${port} on 127.0.0.1 is taken by another process (not a Kafka node of ${kafkaHome(dataDir)}); ` +
          'stop it, or start this cluster on another port',
      );
    }
  }
}

/** Spawns the JVM detached (own session, output to files) so that it outlives the caller. */
async function spawnNode(jars: KafkaJars, node: NodeState, heap: string): Promise<void> {
  const files = nodeFiles(node);
  const args = [
    `-Xms${heap}`,
    `-Xmx${heap}`,
    // The GC settings of Kafka's own start script (kafka-run-class.sh): short pauses matter for latency.
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-XX:InitiatingHeapOccupancyPercent=35',
    '-XX:+ExplicitGCInvokesConcurrent',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${files.log4j}`,
    nodeMarker(node.dir),
    '-cp',
    jars.classpath,
    'kafka.Kafka',
    files.properties,
  ];
  const out = openSync(files.stdout, 'a');
  try {
    writeFileSync(out, `\n--- ${new Date().toISOString()} starting: java ${args.join(' ')}\n`);
    const child = spawn(javaBin(), args, { cwd: node.dir, detached: true, stdio: ['ignore', out, out] });
    await new Promise<void>((resolvePromise, reject) => {
      child.once('spawn', resolvePromise);
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(err.code === 'ENOENT' ? new LocalKafkaError(`cannot run ${javaBin()}: Java 17+ is needed for the local Kafka (set JAVA_HOME or put java on PATH)`) : err),
      );
    });
    child.unref();
    node.pid = child.pid!;
    node.startedAt = new Date().toISOString();
  } finally {
    closeSync(out);
  }
}

/** The local cluster is not in a state the command can work with; the message says what to do. */
export class LocalKafkaError extends Error {
  override readonly name = 'LocalKafkaError';
}

class NodeExitedError extends Error {
  override readonly name = 'NodeExitedError';
}

/**
 * Waits until metadata lists `expectedBrokers` brokers (and `requireIds`), failing fast, with the end
 * of the node's logs, when one of the JVMs just started exits.
 */
async function waitUntilUp(state: ClusterState, started: readonly NodeState[], expectedBrokers: number, timeoutMs: number, requireIds?: number[]): Promise<void> {
  const abort = new AbortController();
  const bootstrap = clientConnection(requireIds ? bootstrapOf(started) : state.bootstrap, state.security);
  const watcher = (async () => {
    while (!abort.signal.aborted) {
      for (const node of started) {
        if (!isOurNode(node.pid, node.dir)) {
          throw new NodeExitedError(`Kafka node ${node.id} (pid ${node.pid}) exited during startup.\n${logTail(node)}`);
        }
      }
      await sleep(250);
    }
  })();
  try {
    await Promise.race([waitForBroker(bootstrap, expectedBrokers, timeoutMs, { signal: abort.signal, requireIds }), watcher]);
  } catch (err) {
    if (err instanceof NodeExitedError) throw err;
    const logs = started.map((n) => nodeFiles(n).serverLog).join(', ');
    throw new Error(`${(err as Error).message}\nSee the broker log${started.length > 1 ? 's' : ''}: ${logs}\n${started[0] ? logTail(started[0]) : ''}`);
  } finally {
    abort.abort();
    await watcher.catch(() => {});
  }
}

/** The last lines of a node's stdout (JVM errors: bind failures, OOM) and broker log. */
function logTail(node: NodeState, lines = 15): string {
  const files = nodeFiles(node);
  const parts: string[] = [];
  for (const file of [files.stdout, files.serverLog]) {
    try {
      const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      if (text.length > 0) parts.push(`--- last lines of ${file}:\n${text}`);
    } catch {
      // Not written yet.
    }
  }
  return parts.join('\n');
}
