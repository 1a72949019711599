// Owner-only access to the embedded data directory. PGlite's WASM file system writes the files
// of its initial cluster 0666 whatever the process umask (its own internal umask is 022, and it
// sets modes explicitly), so any local user could read the WAL or replace a token hash. PostgreSQL
// itself insists on 0700/0600 for a data directory (PostgreSQL docs, "Creating a Database Cluster";
// initdb's pg_dir_create_mode): Verity applies the same rule to everything under VERITY_DATA_DIR.
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

/**
 * Files this process creates from now on are owner-only (umask 077). Worker threads cannot set
 * the umask (ERR_WORKER_UNSUPPORTED_OPERATION); there `ownerOnly` alone keeps the directory closed.
 */
export function restrictUmask(): void {
  try {
    process.umask(0o077);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ERR_WORKER_UNSUPPORTED_OPERATION') throw e;
  }
}

/**
 * Creates `dir` if needed and makes it and everything under it owner-only: directories 0700,
 * files 0600. Symbolic links are neither followed nor changed (a link planted in the directory
 * must not make us chmod its target). Returns how many modes it had to change.
 */
export function ownerOnly(dir: string): number {
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  let changed = 0;
  const fix = (path: string, isDir: boolean) => {
    const want = isDir ? DIR_MODE : FILE_MODE;
    if ((lstatSync(path).mode & 0o777) !== want) {
      chmodSync(path, want);
      changed++;
    }
  };
  const walk = (d: string) => {
    fix(d, true);
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) fix(path, false);
    }
  };
  walk(dir);
  return changed;
}
