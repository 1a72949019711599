// Scenario t: two API instances (and the one worker) against one PostgreSQL and one Redis, the
// login load (right codes) spread evenly over both, against one instance under the same total
// load in the same run (one, two, one again: the ratio uses the mean of the two single runs, so a
// neighbour's load that comes or goes mid-run shows as a gap between them). CPU per login is summed
// over every process that serves it. The same run measures what a login leaves in PostgreSQL:
// bytes (pg_total_relation_size: rows, indexes, TOAST) and rows per table per approved login, once
// the audit seal has moved the logins' events from AuditInbox into the chain (docs/capacity.md).
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { round, runLoad, type LoadResult } from '../load.ts';
import { cpuMs, type Child, type CpuMeter } from '../proc.ts';
import { FactorPool, challengeRequest, expectStatus } from './hot-path.ts';

export interface InstanceRun extends LoadResult {
  instances: number;
  /** CPU ms per login: the API processes together, the worker, the bench database's backends, the Redis server (shared: an upper bound). */
  apiCpuMsPerLogin: number;
  workerCpuMsPerLogin: number;
  dbCpuMsPerLogin: number;
  redisCpuMsPerLogin?: number;
}

export interface TableGrowth {
  table: string;
  bytesPerLogin: number;
  rowsPerLogin: number;
}

export interface TwoInstances {
  runs: InstanceRun[];
  /** two ÷ mean(one, one again), logins/s. */
  ratio: number;
  storage: { logins: number; bytesPerLogin: number; tables: TableGrowth[] };
}

function redisPid(redisUrl: string): number | undefined {
  try {
    const u = new URL(redisUrl);
    const info = execFileSync('redis-cli', ['-h', u.hostname, '-p', u.port || '6379', 'info', 'server']).toString();
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isFinite(pid) && cpuMs(pid) > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function tableSizes(databaseUrl: string): Promise<Map<string, { bytes: number; rows: number }>> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const tables = await c.query<{ name: string; bytes: string }>(
      `SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
       AND c.relname NOT LIKE 'bench_%' AND c.relname <> '_prisma_migrations'`,
    );
    const out = new Map<string, { bytes: number; rows: number }>();
    for (const t of tables.rows) {
      const rows = await c.query<{ n: string }>(`SELECT count(*) AS n FROM "${t.name}"`);
      out.set(t.name, { bytes: Number(t.bytes), rows: Number(rows.rows[0]!.n) });
    }
    return out;
  } finally {
    await c.end();
  }
}

/** Waits (bounded) until the audit seal has emptied AuditInbox: the logins' events are in AuditEvent. */
async function auditSealed(databaseUrl: string, timeoutMs = 60_000): Promise<boolean> {
  const c = new pg.Client({ connectionString: databaseUrl });
  await c.connect();
  try {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const r = await c.query<{ n: string }>('SELECT count(*) AS n FROM "AuditInbox"');
      if (Number(r.rows[0]!.n) === 0) return true;
      await new Promise((res) => setTimeout(res, 200));
    }
    return false;
  } finally {
    await c.end();
  }
}

