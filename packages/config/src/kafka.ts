import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { getProperties } from 'properties-file';
import { ConfigError } from './errors.js';
import type { ConfigKey, PulseConfig } from './schema.js';

/**
 * The connection settings of a secured cluster (docs/kafka.md): `kafka.securityProtocol`,
 * `kafka.saslMechanism` and the credentials, the TLS files, and a managed service's `client.properties`
 * (`kafka.clientProperties`), whose settings fill in every connection key not set otherwise.
 */

type Found = { value: string; source: string };

/** What a `client.properties` file sets, as configuration keys. Java's JKS stores are refused: librdkafka reads PEM and PKCS#12. */
export function readClientProperties(file: string): Map<ConfigKey, Found> {
  const path = resolve(file);
  let props: Record<string, string>;
  try {
    props = getProperties(readFileSync(path));
  } catch (err) {
    throw new ConfigError('kafka.clientProperties', path, `cannot read the client properties file: ${(err as Error).message}`);
  }
  const source = `client properties ${path}`;
  const out = new Map<ConfigKey, Found>();
  const set = (key: ConfigKey, value: string | undefined): void => {
    if (value !== undefined && value.trim() !== '') out.set(key, { value: value.trim(), source });
  };
  const fail = (property: string, message: string): never => {
    throw new ConfigError('kafka.clientProperties', path, `${property}: ${message}`);
  };
  // Relative file names in the file are relative to the file, as a service's bundle unpacks them together.
  const located = (value: string | undefined): string | undefined => (value === undefined || value.trim() === '' ? undefined : resolve(path, '..', value.trim()));

  set('kafka.bootstrapServers', props['bootstrap.servers']);
  set('kafka.securityProtocol', props['security.protocol']?.toUpperCase());
  // Java clients say sasl.mechanism, librdkafka sasl.mechanisms; both are accepted.
  set('kafka.saslMechanism', (props['sasl.mechanism'] ?? props['sasl.mechanisms'])?.toUpperCase());
  set('kafka.saslUsername', props['sasl.username']);
  set('kafka.saslPassword', props['sasl.password']);
  const jaas = props['sasl.jaas.config'];
  if (jaas !== undefined) {
    const login = parseJaas(jaas, (m) => fail('sasl.jaas.config', m));
    set('kafka.saslUsername', login.username);
    set('kafka.saslPassword', login.password);
    const mechanism = out.get('kafka.saslMechanism')?.value;
    if (login.module === 'plain' && mechanism !== undefined && mechanism !== 'PLAIN') fail('sasl.jaas.config', `PlainLoginModule does not go with sasl.mechanism ${mechanism}`);
    if (login.module === 'scram' && mechanism !== undefined && !mechanism.startsWith('SCRAM-')) fail('sasl.jaas.config', `ScramLoginModule does not go with sasl.mechanism ${mechanism}`);
    if (login.module === 'plain' && mechanism === undefined) set('kafka.saslMechanism', 'PLAIN');
  }

  set('kafka.sslCaLocation', located(props['ssl.ca.location']));
  const truststore = located(props['ssl.truststore.location']);
  if (truststore !== undefined) {
    const type = (props['ssl.truststore.type'] ?? 'JKS').toUpperCase();
    if (type !== 'PEM') {
      fail('ssl.truststore.location', `a ${type} truststore cannot be read by librdkafka; export its CA as PEM (keytool -exportcert -rfc -keystore ${truststore} -alias <ca> -file ca.pem) and set ssl.ca.location or kafka.sslCaLocation`);
    }
    set('kafka.sslCaLocation', truststore);
  }
  set('kafka.sslCertificateLocation', located(props['ssl.certificate.location']));
  set('kafka.sslKeyLocation', located(props['ssl.key.location']));
  set('kafka.sslKeyPassword', props['ssl.key.password']);
  const keystore = located(props['ssl.keystore.location']);
  if (keystore !== undefined) {
    const type = (props['ssl.keystore.type'] ?? 'JKS').toUpperCase();
    if (type !== 'PKCS12') fail('ssl.keystore.location', `a ${type} keystore cannot be read by librdkafka; convert it to PKCS12 (keytool -importkeystore -deststoretype PKCS12) or give PEM files`);
    set('kafka.sslKeystoreLocation', keystore);
    set('kafka.sslKeystorePassword', props['ssl.keystore.password']);
  }
  const identification = props['ssl.endpoint.identification.algorithm'];
  if (identification !== undefined) set('kafka.sslEndpointIdentification', identification.trim() === '' ? 'none' : identification.toLowerCase());
  return out;
}

