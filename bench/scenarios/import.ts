// Scenario i: bulk import throughput (docs/importing.md). N new factors (one entity each, as a
// migration brings them) in batches of `batch` through the `importTotpFactors` mutation, one batch
// at a time as `npm run import` sends them, against the baseline measured in the same run: the same
// kind of factor made one request at a time with `createTotpFactor` (an existing seed passed as
// `secret`), at the import's own parallelism (4 items in flight inside the service).
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { encodeBase32 } from '../../src/domain/totp.ts';
import { progress, progressDone, round, runOps, send } from '../load.ts';
import type { CpuMeter } from '../proc.ts';

const IMPORT = 'mutation($input: ImportTotpFactorsInput!) { importTotpFactors(input: $input) { imported errors { index code message } } }';
const CREATE = 'mutation($input: CreateTotpFactorInput!) { createTotpFactor(input: $input) { factor { sid } } }';

export interface ImportRun {
  name: string;
  factors: number;
  seconds: number;
  factorsPerSecond: number;
  /** CPU ms per factor: the API process, and (PostgreSQL mode) the bench database's backends. */
  apiCpuMsPerFactor: number;
  dbCpuMsPerFactor?: number;
  errors: number;
  firstError?: string;
}

export interface ImportBench {
  import: ImportRun;
  oneByOne: ImportRun;
  /** import ÷ oneByOne, factors/s. */
  ratio: number;
  batch: number;
}

export async function importThroughput(o: {
  url: string;
  auth: string;
  serviceSid: string;
  factors: number;
  batch: number;
  oneByOneFactors: number;
  durationMs: number;
  apiCpuMs: () => number;
  db?: () => CpuMeter;
  log: (s: string) => void;
}): Promise<ImportBench> {
  const url = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const run = randomBytes(3).toString('hex');
  const secret = () => encodeBase32(new Uint8Array(randomBytes(20)));
  const post = async (query: string, input: object) => {
    const r = await send(agent, url, { headers: { authorization: o.auth }, body: JSON.stringify({ query, variables: { input } }) });
    if (r.status !== 200 || r.body.includes('"errors":[{')) throw new Error(`${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body).data;
  };
  const measure = async (
    name: string,
    work: () => Promise<{ factors: number; errors: number; firstError?: string }>,
  ): Promise<ImportRun> => {
    const meter = o.db?.();
    await meter?.begin();
    const cpu0 = o.apiCpuMs();
    const t0 = performance.now();
    const r = await work();
    const seconds = (performance.now() - t0) / 1000;
    const apiCpu = o.apiCpuMs() - cpu0;
    const dbCpu = meter ? await meter.end() : undefined;
    const per = (ms: number) => round(ms / Math.max(1, r.factors), 3);
    const result: ImportRun = {
      name,
      factors: r.factors,
      seconds: round(seconds),
      factorsPerSecond: round(r.factors / seconds, 1),
      apiCpuMsPerFactor: per(apiCpu),
      ...(dbCpu !== undefined ? { dbCpuMsPerFactor: per(dbCpu) } : {}),
      errors: r.errors,
      ...(r.firstError ? { firstError: r.firstError } : {}),
    };
    o.log(
      `  ${name.padEnd(34)} ${String(result.factorsPerSecond).padStart(8)} factors/s  ${r.factors} in ${result.seconds} s  CPU/factor API ${result.apiCpuMsPerFactor} ms${result.dbCpuMsPerFactor !== undefined ? ` DB ${result.dbCpuMsPerFactor} ms` : ''}${r.errors ? `  ${r.errors} ERRORS (${r.firstError})` : ''}`,
    );
    return result;
  };
  try {
    const imported = await measure(`i. importTotpFactors × ${o.batch}`, async () => {
      let factors = 0;
      let errors = 0;
      let firstError: string | undefined;
      for (let start = 0; start < o.factors; start += o.batch) {
        const items = Array.from({ length: Math.min(o.batch, o.factors - start) }, (_, k) => ({
          identity: `bench-import-${run}-${String(start + k).padStart(6, '0')}`,
          secret: secret(),
          friendlyName: 'Imported phone',
          verified: true,
        }));
        const r = (await post(IMPORT, { serviceSid: o.serviceSid, factors: items })).importTotpFactors;
        factors += r.imported;
        errors += r.errors.length;
        firstError ??= r.errors[0] ? `${r.errors[0].code}: ${r.errors[0].message}` : undefined;
        progress(`  importing ${start + items.length}/${o.factors}`);
      }
      progressDone();
      return { factors, errors, firstError };
    });
    const oneByOne = await measure('i0. createTotpFactor, one per request', async () => {
      const r = await runOps({
        name: 'i0. createTotpFactor',
        durationMs: o.durationMs,
        maxOps: o.oneByOneFactors,
        concurrency: 4,
        op: async (i) => {
          const identity = `bench-create-${run}-${String(i).padStart(6, '0')}`;
          const d = await post(CREATE, { serviceSid: o.serviceSid, identity, friendlyName: 'Created phone', secret: secret() });
          return !!d.createTotpFactor.factor.sid;
        },
      });
      return { factors: r.requests - r.errors, errors: r.errors, firstError: r.firstError };
    });
    return { import: imported, oneByOne, ratio: round(imported.factorsPerSecond / oneByOne.factorsPerSecond, 2), batch: o.batch };
  } finally {
    agent.destroy();
  }
}
