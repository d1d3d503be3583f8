export * from './clients.js';
export * from './producer.js';
export * from './topics.js';
export * from './admin.js';
export * from './stats.js';
export * from './read.js';
export * from './refusal.js';
export * from './group-offsets.js';
