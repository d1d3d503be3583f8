export { buildApi, type ApiOptions } from './app.js';
export type { Recommender } from './routes/recommendations.js';
