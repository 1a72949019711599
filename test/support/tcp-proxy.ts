import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * How a cut link behaves:
 * - `refuse`: every open connection is reset and new ones are refused (the server process died,
 *   a firewall answers RST). Clients notice at once.
 * - `blackhole`: nothing is answered and nothing is reset (a partition, a dead host, a dropped
 *   route). Open connections look alive but carry nothing; new connections never complete their
 *   handshake with the far end. Only the client's own timeouts notice — this is the case that makes
 *   clients hang. On restore the held bytes are delivered, as TCP retransmission would after a
 *   short partition, unless the client gave the connection up meanwhile — or, with
 *   `restore({ resumeHeld: false })`, the connections open during the cut stay silent for good
 *   (a NAT or stateful firewall forgot them): only new connections work again.
 */
export type CutMode = 'refuse' | 'blackhole';

export interface TcpProxy {
  /** The port clients connect to (127.0.0.1). */
  port: number;
  /** `url` with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  cut(mode?: CutMode): Promise<void>;
  restore(opts?: { resumeHeld?: boolean }): Promise<void>;
  /** Connection pairs currently open (client side). */
  connections(): number;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream?: Socket;
}

/** A TCP forwarder on 127.0.0.1 to `target` whose link a test can cut and restore. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  const silent = new WeakSet<Pair>();
  let mode: CutMode | 'open' = 'open';
  let server: Server | undefined;
  let port = 0;

  const end = (p: Pair) => {
    pairs.delete(p);
    p.client.destroy();
    p.upstream?.destroy();
  };

  const link = (p: Pair) => {
    const up = connect(target.port, target.host);
    p.upstream = up;
    up.on('error', () => end(p)).on('close', () => end(p));
    // Manual forwarding (no pipe) so pause() reliably holds bytes during a black hole.
    p.client.on('data', (d) => up.write(d));
    up.on('data', (d) => p.client.write(d));
    if (mode === 'blackhole') hold(p);
  };
  const hold = (p: Pair) => {
    p.client.pause();
    p.upstream?.pause();
  };
  const release = (p: Pair) => {
    p.client.resume();
    p.upstream?.resume();
  };

  const onConnection = (client: Socket) => {
    if (mode === 'refuse') return void client.resetAndDestroy();
    const p: Pair = { client };
    pairs.add(p);
    client.on('error', () => end(p)).on('close', () => end(p));
    // In a black hole the far end is never reached: the client's handshake goes unanswered.
    if (mode === 'blackhole') client.pause();
    else link(p);
  };

  const listen = async () => {
    server = createServer({ pauseOnConnect: false }, onConnection).listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  };
  await listen();

  return {
    get port() {
      return port;
    },
    rewrite(url: string) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    async cut(how: CutMode = 'refuse') {
      mode = how;
      if (how === 'refuse') {
        // Stop listening too, so connection attempts get ECONNREFUSED rather than a reset.
        const s = server;
        server = undefined;
        const closed = s ? new Promise<void>((r) => s.close(() => r())) : Promise.resolve();
        for (const p of [...pairs]) {
          p.client.resetAndDestroy();
          p.upstream?.resetAndDestroy();
          pairs.delete(p);
        }
        await closed;
      } else {
        for (const p of pairs) hold(p);
      }
    },
    async restore({ resumeHeld = true }: { resumeHeld?: boolean } = {}) {
      const was = mode;
      mode = 'open';
      if (was === 'blackhole' && !resumeHeld) {
        // Forgotten flows stay paused (silent) until their client gives them up. Connections opened
        // during the cut are not among them: their handshake was never answered, and TCP retries it.
        for (const p of pairs) if (p.upstream) silent.add(p);
      }
      if (was === 'blackhole') {
        for (const p of pairs) {
          if (silent.has(p)) continue;
          if (p.upstream) release(p);
          else {
            p.client.resume();
            link(p);
          }
        }
      }
      if (!server) await listen();
    },
    connections: () => pairs.size,
    async close() {
      mode = 'refuse';
      for (const p of [...pairs]) end(p);
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((r) => s.close(() => r()));
    },
  };
}
