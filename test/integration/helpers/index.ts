export * from './kafka.js';
export * from './consume.js';
