import { parseIPv4, parseIPv6, parseMac } from './address.js';

/**
 * Packet builders for tests and examples: each returns the bytes of one layer with its payload.
 * Checksums (IPv4 header, TCP/UDP/ICMPv6 with the pseudo-header, ICMP) are filled in.
 */

export const EtherType = { IPV4: 0x0800, ARP: 0x0806, RARP: 0x8035, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd, MPLS: 0x8847 } as const;
export const IpProto = { ICMP: 1, IGMP: 2, TCP: 6, UDP: 17, GRE: 47, ICMPV6: 58, FRAGMENT: 44, SCTP: 132 } as const;
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

type Address = string | Uint8Array;
const ip4 = (a: Address): Uint8Array => (typeof a === 'string' ? parseIPv4(a) : a);
const ip6 = (a: Address): Uint8Array => (typeof a === 'string' ? parseIPv6(a) : a);
const mac = (a: Address): Uint8Array => (typeof a === 'string' ? parseMac(a) : a);

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const u16 = (b: Uint8Array, at: number, v: number): void => { b[at] = (v >>> 8) & 0xff; b[at + 1] = v & 0xff; };
const u32 = (b: Uint8Array, at: number, v: number): void => { u16(b, at, v >>> 16); u16(b, at + 2, v & 0xffff); };

