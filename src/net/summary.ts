import { formatIPv4, formatIPv6, formatMac } from './address.js';
import { LinkType, linkTypeName } from './linktype.js';
import type { CapturedPacket } from './types.js';

/**
 * One line per packet, in the spirit of tcpdump's default output:
 * `12:34:56.789012 IP 10.0.0.1.1234 > 10.0.0.2.80: tcp [S], length 0`.
 * It decodes the common link layers and IPv4/IPv6/ARP/TCP/UDP/ICMP; anything else is named by
 * its link type or EtherType and its length.
 */
export function summarizePacket(packet: Pick<CapturedPacket, 'data' | 'wireLength' | 'seconds' | 'nanos' | 'linkType'>): string {
  return `${formatTime(packet.seconds, packet.nanos)} ${describeLink(packet.data, packet.linkType, packet.wireLength)}`;
}

/** `HH:MM:SS.uuuuuu` in UTC, as `tcpdump` prints with TZ=UTC. */
export function formatTime(seconds: number, nanos: number): string {
  const day = ((seconds % 86400) + 86400) % 86400;
  const hh = Math.floor(day / 3600), mm = Math.floor((day % 3600) / 60), ss = day % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(hh)}:${two(mm)}:${two(ss)}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}`;
}

const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

function describeLink(b: Uint8Array, linkType: number, wireLength: number): string {
  switch (linkType) {
    case LinkType.EN10MB: return describeEthernet(b, wireLength);
    case LinkType.LINUX_SLL:
      return b.length < 16 ? `[|sll] length ${wireLength}` : describeEtherType(u16(b, 14), b.subarray(16), wireLength);
    case LinkType.LINUX_SLL2:
      return b.length < 20 ? `[|sll2] length ${wireLength}` : describeEtherType(u16(b, 0), b.subarray(20), wireLength);
    case LinkType.RAW:
    case 12:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return describeRawIp(b, wireLength);
    case LinkType.NULL:
    case LinkType.LOOP: {
      if (b.length < 4) return `[|loopback] length ${wireLength}`;
      const family = linkType === LinkType.LOOP ? (b[0]! << 24) | (b[1]! << 16) | u16(b, 2) : b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
      // NULL stores the family in the capturing host's order: try both.
      const fam = family > 0xffff ? ((family >>> 24) | ((family >>> 8) & 0xff00)) : family;
      if (fam === 2) return describeIPv4(b.subarray(4), wireLength);
      if (fam === 24 || fam === 28 || fam === 30 || fam === 10) return describeIPv6(b.subarray(4), wireLength);
      return `loopback family ${fam}, length ${wireLength}`;
    }
    case LinkType.PPP:
    case LinkType.PPP_SERIAL: {
      const start = b[0] === 0xff && b[1] === 0x03 ? 2 : 0;
      const proto = u16(b, start);
      if (proto === 0x0021) return describeIPv4(b.subarray(start + 2), wireLength);
      if (proto === 0x0057) return describeIPv6(b.subarray(start + 2), wireLength);
      return `PPP proto 0x${proto.toString(16).padStart(4, '0')}, length ${wireLength}`;
    }
    default:
      return `${linkTypeName(linkType)}, length ${wireLength}`;
  }
}

function describeEthernet(b: Uint8Array, wireLength: number): string {
  if (b.length < 14) return `[|ether] length ${wireLength}`;
  let at = 12;
  let type = u16(b, at);
  const tags: string[] = [];
  while ((type === 0x8100 || type === 0x88a8 || type === 0x9100) && b.length >= at + 6) {
    tags.push(`vlan ${u16(b, at + 2) & 0xfff}`);
    at += 4;
    type = u16(b, at);
  }
  const prefix = tags.length ? tags.join(', ') + ', ' : '';
  if (type <= 1500) return `${prefix}${formatMac(b, 6)} > ${formatMac(b, 0)}, 802.3, length ${wireLength}`;
  return prefix + describeEtherType(type, b.subarray(at + 2), wireLength, b);
}

function describeEtherType(type: number, payload: Uint8Array, wireLength: number, frame?: Uint8Array): string {
  switch (type) {
    case 0x0800: return describeIPv4(payload, wireLength);
    case 0x86dd: return describeIPv6(payload, wireLength);
    case 0x0806:
    case 0x8035: return describeArp(payload, type === 0x8035 ? 'RARP' : 'ARP', wireLength);
    default: {
      const macs = frame ? `${formatMac(frame, 6)} > ${formatMac(frame, 0)}, ` : '';
      return `${macs}ethertype 0x${type.toString(16).padStart(4, '0')}, length ${wireLength}`;
    }
  }
}

function describeRawIp(b: Uint8Array, wireLength: number): string {
  const version = b.length ? b[0]! >> 4 : 0;
  if (version === 4) return describeIPv4(b, wireLength);
  if (version === 6) return describeIPv6(b, wireLength);
  return `raw IP version ${version}, length ${wireLength}`;
}

function describeArp(b: Uint8Array, name: string, wireLength: number): string {
  if (b.length < 28 || u16(b, 2) !== 0x0800 || b[4] !== 6 || b[5] !== 4) return `${name}, length ${wireLength}`;
  const op = u16(b, 6);
  if (op === 1) return `${name}, Request who-has ${formatIPv4(b, 24)} tell ${formatIPv4(b, 14)}, length ${wireLength}`;
  if (op === 2) return `${name}, Reply ${formatIPv4(b, 14)} is-at ${formatMac(b, 8)}, length ${wireLength}`;
  return `${name}, op ${op}, length ${wireLength}`;
}

function describeIPv4(b: Uint8Array, wireLength: number): string {
  if (b.length < 20) return `IP [|ip] length ${wireLength}`;
  const headerLength = (b[0]! & 0x0f) * 4;
  const totalLength = u16(b, 2);
  const fragment = u16(b, 6) & 0x1fff;
  const src = formatIPv4(b, 12);
  const dst = formatIPv4(b, 16);
  const payloadLength = Math.max(0, totalLength - headerLength);
  if (fragment !== 0) return `IP ${src} > ${dst}: ip-proto-${b[9]}, fragment offset ${fragment * 8}, length ${payloadLength}`;
  return 'IP ' + describeTransport(b[9]!, b.subarray(headerLength), src, dst, payloadLength);
}

/** IPv6 extension headers walked to reach the transport: hop-by-hop, routing, destination options, AH. */
const IPV6_EXTENSIONS: Readonly<Record<number, string>> = { 0: 'HBH', 43: 'RT', 60: 'DSTOPT', 51: 'AH' };

function describeIPv6(b: Uint8Array, wireLength: number): string {
  if (b.length < 40) return `IP6 [|ip6] length ${wireLength}`;
  const src = formatIPv6(b, 8), dst = formatIPv6(b, 24);
  let next = b[6]!;
  let at = 40;
  let length = u16(b, 4);
  const seen: string[] = [];
  while (IPV6_EXTENSIONS[next] !== undefined && at + 2 <= b.length) {
    const size = next === 51 ? (b[at + 1]! + 2) * 4 : (b[at + 1]! + 1) * 8;
    seen.push(IPV6_EXTENSIONS[next]!);
    next = b[at]!;
    at += size;
    length -= size;
  }
  if (next === 44 && at + 8 <= b.length) {
    const offset = u16(b, at + 2) & 0xfff8;
    if (offset !== 0) return `IP6 ${src} > ${dst}: ${[...seen, 'frag'].join(' ')} offset ${offset}, ip-proto-${b[at]}`;
    seen.push('frag');
    next = b[at]!;
    at += 8;
    length -= 8;
  }
  const prefix = seen.length ? seen.join(' ') + ' ' : '';
  return 'IP6 ' + describeTransport(next, b.subarray(Math.min(at, b.length)), src, dst, Math.max(0, length), prefix);
}

const TCP_FLAG_LETTERS: ReadonlyArray<[number, string]> = [[0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'], [0x10, '.']];

function describeTransport(protocol: number, b: Uint8Array, src: string, dst: string, length: number, extensions = ''): string {
  return extensions ? describeTransportInner(protocol, b, src, dst, length).replace(': ', `: ${extensions}`) : describeTransportInner(protocol, b, src, dst, length);
}

function describeTransportInner(protocol: number, b: Uint8Array, src: string, dst: string, length: number): string {
  switch (protocol) {
    case 6: {
      if (b.length < 14) return `${src} > ${dst}: tcp [|tcp]`;
      const flags = TCP_FLAG_LETTERS.filter(([bit]) => b[13]! & bit).map(([, c]) => c).join('') || 'none';
      const dataLength = Math.max(0, length - (b[12]! >> 4) * 4);
      return `${src}.${u16(b, 0)} > ${dst}.${u16(b, 2)}: Flags [${flags}], length ${dataLength}`;
    }
    case 17:
      if (b.length < 4) return `${src} > ${dst}: udp [|udp]`;
      return `${src}.${u16(b, 0)} > ${dst}.${u16(b, 2)}: UDP, length ${Math.max(0, length - 8)}`;
    case 1:
      if (b.length < 2) return `${src} > ${dst}: ICMP [|icmp]`;
      return `${src} > ${dst}: ICMP type ${b[0]} code ${b[1]}, length ${length}`;
    case 58:
      if (b.length < 2) return `${src} > ${dst}: ICMP6 [|icmp6]`;
      return `${src} > ${dst}: ICMP6 type ${b[0]} code ${b[1]}, length ${length}`;
    default:
      return `${src} > ${dst}: ip-proto-${protocol} ${length}`;
  }
}
