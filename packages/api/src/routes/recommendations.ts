import type { FastifyPluginAsync } from 'fastify';
import type { RecommendationList, RecommendedItem } from '@pulse/engine';

/** What the routes need of the recommender (RecsService, or a fake in unit tests). */
export interface Recommender {
  recommend(userId: string, k: number, excludeSeen: boolean): RecommendationList;
  similar(productId: string, k: number): RecommendedItem[];
  ready(): boolean;
  stats(): { events: number; items: number; users: number; sessions: number };
}

const id = { type: 'string', minLength: 1, maxLength: 256 } as const;
const k = { type: 'integer', minimum: 1, maximum: 100, default: 10 } as const;

const item = {
  type: 'object',
  properties: { productId: { type: 'string' }, score: { type: 'number' }, because: { type: ['string', 'null'] } },
} as const;

const toItem = (r: RecommendedItem) => ({ productId: r.item, score: r.score, because: r.because ?? null });

export const recommendationRoutes: FastifyPluginAsync<{ recommender: Recommender }> = async (app, { recommender }) => {
  app.get<{ Params: { userId: string }; Querystring: { k: number; excludeSeen: boolean } }>(
    '/api/v1/recommendations/:userId',
    {
      schema: {
        params: { type: 'object', properties: { userId: id }, required: ['userId'] },
        querystring: { type: 'object', properties: { k, excludeSeen: { type: 'boolean', default: true } }, additionalProperties: false },
        response: {
          200: {
            type: 'object',
            properties: { userId: { type: 'string' }, items: { type: 'array', items: item }, fallback: { type: 'boolean' } },
          },
        },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const r = recommender.recommend(userId, request.query.k, request.query.excludeSeen);
      return { userId, items: r.items.map(toItem), fallback: r.fallback };
    },
  );

  app.get<{ Params: { productId: string }; Querystring: { k: number } }>(
    '/api/v1/products/:productId/similar',
    {
      schema: {
        params: { type: 'object', properties: { productId: id }, required: ['productId'] },
        querystring: { type: 'object', properties: { k }, additionalProperties: false },
        response: { 200: { type: 'object', properties: { productId: { type: 'string' }, items: { type: 'array', items: item } } } },
      },
    },
    async (request) => ({ productId: request.params.productId, items: recommender.similar(request.params.productId, request.query.k).map(toItem) }),
  );
};
