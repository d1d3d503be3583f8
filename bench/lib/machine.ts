import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { engineInfo } from '@pulse/engine';
import { RdKafka } from '@pulse/kafka';
import { readJarLock } from '@pulse/kafka-local';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  librdkafka: string;
  kafka: string;
  engine: string;
  commit: string;
  /** 1-, 5- and 15-minute load averages when the result was taken (as `uptime` prints them): how busy the machine was. */
  loadAverage: string;
  /** `cpuSpeed()` when the result was taken. */
  cpuSpeedMBps: number;
  /** The kernel's writeback settings (`vm.dirty_*`), which decide whether the broker's writes reach the disk steadily or in stalls; null off Linux. */
  writeback: Writeback | null;
}

/**
 * When the kernel writes dirty page-cache pages back to disk. With the defaults (a background threshold
 * of 10% of memory, pages expiring after 30 s) a broker taking 26 MB/s holds ~800 MB unwritten and the
 * kernel writes it out in one 3-second burst every 30 s; the broker's request thread then waits on the
 * disk inside write() (measured: docs/performance.md, "The disk").
 */
export interface Writeback {
  dirtyBackgroundBytes: number;
  dirtyBackgroundRatio: number;
  dirtyExpireCentisecs: number;
  dirtyWritebackCentisecs: number;
}

export function writebackSettings(): Writeback | null {
  try {
    const vm = (name: string) => Number(readFileSync(`/proc/sys/vm/${name}`, 'utf8').trim());
    return {
      dirtyBackgroundBytes: vm('dirty_background_bytes'),
      dirtyBackgroundRatio: vm('dirty_background_ratio'),
      dirtyExpireCentisecs: vm('dirty_expire_centisecs'),
      dirtyWritebackCentisecs: vm('dirty_writeback_centisecs'),
    };
  } catch {
    return null;
  }
}

/** The writeback settings as sysctl names and values, for reports. */
export function writebackLine(w: Writeback): string {
  return `vm.dirty_background_bytes=${w.dirtyBackgroundBytes}, vm.dirty_background_ratio=${w.dirtyBackgroundRatio}, vm.dirty_expire_centisecs=${w.dirtyExpireCentisecs}, vm.dirty_writeback_centisecs=${w.dirtyWritebackCentisecs}`;
}

/**
 * How fast one core of this machine is right now: SHA-256 over 32 MB, best of three, in MB/s. A shared
 * virtual machine's cores change speed with what its neighbours do, so results carry this to be read
 * against; it takes about half a second.
 */
export function cpuSpeed(): number {
  const data = Buffer.alloc(32 * 2 ** 20, 1);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const start = process.hrtime.bigint();
    createHash('sha256').update(data).digest();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return Math.round(32 / best);
}

/** What a benchmark result was measured on: every result carries it. */
export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1]!.trim();
  } catch {
    // Not Linux: keep os.cpus()'s answer.
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // Not a git checkout.
  }
  const kafka = readJarLock().kafkaVersion;
  const e = engineInfo();
  return {
    cpuModel,
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    librdkafka: RdKafka.librdkafkaVersion,
    kafka,
    engine: `${e.version} ${e.target}`,
    commit,
    loadAverage: loadavg()
      .map((l) => l.toFixed(2))
      .join(', '),
    cpuSpeedMBps: cpuSpeed(),
    writeback: writebackSettings(),
  };
}
