export { Aggregator, type AggregatorCounters, type AggregatorProgress } from './aggregator.js';
