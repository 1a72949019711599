// `npm run import -- --service VA… --file FILE [--format csv|otpauth|aegis] [--verified]
// [--identity-from label|issuer] [--batch N]`: imports existing TOTP seeds from a file into a
// service, in batches through the same use case as the importTotpFactors mutation
// (docs/importing.md). Works on the database the app uses (DATABASE_URL, or the embedded
// $VERITY_DATA_DIR — stop the embedded server first: PGlite is single-process). Resumable: the
// progress is kept in FILE.import-state; each record is idempotent, so running again is safe.
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { VerityError } from '../src/domain/errors.ts';
import { isSid, normalizeSid } from '../src/domain/sid.ts';
import { createLogger } from '../src/logger.ts';
import { createAuditLog } from '../src/db/audit-store.ts';
import { loadFingerprintKey } from '../src/infra/keys.ts';
import { IMPORT_MAX_ITEMS, importFactors } from '../src/services/factor-import.ts';
import { FORMATS, FileFormatError, formatOf, readRecords, type Format, type IdentityFrom, type ImportRecord } from './import-formats.ts';
import { withDatabase } from './with-database.ts';

const USAGE =
  'usage: npm run import -- --service VA… --file FILE [--format csv|otpauth|aegis] [--verified] [--identity-from label|issuer] [--batch 500]';

function fail(message: string): never {
  console.error(`import: ${message}\n${USAGE}`);
  process.exit(2);
}

function options() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        service: { type: 'string' },
        file: { type: 'string' },
        format: { type: 'string' },
        verified: { type: 'boolean', default: false },
        'identity-from': { type: 'string', default: 'label' },
        batch: { type: 'string', default: '500' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    fail((e as Error).message);
  }
  if (!values.service) fail('--service is required');
  if (!isSid('service', values.service)) fail('--service must be a service SID (VA followed by 32 hex digits)');
  if (!values.file) fail('--file is required');
  const format = (values.format ?? formatOf(values.file)) as Format;
  if (!FORMATS.includes(format)) fail(`--format must be one of ${FORMATS.join(', ')}`);
  const identityFrom = values['identity-from'] as IdentityFrom;
  if (identityFrom !== 'label' && identityFrom !== 'issuer') fail('--identity-from must be label or issuer');
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 1 || batch > IMPORT_MAX_ITEMS) fail(`--batch must be 1–${IMPORT_MAX_ITEMS}`);
  return { serviceSid: normalizeSid(values.service), file: values.file, format, verified: values.verified, identityFrom, batch };
}

/** What a later run needs to continue: records are read in file order, so a count is a position. */
interface ImportState {
  service: string;
  format: Format;
  size: number;
  mtimeMs: number;
  recordsDone: number;
  imported: number;
  failed: number;
}

const opts = options();
let text: string;
let records: ImportRecord[];
try {
  text = readFileSync(opts.file, 'utf8');
} catch (e) {
  fail(`cannot read ${opts.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
}
try {
  records = readRecords(text, opts.format, { verified: opts.verified, identityFrom: opts.identityFrom });
} catch (e) {
  if (!(e instanceof FileFormatError)) throw e;
  fail(`${opts.file}: ${e.message}`);
}

const stateFile = `${opts.file}.import-state`;
const stat = statSync(opts.file);
const fresh: ImportState = {
  service: opts.serviceSid,
  format: opts.format,
  size: stat.size,
  mtimeMs: stat.mtimeMs,
  recordsDone: 0,
  imported: 0,
  failed: 0,
};
function loadState(): ImportState {
  if (!existsSync(stateFile)) return fresh;
  try {
    const s = JSON.parse(readFileSync(stateFile, 'utf8')) as ImportState;
    const same = s.service === fresh.service && s.format === fresh.format && s.size === fresh.size && s.mtimeMs === fresh.mtimeMs;
    if (same && Number.isInteger(s.recordsDone) && s.recordsDone >= 0 && s.recordsDone <= records.length) return s;
    console.error(`import: ${stateFile} is from another file, format or service: starting over (repeating a record is safe)`);
  } catch {
    console.error(`import: ${stateFile} is unreadable: starting over (repeating a record is safe)`);
  }
  return fresh;
}

// Ctrl-C or SIGTERM: finish the running batch, save the position, stop.
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void (stopping = true));

await withDatabase(
  async ({ config, db, keyring }) => {
    const logger = createLogger(config.logLevel);
    const service = await db.prisma.service.findUnique({ where: { sid: opts.serviceSid } });
    if (!service) fail(`service ${opts.serviceSid} not found`);
    const ctx = {
      deps: {
        prisma: db.prisma,
        now: () => new Date(),
        logger,
        auditLog: createAuditLog(db.prisma),
        keyring: keyring!,
        fingerprintKey: await loadFingerprintKey(db.prisma, keyring!),
      },
      accountSid: service.accountSid,
      actor: 'operator' as const,
    };
    const state = loadState();
    if (state.recordsDone > 0) console.error(`import: resuming after ${state.recordsDone} of ${records.length} records (${stateFile})`);
    const tty = process.stderr.isTTY;
    const bar = new cliProgress.SingleBar(
      { format: 'importing [{bar}] {percentage}% {value}/{total} records, {failed} failed', stream: process.stderr },
      cliProgress.Presets.legacy,
    );
    if (tty) bar.start(records.length, state.recordsDone, { failed: state.failed });
    const report = (r: ImportRecord, code: string, message: string) => {
      state.failed++;
      const line = `${opts.file}:${r.line}: ${code}: ${message}`;
      // On a terminal: clear the bar's line first; the next update draws it again below.
      if (tty) process.stderr.write(`\r\x1b[K${line}\n`);
      else console.error(line);
    };

    while (state.recordsDone < records.length && !stopping) {
      const batch = records.slice(state.recordsDone, state.recordsDone + opts.batch);
      const readable = batch.filter((r): r is Extract<ImportRecord, { item: unknown }> => 'item' in r);
      const result = await importFactors(
        ctx,
        service,
        readable.map((r) => r.item),
      );
      // One report in file order, whether the line could not be read or the use case refused it.
      const failures = [
        ...batch.flatMap((r) => ('error' in r ? [{ r, code: 'INVALID_ARGUMENT', message: r.error }] : [])),
        ...result.errors.map((e) => ({ r: readable[e.index]!, code: e.code, message: e.message })),
      ].sort((x, y) => x.r.line - y.r.line);
      for (const f of failures) report(f.r, f.code, f.message);
      state.imported += result.imported;
      state.recordsDone += batch.length;
      writeFileSync(stateFile, JSON.stringify(state) + '\n');
      if (tty) bar.update(state.recordsDone, { failed: state.failed });
      else console.error(`import: ${state.recordsDone}/${records.length} records, ${state.failed} failed`);
      // PGlite answers through microtasks only: yield a macrotask so a pending signal is seen between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (tty) bar.stop();
    if (state.recordsDone < records.length) {
      console.error(`import: interrupted after ${state.recordsDone} of ${records.length} records; run the same command again to resume`);
      process.exitCode = 130;
      return;
    }
    rmSync(stateFile, { force: true });
    console.log(`imported ${state.imported} of ${records.length} records into ${service.sid}; ${state.failed} failed`);
    process.exitCode = state.failed > 0 ? 1 : 0;
  },
  { keyring: true },
).catch((e: unknown) => {
  if (!(e instanceof VerityError)) throw e;
  console.error(`import: ${e.message}`);
  process.exitCode = 1;
});
