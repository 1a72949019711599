import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { createClient as createSseClient, type Client as SseClient } from 'graphql-sse';
import type { VerityEvent } from '../../src/events/index.ts';
import type { TestApp } from './app.ts';

/**
 * How long a wait for something that happens asynchronously may take before the test fails. Generous
 * on purpose: on a loaded 2-core CI box (load 10+, two files at a time, BullMQ and PostgreSQL shared
 * with other suites) a job, a webhook or a pub/sub message can queue for seconds. A deadline only
 * bounds how long a broken test hangs; it never makes a passing assertion weaker (the vitest
 * per-test timeout is 60 s).
 */
export const WAIT_MS = 30_000;

/** Waits for `cond` (checked every 20 ms), failing after `timeoutMs`: for states with no event to await. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The next value of a subscription, or a failure after `timeoutMs`. */
export async function next<T>(it: AsyncIterator<T>, timeoutMs = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error('subscription ended');
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

export function wsClient(port: number, opts: { authorization?: string; viaHeader?: boolean } = {}): WsClient {
  const { authorization, viaHeader } = opts;
  class AuthWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols, viaHeader && authorization ? { headers: { authorization } } : {});
    }
  }
  return createWsClient({
    url: `ws://127.0.0.1:${port}/graphql`,
    webSocketImpl: AuthWebSocket,
    connectionParams: !viaHeader && authorization ? { authorization } : undefined,
    retryAttempts: 0,
    lazy: true,
  });
}

export function sseClient(port: number, authorization: string): SseClient {
  return createSseClient({ url: `http://127.0.0.1:${port}/graphql`, headers: { authorization }, retryAttempts: 0 });
}

/** Subscribers on the Redis channel of one account (PUBSUB NUMSUB): proof a remote instance listens. */
export async function redisSubscribers(redisUrl: string, prefix: string, accountSid: string): Promise<number> {
  const r = new Redis(redisUrl);
  try {
    const [, n] = (await r.pubsub('NUMSUB', `${prefix}:events:${accountSid}`)) as [string, number];
    return Number(n);
  } finally {
    r.disconnect();
  }
}

/**
 * Records the account's event-bus events that `keep` accepts, from the moment it resolves: with
 * Redis the subscription is live once Redis confirms it, so this waits for that, not a fixed time.
 */
export async function recordBus(t: TestApp, accountSid: string, keep: (e: VerityEvent) => boolean) {
  const bus = t.deps.events.subscribe(accountSid)[Symbol.asyncIterator]();
  const seen: VerityEvent[] = [];
  const pump = (async () => {
    for (;;) {
      const r = await bus.next();
      if (r.done) return;
      if (keep(r.value)) seen.push(r.value);
    }
  })();
  if (t.config.redisUrl)
    await waitUntil(async () => (await redisSubscribers(t.config.redisUrl!, t.runtime.redisPrefix, accountSid)) > 0, WAIT_MS, 'subscribed');
  return {
    seen,
    async stop() {
      await bus.return?.();
      await pump;
    },
  };
}
