import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { print } from 'graphql';
import WebSocket from 'ws';
import { createClient as createSseClient } from 'graphql-sse';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listen, type HttpServer } from '../src/http.ts';
import { startTestApp, type TestApp, type Tenant } from './support/app.ts';
import { ChallengeUpdated, CreateAccessToken, CreateChallenge, CreateService } from './support/documents.ts';
import { verifiedFactor } from './support/flows.ts';
import { waitUntil, WAIT_MS } from './support/live.ts';

// Attacks on connections, by real clients over real sockets: `ws` speaking graphql-transport-ws,
// fetch for SSE, raw TCP for slow clients. With REDIS_URL the app's event bus is Redis; the caps
// are counted per process in both modes (one instance here).
const redisUrl = process.env.REDIS_URL;
const modeEnv: Record<string, string> = redisUrl ? { REDIS_URL: redisUrl } : {};

/** A graphql-transport-ws socket: sends connection_init with `init` as payload (unless `init` is 'none'). */
function wsSocket(port: number, init: Record<string, unknown> | 'none' | undefined) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/graphql`, 'graphql-transport-ws');
  ws.on('error', () => undefined);
  const messages: { type: string; id?: string; payload?: unknown }[] = [];
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  /** 'ack', or how the socket was closed before one. */
  const outcome = new Promise<string>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as (typeof messages)[number];
      messages.push(m);
      if (m.type === 'connection_ack') resolve('ack');
    });
    void closed.then(({ code, reason }) => resolve(`${code} ${reason}`));
  });
  ws.on('open', () => {
    if (init !== 'none') ws.send(JSON.stringify({ type: 'connection_init', ...(init ? { payload: init } : {}) }));
  });
  return { ws, closed, outcome, messages };
}
type WsSocket = ReturnType<typeof wsSocket>;

/** A graphql subscription over SSE (fetch, `accept: text/event-stream`): the response, its body still streaming. */
async function sseStream(port: number, authorization: string | undefined, variables: Record<string, unknown> = { identity: 'someone-1' }) {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'text/event-stream' };
  if (authorization) headers.authorization = authorization;
  return fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: print(ChallengeUpdated), variables }),
  });
}

/** A raw TCP connection to the server and the moment it closed, with everything the server wrote. */
function tcp(port: number) {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let received = '';
  socket.on('data', (d) => (received += String(d)));
  const closed = once(socket, 'close').then(() => ({ at: Date.now(), received }));
  return { socket, closed, connected: once(socket, 'connect') };
}

/** `p`, or a failure naming `what` after `ms` (an attack that is not stopped would hold the test for minutes). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: still open after ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `chunk` every 100 ms until the socket closes: a client that is never idle, yet never done. */
function trickle(socket: Socket, chunk: string) {
  const timer = setInterval(() => socket.writable && socket.write(chunk), 100);
  socket.once('close', () => clearInterval(timer));
}

describe('WebSocket messages and long-lived streams', () => {
  const BODY_LIMIT = 16_384;
  let t: TestApp;
  let http: HttpServer;
  let a: Tenant;
  let b: Tenant;
  let c: Tenant;
  let open: WsSocket[] = [];
  let streams: Response[] = [];
  const ws = (init: Record<string, unknown> | 'none' | undefined) => {
    const s = wsSocket(http.port, init);
    open.push(s);
    return s;
  };
  const sse = async (authorization: string | undefined) => {
    const r = await sseStream(http.port, authorization);
    streams.push(r);
    return r;
  };

  beforeAll(async () => {
    t = await startTestApp({
      VERITY_BODY_LIMIT_BYTES: String(BODY_LIMIT),
      VERITY_MAX_STREAMS_PER_ADDRESS: '4',
      VERITY_MAX_STREAMS_PER_ACCOUNT: '2',
      ...modeEnv,
    });
    http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
    [a, b, c] = [await t.newAccount('A'), await t.newAccount('B'), await t.newAccount('C')];
  });
  afterAll(async () => {
    await http?.close();
    await t?.close();
  });
  afterEach(async () => {
    for (const s of open) s.ws.terminate();
    for (const r of streams) await r.body?.cancel().catch(() => undefined);
    open = [];
    streams = [];
    // Every slot is given back when its socket closes: the next test starts from none.
    const policy = t.app.connections;
    await waitUntil(() => policy.perAddress.count('127.0.0.1') === 0, WAIT_MS, 'stream slots freed');
  });

  it('a subscribe message larger than VERITY_BODY_LIMIT_BYTES is refused with close 1009 before it is executed', async () => {
    const s = ws({ authorization: a.auth });
    expect(await s.outcome).toBe('ack');
    // 1 MiB of query (64 × the limit): the frame header announces it, so it is refused unread.
    const query = `subscription { challengeUpdated(identity: "someone-1") { sid } } # ${'x'.repeat(1 << 20)}`;
    s.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    const { code } = await within(s.closed, WAIT_MS, 'the socket that sent it');
    expect(code).toBe(1009);
    expect(s.messages.map((m) => m.type)).toEqual(['connection_ack']);
  });

  it('a subscribe message under the limit is still served', async () => {
    const s = ws({ authorization: a.auth });
    expect(await s.outcome).toBe('ack');
    const query = `{ viewer { sid } } # ${'x'.repeat(BODY_LIMIT / 2)}`;
    s.ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
    await waitUntil(() => s.messages.some((m) => m.type === 'complete'), WAIT_MS, 'an answer to the subscribe');
    expect(s.messages[1]).toEqual({ id: '1', type: 'next', payload: { data: { viewer: { sid: a.sid } } } });
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('sockets that send connection_init without valid credentials are closed with 4401, never acknowledged', async () => {
    const header = (sid: string) => `Basic ${Buffer.from(`${sid}:${'0'.repeat(64)}`).toString('base64')}`;
    const attempts = [
      undefined, // no payload at all
      {}, // a payload without credentials
      { authorization: 'Basic bm9wZTpub3Bl' },
      { authorization: header(a.sid) }, // a real account, a wrong token
      { authorization: 'Bearer not-a-token' },
      { Authorization: 42 },
    ];
    for (const init of attempts) {
      const s = ws(init);
      expect(await s.outcome, JSON.stringify(init)).toBe('4401 Unauthorized: send valid credentials in connection_init');
      expect(s.messages).toEqual([]);
    }
    // Right credentials still get in.
    expect(await ws({ authorization: a.auth }).outcome).toBe('ack');
  });

  it('an expired access token is refused at connection_init with 4401', async () => {
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Exp' } }, a.auth)).createService.sid;
    const { token } = (await t.ok(CreateAccessToken, { input: { serviceSid, identity: 'someone-1', ttlSeconds: 60 } }, a.auth))
      .createAccessToken;
    t.clock.advance(61_000);
    expect(await ws({ authorization: `Bearer ${token}` }).outcome).toMatch(/^4401 /);
  });

  it('a socket flood from one address: sockets past VERITY_MAX_STREAMS_PER_ADDRESS are closed with 1013 TOO_MANY_CONNECTIONS', async () => {
    // Two accounts × two sockets fill the address's four slots (each account is at its own cap of two).
    const held = [a, a, b, b].map((x) => ws({ authorization: x.auth }));
    expect(await Promise.all(held.map((s) => s.outcome))).toEqual(['ack', 'ack', 'ack', 'ack']);
    // The fifth is closed before anything is read: credentials or not.
    for (const init of [{ authorization: c.auth }, 'none' as const]) {
      expect(await ws(init).outcome).toBe('1013 TOO_MANY_CONNECTIONS: at most 4 per client address');
    }
    held[0]!.ws.close();
    await held[0]!.closed;
    const policy = t.app.connections;
    await waitUntil(() => policy.perAddress.count('127.0.0.1') === 3, WAIT_MS, 'the closed socket’s slot freed');
    expect(await ws({ authorization: c.auth }).outcome).toBe('ack');
  });

  it('one account opening sockets past VERITY_MAX_STREAMS_PER_ACCOUNT: the third is closed with 1013; its access tokens count too; other accounts are unaffected', async () => {
    const serviceSid = (await t.ok(CreateService, { input: { friendlyName: 'Cap' } }, a.auth)).createService.sid;
    const { token } = (await t.ok(CreateAccessToken, { input: { serviceSid, identity: 'someone-1', ttlSeconds: 3600 } }, a.auth))
      .createAccessToken;
    expect(await ws({ authorization: a.auth }).outcome).toBe('ack');
    expect(await ws({ authorization: `Bearer ${token}` }).outcome).toBe('ack');
    expect(await ws({ authorization: a.auth }).outcome).toBe('1013 TOO_MANY_CONNECTIONS: at most 2 per account');
    expect(await ws({ authorization: `Bearer ${token}` }).outcome).toBe('1013 TOO_MANY_CONNECTIONS: at most 2 per account');
    expect(await ws({ authorization: b.auth }).outcome).toBe('ack');
  });

  it('an SSE stream flood: streams past the caps answer 429 TOO_MANY_CONNECTIONS, counted together with WebSockets', async () => {
    expect(await ws({ authorization: a.auth }).outcome).toBe('ack');
    const first = await sse(a.auth);
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toContain('text/event-stream');
    // Account A holds a WebSocket and a stream: its third is refused.
    const overAccount = await sse(a.auth);
    expect(overAccount.status).toBe(429);
    expect(await overAccount.json()).toEqual({
      errors: [{ message: 'At most 2 open streams (WebSockets and SSE) per account', extensions: { code: 'TOO_MANY_CONNECTIONS' } }],
    });
    // B fills the address's other two slots; then anyone from this address is refused, credentials or not.
    for (const x of [b, b]) expect((await sse(x.auth)).status).toBe(200);
    for (const auth of [c.auth, undefined]) {
      const over = await sse(auth);
      expect(over.status).toBe(429);
      expect(((await over.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe(
        'TOO_MANY_CONNECTIONS',
      );
    }
    expect(await ws({ authorization: c.auth }).outcome).toBe('1013 TOO_MANY_CONNECTIONS: at most 4 per client address');
  });

  it('graphql-sse single connection mode: its event stream counts like any other', async () => {
    expect(await ws({ authorization: a.auth }).outcome).toBe('ack');
    expect((await sse(a.auth)).status).toBe(200);
    const client = createSseClient({
      url: `http://127.0.0.1:${http.port}/graphql`,
      headers: { authorization: a.auth },
      singleConnection: true,
      retryAttempts: 0,
    });
    try {
      // The stream's GET is refused (graphql-sse's client aborts the body as it throws: the status is what is left to read).
      const it = client.iterate({ query: print(ChallengeUpdated), variables: { identity: 'someone-1' } })[Symbol.asyncIterator]();
      const refused = await it.next().then(
        (r) => JSON.stringify(r),
        (e: unknown) => (e as { response?: Response }).response?.status,
      );
      expect(refused).toBe(429);
    } finally {
      client.dispose();
    }
  });
});

describe('slow clients and the connection cap', () => {
  const HEADERS_MS = 1_000;
  const BODY_MS = 1_500;
  const KEEP_ALIVE_MS = 1_000;
  const MAX_CONNECTIONS = 6;
  /** The sweep that enforces the deadlines runs every quarter of the shorter one; this covers it and a loaded machine. */
  const SLACK_MS = 3_000;
  let t: TestApp;
  let http: HttpServer;
  let a: Tenant;

  beforeAll(async () => {
    t = await startTestApp({
      VERITY_HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      VERITY_HTTP_BODY_TIMEOUT_MS: String(BODY_MS),
      VERITY_HTTP_KEEP_ALIVE_TIMEOUT_MS: String(KEEP_ALIVE_MS),
      VERITY_HTTP_MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      ...modeEnv,
    });
    http = await listen(t.app, { port: 0, host: '127.0.0.1', maxSubscriptionsPerConnection: 10 });
    a = await t.newAccount('A');
  });
  afterAll(async () => {
    await http?.close();
    await t?.close();
  });

  it('a slow body (a byte every 100 ms, no credentials) is cut off after VERITY_HTTP_BODY_TIMEOUT_MS with 408', async () => {
    const c = tcp(http.port);
    await c.connected;
    const started = Date.now();
    c.socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 102400\r\n\r\n{');
    trickle(c.socket, ' ');
    const { at, received } = await within(c.closed, BODY_MS + SLACK_MS, 'the slow body');
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(at - started).toBeGreaterThanOrEqual(BODY_MS - 100);
  });

  it('slow headers (a header line every 100 ms) are cut off after VERITY_HTTP_HEADERS_TIMEOUT_MS with 408', async () => {
    const c = tcp(http.port);
    await c.connected;
    const started = Date.now();
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    trickle(c.socket, 'X-Slow: 1\r\n');
    const { at, received } = await within(c.closed, HEADERS_MS + SLACK_MS, 'the slow headers');
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(at - started).toBeGreaterThanOrEqual(HEADERS_MS - 100);
  });

  it('an idle keep-alive connection is closed after VERITY_HTTP_KEEP_ALIVE_TIMEOUT_MS', async () => {
    const c = tcp(http.port);
    await c.connected;
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    await once(c.socket, 'data');
    const answered = Date.now();
    const { at, received } = await within(c.closed, KEEP_ALIVE_MS + SLACK_MS, 'the idle keep-alive connection');
    expect(received).toMatch(/^HTTP\/1\.1 200 [\s\S]*Keep-Alive: timeout=1\r\n/);
    expect(at - answered).toBeGreaterThanOrEqual(KEEP_ALIVE_MS - 100);
  });

  it('WebSockets and SSE streams outlive the body deadline: it bounds receiving a request, not a stream', async () => {
    const f = await verifiedFactor(t, a);
    const s = wsSocket(http.port, { authorization: a.auth });
    expect(await s.outcome).toBe('ack');
    const stream = await sseStream(http.port, a.auth, { identity: f.identity });
    expect(stream.status).toBe(200);
    // A slow body opened after them is cut off: by then both are older than every deadline.
    const c = tcp(http.port);
    await c.connected;
    c.socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n');
    trickle(c.socket, ' ');
    await within(c.closed, BODY_MS + SLACK_MS, 'the slow body');
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
    s.ws.ping();
    await once(s.ws, 'pong');
    // The stream still delivers.
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    const challenge = (await t.ok(CreateChallenge, { input: { factorSid: f.factorSid } }, a.auth)).createChallenge;
    let text = '';
    while (!text.includes(challenge.sid)) {
      const { value, done } = await within(reader.read(), WAIT_MS, 'the event');
      if (done) throw new Error(`stream ended: ${text}`);
      text += value;
    }
    await reader.cancel();
    s.ws.terminate();
  });

  it('connections past VERITY_HTTP_MAX_CONNECTIONS are dropped at once, unread; a freed slot serves again', async () => {
    // Long-lived connections the deadlines do not touch fill the cap.
    const held = Array.from({ length: MAX_CONNECTIONS }, () => wsSocket(http.port, { authorization: a.auth }));
    expect(new Set(await Promise.all(held.map((s) => s.outcome)))).toEqual(new Set(['ack']));
    const over = tcp(http.port);
    over.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    const { received } = await within(over.closed, SLACK_MS, 'the connection over the cap');
    expect(received).toBe('');
    held[0]!.ws.close();
    await held[0]!.closed;
    await waitUntil(
      () => new Promise<boolean>((resolve) => http.server.getConnections((_e, n) => resolve(n < MAX_CONNECTIONS))),
      WAIT_MS,
      'a connection slot freed',
    );
    const res = await fetch(`http://127.0.0.1:${http.port}/healthz`, { headers: { connection: 'close' } });
    expect(res.status).toBe(200);
    for (const s of held) s.ws.terminate();
  });

  // Last in this app: it uses up 127.0.0.1's failed-authentication budget.
  it('guessing auth tokens over connection_init spends the address’s failed-auth budget: past it even the right token is closed with 4429', async () => {
    const wrong = `Basic ${Buffer.from(`${a.sid}:${'0'.repeat(64)}`).toString('base64')}`;
    for (let i = 0; i < t.config.limits.authFailures; i++)
      expect(await wsSocket(http.port, { authorization: wrong }).outcome).toMatch(/^4401 /);
    expect(await wsSocket(http.port, { authorization: a.auth }).outcome).toBe(
      '4429 Too many failed authentications from this address: retry later',
    );
  });
});
