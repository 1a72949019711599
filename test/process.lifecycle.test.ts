import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { listeningPort, runNpm } from './support/process.ts';
import { waitUntil, WAIT_MS } from './support/live.ts';

// Containers and process managers signal exactly the PID they started: `npm start`'s. That signal
// must reach the server and stop it gracefully, not kill npm and leave node serving the port.
const dataDir = mkdtempSync(join(tmpdir(), 'verity-lifecycle-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

/** PIDs of a process's direct children (procps `ps`, as in Debian's base image). */
const childrenOf = (pid: number): number[] => {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter(Boolean);
  } catch {
    return []; // ps exits 1 when there are none
  }
};
/** Every descendant of `pid`, depth first. */
const descendantsOf = (pid: number): number[] => childrenOf(pid).flatMap((c) => [c, ...descendantsOf(c)]);
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const commandOf = (pid: number) => execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
async function portAccepts(port: number): Promise<boolean> {
  const socket = connect(port, '127.0.0.1');
  try {
    await once(socket, 'connect');
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

describe.skipIf(!!process.env.DATABASE_URL)('npm start', () => {
  it(
    'SIGTERM to the npm PID alone stops the server gracefully: node exits, the port closes, npm exits 0',
    { timeout: 240_000 },
    async () => {
      const npm = runNpm(['start'], { VERITY_DATA_DIR: dataDir, PORT: '0', DATABASE_URL: '', REDIS_URL: '' });
      // Whatever the outcome, nothing this test started outlives it (an orphaned server keeps its port).
      const started = new Set<number>();
      onTestFinished(() => {
        for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
      const port = await listeningPort(npm, 180_000);
      for (const pid of [npm.child.pid!, ...descendantsOf(npm.child.pid!)]) started.add(pid);
      expect(await portAccepts(port)).toBe(true);
      const servers = descendantsOf(npm.child.pid!).filter((pid) => /^(\S*\/)?node .*dist\/src\/main\.js/.test(commandOf(pid)));
      expect(servers).toHaveLength(1);
      const server = servers[0]!;

      process.kill(npm.child.pid!, 'SIGTERM'); // the npm PID only, not its process group

      await waitUntil(() => !alive(server), WAIT_MS, 'the node server to exit');
      expect(await portAccepts(port)).toBe(false);
      expect(await npm.exited).toBe(0);
      expect(npm.output()).toMatch(/"signal":"SIGTERM"[^\n]*"msg":"shutting down"/);
      expect(npm.output()).toMatch(/"msg":"stopped"/);
    },
  );
});
