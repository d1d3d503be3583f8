export { Aggregator, readinessOf, type AggregatorCounters, type AggregatorProgress, type AggregatorReadiness, type ReadinessFacts } from './aggregator.js';
export { aggregatorMetrics } from './metrics.js';