/** The login module and credentials of a `sasl.jaas.config` line (PLAIN or SCRAM). */
export function parseJaas(line: string, fail: (message: string) => never): { module: 'plain' | 'scram'; username: string; password: string } {
  const head = /^\s*([\w.$]+)\s+(required|requisite|sufficient|optional)\b/.exec(line);
  if (head === null) return fail('expected "<LoginModule class> required username=\\"…\\" password=\\"…\\";"');
  const cls = head[1]!;
  const module = cls.endsWith('.PlainLoginModule') ? 'plain' : cls.endsWith('.ScramLoginModule') ? 'scram' : null;
  if (module === null) return fail(`login module ${cls} is not supported; Pulse reads PlainLoginModule and ScramLoginModule credentials`);
  const options = new Map<string, string>();
  const option = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s;"']+))/g;
  for (const m of line.slice(head[0].length).matchAll(option)) {
    options.set(m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? m[4]!));
  }
  const username = options.get('username');
  const password = options.get('password');
  if (username === undefined || password === undefined) return fail('needs both username and password');
  return { module, username, password };
}

/** Checks the connection keys together; `sourceOf` names where a key's value came from. */
export function checkKafkaConnection(config: PulseConfig, sourceOf: (key: ConfigKey) => string): void {
  const k = config.kafka;
  const fail = (key: ConfigKey, message: string): never => {
    throw new ConfigError(key, sourceOf(key), message);
  };
  const sasl = k.securityProtocol.startsWith('SASL_');
  const tls = k.securityProtocol.endsWith('SSL');
  if (sasl) {
    if (k.saslMechanism === '') fail('kafka.saslMechanism', `must be set when kafka.securityProtocol is ${k.securityProtocol} (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)`);
    if (k.saslUsername === '') fail('kafka.saslUsername', `must be set for SASL ${k.saslMechanism}`);
    if (k.saslPassword === '') fail('kafka.saslPassword', `must be set for SASL ${k.saslMechanism}`);
  } else {
    for (const key of ['kafka.saslMechanism', 'kafka.saslUsername', 'kafka.saslPassword'] as const) {
      if (valueOf(config, key) !== '') fail(key, `is set but kafka.securityProtocol is ${k.securityProtocol}, which does not use SASL`);
    }
  }
  const tlsFiles = ['kafka.sslCaLocation', 'kafka.sslCertificateLocation', 'kafka.sslKeyLocation', 'kafka.sslKeystoreLocation'] as const;
  for (const key of tlsFiles) {
    const file = valueOf(config, key);
    if (file === '') continue;
    if (!tls) fail(key, `is set but kafka.securityProtocol is ${k.securityProtocol}, which does not use TLS`);
    try {
      readFileSync(file);
    } catch (err) {
      fail(key, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if ((k.sslCertificateLocation === '') !== (k.sslKeyLocation === '')) {
    fail(k.sslCertificateLocation === '' ? 'kafka.sslCertificateLocation' : 'kafka.sslKeyLocation', 'a client certificate needs both kafka.sslCertificateLocation and kafka.sslKeyLocation');
  }
}

function valueOf(config: PulseConfig, key: ConfigKey): string {
  const name = key.slice('kafka.'.length) as keyof PulseConfig['kafka'];
  return String(config.kafka[name]);
}

/** Keys whose values are secrets: never echoed in errors or dumps. */
export const SECRET_KEYS: ReadonlySet<string> = new Set<ConfigKey>(['kafka.saslPassword', 'kafka.sslKeyPassword', 'kafka.sslKeystorePassword', 'database.url']);
