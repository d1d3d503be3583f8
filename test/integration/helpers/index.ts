export * from './kafka.js';
export * from './consume.js';
export * from './rng.js';
