import { loadConfig } from '@pulse/config';
import type { Recommender } from '../src/index.js';

/** The HTTP limits at their defaults. */
export const http = loadConfig({ env: {} }).http;

/** A recommender with nothing learnt, for tests of the other routes. */
export const emptyRecommender: Recommender = {
  recommend: () => ({ items: [], fallback: true }),
  similar: () => [],
  ready: () => true,
  stats: () => ({ events: 0, items: 0, users: 0, sessions: 0 }),
};
