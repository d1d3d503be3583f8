export { Aggregator, type AggregatorCounters, type AggregatorProgress } from './aggregator.js';
export { deadLetterHeaders } from './dead-letters.js';
