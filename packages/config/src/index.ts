export { loadConfig, ConfigError, describeConfig } from './load.js';
export type { PulseConfig } from './schema.js';
export { SecretSet } from './secrets.js';
