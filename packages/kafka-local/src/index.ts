export { startCluster, stopCluster, clusterStatus, killNode, startNode, DEFAULT_PORT, LocalKafkaError } from './cluster.js';
export type { StartOptions, StartResult, StopOptions, StopResult, ClusterStatus, NodeStatus, StartNodeOptions } from './cluster.js';
export { ensureKafkaJars, defaultCacheDir, readJarLock, jarUrl, DEFAULT_JAR_LOCK } from './jars.js';
export type { KafkaJars, JarOptions, JarLock, LockedJar, Log } from './jars.js';
export { kafkaHome, stateFile, readState } from './layout.js';
export type { ClusterState, NodeState } from './layout.js';
export { SECURITY_CHOICES } from './security.js';
export type { Security, SecurityState, ScramUser } from './security.js';
