import { relative } from 'node:path';
import { loadConfig } from '@pulse/config';
import { clusterStatus, DEFAULT_PORT, SECURITY_CHOICES, startCluster, stopCluster, type ClusterStatus, type Security } from '@pulse/kafka-local';
import { defineCommand, numberFlag, UsageError } from '../command.js';

/** `pulse kafka status` exit code when the cluster is not (fully) running, as LSB's "program is not running". */
export const EXIT_NOT_RUNNING = 3;

const log = (line: string) => console.log(line);

function shortPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel.length > 0 && !rel.startsWith('..') ? rel : path;
}

function printStatus(status: ClusterStatus): void {
  if (!status.exists) {
    console.log(`no local Kafka in ${shortPath(status.home)} (start one with \`pulse kafka start\`)`);
    return;
  }
  const state = status.running ? 'running' : status.nodes.some((n) => n.alive) ? 'partly running' : 'stopped';
  console.log(`Kafka ${status.kafkaVersion} in ${shortPath(status.home)}: ${state}`);
  console.log(`  bootstrap  ${status.bootstrap}`);
  console.log(`  security   ${status.security}`);
  console.log(`  cluster id ${status.clusterId}`);
  for (const n of status.nodes) {
    const what = n.alive ? (n.listening ? 'up' : 'starting (port not answering)') : 'down';
    const pid = n.alive ? `pid ${n.pid}` : 'no process';
    console.log(`  node ${n.id}  ${what.padEnd(6)}  ${pid.padEnd(11)}  broker :${n.brokerPort}  controller :${n.controllerPort}  log ${shortPath(n.serverLog)}`);
  }
}

export const kafka = defineCommand({
  name: 'kafka',
  summary: 'start, stop or inspect a local Kafka cluster (KRaft, from Apache Kafka\'s jars)',
  help: `Usage: pulse kafka start [--nodes 1|3] [--fresh] [--security plaintext|ssl|sasl_ssl]
       pulse kafka stop
       pulse kafka status

Runs Apache Kafka (the version and jars pinned in @pulse/kafka-local's kafka-jars.json) as combined
broker+controller JVMs on 127.0.0.1, with no Docker; needs Java 17+. The jars are downloaded once
from Maven Central over HTTPS, checked against its published checksums, into ~/.cache/pulse (or
$XDG_CACHE_HOME/pulse). Storage, logs, pids and the cluster's layout live in <dataDir>/kafka
(configuration dataDir, default .pulse). The JVMs keep running after this command returns.

  start    start the cluster (or the nodes of it that are not running) and wait until every broker
           answers; does nothing when it already runs
  stop     stop the JVMs this data dir started (SIGTERM, SIGKILL after 20 s)
  status   per node: pid, whether it is up, ports, log file. Exit code 0 when every node is up,
           ${EXIT_NOT_RUNNING} when the cluster is stopped, partly running or was never started

Options:
  --nodes 1|3    number of nodes (start only; default: the existing layout, else 1). Broker ports are
                 ${DEFAULT_PORT}, ${DEFAULT_PORT + 2}, ${DEFAULT_PORT + 4}, controllers one above each. One broker for benchmarks,
                 three for failover tests: topics Pulse creates on three brokers get replication
                 factor 3 and min.insync.replicas 2 (kafka.replicationFactor and
                 kafka.minInsyncReplicas set other values)
  --fresh        start on empty storage: stop the cluster, delete <dataDir>/kafka, start anew
  --security S   plaintext (default: the existing cluster's, else plaintext), ssl (TLS with a CA and
                 broker certificate generated into <dataDir>/kafka/tls) or sasl_ssl (TLS and
                 SCRAM-SHA-512 logins; user pulse, password generated). Prints the client settings as
                 environment variables, and writes <dataDir>/kafka/client.properties
                 (PULSE_KAFKA_CLIENT_PROPERTIES). Changing it needs --fresh.
  --port N       broker port of node 1 (default ${DEFAULT_PORT})
  --heap SIZE    JVM heap of each node (default 512m)

Logs: <dataDir>/kafka/node-N/server.log (broker) and stdout.log (JVM output).`,
  options: {
    nodes: { type: 'string' },
    fresh: { type: 'boolean' },
    port: { type: 'string' },
    heap: { type: 'string' },
    security: { type: 'string' },
  },
  allowPositionals: true,
  async run(v, positionals) {
    const [action, ...extra] = positionals;
    if (action === undefined) throw new UsageError('missing action: start, stop or status');
    if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`);
    if (action !== 'start' && (v.nodes !== undefined || v.fresh || v.port !== undefined || v.heap !== undefined || v.security !== undefined)) {
      throw new UsageError(`--nodes, --fresh, --port, --heap and --security apply to \`kafka start\` only`);
    }
    const config = loadConfig();
    switch (action) {
      case 'start': {
        let nodes: 1 | 3 | undefined;
        if (v.nodes !== undefined) {
          if (v.nodes !== '1' && v.nodes !== '3') throw new UsageError(`--nodes must be 1 or 3, got ${JSON.stringify(v.nodes)}`);
          nodes = Number(v.nodes) as 1 | 3;
        }
        const port = v.port === undefined ? undefined : numberFlag('port', v.port, DEFAULT_PORT, 1024);
        if (port !== undefined && !Number.isInteger(port)) throw new UsageError(`--port must be an integer, got ${JSON.stringify(v.port)}`);
        if (v.heap !== undefined && !/^\d+[kmg]$/i.test(v.heap)) throw new UsageError(`--heap must look like 512m or 1g, got ${JSON.stringify(v.heap)}`);
        if (v.security !== undefined && !SECURITY_CHOICES.includes(v.security as Security)) {
          throw new UsageError(`--security must be one of ${SECURITY_CHOICES.join(', ')}, got ${JSON.stringify(v.security)}`);
        }
        let result;
        try {
          result = await startCluster({ dataDir: config.dataDir, nodes, port, fresh: v.fresh ?? false, heap: v.heap, security: v.security as Security | undefined, log });
        } catch (err) {
          // Expected failures (port taken, no Java, broker did not come up) carry their explanation.
          console.error(`pulse kafka start: ${(err as Error).message}`);
          return 1;
        }
        if (result.security !== 'plaintext') {
          console.log(`\nclient settings of this ${result.security} cluster (or PULSE_KAFKA_CLIENT_PROPERTIES=${result.clientProperties}):`);
          for (const [name, value] of result.clientEnv) console.log(`export ${name}=${value}`);
        } else if (!result.alreadyRunning && config.kafka.bootstrapServers !== result.bootstrap) {
          console.log(`note: configuration kafka.bootstrapServers is ${config.kafka.bootstrapServers}; this cluster is ${result.bootstrap}`);
        }
        return 0;
      }
      case 'stop':
        await stopCluster({ dataDir: config.dataDir, log });
        return 0;
      case 'status': {
        const status = await clusterStatus(config.dataDir);
        printStatus(status);
        return status.running ? 0 : EXIT_NOT_RUNNING;
      }
      default:
        throw new UsageError(`unknown action ${JSON.stringify(action)}: expected start, stop or status`);
    }
  },
});
