import { describe, expect, it } from 'vitest';
import { RecsModel, packValues } from '../src/index.js';

const T0 = 1_764_100_000_000;

/** `n` product views of a small shop, the same for the same `n`: 2 000 users, 300 products. */
function views(n: number): Buffer[] {
  const out: Buffer[] = [];
  let x = 12345;
  const next = (m: number) => ((x = (x * 1_103_515_245 + 12_345) % 2 ** 31), x % m);
  for (let i = 0; i < n; i++) {
    const user = `u${next(2000)}`;
    out.push(Buffer.from(JSON.stringify({ eventId: `e${i}`, type: 'product_view', userId: user, sessionId: `s-${user}`, productId: `p${next(300)}`, ts: T0 + i * 10 })));
  }
  return out;
}

const frameOf = async (model: RecsModel) => (await model.snapshot()).frame;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('RecsModel through the addon', () => {
  it('learns batches in the order they are awaited: in pieces or whole, the same model', async () => {
    const events = views(3000);
    const whole = new RecsModel();
    expect(await whole.ingest(packValues(events))).toEqual({ learned: 3000, skipped: 0, invalid: 0 });
    const pieces = new RecsModel();
    for (let at = 0; at < events.length; at += 700) await pieces.ingest(packValues(events.slice(at, at + 700)));
    expect((await frameOf(pieces)).equals(await frameOf(whole))).toBe(true);
    expect(pieces.recommend('u7', 5, false)).toEqual(whole.recommend('u7', 5, false));
  });

  it('answers queries while a batch is learnt, each from the model after a prefix of the batch', async () => {
    const events = views(60_000);
    const model = new RecsModel();
    let done = false;
    const ingest = model.ingest(packValues(events)).then(() => (done = true));
    const seen: number[] = [];
    while (!done) {
      const learnt = model.stats().events;
      seen.push(learnt);
      if (learnt > 0) expect(model.recommend('u1', 10, false).items).toHaveLength(10);
      await turn();
    }
    await ingest;
    expect(seen.some((n) => n > 0 && n < events.length)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(model.stats().events).toBe(events.length);
  });

  it('takes a snapshot during a batch as the model after a prefix of it: restored and fed the rest, it is the model fed straight', async () => {
    const events = views(60_000);
    const straight = new RecsModel();
    await straight.ingest(packValues(events));

    const model = new RecsModel();
    const ingest = model.ingest(packValues(events));
    while (model.stats().events === 0) await turn();
    const { frame } = await model.snapshot();
    await ingest;
    const restored = RecsModel.restore(await frame);
    const cut = restored.stats().events;
    expect(cut).toBeGreaterThan(0);
    expect(cut).toBeLessThan(events.length);
    await restored.ingest(packValues(events.slice(cut)));
    expect((await frameOf(restored)).equals(await frameOf(straight))).toBe(true);
  });
});
