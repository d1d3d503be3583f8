import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { listenerOf, securityProperties, type SecurityState } from './security.js';

/** Where a local cluster keeps everything: `<dataDir>/kafka`. */
export function kafkaHome(dataDir: string): string {
  return join(resolve(dataDir), 'kafka');
}

export function stateFile(dataDir: string): string {
  return join(kafkaHome(dataDir), 'cluster.json');
}

/** One combined broker+controller JVM. `id` is Kafka's `node.id`, the broker id clients see in metadata. */
export interface NodeState {
  readonly id: number;
  readonly brokerPort: number;
  readonly controllerPort: number;
  /** `<dataDir>/kafka/node-<id>`: properties, logs and (under data/) the log dirs. */
  readonly dir: string;
  pid: number | null;
  startedAt: string | null;
}

/** The content of cluster.json: what was started, so that stop/status need nothing else. */
export interface ClusterState {
  readonly format: 1;
  readonly clusterId: string;
  readonly kafkaVersion: string;
  /** The port asked for; node i (1-based) listens on port + 2(i-1), its controller one above. */
  readonly port: number;
  readonly bootstrap: string;
  readonly nodes: NodeState[];
  readonly createdAt: string;
  /** Absent for a PLAINTEXT cluster. */
  readonly security?: SecurityState;
}

export const HOST = '127.0.0.1';

/**
 * Ports of an n-node cluster: brokers on port, port+2, port+4; controllers on the odd port above each.
 * A single node therefore uses 9092 (clients) and 9093 (controller), as Kafka's quick start does.
 */
export function planNodes(dataDir: string, nodes: number, port: number): NodeState[] {
  return Array.from({ length: nodes }, (_, i) => ({
    id: i + 1,
    brokerPort: port + 2 * i,
    controllerPort: port + 2 * i + 1,
    dir: join(kafkaHome(dataDir), `node-${i + 1}`),
    pid: null,
    startedAt: null,
  }));
}

export function bootstrapOf(nodes: readonly Pick<NodeState, 'brokerPort'>[]): string {
  return nodes.map((n) => `${HOST}:${n.brokerPort}`).join(',');
}

/** A KRaft cluster id: 16 random bytes, base64url; never starting with '-' so that no CLI reads it as a flag. */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

export function readState(dataDir: string): ClusterState | undefined {
  let text: string;
  try {
    text = readFileSync(stateFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const state = JSON.parse(text) as ClusterState;
  if (state.format !== 1) throw new Error(`${stateFile(dataDir)} has an unknown format; delete ${kafkaHome(dataDir)} (or use --fresh)`);
  return state;
}

/** Written to a temporary file and renamed, so a crash never leaves a half-written cluster.json. */
export function writeState(dataDir: string, state: ClusterState): void {
  mkdirSync(kafkaHome(dataDir), { recursive: true });
  const file = stateFile(dataDir);
  // Readable by its owner only: a secured cluster's passwords are in it.
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export const nodeFiles = (node: Pick<NodeState, 'dir'>) => ({
  properties: join(node.dir, 'server.properties'),
  log4j: join(node.dir, 'log4j2.properties'),
  serverLog: join(node.dir, 'server.log'),
  stdout: join(node.dir, 'stdout.log'),
  data: join(node.dir, 'data'),
});

/**
 * Network and request-handler threads of a local node: one of each per two cores, at most Kafka's
 * defaults (3 and 8, sized for a dedicated server). A local node shares its cores with the clients it
 * serves, and spare threads only switch contexts: at 100 000 events/s on 2 cores, 1 + 1 threads took
 * the broker from 58–63% of a core (five runs of Kafka's 3 + 8) to 49–52% (two runs; 53–59% with 1 + 2),
 * in alternating runs of `pnpm pulse bench e2e --rate 100000 --duration 90 --warmup 20`.
 */
export function brokerThreads(cores = availableParallelism()): { network: number; io: number } {
  const perTwoCores = Math.max(1, Math.floor(cores / 2));
  return { network: Math.min(3, perTwoCores), io: Math.min(8, perTwoCores) };
}

/**
 * server.properties of one combined node. Tuned for a small dev/bench machine: replication of Kafka's
 * internal topics follows the node count, topics are never created implicitly (Pulse creates its own,
 * with their contracted partition counts), and the first consumer group joins without the 3 s delay.
 */
export function serverProperties(node: NodeState, all: readonly NodeState[], security?: SecurityState): string {
  const listener = security === undefined ? 'PLAINTEXT' : listenerOf(security.security);
  const rf = Math.min(all.length, 3);
  const minIsr = Math.min(rf, 2);
  const voters = all.map((n) => `${n.id}@${HOST}:${n.controllerPort}`).join(',');
  const threads = brokerThreads();
  const props: [string, string | number][] = [
    ['process.roles', 'broker,controller'],
    ['node.id', node.id],
    // Static quorum: every node knows all voters, so formatting needs no --standalone/--initial-controllers.
    ['controller.quorum.voters', voters],
    ['listeners', `${listener}://${HOST}:${node.brokerPort},CONTROLLER://${HOST}:${node.controllerPort}`],
    ['advertised.listeners', `${listener}://${HOST}:${node.brokerPort}`],
    // The controllers stay PLAINTEXT on 127.0.0.1 even in a secured cluster: only clients are secured.
    ['listener.security.protocol.map', `${listener}:${listener},CONTROLLER:PLAINTEXT`],
    ['controller.listener.names', 'CONTROLLER'],
    ['inter.broker.listener.name', listener],
    ['log.dirs', nodeFiles(node).data],
    ['num.partitions', 1],
    ['default.replication.factor', rf],
    ['auto.create.topics.enable', 'false'],
    ['offsets.topic.replication.factor', rf],
    // Fewer coordinator partitions than the default 50: the first group join on a dev machine is faster.
    ['offsets.topic.num.partitions', 12],
    ['transaction.state.log.replication.factor', rf],
    ['transaction.state.log.min.isr', minIsr],
    ['transaction.state.log.num.partitions', 12],
    ['share.coordinator.state.topic.replication.factor', rf],
    ['share.coordinator.state.topic.min.isr', minIsr],
    ['group.initial.rebalance.delay.ms', 0],
    ['unclean.leader.election.enable', 'false'],
    ['num.network.threads', threads.network],
    ['num.io.threads', threads.io],
    ...(security === undefined ? [] : securityProperties(security)),
  ];
  return ['# Written by `pulse kafka start`; rewritten on every start.', ...props.map(([k, v]) => `${k}=${v}`), ''].join('\n');
}

/** log4j2 configuration: the broker's log goes to server.log (rolled), not to the terminal. */
export function log4jProperties(node: NodeState): string {
  const file = nodeFiles(node).serverLog;
  return [
    'status = warn',
    'appender.file.type = RollingFile',
    'appender.file.name = file',
    `appender.file.fileName = ${file}`,
    `appender.file.filePattern = ${file}.%i`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    'appender.file.policies.type = Policies',
    'appender.file.policies.size.type = SizeBasedTriggeringPolicy',
    'appender.file.policies.size.size = 50MB',
    'appender.file.strategy.type = DefaultRolloverStrategy',
    'appender.file.strategy.max = 4',
    'rootLogger.level = info',
    'rootLogger.appenderRef.file.ref = file',
    // Per-request logging is noise at benchmark rates.
    'logger.request.name = kafka.request.logger',
    'logger.request.level = warn',
    '',
  ].join('\n');
}
