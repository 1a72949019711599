import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WAIT_MS } from './live.ts';

export interface Received {
  method: string;
  /** Path and query, as the request line carried them. */
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

/** How the receiver answers its n-th request (1-based): a status, or 'hang' (never answer), or 'stream' (200 + an endless body). */
export type Answer = number | 'hang' | 'stream' | { status: number; headers?: Record<string, string> };

/**
 * A real HTTP receiver on loopback, standing in for a customer's webhook endpoint. Tests await its
 * requests (`next`, `waitFor`) instead of sleeping.
 */
export class Receiver {
  readonly requests: Received[] = [];
  #consumed = 0;
  #waiters = new Set<() => void>();
  #open = new Set<ServerResponse>();
  answer: (n: number, r: Received) => Answer = () => 200;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Receiver> {
    let self: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () =>
        self!.#handle(
          {
            method: req.method ?? '',
            path: req.url ?? '',
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            at: Date.now(),
          },
          res,
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new Receiver(server, (server.address() as AddressInfo).port);
    return self;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  #handle(r: Received, res: ServerResponse) {
    this.requests.push(r);
    const a = this.answer(this.requests.length, r);
    for (const w of this.#waiters) w();
    if (a === 'hang') {
      this.#open.add(res);
      return;
    }
    if (a === 'stream') {
      this.#open.add(res);
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('error', () => {});
      pump();
      return;
    }
    const { status, headers } = typeof a === 'number' ? { status: a, headers: {} } : a;
    res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(status < 300 ? 'ok' : `nope ${status}`);
  }

  /** Resolves once `count` requests in all have arrived; fails after `timeoutMs`. */
  waitFor(count: number, timeoutMs = WAIT_MS): Promise<Received[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.requests.length >= count) {
          clearTimeout(timer);
          this.#waiters.delete(check);
          resolve(this.requests.slice(0, count));
        }
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`receiver: ${this.requests.length} of ${count} requests within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** The next request not yet returned by next(). */
  async next(timeoutMs = WAIT_MS): Promise<Received> {
    const n = ++this.#consumed;
    return (await this.waitFor(n, timeoutMs))[n - 1]!;
  }

  /** Forget what arrived so far (the next next() waits for a new request). */
  skipSeen(): void {
    this.#consumed = this.requests.length;
  }

  async close(): Promise<void> {
    for (const res of this.#open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The form body as twilio.validateRequest expects its params. */
export const formOf = (body: string): Record<string, string> => Object.fromEntries(new URLSearchParams(body));
