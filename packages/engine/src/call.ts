import { toEngineError } from './errors.js';

/** Runs one native call, turning what it throws into an EngineError. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    throw toEngineError(err);
  }
}

/** Runs one native call that returns a promise, turning what it throws or rejects with into an EngineError. */
export async function callAsync<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw toEngineError(err);
  }
}
