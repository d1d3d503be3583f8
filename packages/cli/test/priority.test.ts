import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { describe, expect, it } from 'vitest';
import { setNice } from '../src/priority.js';

const autogroups = (() => {
  try {
    return readFileSync('/proc/sys/kernel/sched_autogroup_enabled', 'utf8').trim() === '1';
  } catch {
    return false;
  }
})();

describe('CPU priority', () => {
  it('sets the nice value of every thread of the process, and its session only when the process leads it', () => {
    const before = getPriority();
    // A test worker is a child in its parent's session: with autogroups its nice reaches that session only.
    const group = autogroups ? readFileSync('/proc/self/autogroup', 'utf8') : null;
    // Raising the nice value takes no privileges; this test process keeps it.
    expect(setNice(before + 1)).toBe(autogroups ? 'session' : 'machine');
    if (group !== null) expect(readFileSync('/proc/self/autogroup', 'utf8')).toBe(group);
    const nices = readdirSync('/proc/self/task').map((tid) => {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    });
    expect(nices.length).toBeGreaterThan(1);
    expect(new Set(nices)).toEqual(new Set([before + 1]));
  });
});
