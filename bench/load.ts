// A small HTTP load generator over node:http keep-alive sockets (cheaper per request than fetch,
// which matters: on this 2-core machine the generator shares the CPU with the server under test).
// Closed loop (N workers, each sends when the previous answer arrived) finds the maximum
// throughput; open loop (a fixed arrival rate) measures latency at a chosen load, timed from the
// intended send instant so a stalled server cannot hide its queueing (no coordinated omission).
// Every run is bounded by both a duration and a request count.
import { Agent, request } from 'node:http';

export interface Req {
  path?: string;
  body: string;
  headers?: Record<string, string>;
}

export interface LoadOptions {
  url: string;
  name: string;
  durationMs: number;
  maxRequests: number;
  /** Closed loop: this many requests in flight. */
  concurrency?: number;
  /** Open loop: requests per second (concurrency then only caps the sockets). */
  rate?: number;
  /** Builds request i; returning null ends the run (e.g. the factor budget is spent). */
  next: (i: number) => Req | null | Promise<Req | null>;
  /** Checks an answer; false counts it as an error. */
  check?: (status: number, body: string, i: number) => boolean;
  /** Sampled during the run (e.g. the server's RSS). */
  onTick?: () => void;
}

export interface LoadResult {
  name: string;
  requests: number;
  errors: number;
  firstError?: string;
  /** next() returned null before the duration was up: the run measured less than it was asked to. */
  spent?: true;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

export function send(agent: Agent, url: URL, r: Req): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: r.path ?? url.pathname,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(r.body), ...r.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

/** Progress on stderr: one line, rewritten in place. */
let lastPlain = 0;
export function progress(line: string) {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
  else if (Date.now() - lastPlain >= 2000) {
    // Not a terminal (CI, a log file): a line every 2 s, not every tick.
    lastPlain = Date.now();
    process.stderr.write(`${line}\n`);
  }
}
export function progressDone() {
  if (process.stderr.isTTY) process.stderr.write('\r\x1b[2K');
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = new URL(o.url);
  const concurrency = o.concurrency ?? 16;
  const agent = new Agent({ keepAlive: true, maxSockets: o.rate ? Math.max(concurrency, 256) : concurrency });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  let stopped = false;
  const start = performance.now();
  const deadline = start + o.durationMs;

  const tick = setInterval(() => {
    o.onTick?.();
    const s = (performance.now() - start) / 1000;
    progress(
      `  ${o.name}: ${s.toFixed(1)}/${(o.durationMs / 1000).toFixed(0)} s  ${latencies.length} req  ${Math.round(latencies.length / s)} req/s  ${errors} errors`,
    );
  }, 250);

  const one = async (i: number, t0: number) => {
    const r = await o.next(i);
    if (!r) {
      stopped = true;
      return;
    }
    try {
      const res = await send(agent, url, r);
      const ok = o.check ? o.check(res.status, res.body, i) : res.status === 200 && !res.body.includes('"errors"');
      if (!ok) {
        errors++;
        firstError ??= `${res.status} ${res.body.slice(0, 300)}`;
      }
    } catch (e) {
      errors++;
      firstError ??= String(e);
    }
    latencies.push(performance.now() - t0);
  };

  if (o.rate) {
    const interval = 1000 / o.rate;
    const inflight = new Set<Promise<void>>();
    while (!stopped && issued < o.maxRequests) {
      const due = start + issued * interval;
      if (due >= deadline) break;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const p = one(issued++, due).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    await Promise.all(inflight);
  } else {
    const worker = async () => {
      while (!stopped && issued < o.maxRequests && performance.now() < deadline) await one(issued++, performance.now());
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }
  clearInterval(tick);
  progressDone();
  agent.destroy();
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name: o.name,
    requests: latencies.length,
    errors,
    ...(firstError ? { firstError } : {}),
    ...(stopped ? { spent: true as const } : {}),
    seconds: round(seconds),
    rps: round(latencies.length / seconds, 1),
    p50: round(percentile(latencies, 50)),
    p90: round(percentile(latencies, 90)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies.at(-1) ?? NaN),
  };
}

/** Closed-loop load on any async operation (the PostgreSQL baseline, multi-request flows). */
export async function runOps(o: {
  name: string;
  durationMs: number;
  maxOps: number;
  concurrency: number;
  op: (i: number) => Promise<boolean | void>;
  onTick?: () => void;
}): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let issued = 0;
  const start = performance.now();
  const deadline = start + o.durationMs;
  const tick = setInterval(() => {
    o.onTick?.();
    const s = (performance.now() - start) / 1000;
    progress(
      `  ${o.name}: ${s.toFixed(1)}/${(o.durationMs / 1000).toFixed(0)} s  ${latencies.length} ops  ${Math.round(latencies.length / s)} ops/s  ${errors} errors`,
    );
  }, 250);
  const worker = async () => {
    while (issued < o.maxOps && performance.now() < deadline) {
      const i = issued++;
      const t0 = performance.now();
      try {
        if ((await o.op(i)) === false) errors++;
      } catch (e) {
        errors++;
        firstError ??= String(e).slice(0, 300);
      }
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  clearInterval(tick);
  progressDone();
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    name: o.name,
    requests: latencies.length,
    errors,
    ...(firstError ? { firstError } : {}),
    seconds: round(seconds),
    rps: round(latencies.length / seconds, 1),
    p50: round(percentile(latencies, 50)),
    p90: round(percentile(latencies, 90)),
    p99: round(percentile(latencies, 99)),
    max: round(latencies.at(-1) ?? NaN),
  };
}
