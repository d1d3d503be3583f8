import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PulseConfig } from '../../../packages/config/src/index.js';
import { deleteTopics, ensureTopics, TOPIC_SPECS } from '../../../packages/kafka/src/index.js';
import { FIXTURE_ENV } from './kafka.js';

const CLI = fileURLToPath(new URL('../../../packages/cli/dist/main.js', import.meta.url));

/** Environment of a `pulse` child process talking to the test broker: none of the caller's PULSE_* settings, plus `extra`. */
export function pulseEnv(bootstrap: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('PULSE_')) env[k] = v;
  return { ...env, ...FIXTURE_ENV, KAFKA_BOOTSTRAP_SERVERS: bootstrap, ...extra };
}

/** Deletes and recreates every Pulse topic, so that a test starts from empty topics. */
export async function resetTopics(config: PulseConfig): Promise<void> {
  await deleteTopics(config, TOPIC_SPECS.map((t) => t.name)).catch(() => {});
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await ensureTopics(config);
      return;
    } catch (err) {
      // A deleted topic lingers briefly ("marked for deletion"); retry until it is gone.
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** A `pulse <command>` child process with its output collected. */
export interface PulseProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves when a line matching `pattern` has been printed. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * `detached`: in a session of its own, as a service manager starts a service. `bin`: an installed
 * `pulse` executable to run instead of the workspace's build.
 */
export function spawnPulse(args: string[], env: Record<string, string>, options: { detached?: boolean; bin?: string } = {}): PulseProcess {
  const [command, argv] = options.bin === undefined ? [process.execPath, [CLI, ...args]] : [options.bin, args];
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    text += d.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(text)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern} in output:\n${text.slice(-3000)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
  };
}

/**
 * Aggregator processes for a test, tuned to show results quickly (200 ms checkpoints, 20 ms emits, 6 s
 * sessions); `killAll` SIGKILLs whichever are still running, for an afterEach.
 */
export function testAggregators(bootstrap: string, extraEnv: Record<string, string> = {}) {
  const running: PulseProcess[] = [];
  return {
    start(group: string, args: readonly string[] = []): PulseProcess {
      const proc = spawnPulse(
        ['aggregate', '--progress', '0', ...args],
        pulseEnv(bootstrap, {
          PULSE_AGGREGATOR_GROUP_ID: group,
          PULSE_AGGREGATOR_COMMIT_INTERVAL_MS: '200',
          PULSE_AGGREGATOR_EMIT_INTERVAL_MS: '20',
          PULSE_AGGREGATOR_SESSION_TIMEOUT_MS: '6000',
          ...extraEnv,
        }),
      );
      running.push(proc);
      return proc;
    },
    async killAll(): Promise<void> {
      for (const p of running.splice(0)) {
        if (p.child.exitCode === null) p.child.kill('SIGKILL');
        await p.exited;
      }
    },
  };
}

/** Partitions an aggregator's log says it restored, over all its restores. */
export const restoredCount = (log: string): number => [...log.matchAll(/restored (\d+) partitions/g)].reduce((n, m) => n + Number(m[1]), 0);

export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
