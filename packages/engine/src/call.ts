import { toEngineError } from './errors.js';

/** Runs one native call, turning what it throws into an EngineError. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw toEngineError(err);
  }
}
