import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from './errors.js';
import { checkKafkaConnection, readClientProperties, SECRET_KEYS } from './kafka.js';
import { schema, type ConfigKey, type FieldSpec, type PulseConfig } from './schema.js';

export { ConfigError };

export function envName(key: string): string {
  return 'PULSE_' + key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function coerce(key: string, spec: FieldSpec, raw: unknown, source: string): string | number | string[] {
  const type = spec.type;
  // A secret's value is never echoed: errors show its type only.
  const shown = (v: unknown): string => (SECRET_KEYS.has(key) ? `a ${Array.isArray(v) ? 'list' : typeof v} (hidden)` : JSON.stringify(v));
  switch (type.kind) {
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n)) throw new ConfigError(key, source, `expected an integer, got ${shown(raw)}`);
      if (n < type.min) throw new ConfigError(key, source, `must be at least ${type.min}, got ${n}`);
      if (type.max !== undefined && n > type.max) throw new ConfigError(key, source, `must be at most ${type.max}, got ${n}`);
      return n;
    }
    case 'number': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw new ConfigError(key, source, `expected a number, got ${shown(raw)}`);
      if (n <= type.above) throw new ConfigError(key, source, `must be above ${type.above}, got ${n}`);
      if (n > type.max) throw new ConfigError(key, source, `must be at most ${type.max}, got ${n}`);
      return n;
    }
    case 'string': {
      const s = typeof raw === 'number' ? String(raw) : raw;
      if (typeof s !== 'string' || (s.length === 0 && !type.allowEmpty)) throw new ConfigError(key, source, `expected a non-empty string, got ${shown(raw)}`);
      if (type.oneOf && !type.oneOf.includes(s)) throw new ConfigError(key, source, `must be one of ${type.oneOf.join(', ')}, got ${shown(s)}`);
      return s;
    }
    case 'list': {
      if (Array.isArray(raw) && raw.every((x) => typeof x === 'string')) return raw as string[];
      if (typeof raw === 'string') return raw.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
      throw new ConfigError(key, source, `expected a comma-separated list, got ${shown(raw)}`);
    }
  }
}

function flatten(obj: unknown, prefix: string, out: Map<string, unknown>): void {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, obj);
  }
}

export interface LoadOptions {
  /** Environment to read; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Configuration file; defaults to `PULSE_CONFIG` or `./pulse.config.json` when it exists. */
  file?: string;
  /** Values that win over everything else (command-line flags). */
  overrides?: Partial<Record<ConfigKey, string | number>>;
}

/**
 * Reads defaults, then the configuration file, then `PULSE_*` variables, then overrides, and validates
 * every key once. Unknown keys in the file or unknown `PULSE_*` variables are errors, so a typo never
 * silently falls back to a default.
 */
export function loadConfig(options: LoadOptions = {}): PulseConfig {
  const env = options.env ?? process.env;
  const values = new Map<string, unknown>();
  const sources = new Map<string, string>();
  const known = new Set<string>(Object.keys(schema));

  const file = options.file ?? env.PULSE_CONFIG ?? (existsSync('pulse.config.json') ? 'pulse.config.json' : undefined);
  if (file !== undefined) {
    const path = resolve(file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ConfigError('(file)', path, `cannot read configuration file: ${(err as Error).message}`);
    }
    const flat = new Map<string, unknown>();
    flatten(parsed, '', flat);
    for (const [k, v] of flat) {
      if (!known.has(k)) throw new ConfigError(k, path, `unknown key; known keys: ${[...known].join(', ')}`);
      values.set(k, v);
      sources.set(k, path);
    }
  }

  const envKeys = new Map<string, ConfigKey>();
  for (const key of Object.keys(schema) as ConfigKey[]) {
    envKeys.set(envName(key), key);
    for (const alias of (schema[key] as FieldSpec).aliases ?? []) envKeys.set(alias, key);
  }
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue;
    const key = envKeys.get(name);
    if (key === undefined) {
      if (name.startsWith('PULSE_') && !NON_CONFIG_ENV.has(name)) {
        throw new ConfigError(name, 'environment', 'unknown PULSE_ variable; the known ones are in docs/configuration.md and under `pulse <command> --help`');
      }
      continue;
    }
    values.set(key, raw);
    sources.set(key, `environment ${name}`);
  }
  for (const [key, raw] of Object.entries(options.overrides ?? {})) {
    if (raw === undefined) continue;
    values.set(key, raw);
    sources.set(key, 'command line');
  }

  // A managed service's client.properties fills in the connection keys not set otherwise.
  const clientProperties = values.get('kafka.clientProperties');
  if (typeof clientProperties === 'string' && clientProperties !== '') {
    for (const [key, found] of readClientProperties(clientProperties)) {
      if (values.has(key)) continue;
      values.set(key, found.value);
      sources.set(key, found.source);
    }
  }

  const config: Record<string, unknown> = {};
  for (const key of Object.keys(schema) as ConfigKey[]) {
    const spec = schema[key] as FieldSpec;
    const raw = values.has(key) ? values.get(key) : spec.default;
    const value = coerce(key, spec, raw, sources.get(key) ?? 'default');
    const path = key.split('.');
    let node = config;
    for (const part of path.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
    node[path[path.length - 1]!] = value;
  }
  checkKafkaConnection(config as unknown as PulseConfig, (key) => sources.get(key) ?? 'default');
  return config as unknown as PulseConfig;
}

/** Variables that belong to Pulse but are not configuration keys of this schema (read by their own owners). */
const NON_CONFIG_ENV = new Set(['PULSE_CONFIG', 'PULSE_TEST_KAFKA_PORT']);

/** One line per key: name, environment variable, default and meaning, for `--help`. */
export function describeConfig(): string {
  return (Object.keys(schema) as ConfigKey[])
    .map((key) => {
      const spec = schema[key] as FieldSpec;
      return `  ${key.padEnd(28)} ${envName(key).padEnd(36)} default ${JSON.stringify(spec.default)}\n      ${spec.doc}`;
    })
    .join('\n');
}
