import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PulseConfig } from '@pulse/config';
import { ensureTopics } from '@pulse/kafka';
import { benchBroker, warmBroker } from '../lib/broker.js';
import { machineInfo, type MachineInfo } from '../lib/machine.js';
import { pulseCommand } from '../lib/pulse-cli.js';
import { tunedProducerEnv } from '../tune/run.js';

export type ProfiledRole = 'aggregator' | 'generator';

export interface ProfileOptions {
  config: PulseConfig;
  role: ProfiledRole;
  rate: number;
  durationSec: number;
  /** Seconds of load before sampling starts (restores, JIT warm-up). */
  warmupSec: number;
  /** Seconds of the same traffic through a scratch topic first, as in \`bench e2e\` (see \`warmBroker\`). */
  brokerWarmupSec: number;
  /** Samples per second per CPU. */
  frequency: number;
  /** Where the SVG goes; the folded stacks go beside it (`.folded`). */
  svgFile: string;
  dataDir: string;
  port: number;
  log: (line: string) => void;
}

export interface ProfileResult {
  scenario: 'profile';
  role: ProfiledRole;
  rate: number;
  durationSec: number;
  /** Share of samples by where they were taken: the engine, librdkafka, V8-compiled JavaScript, … */
  shares: Record<string, number>;
  svgFile: string;
  machine: MachineInfo;
}

function need(tool: string, hint: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed; ${hint}`);
}

/**
 * Which part of the process a folded stack belongs to: the innermost frame of ours or of a library we
 * can name decides, so that an allocation or a copy made by the engine counts as the engine's.
 */
function classify(stack: string): string {
  const frames = stack.split(';');
  for (let i = frames.length - 1; i >= 0; i--) {
    const f = frames[i]!;
    if (/pulse_engine|pulse_napi::(?!kafka)/.test(f)) return 'Rust engine';
    if (/pulse_kafka|rdkafka|rd_kafka/.test(f)) return 'Kafka client (librdkafka and its Rust wrapper)';
    if (/^(JS|LazyCompile|Function|Builtin|Bytecode|Interpreted|Baseline|Maglev|Turbofan):|\.js:\d/.test(f)) return 'JavaScript';
    if (/^v8::|Heap::|Scavenge|MarkCompact|Sweeper|GC/.test(f)) return 'V8 (GC, runtime)';
  }
  if (/\[kernel|entry_SYSCALL|__schedule|finish_task_switch|irqentry|asm_/.test(stack)) return 'kernel (scheduling, syscalls, network)';
  return 'unattributed (libc, libuv, frames without symbols)';
}

/**
 * A flame graph of one pipeline process under load: a fresh broker, the aggregator and the generator
 * as in `bench e2e` (a warmed-up broker, the tuned producer settings), with the chosen one run under `perf record` (Node started with
 * `--perf-basic-prof`, so JavaScript frames have names next to the Rust and C ones), then folded and
 * drawn with inferno. Needs `perf` (Debian: linux-perf) and `inferno-collapse-perf`/`inferno-flamegraph`
 * (`cargo install inferno`).
 */
export async function runProfile(o: ProfileOptions): Promise<ProfileResult> {
  need('perf', 'install Debian\'s linux-perf');
  need('inferno-flamegraph', 'run `cargo install inferno`');
  const broker = await benchBroker(o);
  const children: ChildProcess[] = [];
  const perfData = resolve(o.dataDir, 'perf.data');
  try {
    const config = { ...o.config, kafka: { ...o.config.kafka, bootstrapServers: broker.bootstrap } };
    await ensureTopics(config);
    if (o.brokerWarmupSec > 0) await warmBroker(config, o.rate, o.brokerWarmupSec, o.log);
    const tuned = await tunedProducerEnv(config, o.rate, o.log);
    const env = { ...process.env, ...tuned, KAFKA_BOOTSTRAP_SERVERS: broker.bootstrap, PULSE_AGGREGATOR_GROUP_ID: `pulse-profile-${Date.now()}` };
    const node = (args: string[], profiled: boolean, delayMs: number): ChildProcess =>
      spawn(
        profiled ? 'perf' : process.execPath,
        profiled ? ['record', '-F', String(o.frequency), '-g', '-D', String(delayMs), '-o', perfData, '--', process.execPath, ...pulseCommand(args, ['--perf-basic-prof'])] : pulseCommand(args),
        { env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
    // Sampling starts after the warm-up, counted from the generator's start.
    const aggregator = node(['aggregate', '--progress', '0'], o.role === 'aggregator', 5_000 + o.warmupSec * 1000);
    children.push(aggregator);
    await new Promise((r) => setTimeout(r, 5_000));
    const generator = node(['generate', '--rate', String(o.rate), '--duration', String(o.durationSec + o.warmupSec), '--mix', 'clicks=1,purchases=0,sensors=0', '--quiet'], o.role === 'generator', o.warmupSec * 1000);
    children.push(generator);
    o.log(`${o.role} under perf at ${o.frequency} Hz; ${o.rate.toLocaleString('en-US')} events/s for ${o.durationSec + o.warmupSec} s`);
    await new Promise((r) => generator.once('exit', r));
    // perf writes its data when the profiled process exits: stop the aggregator (it checkpoints first).
    aggregator.kill('SIGINT');
    await new Promise((r) => aggregator.once('exit', r));

    const script = spawnSync('perf', ['script', '-i', perfData], { maxBuffer: 1 << 30, encoding: 'utf8' });
    if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
    const folded = spawnSync('inferno-collapse-perf', [], { input: script.stdout, maxBuffer: 1 << 30, encoding: 'utf8' }).stdout;
    // perf's cpu-clock samples carry their period: weights, not counts.
    const shares: Record<string, number> = {};
    let total = 0;
    for (const line of folded.split('\n')) {
      const at = line.lastIndexOf(' ');
      if (at < 0) continue;
      const weight = Number(line.slice(at + 1));
      total += weight;
      const part = classify(line.slice(0, at));
      shares[part] = (shares[part] ?? 0) + weight;
    }
    for (const k of Object.keys(shares)) shares[k] = Math.round((shares[k]! / total) * 1000) / 10;
    const title = `pulse ${o.role} at ${o.rate.toLocaleString('en-US')} events/s`;
    const svg = spawnSync('inferno-flamegraph', ['--title', title, '--width', '1600'], { input: folded, maxBuffer: 1 << 30, encoding: 'utf8' }).stdout;
    mkdirSync(dirname(resolve(o.svgFile)), { recursive: true });
    writeFileSync(resolve(o.svgFile), svg);
    writeFileSync(resolve(o.svgFile).replace(/\.svg$/, '.folded'), folded);
    return { scenario: 'profile', role: o.role, rate: o.rate, durationSec: o.durationSec, shares, svgFile: o.svgFile, machine: machineInfo() };
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await broker.stop();
  }
}
