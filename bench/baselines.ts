// The three ceilings every Verity figure is divided by, measured in the same run on the same machine
// with the same load generator: bare node:http, a trivial graphql-yoga mutation, and a single-row
// PostgreSQL UPDATE (autocommit, one row per statement) at 16 connections.
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { round, runLoad, runOps, type LoadResult } from './load.ts';
import { CpuMeter, freePort, startChild, waitOutput } from './proc.ts';

export interface Baselines {
  rawHttp: LoadResult & { rssMb: number; cpuMsPerReq: number };
  yoga: LoadResult & { rssMb: number; cpuMsPerReq: number };
  /** The same Yoga server answering `{ viewer { sid } }` (the baseline of Verity's authenticated trivial query). */
  yogaQuery?: LoadResult & { rssMb: number; cpuMsPerReq: number };
  /** dbCpuMsPerReq: CPU of the PostgreSQL backends serving the 16 connections, per statement. */
  pgUpdate: LoadResult & { connections: number; engine: 'postgresql' | 'pglite'; dbCpuMsPerReq?: number };
}

export const VIEWER_QUERY = '{ viewer { sid } }';

async function serverBaseline(kind: 'http' | 'yoga' | 'yoga-query', o: { durationMs: number; maxRequests: number; concurrency: number }) {
  const port = await freePort();
  const c = startChild('bench/baseline-server.ts', [kind === 'yoga-query' ? 'yoga' : kind], { PORT: String(port) });
  try {
    await waitOutput(c, /listening/);
    const body =
      kind === 'yoga'
        ? JSON.stringify({ query: 'mutation { bump(by: 1) }' })
        : kind === 'yoga-query'
          ? JSON.stringify({ query: VIEWER_QUERY })
          : '{}';
    const check = (status: number, b: string) => status === 200 && !b.includes('"errors"');
    // Warm-up (JIT), then the measured run.
    await runLoad({
      url: `http://127.0.0.1:${port}/graphql`,
      name: `warm-up ${kind}`,
      durationMs: 1500,
      maxRequests: 1e9,
      concurrency: o.concurrency,
      next: () => ({ body }),
      check,
    });
    c.resetPeak();
    const cpu0 = c.cpuMs();
    const r = await runLoad({
      url: `http://127.0.0.1:${port}/graphql`,
      name: { http: 'baseline: raw node:http', yoga: 'baseline: trivial Yoga mutation', 'yoga-query': 'baseline: trivial Yoga query' }[
        kind
      ],
      durationMs: o.durationMs,
      maxRequests: o.maxRequests,
      concurrency: o.concurrency,
      next: () => ({ body }),
      check,
      onTick: () => c.sample(),
    });
    return { ...r, rssMb: c.peakRssMb(), cpuMsPerReq: round((c.cpuMs() - cpu0) / Math.max(1, r.requests), 3) };
  } finally {
    await c.stop();
  }
}

export async function pgUpdateBaseline(o: {
  databaseUrl?: string;
  durationMs: number;
  maxOps: number;
  connections: number;
}): Promise<Baselines['pgUpdate']> {
  const rows = 10_000;
  if (!o.databaseUrl) {
    // Embedded mode's ceiling: PGlite in-process (one connection; concurrent callers queue on it).
    const db = await PGlite.create();
    await db.exec(`CREATE TABLE bench_baseline (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0);
      INSERT INTO bench_baseline (id) SELECT generate_series(1, ${rows});`);
    const r = await runOps({
      name: 'baseline: single-row UPDATE (PGlite)',
      durationMs: o.durationMs,
      maxOps: o.maxOps,
      concurrency: o.connections,
      op: async (i) => void (await db.query('UPDATE bench_baseline SET n = n + 1 WHERE id = $1', [(i % rows) + 1])),
    });
    await db.close();
    return { ...r, connections: 1, engine: 'pglite' };
  }
  const pool = new pg.Pool({ connectionString: o.databaseUrl, max: o.connections });
  try {
    await pool.query(`CREATE TABLE IF NOT EXISTS bench_baseline (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`);
    await pool.query(`INSERT INTO bench_baseline (id) SELECT generate_series(1, ${rows}) ON CONFLICT DO NOTHING`);
    // Open all connections first: connection set-up is not part of the ceiling.
    await Promise.all(Array.from({ length: o.connections }, () => pool.query('SELECT 1')));
    const meter = pgBackends(o.databaseUrl);
    await meter.begin();
    // Each statement updates one row (a different one each time: no lock queue), autocommit — the
    // shape of Verity's own conditional single-statement writes.
    const r = await runOps({
      name: 'baseline: single-row UPDATE (PostgreSQL)',
      durationMs: o.durationMs,
      maxOps: o.maxOps,
      concurrency: o.connections,
      op: async (i) =>
        void (await pool.query({ name: 'bump', text: 'UPDATE bench_baseline SET n = n + 1 WHERE id = $1', values: [(i % rows) + 1] })),
    });
    const dbCpu = await meter.end();
    return { ...r, connections: o.connections, engine: 'postgresql', dbCpuMsPerReq: round(dbCpu / Math.max(1, r.requests), 3) };
  } finally {
    await pool.end();
  }
}

export async function measureBaselines(o: {
  databaseUrl?: string;
  durationMs: number;
  concurrency: number;
  log: (s: string) => void;
}): Promise<Baselines> {
  const rawHttp = await serverBaseline('http', { durationMs: o.durationMs, maxRequests: 2_000_000, concurrency: o.concurrency });
  o.log(`  raw node:http            ${rawHttp.rps} req/s  p50 ${rawHttp.p50} ms  p99 ${rawHttp.p99} ms`);
  const yoga = await serverBaseline('yoga', { durationMs: o.durationMs, maxRequests: 2_000_000, concurrency: o.concurrency });
  o.log(`  trivial Yoga mutation    ${yoga.rps} req/s  p50 ${yoga.p50} ms  p99 ${yoga.p99} ms`);
  const yogaQuery = await serverBaseline('yoga-query', { durationMs: o.durationMs, maxRequests: 2_000_000, concurrency: o.concurrency });
  o.log(`  trivial Yoga query       ${yogaQuery.rps} req/s  p50 ${yogaQuery.p50} ms  p99 ${yogaQuery.p99} ms`);
  const pgUpdate = await pgUpdateBaseline({ databaseUrl: o.databaseUrl, durationMs: o.durationMs, maxOps: 2_000_000, connections: 16 });
  o.log(`  single-row UPDATE ×16    ${pgUpdate.rps} stmt/s  p50 ${pgUpdate.p50} ms  p99 ${pgUpdate.p99} ms`);
  return { rawHttp, yoga, yogaQuery, pgUpdate };
}

/**
 * CPU of the PostgreSQL backends connected to `databaseUrl`'s database (the bench's own, so other
 * users of the server do not count), read from /proc: the server must run on this machine.
 * Shared processes (WAL writer, checkpointer) are not included.
 */
export function pgBackends(databaseUrl: string): CpuMeter {
  const db = new URL(databaseUrl).pathname.slice(1);
  return new CpuMeter(async () => {
    const c = new pg.Client({ connectionString: databaseUrl });
    await c.connect();
    try {
      const r = await c.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db]);
      return r.rows.map((x) => x.pid);
    } finally {
      await c.end();
    }
  });
}
