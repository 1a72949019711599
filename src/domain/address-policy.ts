// Which network addresses a webhook may reach (SSRF, OWASP "Server-Side Request Forgery Prevention"):
// a tenant must not be able to make Verity call its own loopback, the private network it runs in,
// or a cloud metadata endpoint (169.254.169.254, fd00:ec2::254) by naming it as a webhook URL.
import ipaddr from 'ipaddr.js';

/**
 * Why an address is refused, or null when it is a public unicast address. Only ipaddr.js's
 * `unicast` range passes: loopback, private (RFC 1918), unique-local (fc00::/7), link-local
 * (169.254/16 — metadata services — and fe80::/10), carrier-grade NAT, multicast, broadcast,
 * reserved, documentation/benchmarking ranges and the IPv6 ranges that embed an IPv4 address
 * (6to4, Teredo, NAT64) are all refused. IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the
 * IPv4 address it carries.
 */
export function refusedRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  let ip = ipaddr.parse(address);
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  const range = ip.range();
  return range === 'unicast' ? null : range;
}

/** True when `host` (as in a URL, IPv6 possibly in brackets) is an IP literal rather than a name. */
export function ipLiteral(host: string): string | null {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return ipaddr.isValid(h) && (ipaddr.IPv4.isValidFourPartDecimal(h) || h.includes(':')) ? h : null;
}
