import { describe, expect, it } from 'vitest';
import { analyse, InputIndex, OutputLog, WINDOW_MS } from '../peers/counts.js';
import { batchOf } from './batch.js';

const W = 10 * WINDOW_MS;
const click = (userId: string, ts: number) => ({ key: userId, value: { eventId: `e-${userId}-${ts}`, type: 'page_view', userId, ts, properties: {} } });
const count = (userId: string, windowStart: number, n: number, final = false) => ({
  key: userId,
  // Kafka Streams' shape: no oldestEventTs.
  value: { userId, windowStart, windowEnd: windowStart + WINDOW_MS, count: n, final },
});
const none = new Set<string>();

function inputOf(events: [string, number][], skip = none): InputIndex {
  const input = new InputIndex();
  input.add(batchOf(events.map(([u, ts]) => click(u, ts))), skip);
  return input;
}

describe('peers count analysis', () => {
  it('gives each event the latency of the first update that counts it', () => {
    const input = inputOf([
      ['u-1', W + 1_000],
      ['u-1', W + 1_010],
      ['u-2', W + 1_020],
      ['u-1', W + 1_030],
    ]);
    const out = new OutputLog();
    out.add(batchOf([count('u-1', W, 2), count('u-2', W, 1)]), W + 1_050);
    // A repeated record adds nothing.
    out.add(batchOf([count('u-1', W, 2), count('u-1', W, 3)]), W + 1_100);
    expect(out.reflected).toBe(4);
    const a = analyse(out, input, { origin: W, from: W, to: W + 2_000, updates: true, finals: false, skipKeys: none });
    // 50, 40, 30 and 70 ms.
    expect(a.latencyMs.count).toBe(4);
    expect(a.latencyMs.max).toBe(70);
    expect(a.latencyMs.p50).toBe(40);
    expect(a.check).toMatchObject({ keys: 2, events: 4, updateMismatches: 0, unexplained: 0, exact: true });
    expect(a.behindAtEnd).toBe(0);
    expect(a.series).toEqual([{ t: 1, reflected: 4, p99: 70 }]);
  });

  it('fails a last update short of the events, a count past them, and a missing or repeated final', () => {
    const input = inputOf([
      ['u-1', W + 1_000],
      ['u-1', W + 2_000],
      ['u-2', W + 1_000],
      ['u-3', W + 1_000],
    ]);
    const out = new OutputLog();
    out.add(batchOf([count('u-1', W, 1), count('u-2', W, 2), count('u-3', W, 1)]), W + 3_000);
    out.add(batchOf([count('u-1', W, 2, true), count('u-3', W, 1, true), count('u-3', W, 1, true)]), W + 4_000);
    const a = analyse(out, input, { origin: W, from: W, to: W + 5_000, updates: true, finals: true, skipKeys: none });
    expect(a.check.updateMismatches).toBe(2); // u-1 stopped at 1 of 2; u-2's count of 2 is unexplained, so its last update is none
    expect(a.check.unexplained).toBe(1);
    expect(a.check.finalMismatches).toBe(2); // u-2 has none, u-3 has two
    expect(a.check.exact).toBe(false);
    expect(a.check.examples.length).toBeGreaterThan(0);
    // u-1's second event was never reflected, and u-2's only by a count that cannot be right.
    expect(a.behindAtEnd).toBe(2);
  });

  it('leaves the window-closing keys out of both sides and counts events per window', () => {
    const skip = new Set(['close-0']);
    const input = inputOf(
      [
        ['u-1', W - 1],
        ['u-1', W],
        ['close-0', W + 7 * 60_000],
      ],
      skip,
    );
    expect(input.events).toBe(2);
    expect([...input.windows.keys()].sort()).toEqual([W - WINDOW_MS, W]);
    const out = new OutputLog();
    out.add(batchOf([count('u-1', W - WINDOW_MS, 1, true), count('u-1', W, 1, true), count('close-0', W + WINDOW_MS, 1)]), W + 8 * 60_000);
    const a = analyse(out, input, { origin: W, from: W, to: W + 60_000, updates: false, finals: true, skipKeys: skip });
    expect(a.check).toMatchObject({ keys: 2, finalMismatches: 0, unexplained: 0, exact: true });
    expect(a.latencyMs.count).toBe(0);
  });
});
