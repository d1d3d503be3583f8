import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST } from './layout.js';

/**
 * A secured local cluster (docs/kafka.md, "A secured local cluster"): `ssl` serves clients over TLS,
 * `sasl_ssl` also asks them to log in with SCRAM-SHA-512. The controllers talk PLAINTEXT among
 * themselves on 127.0.0.1; brokers talk to each other over the clients' protocol.
 */
export type Security = 'plaintext' | 'ssl' | 'sasl_ssl';

export const SECURITY_CHOICES: readonly Security[] = ['plaintext', 'ssl', 'sasl_ssl'];

/** What a secured cluster was made with; kept in cluster.json so that every start and client agrees. */
export interface SecurityState {
  readonly security: Exclude<Security, 'plaintext'>;
  /** PEM certificate of the generated CA: what clients trust (`ssl.ca.location`). */
  readonly caFile: string;
  readonly keystoreFile: string;
  readonly truststoreFile: string;
  /** Password of both PKCS#12 stores (they guard a throw-away local CA). */
  readonly storePassword: string;
  /** SCRAM-SHA-512 users created at format time: the brokers' own, and the one for clients. */
  readonly scram?: { readonly broker: ScramUser; readonly client: ScramUser };
}

export interface ScramUser {
  readonly name: string;
  readonly password: string;
}

export const SCRAM_MECHANISM = 'SCRAM-SHA-512';
/** The listener name of a secured cluster is its protocol, as Kafka's own examples name them. */
export const listenerOf = (security: Security): string => security.toUpperCase();

export const tlsDir = (home: string): string => join(home, 'tls');

function keytool(args: readonly string[], cwd: string): Promise<void> {
  const bin = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'keytool') : 'keytool';
  return new Promise((resolve, reject) => {
    execFile(bin, args, { cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`keytool ${args[0]} failed: ${(stderr || stdout || err.message).trim()}`));
      else resolve();
    });
  });
}

const password = (): string => randomBytes(18).toString('base64url');

/**
 * Generates a CA and one broker certificate signed by it (SAN IP:127.0.0.1 and DNS:localhost, which
 * librdkafka checks against the host it connects to), in PKCS#12 stores for the brokers and as PEM for
 * clients, plus the SCRAM users' passwords. All nodes share the broker certificate: they all listen on
 * 127.0.0.1.
 */
export async function generateSecurity(home: string, security: Exclude<Security, 'plaintext'>): Promise<SecurityState> {
  const dir = tlsDir(home);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const storePassword = password();
  const store = (file: string) => ['-keystore', file, '-storetype', 'PKCS12', '-storepass', storePassword];
  const san = `SAN=IP:${HOST},DNS:localhost`;
  const validity = ['-validity', '3650'];
  await keytool(['-genkeypair', '-alias', 'ca', '-keyalg', 'RSA', '-keysize', '2048', '-dname', 'CN=Pulse local Kafka CA', '-ext', 'bc:c', ...validity, ...store('ca.p12')], dir);
  await keytool(['-exportcert', '-rfc', '-alias', 'ca', ...store('ca.p12'), '-file', 'ca.pem'], dir);
  await keytool(['-genkeypair', '-alias', 'broker', '-keyalg', 'RSA', '-keysize', '2048', '-dname', 'CN=localhost', '-ext', san, ...validity, ...store('broker.p12')], dir);
  await keytool(['-certreq', '-alias', 'broker', ...store('broker.p12'), '-file', 'broker.csr'], dir);
  await keytool(['-gencert', '-rfc', '-alias', 'ca', ...store('ca.p12'), '-infile', 'broker.csr', '-outfile', 'broker.pem', '-ext', san, ...validity], dir);
  await keytool(['-importcert', '-noprompt', '-alias', 'ca', '-file', 'ca.pem', ...store('broker.p12')], dir);
  await keytool(['-importcert', '-alias', 'broker', '-file', 'broker.pem', ...store('broker.p12')], dir);
  await keytool(['-importcert', '-noprompt', '-alias', 'ca', '-file', 'ca.pem', ...store('truststore.p12')], dir);
  for (const f of ['ca.p12', 'broker.csr']) rmSync(join(dir, f));
  return {
    security,
    caFile: join(dir, 'ca.pem'),
    keystoreFile: join(dir, 'broker.p12'),
    truststoreFile: join(dir, 'truststore.p12'),
    storePassword,
    ...(security === 'sasl_ssl' ? { scram: { broker: { name: 'broker', password: password() }, client: { name: 'pulse', password: password() } } } : {}),
  };
}

