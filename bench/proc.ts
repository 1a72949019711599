// Child processes under test: the Verity API, a worker, the baseline servers. Each runs on its own
// event loop, so the load generator does not compete with it for one, and its RSS can be read.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';

export const root = new URL('../', import.meta.url).pathname;

import { distPath } from '../scripts/build.ts';

export { freePort } from '../test/support/process.ts';

/**
 * `npm start`'s node flags besides source maps (the API's old-space cap, WASM kept at V8's baseline
 * tier), read from package.json's "start" so no bench or soak run can drift from what operators run.
 */
export const API_NODE_FLAGS = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    scripts: { start: string };
  }
).scripts.start
  .split(/\s+/)
  .filter((a) => a.startsWith('--') && a !== '--enable-source-maps');

/** Resident set size of a process, in MB (Linux /proc). */
export function rssMb(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  try {
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15 (proc(5)).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** CPU ms used by a set of processes between two readings (processes that appear later count from 0). */
export class CpuMeter {
  private start = new Map<number, number>();
  constructor(private pids: () => Promise<number[]> | number[]) {}
  async begin() {
    this.start = new Map((await this.pids()).map((p) => [p, cpuMs(p)]));
  }
  async end(): Promise<number> {
    const now = new Set([...(await this.pids()), ...this.start.keys()]);
    let total = 0;
    for (const p of now) total += Math.max(0, cpuMs(p) - (this.start.get(p) ?? 0));
    return total;
  }
}

export interface Child {
  child: ChildProcess;
  pid: number;
  output(): string;
  /** Peak RSS since the last reset (sampled by sample()). */
  sample(): void;
  resetPeak(): void;
  peakRssMb(): number;
  /** CPU ms used so far (user + system). */
  cpuMs(): number;
  stop(): Promise<void>;
}

/**
 * Runs `entry` compiled (dist/, built by bench/run.ts with scripts/build.ts, the way `npm start`
 * runs) under bare node — Verity and the baseline servers alike, so their ratios compare like with like.
 */
export function startChild(entry: string, args: string[], env: Record<string, string | undefined>, nodeArgs: string[] = []): Child {
  const child = spawn(process.execPath, [...nodeArgs, '--enable-source-maps', distPath(entry), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = once(child, 'exit');
  let peak = 0;
  return {
    child,
    pid: child.pid!,
    output: () => out,
    sample() {
      const r = rssMb(child.pid!);
      if (r > peak) peak = r;
    },
    resetPeak() {
      peak = rssMb(child.pid!);
    },
    peakRssMb: () => Math.round(peak),
    cpuMs: () => cpuMs(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Polls a URL until it answers 200 (the child is ready) or the child exits. */
export async function waitReady(c: Child, url: string, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (c.child.exitCode !== null) throw new Error(`child exited (${c.child.exitCode}) before ready:\n${c.output()}`);
    try {
      const r = await fetch(url, { method: 'GET' });
      if (r.status === 200 || r.status === 405 || r.status === 404) return;
    } catch {
      // Not listening yet: try again.
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`not ready after ${timeoutMs} ms: ${url}\n${c.output()}`);
}

/** Waits for a line matching re in the child's output. */
export async function waitOutput(c: Child, re: RegExp, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (re.test(c.output())) return;
    if (c.child.exitCode !== null) throw new Error(`child exited (${c.child.exitCode}):\n${c.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${re}:\n${c.output()}`);
}
