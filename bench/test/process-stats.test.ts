import { spawn } from 'node:child_process';
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
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
    expect(usage.self!.mainThreadWaitPercent).toBeGreaterThanOrEqual(0);
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

  it('reports how long a main thread waited for a core the machine did not have', async () => {
    // One busy process per core besides this one: the cores are shared by one more than they can run.
    const spinners = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;);'], { stdio: 'ignore' }));
    const sampler = new ProcessSampler({ self: process.pid });
    try {
      sampler.start();
      for (let i = 0; i < 22; i++) {
        spin(100);
        await new Promise((r) => setImmediate(r));
      }
    } finally {
      for (const s of spinners) s.kill('SIGKILL');
    }
    const { self } = sampler.stop();
    // Fair sharing gives each of n + 1 busy threads n / (n + 1) of a core: this one waits about a third
    // of the time on two cores, half on one.
    expect(self!.mainThreadWaitPercent).toBeGreaterThan(10);
  });

  it('counts what the kernel writes to disk each second', async () => {
    // Under the working directory, which is on a disk; the system's temporary directory may be in memory.
    const dir = mkdtempSync(join(process.cwd(), '.disk-test-'));
    const sampler = new ProcessSampler({});
    sampler.start();
    try {
      const fd = openSync(join(dir, 'data'), 'w');
      const block = Buffer.alloc(2 ** 20, 7);
      for (let i = 0; i < 32; i++) writeSync(fd, block);
      fsyncSync(fd);
      closeSync(fd);
      await new Promise((r) => setTimeout(r, 2_100));
    } finally {
      sampler.stop();
      rmSync(dir, { recursive: true, force: true });
    }
    const seconds = sampler.series();
    const writtenMB = seconds.reduce((sum, s) => sum + s.diskWriteMBps, 0);
    // Each second is rounded to whole MB.
    expect(writtenMB).toBeGreaterThanOrEqual(30);
    for (const s of seconds) expect(s.unwrittenMiB).toBeGreaterThanOrEqual(0);
  });
});
