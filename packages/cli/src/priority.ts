import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { setPriority } from 'node:os';

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Sets this process's CPU priority: the nice value of every thread (Linux keeps one per thread, and
 * threads started later inherit their creator's), and where it can, of its session. With autogroups
 * (Linux's default for processes outside a CPU cgroup of their own) the scheduler shares the CPU
 * between sessions first and by nice only within a session, so a process's nice orders it against its
 * own session alone; a process that leads its session (started with setsid, as a service manager starts
 * a service) gives the session's group the same nice (/proc/self/autogroup), and then it counts against
 * the rest of the machine. Says which of the two it reaches. Lowering a nice value below the current
 * one takes root or CAP_SYS_NICE; without them this throws (EACCES).
 */
export function setNice(nice: number): 'machine' | 'session' {
  let threads: number[] = [];
  try {
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    // Not Linux: one priority per process.
  }
  for (const tid of threads.length > 0 ? threads : [process.pid]) setPriority(tid, nice);
  if (readText('/proc/sys/kernel/sched_autogroup_enabled')?.trim() !== '1') return 'machine';
  const stat = readText('/proc/self/stat');
  // The session id is the fourth field after the command name, which may contain spaces.
  const session = stat === null ? NaN : Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
  if (session !== process.pid) return 'session';
  writeFileSync('/proc/self/autogroup', String(nice));
  return 'machine';
}
