// Exact SQL statement counts per request: Verity's app in-process on the same database, with
// openDatabase({ onQuery }) counting every statement Prisma sends (including BEGIN/COMMIT).
import { loadConfig } from '../../src/config.ts';
import { openDatabase } from '../../src/db/client.ts';
import { openRuntime } from '../../src/runtime.ts';
import { createApp } from '../../src/server.ts';
import type { Seeded, SeededFactor } from '../seed.ts';
import { FactorPool, challengeRequest } from './hot-path.ts';
import { listRequest } from './reads.ts';
import type { Req } from '../load.ts';

export interface StatementCounts {
  listByPageSize: Record<string, number>;
  createChallengeRight: number;
  createChallengeWrong: number;
  /** Statements of the right-code request, in order (what the hot path costs in round trips). */
  rightStatements: string[];
}

export async function countStatements(env: Record<string, string>, seeded: Seeded, spare: SeededFactor[]): Promise<StatementCounts> {
  let log: string[] = [];
  const db = await openDatabase({
    databaseUrl: env.DATABASE_URL,
    dataDir: env.VERITY_DATA_DIR,
    migrate: false,
    poolSize: 4,
    onQuery: (sql) => log.push(sql),
  });
  // No REDIS_URL: in-memory jobs and events (Redis calls are not SQL; they are listed separately).
  const config = loadConfig({ ...env, REDIS_URL: undefined, LOG_LEVEL: 'silent' });
  const runtime = await openRuntime(config, { db });
  const app = createApp(runtime.deps);
  /** One request through the app; its body (a missing request is a bug of the caller). */
  const post = async (r: Req | null) => {
    if (!r) throw new Error('no request');
    const res = await app.fetch('http://bench/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...r.headers },
      body: r.body,
    });
    return res.text();
  };
  const count = async (r: Req | null) => {
    const body = await post(r);
    if (body.includes('"errors"')) throw new Error(body.slice(0, 300));
    log = [];
    await post(r);
    return log.length;
  };
  try {
    const listByPageSize: Record<string, number> = {};
    for (const first of [1, 10, 50, 100]) {
      listByPageSize[first] = await count(listRequest(seeded.auth, seeded.serviceSid, seeded.reader.identity, first));
    }
    // Hot path as the bench's load meets it: the factor's seed already cached (one wrong code
    // warms it, as the load's warm-up does), then the counted request on that same factor. The
    // first meeting adds one read of the factor (cold path, `--seed-cache 0`).
    const countOnce = async (factor: SeededFactor, code: (p: FactorPool) => ReturnType<typeof challengeRequest>) => {
      const pool = new FactorPool([factor]);
      await post(challengeRequest(seeded.auth, pool.wrongCode()));
      const r = code(pool);
      log = [];
      await post(r);
      return [...log];
    };
    const right = await countOnce(spare[0]!, (p) => challengeRequest(seeded.auth, p.right()));
    const wrong = await countOnce(spare[1]!, (p) => challengeRequest(seeded.auth, p.wrongCode()));
    return {
      listByPageSize,
      createChallengeRight: right.length,
      createChallengeWrong: wrong.length,
      rightStatements: right.map((s) => s.replace(/\s+/g, ' ').slice(0, 90)),
    };
  } finally {
    await runtime.close();
  }
}
