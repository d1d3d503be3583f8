import { existsSync, readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcessUsage {
  /** Average CPU over the sampled span, in percent of one core. */
  cpuPercent: number;
  maxRssMiB: number;
  /**
   * How long the main thread (a Node process's event loop) was ready to run but waited for a core, in
   * percent of the span (/proc/<pid>/schedstat): what the rest of the machine costs this process's latency.
   */
  mainThreadWaitPercent: number;
}

/** The fields of /proc/<pid>/stat after the command name (which may contain spaces): [0] is the state, [16] the nice value. */
export function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function sample(pid: number): { cpuSec: number; rssMiB: number; waitSec: number } | null {
  try {
    const fields = statFields(pid);
    const cpuSec = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
    const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    // Time on a core, time waiting for one (ns), time slices.
    const waitNs = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
    return { cpuSec, rssMiB: rss ? Number(rss[1]) / 1024 : 0, waitSec: waitNs / 1e9 };
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

/** Disks backed by a device (not loop, RAM or device-mapper disks, which sit on top of one), read once. */
const physicalDisks = (() => {
  try {
    return new Set(readdirSync('/sys/block').filter((d) => existsSync(`/sys/block/${d}/device`)));
  } catch {
    return new Set<string>();
  }
})();

/** Bytes written to the physical disks so far (/proc/diskstats counts 512-byte sectors). */
function diskWrittenBytes(): number {
  let sectors = 0;
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (physicalDisks.has(f[2]!)) sectors += Number(f[9]);
  }
  return sectors * 512;
}

const DIRTY = /^Dirty:\s+(\d+) kB/m;
const WRITEBACK = /^Writeback:\s+(\d+) kB/m;

/** Page-cache data not yet on disk: dirty, or being written (/proc/meminfo). */
function unwrittenMiB(): number {
  const meminfo = readFileSync('/proc/meminfo', 'utf8');
  return (Number(DIRTY.exec(meminfo)?.[1] ?? 0) + Number(WRITEBACK.exec(meminfo)?.[1] ?? 0)) / 1024;
}

/** The whole machine's CPU time by kind (the first line of /proc/stat), in seconds summed over its cores, and its disk writes. */
function machineSample(): { busySec: number; stealSec: number; diskWrittenBytes: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice (guest time is inside user already).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busySec: (user + nice + system + irq + softirq) / CLOCK_TICKS, stealSec: steal / CLOCK_TICKS, diskWrittenBytes: diskWrittenBytes() };
}

/** CPU of the whole machine over a span, in percent of one core (up to 100 × cores). */
export interface MachineUsage {
  /** Time the cores ran anything: every process of the machine, and the kernel's interrupt work. */
  busyPercent: number;
  /** Time the hypervisor ran something else while this machine had work for the core. */
  stealPercent: number;
}

/** One second of the sampled span: each process's CPU and the machine's, in percent of one core, and the machine's disk writes. */
export interface CpuSecond extends MachineUsage {
  /** Seconds since the origin given to `start()`. */
  t: number;
  processes: Record<string, number>;
  /** Page-cache data the kernel had not yet written at the end of the second, MiB. */
  unwrittenMiB: number;
  /** Written to the physical disks during the second, MB/s: the kernel's writeback. */
  diskWriteMBps: number;
}

const percentOf = (sec: number, spanSec: number) => (spanSec > 0 ? Math.round((sec / spanSec) * 1000) / 10 : 0);

/**
 * Samples CPU time and RSS of named processes, and the machine's CPU (busy and stolen) and disk writes,
 * from /proc every second between `start()` and `stop()`.
 */
export class ProcessSampler {
  private readonly first = new Map<string, { cpuSec: number; waitSec: number; at: number }>();
  private readonly latest = new Map<string, { cpuSec: number; waitSec: number; at: number }>();
  private readonly maxRss = new Map<string, number>();
  private machineFirst: (ReturnType<typeof machineSample> & { at: number }) | null = null;
  private machineLatest: (ReturnType<typeof machineSample> & { at: number }) | null = null;
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
      if (!this.first.has(name)) this.first.set(name, { cpuSec: s.cpuSec, waitSec: s.waitSec, at });
      const before = this.latest.get(name);
      if (before !== undefined) processes[name] = percentOf(s.cpuSec - before.cpuSec, (at - before.at) / 1000);
      this.latest.set(name, { cpuSec: s.cpuSec, waitSec: s.waitSec, at });
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
        unwrittenMiB: Math.round(unwrittenMiB()),
        diskWriteMBps: spanSec > 0 ? Math.round((machine.diskWrittenBytes - before.diskWrittenBytes) / 1e6 / spanSec) : 0,
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
        mainThreadWaitPercent: percentOf(last.waitSec - first.waitSec, secs),
      };
    }
    return out;
  }
}
