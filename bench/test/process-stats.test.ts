import { describe, expect, it } from 'vitest';
import { ProcessSampler } from '../lib/process-stats.js';

function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

describe('ProcessSampler', () => {
  it('reports a busy process, the machine around it and each second', async () => {
    const origin = Date.now() - 5_000;
    const sampler = new ProcessSampler({ self: process.pid, gone: 2 ** 22 + 12_345 });
    sampler.start(origin);
    // Busy in slices, so that the sampler's timer gets its turns.
    for (let i = 0; i < 22; i++) {
      spin(100);
      await new Promise((r) => setImmediate(r));
    }
    const usage = sampler.stop();
    const machine = sampler.machine();
    const seconds = sampler.series();

    expect(Object.keys(usage)).toEqual(['self']);
    expect(usage.self!.cpuPercent).toBeGreaterThan(40);
    expect(usage.self!.maxRssMiB).toBeGreaterThan(10);
    // The machine ran this process and maybe more; the hypervisor's share is never negative.
    expect(machine.busyPercent).toBeGreaterThan(usage.self!.cpuPercent * 0.8);
    expect(machine.stealPercent).toBeGreaterThanOrEqual(0);
    expect(seconds.length).toBeGreaterThanOrEqual(2);
    for (const s of seconds) {
      expect(s.t).toBeGreaterThan(5);
      expect(s.processes.self).toBeGreaterThan(0);
      expect(s.processes.gone).toBeUndefined();
    }
  });
});
