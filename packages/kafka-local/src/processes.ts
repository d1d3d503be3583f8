import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { basename } from 'node:path';

/**
 * Every JVM Pulse starts carries `-Dpulse.kafka.node=<node dir>` on its command line. A recorded pid
 * counts as ours only while the process with that pid is a java process with that exact marker: after a
 * reboot or pid reuse a stranger may hold the pid, and it must never be signalled.
 */
export function nodeMarker(nodeDir: string): string {
  return `-Dpulse.kafka.node=${nodeDir}`;
}

/** The argv of a live process, or undefined when there is none (or it is a zombie, whose argv is empty). */
export function processArgs(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const args = raw.split('\0').filter((a) => a.length > 0);
    return args.length > 0 ? args : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || procAvailable()) return undefined;
  }
  // No /proc (macOS): ask ps. Arguments come back space-joined, which is enough to find the marker.
  try {
    const out = execFileSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return out.length > 0 ? out.split(/\s+/) : undefined;
  } catch {
    return undefined;
  }
}

let procChecked: boolean | undefined;
function procAvailable(): boolean {
  if (procChecked === undefined) {
    try {
      readFileSync('/proc/self/cmdline');
      procChecked = true;
    } catch {
      procChecked = false;
    }
  }
  return procChecked;
}

/** True when `pid` is alive and is the Kafka JVM of `nodeDir`. */
export function isOurNode(pid: number | null, nodeDir: string): pid is number {
  if (pid === null || pid <= 0) return false;
  const args = processArgs(pid);
  if (args === undefined) return false;
  const marker = nodeMarker(nodeDir);
  return basename(args[0] ?? '') === 'java' && args.includes(marker) && args.includes('kafka.Kafka');
}

export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A process in the middle of exiting: its memory (hence its argv) is gone but its files, and so its
 * listening sockets, may not be closed yet. Only a zombie (or no process at all) has released them.
 */
function isExiting(pid: number): boolean {
  if (!procAvailable()) return false;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && processArgs(pid) === undefined;
}

/** Waits until `pid` is no longer our node and has finished exiting (ports released). */
export async function waitForExit(pid: number, nodeDir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isOurNode(pid, nodeDir) || isExiting(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

/** True when something accepts TCP connections on host:port. */
export function isListening(port: number, host = '127.0.0.1', timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** True when host:port can be bound now (nobody, ours or a stranger's, holds it). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}
