/** Stable codes of errors that cross from the Rust engine (see crates/pulse-napi). */
export const ENGINE_ERROR_CODES = ['ENGINE_BAD_OPTIONS', 'ENGINE_BAD_FRAME', 'ENGINE_BAD_SNAPSHOT', 'ENGINE_SNAPSHOT_MISMATCH', 'ENGINE_BAD_INPUT', 'ENGINE_PANIC'] as const;
export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** Maps an error thrown by the addon to an EngineError; a panic caught at the boundary becomes ENGINE_PANIC. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (ENGINE_ERROR_CODES.includes(code as EngineErrorCode)) return new EngineError(code as EngineErrorCode, message);
  // Work on the thread pool rejects with a plain status; its stable code leads the message.
  const leading = /^(ENGINE_[A-Z_]+): (.*)$/s.exec(message);
  if (leading !== null && ENGINE_ERROR_CODES.includes(leading[1] as EngineErrorCode)) return new EngineError(leading[1] as EngineErrorCode, leading[2]!);
  return new EngineError('ENGINE_PANIC', message);
}
