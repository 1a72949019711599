import { describe, expect, it } from 'vitest';
import { ipLiteral, refusedRange } from './address-policy.ts';

describe('refusedRange: only public unicast addresses pass', () => {
  it.each([
    ['127.0.0.1', 'loopback'], ['10.0.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.0.1', 'private'],
    ['169.254.169.254', 'linkLocal'], ['100.64.0.1', 'carrierGradeNat'], ['0.0.0.0', 'unspecified'], ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'], ['::1', 'loopback'], ['fe80::1', 'linkLocal'], ['fd00:ec2::254', 'uniqueLocal'],
    ['::ffff:10.0.0.1', 'private'], ['::ffff:127.0.0.1', 'loopback'], ['::', 'unspecified'], ['2002:7f00:1::', '6to4'],
    ['64:ff9b::a00:1', 'rfc6052'],
  ])('%s → %s', (ip, range) => expect(refusedRange(ip)).toBe(range));

  it.each(['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('%s is allowed', (ip) => expect(refusedRange(ip)).toBeNull());

  it('IP literals are recognised as URL hostnames carry them', () => {
    expect(ipLiteral('[::1]')).toBe('::1');
    expect(ipLiteral('127.0.0.1')).toBe('127.0.0.1');
    expect(ipLiteral('example.com')).toBeNull();
  });
});
