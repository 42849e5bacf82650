import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  EtherType, IpProto, TcpFlag, arp, ethernet, formatIPv6, icmp, icmpv6, internetChecksum, ipv4, ipv6, ipv6Fragment,
  parseIPv6, summarizePacket, tcp, udp, LinkType,
} from '../../src/net/index.js';

const at = (seconds: number, data: Uint8Array, linkType: number = LinkType.EN10MB) =>
  summarizePacket({ data, wireLength: data.length, seconds, nanos: 1500, linkType });

test('IPv4 header and TCP checksums verify', () => {
  const ip = ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: tcp({ srcPort: 1234, dstPort: 80, flags: TcpFlag.SYN | TcpFlag.ACK, payload: Uint8Array.from([1, 2, 3]) }) });
  assert.equal(internetChecksum(ip.subarray(0, 20)), 0);
  const pseudo = Uint8Array.from([10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, ip.length - 20]);
  assert.equal(internetChecksum(pseudo, ip.subarray(20)), 0);
  assert.equal(ip[9], IpProto.TCP);
  assert.equal((ip[2]! << 8) | ip[3]!, ip.length);
});

test('UDP and ICMPv6 checksums over IPv6 verify', () => {
  for (const segment of [udp({ srcPort: 53, dstPort: 5353, payload: Uint8Array.from([7, 7, 7]) }), icmpv6({ type: 128, rest: 0x00010001 })]) {
    const packet = ipv6({ src: 'fe80::1', dst: '2001:db8::2', payload: segment });
    const length = packet.length - 40;
    const pseudo = new Uint8Array(40);
    pseudo.set(packet.subarray(8, 40), 0);
    pseudo[35] = length & 0xff; pseudo[34] = length >> 8; pseudo[39] = segment.protocol;
    assert.equal(internetChecksum(pseudo, packet.subarray(40)), 0);
  }
});

test('IPv6 addresses parse and print per RFC 5952', () => {
  assert.equal(formatIPv6(parseIPv6('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(parseIPv6('::')), '::');
  assert.equal(formatIPv6(parseIPv6('::ffff:1.2.3.4')), '::ffff:102:304');
  assert.throws(() => parseIPv6('1::2::3'), /bad IPv6/);
});

test('one-line summaries, tcpdump style', () => {
  const syn = ethernet({ type: EtherType.IPV4, payload: ipv4({ src: '10.0.0.1', dst: '10.0.0.2', payload: tcp({ srcPort: 1234, dstPort: 80 }) }) });
  assert.equal(at(3661, syn), '01:01:01.000001 IP 10.0.0.1.1234 > 10.0.0.2.80: Flags [S], length 0');
  const tagged = ethernet({ type: EtherType.IPV4, vlans: [{ id: 100 }], payload: ipv4({ src: '1.1.1.1', dst: '2.2.2.2', payload: udp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(4) }) }) });
  assert.equal(at(0, tagged), '00:00:00.000001 vlan 100, IP 1.1.1.1.1 > 2.2.2.2.2: UDP, length 4');
  const who = ethernet({ type: EtherType.ARP, payload: arp({ op: 1, senderIp: '10.0.0.1', targetIp: '10.0.0.9' }) });
  assert.equal(at(0, who), '00:00:00.000001 ARP, Request who-has 10.0.0.9 tell 10.0.0.1, length 42');
  const ping = ipv4({ src: '1.2.3.4', dst: '5.6.7.8', payload: icmp({ type: 8, payload: new Uint8Array(8) }) });
  assert.equal(at(0, ping, LinkType.RAW), '00:00:00.000001 IP 1.2.3.4 > 5.6.7.8: ICMP type 8 code 0, length 16');
  const frag = ipv6({ src: '::1', dst: '::2', payload: ipv6Fragment(udp({ srcPort: 1, dstPort: 2 })) });
  assert.equal(at(0, frag, LinkType.IPV6), '00:00:00.000001 IP6 ::1.1 > ::2.2: frag UDP, length 0');
  assert.equal(at(0, Uint8Array.from([1, 2]), 147), '00:00:00.000001 USER0, length 2');
});
