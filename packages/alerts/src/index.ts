export * from './model.js';
export * from './rules.js';
export * from './evaluator.js';
export * from './silences.js';
export * from './notifier.js';
export * from './service.js';
export * from './view.js';
