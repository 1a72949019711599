// The attack: another local user reads the embedded database (the WAL, token hashes, encrypted
// seeds) or swaps a file under it — PGlite writes its cluster 0666. The data directory must be
// the owner's alone: directories 0700, files 0600, whatever umask the process was started with,
// for a fresh directory and for one an older version left open.
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/client.ts';
import { listeningPort, runEntry } from './support/process.ts';

const dirs: string[] = [];
const freshDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'verity-modes-'));
  dirs.push(d);
  return join(d, 'data'); // not yet existing, as on a first start
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every directory and file under `dir` (itself included) whose mode is not owner-only. */
function notOwnerOnly(dir: string): { files: number; open: string[] } {
  const open: string[] = [];
  let files = 0;
  const walk = (d: string) => {
    const m = lstatSync(d).mode & 0o777;
    if (m !== 0o700) open.push(`${d.slice(dir.length) || '/'} ${m.toString(8)}`);
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else {
        files++;
        const fm = lstatSync(p).mode & 0o777;
        if (fm !== 0o600) open.push(`${p.slice(dir.length)} ${fm.toString(8)}`);
      }
    }
  };
  walk(dir);
  return { files, open };
}

/** Runs `fn` with the process umask set to `mask` (a permissive host), then puts it back. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const before = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(before);
  }
}

describe('embedded database files readable or writable by other local users', () => {
  it(
    'openDatabase on a fresh data dir, started with umask 000: every directory 0700 and every file 0600, while open and after close',
    { timeout: 300_000 },
    async () => {
      const dir = freshDir();
      await withUmask(0, async () => {
        const db = await openDatabase({ dataDir: dir });
        try {
          await db.prisma.$executeRawUnsafe('CREATE TABLE "ModesProbe" (x int)');
          await db.prisma.$executeRawUnsafe('INSERT INTO "ModesProbe" SELECT generate_series(1, 1000)');
          const open = notOwnerOnly(dir);
          expect(open.files).toBeGreaterThan(900); // the whole cluster was looked at
          expect(open.open.filter((l) => !l.includes('pg_internal.init'))).toEqual([]);
        } finally {
          await db.close();
        }
      });
      const closed = notOwnerOnly(dir);
      expect(closed.files).toBeGreaterThan(900);
      expect(closed.open).toEqual([]);
    },
  );

  it('a data dir left world-readable and world-writable is made owner-only when it is opened', { timeout: 300_000 }, async () => {
    const dir = freshDir();
    await (await openDatabase({ dataDir: dir })).close();
    const loosen = (d: string) => {
      chmodSync(d, 0o777);
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) loosen(join(d, e.name));
        else chmodSync(join(d, e.name), 0o666);
      }
    };
    loosen(dir);
    expect(notOwnerOnly(dir).open.length).toBeGreaterThan(900);
    const db = await openDatabase({ dataDir: dir });
    try {
      expect(notOwnerOnly(dir).open.filter((l) => !l.includes('pg_internal.init'))).toEqual([]);
    } finally {
      await db.close();
    }
    expect(notOwnerOnly(dir).open).toEqual([]);
  });

  it(
    'the real embedded process (npm start), started with umask 000 on a fresh data dir: the directory is owner-only while it serves and after it stops',
    { timeout: 400_000 },
    async () => {
      // Generous bounds against hangs, not budgets: a first start migrates a new cluster under tsx,
      // which takes minutes on a loaded 2-core box.
      const bound = 180_000;
      const dir = freshDir();
      const proc = await withUmask(0, async () =>
        runEntry('src/main.ts', { VERITY_DATA_DIR: dir, PORT: '0', DATABASE_URL: '', REDIS_URL: '' }),
      );
      try {
        const [, sid] = await proc.waitFor(/Account SID: (AC[0-9a-f]{32})/, bound);
        const [, token] = await proc.waitFor(/Auth token: +([0-9a-f]{64})/, bound);
        const port = await listeningPort(proc, bound);
        const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`${sid}:${token}`).toString('base64')}` },
          body: JSON.stringify({ query: 'mutation { createService(input: { friendlyName: "Modes" }) { sid } }' }),
        });
        expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();
        const serving = notOwnerOnly(dir);
        expect(serving.files).toBeGreaterThan(900);
        expect(serving.open.filter((l) => !l.includes('pg_internal.init'))).toEqual([]);
        expect(await proc.stop()).toBe(0);
      } finally {
        await proc.stop();
      }
      const stopped = notOwnerOnly(dir);
      expect(stopped.open).toEqual([]);
      expect(lstatSync(join(dir, 'encryption-keys')).mode & 0o777).toBe(0o600);
    },
  );
});
