/** `::ffff:127.0.0.1` and `127.0.0.1` are one client. */
const normalize = (a: string) => (a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a).trim();

/**
 * The client's address: the socket's peer, or — behind `hops` trusted proxies that each append
 * the address they saw to X-Forwarded-For — the entry `hops` places from the right of the chain.
 * Entries further left are whatever the client wrote and are never trusted. In-process requests
 * (tests calling app.fetch) have no socket: they count as one address, "local".
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | null | undefined, hops: number): string {
  const chain =
    hops > 0 && forwardedFor
      ? forwardedFor
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  chain.push(socketAddress ?? 'local');
  return normalize(chain[Math.max(0, chain.length - 1 - hops)]!);
}
