import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createBullJobEngine, createLocalJobEngine, type JobData, type JobEngine, type JobMeta } from '../src/jobs/index.ts';
import { freePort } from './support/process.ts';
import { WAIT_MS } from './support/live.ts';

const REDIS_URL = process.env.REDIS_URL;
// Random per file so parallel runs never share keys; everything under it is deleted in afterAll.
const prefix = `verity-test-${randomBytes(4).toString('hex')}`;
let queueSeq = 0;

interface Backend {
  kind: 'local' | 'bullmq';
  make(onError: (err: Error, job?: JobMeta) => void): JobEngine;
}
const backends: Backend[] = [{ kind: 'local', make: (onError) => createLocalJobEngine({ onError }) }];
if (REDIS_URL) {
  // One queue per test: a test's leftovers (e.g. a repeat scheduler) can never reach another test's worker.
  backends.push({
    kind: 'bullmq',
    make: (onError) => createBullJobEngine({ redisUrl: REDIS_URL, prefix, queueName: `q${++queueSeq}`, onError }),
  });
}

const engines: JobEngine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(async () => {
  if (!REDIS_URL) return;
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

/** Rejects instead of hanging: every wait in this file is bounded. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface Run {
  name: string;
  data: JobData;
  meta: JobMeta;
  at: number;
}

/** Records handler runs; `count(n)` resolves once n runs (optionally of one job name) happened. */
function recorder() {
  const runs: Run[] = [];
  const waiters = new Set<() => void>();
  return {
    runs,
    record(data: JobData, meta: JobMeta) {
      runs.push({ name: meta.name, data, meta, at: Date.now() });
      for (const w of waiters) w();
    },
    count(n: number, name?: string, ms = WAIT_MS): Promise<Run[]> {
      const matching = () => runs.filter((r) => !name || r.name === name);
      return within(
        new Promise<Run[]>((resolve) => {
          const check = () => {
            if (matching().length < n) return;
            waiters.delete(check);
            resolve(matching());
          };
          waiters.add(check);
          check();
        }),
        ms,
        `${n} run(s) of ${name ?? 'any job'}`,
      );
    },
  };
}

describe.each(backends)('job engine: $kind', ({ make }) => {
  const errors: { err: Error; job?: JobMeta }[] = [];
  const engine = () => {
    errors.length = 0;
    const e = make((err, job) => errors.push({ err, job }));
    engines.push(e);
    return e;
  };

  it('runs a delayed job within 2 s after runAt, never before', async () => {
    const jobs = engine();
    const rec = recorder();
    await jobs.startWorkers({ expire: async (d, m) => rec.record(d, m) });
    const runAt = new Date(Date.now() + 700);
    await jobs.enqueue('expire', { challengeSid: 'YC1' }, { jobId: 'expire-YC1', runAt });
    const [run] = await rec.count(1);
    expect(run!.at).toBeGreaterThanOrEqual(runAt.getTime());
    expect(run!.at).toBeLessThan(runAt.getTime() + 2_000);
    expect(run!.data).toEqual({ challengeSid: 'YC1' });
  });

  it('enqueueing the same jobId twice runs the handler once (first data wins)', async () => {
    const jobs = engine();
    const rec = recorder();
    const runAt = new Date(Date.now() + 300);
    // ':' is not allowed in BullMQ ids; the engine must cope with SID-derived ids containing it.
    await jobs.enqueue('expire', { n: 1 }, { jobId: 'expire:YC2', runAt });
    await jobs.enqueue('expire', { n: 2 }, { jobId: 'expire:YC2', runAt });
    expect(await jobs.pendingCount()).toBe(1);
    // A later sentinel: once it has run, a duplicate (due earlier) would have run too.
    await jobs.enqueue('sentinel', {}, { runAt: new Date(runAt.getTime() + 300) });
    const noop = async (d: JobData, m: JobMeta) => rec.record(d, m);
    await jobs.startWorkers({ expire: noop, sentinel: noop });
    await rec.count(1, 'sentinel');
    expect(rec.runs.map((r) => [r.name, r.data])).toEqual([
      ['expire', { n: 1 }],
      ['sentinel', {}],
    ]);
  });

  it('retries a failing handler with exponential backoff until it succeeds on the 3rd attempt', async () => {
    const jobs = engine();
    const rec = recorder();
    await jobs.startWorkers({
      deliver: async (d, m) => {
        rec.record(d, m);
        if (m.attempt < 3) throw new Error(`attempt ${m.attempt} failed`);
      },
    });
    await jobs.enqueue('deliver', { webhookSid: 'WH1' }, { jobId: 'deliver-WH1', attempts: 5, backoffMs: 150 });
    const runs = await rec.count(3);
    expect(runs.map((r) => r.meta.attempt)).toEqual([1, 2, 3]);
    expect(runs.every((r) => r.meta.jobId === runs[0]!.meta.jobId)).toBe(true);
    expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(150); // base
    expect(runs[2]!.at - runs[1]!.at).toBeGreaterThanOrEqual(300); // base * 2
    expect(errors.map((e) => e.job?.attempt)).toEqual([1, 2]);
  });

  it('stops after the last attempt', async () => {
    const jobs = engine();
    const rec = recorder();
    await jobs.startWorkers({
      deliver: async (d, m) => {
        rec.record(d, m);
        throw new Error('endpoint down');
      },
      sentinel: async (d, m) => rec.record(d, m),
    });
    await jobs.enqueue('deliver', { webhookSid: 'WH2' }, { attempts: 2, backoffMs: 50 });
    await rec.count(2, 'deliver');
    // A 3rd attempt would be due ~100 ms after the 2nd; the sentinel runs well after that.
    await jobs.enqueue('sentinel', {}, { runAt: new Date(Date.now() + 400) });
    await rec.count(1, 'sentinel');
    expect(rec.runs.map((r) => `${r.name}#${r.meta.attempt}`)).toEqual(['deliver#1', 'deliver#2', 'sentinel#1']);
    expect(errors.map((e) => e.err.message)).toEqual(['endpoint down', 'endpoint down']);
  });

  it('repeats a job until close()', async () => {
    const jobs = engine();
    const rec = recorder();
    await jobs.repeat('reconcile', 150, { scope: 'all' });
    await jobs.startWorkers({ reconcile: async (d, m) => rec.record(d, m) });
    const runs = await rec.count(2);
    expect(runs[0]!.data).toEqual({ scope: 'all' });
    await jobs.close();
    const seen = rec.runs.length;
    await sleep(500); // a negative can only be observed over time: 3+ periods
    expect(rec.runs.length).toBe(seen);
  });

  it('close() waits for a running handler', async () => {
    const jobs = engine();
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    let finished = false;
    await jobs.startWorkers({
      slow: async () => {
        started();
        await sleep(300);
        finished = true;
      },
    });
    await jobs.enqueue('slow', {});
    await within(startedP, WAIT_MS, 'handler start');
    await within(jobs.close(), WAIT_MS, 'close');
    expect(finished).toBe(true);
  });

  it('a burst of enqueues in one turn lands whole: each job once, with its own options', async () => {
    const jobs = engine();
    const rec = recorder();
    const soon = new Date(Date.now() + 200);
    await Promise.all([
      ...Array.from({ length: 40 }, (_, i) => jobs.enqueue('a', { i }, { jobId: `burst-${i}`, runAt: i % 2 ? soon : undefined })),
      jobs.enqueue('a', { i: 99 }, { jobId: 'burst-0' }), // same id in the same turn: one job, the first data
    ]);
    expect(await jobs.pendingCount()).toBe(40);
    await jobs.startWorkers({ a: async (d, m) => rec.record(d, m) }, { concurrency: 4 });
    const runs = await rec.count(40);
    expect(runs.map((r) => r.data.i).sort((x, y) => Number(x) - Number(y))).toEqual(Array.from({ length: 40 }, (_, i) => i));
    for (const r of runs) if (Number(r.data.i) % 2) expect(r.at).toBeGreaterThanOrEqual(soon.getTime());
  });

  it('holds jobs enqueued before startWorkers and runs them after', async () => {
    const jobs = engine();
    const rec = recorder();
    await jobs.enqueue('a', { i: 1 });
    await jobs.enqueue('a', { i: 2 }, { runAt: new Date(Date.now() + 100) });
    expect(await jobs.pendingCount()).toBe(2);
    await jobs.startWorkers({ a: async (d, m) => rec.record(d, m) }, { concurrency: 2 });
    const runs = await rec.count(2);
    expect(runs.map((r) => r.data.i).sort()).toEqual([1, 2]);
    await within(
      (async () => {
        while ((await jobs.pendingCount()) !== 0) await sleep(20);
      })(),
      WAIT_MS, // BullMQ removes a completed job after its handler returned: allow for a queue behind other suites
      'pendingCount 0',
    );
  });
});

describe('local engine', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("holds a job due in 30 days (past setTimeout's 24.8-day limit) until it is due", async () => {
    vi.useFakeTimers();
    const jobs = createLocalJobEngine({ onError: () => {} });
    const ran: number[] = [];
    await jobs.startWorkers({ later: async () => void ran.push(Date.now()) });
    const day = 86_400_000;
    const runAt = Date.now() + 30 * day;
    await jobs.enqueue('later', {}, { runAt: new Date(runAt) });
    await vi.advanceTimersByTimeAsync(30 * day - 1);
    expect(ran).toEqual([]);
    await vi.advanceTimersByTimeAsync(10);
    expect(ran).toHaveLength(1);
    expect(ran[0]! - runAt).toBeGreaterThanOrEqual(0);
    expect(ran[0]! - runAt).toBeLessThan(10);
    await jobs.close();
  });
});

describe.skipIf(!REDIS_URL)('bullmq engine: close()', () => {
  it('sends what was enqueued before it, even unawaited, and refuses what comes after', async () => {
    const queueName = `q${++queueSeq}`;
    const jobs = createBullJobEngine({ redisUrl: REDIS_URL!, prefix, queueName, onError: () => {} });
    const sent = Array.from({ length: 10 }, (_, i) =>
      jobs.enqueue('a', { i }, { jobId: `close-${i}`, runAt: new Date(Date.now() + 60_000) }),
    );
    await jobs.close();
    await Promise.all(sent);
    await expect(jobs.enqueue('a', { i: 10 })).rejects.toThrow(/closed/);
    const queue = new Queue(queueName, { connection: { url: REDIS_URL }, prefix });
    expect(await queue.getDelayedCount()).toBe(10);
    await queue.close();
  });
});

describe('bullmq engine and Redis outages', () => {
  it('rejects enqueue promptly when Redis is unreachable from the start, and closes promptly', async () => {
    const port = await freePort(); // nothing listens there
    const jobs = createBullJobEngine({ redisUrl: `redis://127.0.0.1:${port}`, prefix, timeoutMs: 500, onError: () => {} });
    await jobs.startWorkers({ expire: async () => {} });
    const t0 = Date.now();
    await expect(jobs.enqueue('expire', { challengeSid: 'YC9' }, { jobId: 'expire-YC9' })).rejects.toThrow(/timed out/);
    expect(Date.now() - t0).toBeLessThan(1_500);
    await within(jobs.close(), 2_000, 'close while Redis is unreachable');
  });

  it.skipIf(!REDIS_URL)('rejects enqueue during an outage and recovers after it', async () => {
    const proxy = await tcpProxy(REDIS_URL!);
    const jobs = createBullJobEngine({ redisUrl: proxy.url, prefix, queueName: `q${++queueSeq}`, timeoutMs: 1_000, onError: () => {} });
    engines.push(jobs);
    await jobs.enqueue('expire', { n: 1 }, { runAt: new Date(Date.now() + 60_000) });

    proxy.cut();
    const t0 = Date.now();
    await expect(jobs.enqueue('expire', { n: 2 })).rejects.toThrow();
    expect(Date.now() - t0).toBeLessThan(1_500);

    await proxy.restore();
    await within(
      (async () => {
        for (;;) {
          try {
            return await jobs.enqueue('expire', { n: 3 });
          } catch {
            await sleep(100); // ioredis is reconnecting
          }
        }
      })(),
      WAIT_MS,
      'enqueue after the outage',
    );
    expect(await jobs.pendingCount()).toBe(2); // n1 and n3: the rejected n2 was not stored after all
    proxy.cut();
  });

  it.skipIf(!REDIS_URL)('close() during an outage still waits for the running handler, then returns promptly', async () => {
    const proxy = await tcpProxy(REDIS_URL!);
    const jobs = createBullJobEngine({ redisUrl: proxy.url, prefix, queueName: `q${++queueSeq}`, onError: () => {} });
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    let finished = false;
    await jobs.startWorkers({
      slow: async () => {
        started();
        await sleep(300);
        finished = true;
      },
    });
    await jobs.enqueue('slow', {});
    await within(startedP, WAIT_MS, 'handler start');
    proxy.cut();
    const t0 = Date.now();
    await within(jobs.close(), 3_000, 'close during the outage');
    expect(finished).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1_500);
  });

  it.skipIf(!REDIS_URL)('a repeating job comes back after Redis loses its keys', async () => {
    const queueName = `q${++queueSeq}`;
    const jobs = createBullJobEngine({ redisUrl: REDIS_URL!, prefix, queueName, onError: () => {} });
    engines.push(jobs);
    const rec = recorder();
    await jobs.startWorkers({ reconcile: async (d, m) => rec.record(d, m) });
    await jobs.repeat('reconcile', 200);
    await rec.count(1);
    const redis = new Redis(REDIS_URL!);
    const keys = await redis.keys(`${prefix}:${queueName}:*`);
    expect(keys.length).toBeGreaterThan(0);
    await redis.del(...keys); // what a Redis restart without persistence does to the scheduler
    await redis.quit();
    const seen = rec.runs.length;
    await rec.count(seen + 2);
  });

  it.skipIf(!REDIS_URL)(
    'a process registering a shorter period takes over from the run already scheduled with the old one (bench/RESULTS.md "BullMQ scheduler")',
    async () => {
      const queueName = `q${++queueSeq}`;
      const first = createBullJobEngine({ redisUrl: REDIS_URL!, prefix, queueName, onError: () => {} });
      engines.push(first);
      const before = recorder();
      await first.startWorkers({ reconcile: async (d, m) => before.record(d, m) });
      await first.repeat('reconcile', 600_000); // first run now, the next one in 10 minutes
      await before.count(1);
      await first.close();
      const second = createBullJobEngine({ redisUrl: REDIS_URL!, prefix, queueName, onError: () => {} });
      engines.push(second);
      const after = recorder();
      await second.repeat('reconcile', 200);
      await second.startWorkers({ reconcile: async (d, m) => after.record(d, m) });
      await after.count(2); // within WAIT_MS, not after the old 10-minute period
    },
  );

  it.skipIf(!REDIS_URL)('close() lets BullMQ record the outcome of a job that finishes during shutdown', async () => {
    const queueName = `q${++queueSeq}`;
    const jobs = createBullJobEngine({ redisUrl: REDIS_URL!, prefix, queueName, onError: () => {} });
    let started!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    await jobs.startWorkers({
      slow: async () => {
        started();
        await sleep(300);
      },
    });
    await jobs.enqueue('slow', {}, { jobId: 'slow-1' });
    await within(startedP, WAIT_MS, 'handler start');
    await within(jobs.close(), WAIT_MS, 'close');
    // Not left active (it would stall and run again): completed and removed (removeOnComplete).
    const redis = new Redis(REDIS_URL!);
    const queue = new Queue(queueName, { connection: redis, prefix });
    expect(await queue.getJobCounts('active', 'wait', 'delayed', 'failed', 'completed')).toEqual({
      active: 0,
      wait: 0,
      delayed: 0,
      failed: 0,
      completed: 0,
    });
    expect(await queue.getJob('slow-1')).toBeUndefined();
    await queue.close();
    await redis.quit();
  });
});

/** A TCP proxy to Redis whose link can be cut and restored, to simulate an outage. */
async function tcpProxy(redisUrl: string) {
  const target = new URL(redisUrl);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async () => {
    server = createServer((client) => {
      const up = connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, up]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s)).on('error', () => {});
      }
      client.pipe(up).pipe(client);
    }).listen(port, '127.0.0.1');
    await once(server, 'listening');
  };
  await listen();
  return {
    url: `redis://127.0.0.1:${port}`,
    cut() {
      server?.close();
      server = undefined;
      for (const s of sockets) s.destroy();
    },
    restore: listen,
  };
}
