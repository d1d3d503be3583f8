export { loadConfig, ConfigError, describeConfig } from './load.js';
export type { PulseConfig } from './schema.js';
export { SecretSet } from './secrets.js';
export { SECRET_KEYS, parseJaas } from './kafka.js';
