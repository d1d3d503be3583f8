import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PulseConfig } from '@pulse/config';
import { producerConfig, TOPICS, TrackedProducer } from '@pulse/kafka';

/**
 * A bot user for demonstrations of alerting (docs/alerting.md, "Demo"): one userId sending page views
 * at a fixed rate, far above what the shop model's users do, from `afterSec` into the run for
 * `forSec` seconds. Events have the §3 shape and are paced by intended send time, as the generator's.
 */
export interface BotOptions {
  config: PulseConfig;
  userId: string;
  /** Events per second. */
  rate: number;
  afterSec: number;
  forSec: number;
  signal: AbortSignal;
}

export interface BotStats {
  sent: number;
  delivered: number;
  failed: number;
}

export async function runBot(o: BotOptions): Promise<BotStats> {
  const producer = await TrackedProducer.connect(producerConfig(o.config, 'bot'));
  const start = Date.now() + o.afterSec * 1000;
  const total = Math.round(o.rate * o.forSec);
  let sent = 0;
  try {
    while (sent < total && !o.signal.aborted) {
      const due = Math.min(total, Math.floor(((Date.now() - start) * o.rate) / 1000));
      for (; sent < due; sent++) {
        const ts = start + Math.floor((sent * 1000) / o.rate);
        const event = { eventId: randomUUID(), type: 'page_view', userId: o.userId, sessionId: `${o.userId}-s`, source: 'web', ts, properties: { bot: true } };
        while (!producer.produce(TOPICS.userClicks, null, Buffer.from(JSON.stringify(event)), o.userId)) await producer.drained();
      }
      await sleep(Math.max(5, Math.min(100, start - Date.now())), undefined, { signal: o.signal }).catch(() => {});
    }
  } finally {
    await producer.close();
  }
  const s = producer.stats();
  return { sent, delivered: s.delivered, failed: s.failed };
}
