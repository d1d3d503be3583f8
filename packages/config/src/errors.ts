/** A configuration value that does not validate; the message names the key and where it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly key: string,
    readonly source: string,
    message: string,
  ) {
    super(`configuration ${key} (from ${source}): ${message}`);
  }
}
