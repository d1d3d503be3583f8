import { loadConfig } from '@pulse/config';
import { TOPIC_SPECS, TOPICS, ensureTopics } from '@pulse/kafka';
import { DEFAULT_FUNNEL, DEFAULT_MIX, MODEL_DEFAULTS, parseFunnel, parseMix, resolveShopOptions, runBot, runGenerator, type GeneratorProgress, type ShopModelOptions } from '@pulse/loadgen';
import { defineCommand, numberFlag, UsageError } from '../command.js';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  const n = numberFlag(name, raw, fallback, min);
  if (!Number.isInteger(n) || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return n;
}

function progressLine(p: GeneratorProgress): string {
  return (
    `generate ${(p.elapsedMs / 1000).toFixed(0).padStart(5)}s  ${fmt(p.rate).padStart(9)} ev/s  total ${fmt(p.events).padStart(12)}` +
    `  behind ${fmt(p.behindMs).padStart(5)} ms  in-flight ${fmt(p.inFlight).padStart(7)}${p.failed > 0 ? `  failed ${fmt(p.failed)}` : ''}`
  );
}

export const generate = defineCommand({
  name: 'generate',
  summary: 'produce realistic shop and IoT traffic to the input topics at a fixed rate',
  help: `Usage: pulse generate [--rate N] [--duration S] [--seed X] [options]

Produces page views, searches, carts, checkouts and purchases of ${fmt(MODEL_DEFAULTS.users)} simulated users
over a Zipf-popular catalogue, plus IoT sensor readings, as the JSON events of the spec, to
user-clicks and user-purchases (key userId) and sensor-data (key sensorId).

Pacing: event i is due at start + i/rate and carries that intended time as its \`ts\`. When the
generator falls behind it sends the backlog at once, keeping the intended \`ts\`, so downstream latency
shows the delay; progress reports how far behind it is.

Options:
  --rate N               events per second across all topics (default 1000)
  --duration S           seconds to run; 0 runs until Ctrl-C (default 60)
  --seed X               same seed and options, same events (default: random, printed at the end)
  --start-ts MS          intended time of the first event, epoch ms (default: now); with --seed
                         the output is then byte-for-byte reproducible
  --mix LIST             topic weights (default clicks=${DEFAULT_MIX.clicks},purchases=${DEFAULT_MIX.purchases},sensors=${DEFAULT_MIX.sensors}).
                         sensors is exact; purchases come out of the funnel, so clicks and purchases
                         together only set the share of user events (~1% of which are purchases)
  --funnel LIST          view-cart=${DEFAULT_FUNNEL.viewToCart},cart-checkout=${DEFAULT_FUNNEL.cartToCheckout},checkout-purchase=${DEFAULT_FUNNEL.checkoutToPurchase} (defaults):
                         share of product views put in the cart, of carts that reach checkout, and of
                         checkouts that complete (so ${Math.round(DEFAULT_FUNNEL.cartToCheckout * DEFAULT_FUNNEL.checkoutToPurchase * 100)}% of carts are bought)
  --users N              user population (default ${MODEL_DEFAULTS.users})
  --products N           catalogue size (default ${MODEL_DEFAULTS.products})
  --zipf S               Zipf exponent of product popularity (default ${MODEL_DEFAULTS.zipfExponent})
  --sessions N           sessions open at once (default ${MODEL_DEFAULTS.sessions})
  --sensors N            number of IoT sensors (default ${MODEL_DEFAULTS.sensors})
  --bot-rate N           also inject a bot: one user sending N page views per second (default 0: none),
                         which the built-in UserActivitySpike alert catches once it reaches
                         alerts.userActivityThreshold events in a 5-minute window (docs/alerting.md)
  --bot-user ID          the bot's userId (default bot-1)
  --bot-after S          seconds into the run before the bot starts (default 0)
  --bot-for S            seconds the bot keeps going (default 60)
  --bootstrap-servers B  Kafka to produce to (default: configuration kafka.bootstrapServers)
  --json                 print the final statistics as JSON on stdout
  --quiet                no progress lines on stderr

Producer settings (batch size, linger, compression, acks) come from configuration (producer.*).
Ctrl-C stops producing, waits up to 30 s for Kafka to acknowledge what was sent and prints the summary;
a second Ctrl-C exits at once. Exits 1 when an event failed or was not acknowledged.`,
  options: {
    rate: { type: 'string' },
    duration: { type: 'string' },
    seed: { type: 'string' },
    'start-ts': { type: 'string' },
    mix: { type: 'string' },
    funnel: { type: 'string' },
    users: { type: 'string' },
    products: { type: 'string' },
    zipf: { type: 'string' },
    sessions: { type: 'string' },
    sensors: { type: 'string' },
    'bot-rate': { type: 'string' },
    'bot-user': { type: 'string' },
    'bot-after': { type: 'string' },
    'bot-for': { type: 'string' },
    'bootstrap-servers': { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
  },
  async run(v) {
    const rate = numberFlag('rate', v.rate, 1000, 0);
    if (rate <= 0 || rate > 10_000_000) throw new UsageError(`--rate must be more than 0 and at most 10000000 events/s, got ${JSON.stringify(v.rate)}`);
    const duration = numberFlag('duration', v.duration, 60, 0);
    const startTs = v['start-ts'] === undefined ? undefined : intFlag('start-ts', v['start-ts'], 0, 0, Number.MAX_SAFE_INTEGER);
    if (v.seed !== undefined && v.seed.length === 0) throw new UsageError('--seed must not be empty');
    const botRate = numberFlag('bot-rate', v['bot-rate'], 0, 0);
    const botUser = v['bot-user'] ?? 'bot-1';
    if (botUser.length === 0) throw new UsageError('--bot-user must not be empty');
    const botAfter = numberFlag('bot-after', v['bot-after'], 0, 0);
    const botFor = numberFlag('bot-for', v['bot-for'], 60, 0);

    const model: ShopModelOptions = {
      users: intFlag('users', v.users, MODEL_DEFAULTS.users, 1, 100_000_000),
      products: intFlag('products', v.products, MODEL_DEFAULTS.products, 1, 10_000_000),
      zipfExponent: numberFlag('zipf', v.zipf, MODEL_DEFAULTS.zipfExponent, 0),
      sessions: intFlag('sessions', v.sessions, MODEL_DEFAULTS.sessions, 1, 10_000_000),
      sensors: intFlag('sensors', v.sensors, MODEL_DEFAULTS.sensors, 1, 10_000_000),
    };
    if (model.zipfExponent! > 5) throw new UsageError(`--zipf must be between 0 and 5, got ${JSON.stringify(v.zipf)}`);
    try {
      if (v.mix !== undefined) model.mix = parseMix(v.mix);
      if (v.funnel !== undefined) model.funnel = parseFunnel(v.funnel);
      resolveShopOptions(model);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }

    const config = loadConfig(v['bootstrap-servers'] === undefined ? {} : { overrides: { 'kafka.bootstrapServers': v['bootstrap-servers'] } });
    // The input topics must exist with their partition counts before anything is produced: a broker
    // that auto-creates topics would otherwise create them with its default of one partition.
    const inputs: string[] = [TOPICS.userClicks, TOPICS.userPurchases, TOPICS.sensorData];
    try {
      await ensureTopics(config, TOPIC_SPECS.filter((t) => inputs.includes(t.name)));
    } catch (err) {
      // A mismatch or an unreachable broker: the message says what to do, a stack trace would not.
      console.error(`pulse generate: ${(err as Error).message}`);
      return 1;
    }

    const controller = new AbortController();
    const onSigint = (): void => {
      if (controller.signal.aborted) process.exit(130);
      process.stderr.write('generate: stopping; flushing what was sent (Ctrl-C again to exit at once)\n');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    const bot =
      botRate > 0
        ? runBot({ config, userId: botUser, rate: botRate, afterSec: botAfter, forSec: botFor, signal: controller.signal }).then((b) => {
            if (!v.quiet) process.stderr.write(`generate: bot ${botUser} sent ${fmt(b.sent)} page views (${fmt(b.failed)} failed)\n`);
            return b;
          })
        : Promise.resolve(null);
    try {
      const stats = await runGenerator({
        ...model,
        config,
        rate,
        durationSec: duration === 0 ? Infinity : duration,
        ...(v.seed === undefined ? {} : { seed: v.seed }),
        ...(startTs === undefined ? {} : { startTs }),
        signal: controller.signal,
        ...(v.quiet ? {} : { onProgress: (p: GeneratorProgress) => process.stderr.write(progressLine(p) + '\n') }),
      });
      if (v.json) {
        console.log(JSON.stringify(stats));
      } else {
        const topics = Object.entries(stats.perTopic)
          .map(([t, n]) => `${t} ${fmt(n)}`)
          .join(', ');
        console.log(
          `generated ${fmt(stats.events)} events in ${(stats.sendMs / 1000).toFixed(1)} s (${fmt(stats.achievedRate)} ev/s, target ${fmt(stats.targetRate)}): ${topics}; ` +
            `delivered ${fmt(stats.delivered)}, failed ${fmt(stats.failed)}; max behind ${fmt(stats.maxBehindMs)} ms; seed ${stats.seed}, start-ts ${stats.startTs}` +
            (stats.aborted ? ' (stopped early)' : ''),
        );
      }
      const botStats = await bot;
      if (botStats !== null && botStats.failed > 0) return 1;
      const unacknowledged = stats.produced - stats.delivered - stats.failed;
      if (stats.firstError !== undefined) {
        console.error(`generate: ${fmt(stats.failed)} events failed, ${fmt(unacknowledged)} not acknowledged; first error: ${stats.firstError}`);
      }
      return stats.failed > 0 || unacknowledged > 0 ? 1 : 0;
    } finally {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
    }
  },
});
