export { startCluster, stopCluster, clusterStatus, killNode, startNode, DEFAULT_PORT } from './cluster.js';
export type { StartOptions, StartResult, StopOptions, StopResult, ClusterStatus, NodeStatus, StartNodeOptions } from './cluster.js';
export { ensureKafkaJars, defaultCacheDir, readPomVersions, DEFAULT_POM } from './jars.js';
export type { KafkaJars, JarOptions, Log } from './jars.js';
export { kafkaHome, stateFile, readState } from './layout.js';
export type { ClusterState, NodeState } from './layout.js';
export { SECURITY_CHOICES, SCRAM_MECHANISM } from './security.js';
export type { Security, SecurityState, ScramUser } from './security.js';
