// Which network addresses a webhook may reach (SSRF, OWASP "Server-Side Request Forgery Prevention"):
// a tenant must not be able to make Verity call its own loopback, the private network it runs in,
// or a cloud metadata endpoint (169.254.169.254, fd00:ec2::254) by naming it as a webhook URL.
import ipaddr from 'ipaddr.js';

// RFC 6052 §2.1: the NAT64 well-known prefix; a translator connects to the IPv4 in the last 32 bits.
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');
// RFC 4291 §2.5.5.1: IPv4-compatible addresses; ipaddr.js has no range for them and calls them unicast.
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96');

/** The IPv4 address held in the low 32 bits of an IPv6 address. */
const low32 = (ip: ipaddr.IPv6): ipaddr.IPv4 => {
  const p = ip.parts;
  return new ipaddr.IPv4([p[6]! >> 8, p[6]! & 0xff, p[7]! >> 8, p[7]! & 0xff]);
};

/**
 * Why an address is refused, or null when it is a public unicast address. Only ipaddr.js's
 * `unicast` range passes: loopback, private (RFC 1918), unique-local (fc00::/7), link-local
 * (169.254/16 — metadata services — and fe80::/10), carrier-grade NAT, multicast, broadcast,
 * reserved, documentation and benchmarking ranges are refused.
 *
 * IPv6 forms that embed an IPv4 address, decided per form:
 * - judged as the IPv4 address they carry, because that IPv4 address is where the connection goes:
 *   IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2: the socket speaks IPv4 to it) and the NAT64
 *   well-known prefix 64:ff9b::/96 (RFC 6052 §2.1; DNS64 hands these out for IPv4-only receivers
 *   on IPv6-only networks, and §3.1 forbids them for non-global IPv4, so a private one is an attack);
 * - refused whatever they carry: IPv4-compatible ::/96 (deprecated, RFC 4291 §2.5.5.1 — no receiver
 *   has one, and a stack with an automatic tunnel sends it to the IPv4 address, loopback included),
 *   the local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215 §2: where its IPv4 sits depends on the
 *   operator's prefix length, RFC 6052 §2.2, so its class cannot be read), 6to4 2002::/16 (RFC 3056
 *   §2, deprecated by RFC 7526) and Teredo 2001::/32 (RFC 4380 §4) — their IPv4 names a tunnel
 *   endpoint or relay that unwraps the packet into its own network — and SIIT's IPv4-translated
 *   ::ffff:0:0:0/96 (RFC 6145), which only translators use.
 */
export function refusedRange(address: string): string | null {
  if (!ipaddr.isValid(address)) return 'not an IP address';
  const parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv4') return ipv4Refused(parsed as ipaddr.IPv4);
  const ip = parsed as ipaddr.IPv6;
  if (ip.isIPv4MappedAddress()) return ipv4Refused(ip.toIPv4Address());
  if (ip.match(NAT64_WELL_KNOWN)) return ipv4Refused(low32(ip));
  const range = ip.range();
  if (range !== 'unicast') return range; // ::, ::1, 64:ff9b:1::/48 (rfc6052), 6to4, teredo, rfc6145 among them
  if (ip.match(IPV4_COMPATIBLE)) return `ipv4Compatible, embeds ${low32(ip).toString()}`;
  return null;
}

function ipv4Refused(ip: ipaddr.IPv4): string | null {
  const range = ip.range();
  return range === 'unicast' ? null : range;
}

/** True when `host` (as in a URL, IPv6 possibly in brackets) is an IP literal rather than a name. */
export function ipLiteral(host: string): string | null {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return ipaddr.isValid(h) && (ipaddr.IPv4.isValidFourPartDecimal(h) || h.includes(':')) ? h : null;
}