export function hasSecurityFiles(s: SecurityState): boolean {
  return [s.caFile, s.keystoreFile, s.truststoreFile].every((f) => existsSync(f));
}

/** The broker properties of a secured listener, added to server.properties. */
export function securityProperties(s: SecurityState): [string, string][] {
  const listener = listenerOf(s.security);
  const props: [string, string][] = [
    ['ssl.keystore.type', 'PKCS12'],
    ['ssl.keystore.location', s.keystoreFile],
    ['ssl.keystore.password', s.storePassword],
    ['ssl.key.password', s.storePassword],
    // Brokers are clients of each other: they trust the same CA.
    ['ssl.truststore.type', 'PKCS12'],
    ['ssl.truststore.location', s.truststoreFile],
    ['ssl.truststore.password', s.storePassword],
  ];
  if (s.scram !== undefined) {
    const b = s.scram.broker;
    props.push(
      ['sasl.enabled.mechanisms', SCRAM_MECHANISM],
      ['sasl.mechanism.inter.broker.protocol', SCRAM_MECHANISM],
      [`listener.name.${listener.toLowerCase()}.${SCRAM_MECHANISM.toLowerCase()}.sasl.jaas.config`, `org.apache.kafka.common.security.scram.ScramLoginModule required username="${b.name}" password="${b.password}";`],
    );
  }
  return props;
}

/** `--add-scram` arguments of `kafka-storage format`: SCRAM users exist before the first start. */
export function scramFormatArgs(s: SecurityState | undefined): string[] {
  if (s?.scram === undefined) return [];
  return [s.scram.broker, s.scram.client].flatMap((u) => ['--add-scram', `${SCRAM_MECHANISM}=[name=${u.name},password=${u.password}]`]);
}

/** librdkafka properties of a client of the cluster (as `connectionConfig` makes them from configuration). */
export function clientConnection(bootstrap: string, s: SecurityState | undefined): Record<string, string> {
  if (s === undefined) return { 'bootstrap.servers': bootstrap };
  const out: Record<string, string> = { 'bootstrap.servers': bootstrap, 'security.protocol': s.security, 'ssl.ca.location': s.caFile };
  if (s.scram !== undefined) {
    out['sasl.mechanisms'] = SCRAM_MECHANISM;
    out['sasl.username'] = s.scram.client.name;
    out['sasl.password'] = s.scram.client.password;
  }
  return out;
}

/** Pulse's environment variables for a client of the cluster, in the order a reader expects them. */
export function clientEnvironment(bootstrap: string, s: SecurityState | undefined): [string, string][] {
  const env: [string, string][] = [['KAFKA_BOOTSTRAP_SERVERS', bootstrap]];
  if (s === undefined) return env;
  env.push(['PULSE_KAFKA_SECURITY_PROTOCOL', s.security.toUpperCase()]);
  if (s.scram !== undefined) {
    env.push(['PULSE_KAFKA_SASL_MECHANISM', SCRAM_MECHANISM], ['PULSE_KAFKA_SASL_USERNAME', s.scram.client.name], ['PULSE_KAFKA_SASL_PASSWORD', s.scram.client.password]);
  }
  env.push(['PULSE_KAFKA_SSL_CA_LOCATION', s.caFile]);
  return env;
}

/**
 * A `client.properties` in the form managed services hand out (Java client names, JAAS line), for
 * `PULSE_KAFKA_CLIENT_PROPERTIES` or Kafka's own tools.
 */
export function writeClientProperties(file: string, bootstrap: string, s: SecurityState): void {
  const lines = [
    '# Client settings of the local Kafka cluster, written by `pulse kafka start`.',
    `bootstrap.servers=${bootstrap}`,
    `security.protocol=${s.security.toUpperCase()}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${s.caFile}`,
  ];
  if (s.scram !== undefined) {
    lines.push(
      `sasl.mechanism=${SCRAM_MECHANISM}`,
      `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${s.scram.client.name}" password="${s.scram.client.password}";`,
    );
  }
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
}