export async function twoInstances(o: {
  apis: [{ child: Child; url: string }, { child: Child; url: string }];
  worker: Child;
  databaseUrl: string;
  redisUrl: string;
  db: () => CpuMeter;
  auth: string;
  pool: FactorPool;
  /** How many factors the pool holds (each warm-up pass uses each once). */
  factors: number;
  durationMs: number;
  concurrency: number;
  log: (s: string) => void;
}): Promise<TwoInstances> {
  const redis = redisPid(o.redisUrl);
  const run = async (instances: 1 | 2, label: string): Promise<InstanceRun> => {
    const used = o.apis.slice(0, instances);
    const meter = o.db();
    await meter.begin();
    const api0 = used.map((a) => a.child.cpuMs());
    const worker0 = o.worker.cpuMs();
    const redis0 = redis ? cpuMs(redis) : 0;
    const parts = await Promise.all(
      used.map((a, k) =>
        runLoad({
          url: a.url,
          name: `${label} (instance ${k + 1})`,
          durationMs: o.durationMs,
          maxRequests: 1e9,
          // The same total in flight either way, split evenly.
          concurrency: Math.max(1, Math.round(o.concurrency / instances)),
          next: () => challengeRequest(o.auth, o.pool.right()),
          check: expectStatus('APPROVED'),
        }),
      ),
    );
    const requests = parts.reduce((s, p) => s + p.requests, 0);
    const per = (ms: number) => round(ms / Math.max(1, requests), 3);
    const r: InstanceRun = {
      name: label,
      instances,
      requests,
      errors: parts.reduce((s, p) => s + p.errors, 0),
      ...(parts.find((p) => p.firstError) ? { firstError: parts.find((p) => p.firstError)!.firstError } : {}),
      seconds: Math.max(...parts.map((p) => p.seconds)),
      rps: round(
        parts.reduce((s, p) => s + p.rps, 0),
        1,
      ),
      // Per-instance percentiles: the reported one is the worse instance's.
      p50: Math.max(...parts.map((p) => p.p50)),
      p90: Math.max(...parts.map((p) => p.p90)),
      p99: Math.max(...parts.map((p) => p.p99)),
      max: Math.max(...parts.map((p) => p.max)),
      apiCpuMsPerLogin: per(used.reduce((s, a, k) => s + a.child.cpuMs() - api0[k]!, 0)),
      workerCpuMsPerLogin: per(o.worker.cpuMs() - worker0),
      dbCpuMsPerLogin: per(await meter.end()),
      ...(redis ? { redisCpuMsPerLogin: per(cpuMs(redis) - redis0) } : {}),
    };
    o.log(
      `  ${label.padEnd(34)} ${String(r.rps).padStart(8)} /s  p50 ${r.p50} ms  p99 ${r.p99} ms  CPU/login API ${r.apiCpuMsPerLogin} ms, worker ${r.workerCpuMsPerLogin} ms, DB ${r.dbCpuMsPerLogin} ms${r.redisCpuMsPerLogin !== undefined ? `, Redis ≤ ${r.redisCpuMsPerLogin} ms` : ''}  ${r.requests} done${r.errors ? `, ${r.errors} ERRORS (${r.firstError})` : ''}`,
    );
    return r;
  };

  // Each instance logs in once with every factor before anything counts: JIT, pools, and a full seed
  // cache (src/services/seed-cache.ts) on both, so no run is charged the other's cold cache. One
  // instance after the other: the pool hands out factors round-robin, so each pass sees them all.
  for (const a of o.apis)
    await runLoad({
      url: a.url,
      name: 'warm-up, every factor once',
      durationMs: 120_000,
      maxRequests: o.factors,
      concurrency: o.concurrency,
      next: () => challengeRequest(o.auth, o.pool.right()),
      check: () => true,
    });
  await auditSealed(o.databaseUrl);
  const before = await tableSizes(o.databaseUrl);
  const one = await run(1, 't1. right code, one instance');
  const two = await run(2, 't2. right code, two instances');
  const again = await run(1, 't1. right code, one instance again');
  const sealed = await auditSealed(o.databaseUrl);
  if (!sealed) o.log('  (AuditInbox not empty after 60 s: storage figures count some events in the inbox)');
  const after = await tableSizes(o.databaseUrl);
  const logins = [one, two, again].reduce((s, r) => s + r.requests - r.errors, 0);
  const tables = [...after]
    .map(([table, a]) => {
      const b = before.get(table) ?? { bytes: 0, rows: 0 };
      return { table, bytesPerLogin: round((a.bytes - b.bytes) / logins, 1), rowsPerLogin: round((a.rows - b.rows) / logins, 3) };
    })
    .filter((t) => t.bytesPerLogin !== 0 || t.rowsPerLogin !== 0)
    .sort((x, y) => y.bytesPerLogin - x.bytesPerLogin);
  const bytesPerLogin = round(
    tables.reduce((s, t) => s + t.bytesPerLogin, 0),
    1,
  );
  o.log(
    `  storage: ${bytesPerLogin} bytes per login over ${logins} logins (${tables.map((t) => `${t.table} ${t.bytesPerLogin}`).join(', ')})`,
  );
  return { runs: [one, two, again], ratio: round(two.rps / ((one.rps + again.rps) / 2), 3), storage: { logins, bytesPerLogin, tables } };
}
