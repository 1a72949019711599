import { describe, expect, it } from 'vitest';
import { ipLiteral, refusedRange } from './address-policy.ts';

describe('refusedRange: only public unicast addresses pass', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::', 'unspecified'],
    ['2002:7f00:1::', '6to4'],
    ['64:ff9b::a00:1', 'private'],
  ])('%s → %s', (ip, range) => expect(refusedRange(ip)).toBe(range));

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is allowed', (ip) =>
    expect(refusedRange(ip)).toBeNull(),
  );

  describe('IPv4-compatible IPv6 (::/96) and the other IPv6 forms that embed an IPv4 address', () => {
    it.each([
      ['::7f00:1', 'loopback via IPv4-compatible'],
      ['::127.0.0.1', 'the same, dotted'],
      ['::a9fe:a9fe', 'metadata via IPv4-compatible'],
      ['::a00:1', 'RFC 1918 via IPv4-compatible'],
      ['::808:808', 'IPv4-compatible, even of a public address'],
      ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata'],
      ['64:ff9b::7f00:1', 'NAT64 well-known prefix, loopback'],
      ['64:ff9b::a9fe:a9fe', 'NAT64 well-known prefix, metadata'],
      ['64:ff9b:1::808:808', 'NAT64 local-use prefix, whatever it carries'],
      ['64:ff9b:1:7f00:1::', 'NAT64 local-use prefix, loopback at /48'],
      ['2002:7f00:1::1', '6to4 of loopback'],
      ['2002:808:808::1', '6to4, even of a public address'],
      ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo (client 127.0.0.1)'],
      ['2001:0:808:808::1', 'Teredo, even with a public server'],
      ['::ffff:0:7f00:1', 'SIIT IPv4-translated loopback'],
    ])('%s is refused (%s)', (ip) => expect(refusedRange(ip)).not.toBeNull());

    it('the refusal names the form and the IPv4 address it carries', () => {
      expect(refusedRange('::7f00:1')).toBe('ipv4Compatible, embeds 127.0.0.1');
      expect(refusedRange('64:ff9b::a9fe:a9fe')).toBe('linkLocal');
    });

    it.each(['64:ff9b::808:808', '::ffff:93.184.215.14'])('%s, a translation of a public IPv4 address, is allowed', (ip) =>
      expect(refusedRange(ip)).toBeNull(),
    );
  });

  it('IP literals are recognised as URL hostnames carry them', () => {
    expect(ipLiteral('[::1]')).toBe('::1');
    expect(ipLiteral('127.0.0.1')).toBe('127.0.0.1');
    expect(ipLiteral('example.com')).toBeNull();
  });
});
