import { print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

const root = new URL('../../', import.meta.url).pathname;

/**
 * A port free at the moment of asking. Racy for a child process (another process may take it before
 * the child listens): prefer `PORT=0` and `listeningPort`, which reads the port the child got.
 */
export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  srv.close();
  return port;
}

export interface Proc {
  child: ChildProcess;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** Resolves when the output matches `re` (no sleeps: we wait for the event). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Runs one of the project's entry points (`src/main.ts`, `workers/main.ts`, a script with `args`) as a real process, under tsx. */
export function runEntry(entry: string, env: Record<string, string | undefined>, args: string[] = []): Proc {
  return runCommand(process.execPath, ['--import', 'tsx', entry, ...args], env);
}

/** Runs a built entry point (`dist/src/main.js`) under bare node, as `npm start` does after `npm run build`. */
export function runBuilt(entry: string, env: Record<string, string | undefined>): Proc {
  return runCommand(process.execPath, ['--enable-source-maps', entry], env);
}

/** Runs an npm script as an operator does (`npm start`, `npm run account:create -- …`) in the project root. */
export function runNpm(args: string[], env: Record<string, string | undefined>): Proc {
  return runCommand('npm', args, env);
}

function runCommand(command: string, args: string[], env: Record<string, string | undefined>): Proc {
  const child = spawn(command, args, {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return {
    child,
    output: () => out,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re}; output:\n${out}`));
        }, timeoutMs);
        waiters.add(check);
        void exited.then((code) => {
          if (waiters.has(check)) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`process exited (${code}) before ${re}; output:\n${out}`));
          }
        });
        check();
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * The port a Verity API process started with `PORT=0` listens on, read from its "Verity listening"
 * log line (JSON, LOG_LEVEL info): no port is chosen before the process binds it, so none can be
 * taken by another process in between.
 */
export async function listeningPort(p: Proc, timeoutMs?: number): Promise<number> {
  const [, port] = await p.waitFor(/"port":(\d+)[^\n]*"msg":"Verity listening/, timeoutMs);
  return Number(port);
}

/** A typed GraphQL request over HTTP to a spawned API process; fails on any error and returns data. */
export async function gqlAt<R, V>(port: number, doc: TypedDocumentNode<R, V>, variables: V, authorization: string): Promise<R> {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization },
    body: JSON.stringify({ query: print(doc), variables }),
  });
  const body = (await res.json()) as { data: R; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