/** The Internet checksum (RFC 1071) over `parts`, as if concatenated. */
export function internetChecksum(...parts: Uint8Array[]): number {
  let sum = 0;
  let odd = false;
  for (const part of parts) {
    for (let i = 0; i < part.length; i++) {
      sum += odd ? part[i]! : part[i]! << 8;
      odd = !odd;
    }
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** What a transport header needs from the IP layer beneath it: the pseudo-header. */
export interface PseudoHeader { src: Uint8Array; dst: Uint8Array; protocol: number }

/** A transport segment whose checksum depends on the IP addresses it travels between. */
export interface Segment { protocol: number; build: (pseudo: PseudoHeader) => Uint8Array }

function pseudoHeaderBytes(p: PseudoHeader, length: number): Uint8Array {
  if (p.src.length === 4) {
    const b = new Uint8Array(12);
    b.set(p.src, 0); b.set(p.dst, 4); b[9] = p.protocol; u16(b, 10, length);
    return b;
  }
  const b = new Uint8Array(40);
  b.set(p.src, 0); b.set(p.dst, 16); u32(b, 32, length); b[39] = p.protocol;
  return b;
}

export interface VlanTag { id: number; priority?: number; dei?: boolean; tpid?: number }

export interface EthernetOptions {
  dst?: Address;
  src?: Address;
  type: number;
  /** Outermost first. */
  vlans?: VlanTag[];
  payload: Uint8Array;
}

export function ethernet(o: EthernetOptions): Uint8Array {
  const tags = o.vlans ?? [];
  const header = new Uint8Array(14 + 4 * tags.length);
  header.set(mac(o.dst ?? 'ff:ff:ff:ff:ff:ff'), 0);
  header.set(mac(o.src ?? '02:00:00:00:00:01'), 6);
  let at = 12;
  for (const tag of tags) {
    u16(header, at, tag.tpid ?? EtherType.VLAN);
    u16(header, at + 2, ((tag.priority ?? 0) << 13) | (tag.dei ? 0x1000 : 0) | (tag.id & 0xfff));
    at += 4;
  }
  u16(header, at, o.type);
  return concat(header, o.payload);
}

export interface ArpOptions {
  /** 1 request, 2 reply (3/4: RARP). */
  op: number;
  senderMac?: Address;
  senderIp: Address;
  targetMac?: Address;
  targetIp: Address;
}

/** An Ethernet/IPv4 ARP body (put it in `ethernet({ type: EtherType.ARP })`). */
export function arp(o: ArpOptions): Uint8Array {
  const b = new Uint8Array(28);
  u16(b, 0, 1); u16(b, 2, EtherType.IPV4); b[4] = 6; b[5] = 4; u16(b, 6, o.op);
  b.set(mac(o.senderMac ?? '02:00:00:00:00:01'), 8);
  b.set(ip4(o.senderIp), 14);
  b.set(mac(o.targetMac ?? '00:00:00:00:00:00'), 18);
  b.set(ip4(o.targetIp), 24);
  return b;
}

export interface Ipv4Options {
  src: Address;
  dst: Address;
  /** Needed when the payload is raw bytes. */
  protocol?: number;
  payload: Uint8Array | Segment;
  ttl?: number;
  tos?: number;
  id?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** In 8-byte units. */
  fragmentOffset?: number;
  /** Raw option bytes (padded to 4 bytes). */
  options?: Uint8Array;
}

export function ipv4(o: Ipv4Options): Uint8Array {
  const src = ip4(o.src);
  const dst = ip4(o.dst);
  const protocol = o.payload instanceof Uint8Array ? o.protocol ?? 0 : o.payload.protocol;
  const payload = o.payload instanceof Uint8Array ? o.payload : o.payload.build({ src, dst, protocol });
  const optionBytes = o.options ? concat(o.options, new Uint8Array((4 - (o.options.length % 4)) % 4)) : new Uint8Array(0);
  const headerLength = 20 + optionBytes.length;
  const h = new Uint8Array(headerLength);
  h[0] = 0x40 | (headerLength / 4);
  h[1] = o.tos ?? 0;
  u16(h, 2, headerLength + payload.length);
  u16(h, 4, o.id ?? 0);
  u16(h, 6, (o.dontFragment ? 0x4000 : 0) | (o.moreFragments ? 0x2000 : 0) | ((o.fragmentOffset ?? 0) & 0x1fff));
  h[8] = o.ttl ?? 64;
  h[9] = protocol;
  h.set(src, 12); h.set(dst, 16); h.set(optionBytes, 20);
  u16(h, 10, internetChecksum(h));
  return concat(h, payload);
}

export interface Ipv6Options {
  src: Address;
  dst: Address;
  nextHeader?: number;
  payload: Uint8Array | Segment;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
}

export function ipv6(o: Ipv6Options): Uint8Array {
  const src = ip6(o.src);
  const dst = ip6(o.dst);
  const protocol = o.payload instanceof Uint8Array ? o.nextHeader ?? 59 : o.payload.protocol;
  const payload = o.payload instanceof Uint8Array ? o.payload : o.payload.build({ src, dst, protocol });
  const h = new Uint8Array(40);
  u32(h, 0, (6 << 28) | ((o.trafficClass ?? 0) << 20) | ((o.flowLabel ?? 0) & 0xfffff));
  u16(h, 4, payload.length);
  h[6] = protocol;
  h[7] = o.hopLimit ?? 64;
  h.set(src, 8); h.set(dst, 24);
  return concat(h, payload);
}

/** An IPv6 fragment extension header in front of `inner` (which names the next protocol). */
export function ipv6Fragment(inner: Segment, o: { offset?: number; more?: boolean; id?: number } = {}): Segment {
  return {
    protocol: IpProto.FRAGMENT,
    build: (pseudo) => {
      const body = inner.build({ ...pseudo, protocol: inner.protocol });
      const h = new Uint8Array(8);
      h[0] = inner.protocol;
      u16(h, 2, ((o.offset ?? 0) << 3) | (o.more ? 1 : 0));
      u32(h, 4, o.id ?? 0);
      return concat(h, body);
    },
  };
}

export interface TcpOptions {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** TcpFlag bits; default SYN. */
  flags?: number;
  window?: number;
  options?: Uint8Array;
  payload?: Uint8Array;
}

export function tcp(o: TcpOptions): Segment {
  return {
    protocol: IpProto.TCP,
    build: (pseudo) => {
      const optionBytes = o.options ? concat(o.options, new Uint8Array((4 - (o.options.length % 4)) % 4)) : new Uint8Array(0);
      const payload = o.payload ?? new Uint8Array(0);
      const h = new Uint8Array(20 + optionBytes.length);
      u16(h, 0, o.srcPort); u16(h, 2, o.dstPort); u32(h, 4, o.seq ?? 0); u32(h, 8, o.ack ?? 0);
      h[12] = (h.length / 4) << 4;
      h[13] = o.flags ?? TcpFlag.SYN;
      u16(h, 14, o.window ?? 65535);
      h.set(optionBytes, 20);
      u16(h, 16, internetChecksum(pseudoHeaderBytes(pseudo, h.length + payload.length), h, payload));
      return concat(h, payload);
    },
  };
}

export function udp(o: { srcPort: number; dstPort: number; payload?: Uint8Array }): Segment {
  return {
    protocol: IpProto.UDP,
    build: (pseudo) => {
      const payload = o.payload ?? new Uint8Array(0);
      const h = new Uint8Array(8);
      u16(h, 0, o.srcPort); u16(h, 2, o.dstPort); u16(h, 4, 8 + payload.length);
      const sum = internetChecksum(pseudoHeaderBytes(pseudo, 8 + payload.length), h, payload);
      u16(h, 6, sum === 0 ? 0xffff : sum);
      return concat(h, payload);
    },
  };
}

export interface IcmpOptions {
  type: number;
  code?: number;
  /** The 4 bytes after the checksum (id and sequence for echo). */
  rest?: number;
  payload?: Uint8Array;
}

/** ICMP for IPv4 (checksum over the message only). Echo request: `{ type: 8 }`. */
export function icmp(o: IcmpOptions): Segment {
  return {
    protocol: IpProto.ICMP,
    build: () => {
      const payload = o.payload ?? new Uint8Array(0);
      const h = new Uint8Array(8);
      h[0] = o.type; h[1] = o.code ?? 0; u32(h, 4, o.rest ?? 0);
      u16(h, 2, internetChecksum(h, payload));
      return concat(h, payload);
    },
  };
}

/** ICMPv6 (checksum includes the IPv6 pseudo-header). Echo request: `{ type: 128 }`. */
export function icmpv6(o: IcmpOptions): Segment {
  return {
    protocol: IpProto.ICMPV6,
    build: (pseudo) => {
      const payload = o.payload ?? new Uint8Array(0);
      const h = new Uint8Array(8);
      h[0] = o.type; h[1] = o.code ?? 0; u32(h, 4, o.rest ?? 0);
      u16(h, 2, internetChecksum(pseudoHeaderBytes({ ...pseudo, protocol: IpProto.ICMPV6 }, 8 + payload.length), h, payload));
      return concat(h, payload);
    },
  };
}
