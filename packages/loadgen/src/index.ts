export {
  createShopModel,
  resolveShopOptions,
  ShopModel,
  CLICK_TYPES,
  DEFAULT_FUNNEL,
  DEFAULT_MIX,
  MODEL_DEFAULTS,
  type ClickType,
  type EventType,
  type Funnel,
  type GeneratedEvent,
  type PackedEvents,
  type Seed,
  type Mix,
  type ResolvedShopOptions,
  type ShopModelOptions,
  type TopicNames,
} from './model.js';
export { runGenerator, dueEvents, intendedOffsetMs, plannedEvents, type EventSink, type GeneratorOptions, type GeneratorProgress, type GeneratorStats } from './runner.js';
export { GeneratorProducer } from './producer.js';
export { parseMix, parseFunnel, parseWeights, MIX_NAMES, FUNNEL_NAMES } from './options.js';
export { runBot, type BotOptions, type BotStats } from './bot.js';
