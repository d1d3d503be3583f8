import { readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcessUsage {
  /** Average CPU over the sampled span, in percent of one core. */
  cpuPercent: number;
  maxRssMiB: number;
}

function sample(pid: number): { cpuSec: number; rssMiB: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSec = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuSec, rssMiB: rss ? Number(rss[1]) / 1024 : 0 };
  } catch {
    return null;
  }
}

/** Samples CPU time and RSS of named processes from /proc, between `start()` and `stop()`. */
export class ProcessSampler {
  private readonly first = new Map<string, { cpuSec: number; at: number }>();
  private readonly latest = new Map<string, { cpuSec: number; at: number }>();
  private readonly maxRss = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Record<string, number>) {}

  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  private tick(): void {
    const at = Date.now();
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = sample(pid);
      if (s === null) continue;
      if (!this.first.has(name)) this.first.set(name, { cpuSec: s.cpuSec, at });
      this.latest.set(name, { cpuSec: s.cpuSec, at });
      this.maxRss.set(name, Math.max(this.maxRss.get(name) ?? 0, s.rssMiB));
    }
  }

  stop(): Record<string, ProcessUsage> {
    this.tick();
    clearInterval(this.timer);
    const out: Record<string, ProcessUsage> = {};
    for (const [name, first] of this.first) {
      const last = this.latest.get(name)!;
      const secs = (last.at - first.at) / 1000;
      out[name] = {
        cpuPercent: secs > 0 ? Math.round(((last.cpuSec - first.cpuSec) / secs) * 1000) / 10 : 0,
        maxRssMiB: Math.round(this.maxRss.get(name) ?? 0),
      };
    }
    return out;
  }
}
