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

/** The pids of a process's children (from its main thread's /proc entry), none if it is gone. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The whole machine's CPU time by kind (the first line of /proc/stat), in seconds summed over its cores. */
function machineSample(): { busySec: number; stealSec: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user already).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busySec: (user + nice + system + irq + softirq) / CLOCK_TICKS, stealSec: steal / CLOCK_TICKS };
}

/** CPU of the whole machine over a span, in percent of one core (up to 100 × cores). */
export interface MachineUsage {
  /** Time the cores ran anything: every process of the machine, and the kernel's interrupt work. */
  busyPercent: number;
  /** Time the hypervisor ran something else while this machine had work for the core. */
  stealPercent: number;
}

/** One second of the sampled span: each process's CPU and the machine's, in percent of one core. */
export interface CpuSecond extends MachineUsage {
  /** Seconds since the origin given to `start()`. */
  t: number;
  processes: Record<string, number>;
}

const percentOf = (sec: number, spanSec: number) => (spanSec > 0 ? Math.round((sec / spanSec) * 1000) / 10 : 0);

/**
 * Samples CPU time and RSS of named processes, and the machine's CPU (busy and stolen), from /proc
 * every second between `start()` and `stop()`.
 */
export class ProcessSampler {
  private readonly first = new Map<string, { cpuSec: number; at: number }>();
  private readonly latest = new Map<string, { cpuSec: number; at: number }>();
  private readonly maxRss = new Map<string, number>();
  private machineFirst: { busySec: number; stealSec: number; at: number } | null = null;
  private machineLatest: { busySec: number; stealSec: number; at: number } | null = null;
  private readonly seconds: CpuSecond[] = [];
  private startedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Record<string, number>) {}

  /** `origin`: the time the series' `t` counts from (default now). */
  start(origin = Date.now()): void {
    this.startedAt = origin;
    this.tick();
    this.timer = setInterval(() => this.tick(), 1000);
  }

  private tick(): void {
    const at = Date.now();
    const processes: Record<string, number> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const s = sample(pid);
      if (s === null) continue;
      if (!this.first.has(name)) this.first.set(name, { cpuSec: s.cpuSec, at });
      const before = this.latest.get(name);
      if (before !== undefined) processes[name] = percentOf(s.cpuSec - before.cpuSec, (at - before.at) / 1000);
      this.latest.set(name, { cpuSec: s.cpuSec, at });
      this.maxRss.set(name, Math.max(this.maxRss.get(name) ?? 0, s.rssMiB));
    }
    const machine = { ...machineSample(), at };
    const before = this.machineLatest;
    this.machineFirst ??= machine;
    this.machineLatest = machine;
    if (before !== null) {
      const spanSec = (at - before.at) / 1000;
      this.seconds.push({
        t: Math.round((at - this.startedAt) / 100) / 10,
        processes,
        busyPercent: percentOf(machine.busySec - before.busySec, spanSec),
        stealPercent: percentOf(machine.stealSec - before.stealSec, spanSec),
      });
    }
  }

  /** The machine's CPU over the sampled span. */
  machine(): MachineUsage {
    const [first, last] = [this.machineFirst, this.machineLatest];
    if (first === null || last === null) return { busyPercent: 0, stealPercent: 0 };
    const spanSec = (last.at - first.at) / 1000;
    return { busyPercent: percentOf(last.busySec - first.busySec, spanSec), stealPercent: percentOf(last.stealSec - first.stealSec, spanSec) };
  }

  /** Every sampled second so far. */
  series(): CpuSecond[] {
    return this.seconds;
  }

  stop(): Record<string, ProcessUsage> {
    this.tick();
    clearInterval(this.timer);
    const out: Record<string, ProcessUsage> = {};
    for (const [name, first] of this.first) {
      const last = this.latest.get(name)!;
      const secs = (last.at - first.at) / 1000;
      out[name] = {
        cpuPercent: percentOf(last.cpuSec - first.cpuSec, secs),
        maxRssMiB: Math.round(this.maxRss.get(name) ?? 0),
      };
    }
    return out;
  }
}
