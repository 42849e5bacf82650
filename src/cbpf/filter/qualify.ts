/**
 * The qualifier semantics of an `id`: what `host`/`net`/`port`/`proto`/... with a protocol and a
 * direction mean for a number, a dotted address, a name, an IPv6 or MAC address (libpcap's
 * gen_ncode/gen_scode/gen_mcode/gen_mcode6/gen_ecode/gen_acode), plus the named values of the
 * 802.11, PFLOG and LLC keywords.
 */
import type { Token } from './lexer.js';
import type { GBlock } from './core.js';
import type { Generator, Qual } from './gencode.js';
import { parseIPv4Partial, parseIPv6, parseMac } from './addr.js';
import {
  ETHER_PROTO_NAMES, LLC_PROTO_NAMES, etherByName, hostByName, networkByName, protocolByName, serviceByName,
} from './names.js';
import { DLT } from './linktype.js';
import { FilterSyntaxError } from './errors.js';

const WLAN_TYPES: Record<string, number> = { mgt: 0x00, management: 0x00, ctl: 0x04, control: 0x04, data: 0x08 };
const WLAN_SUBTYPES: Record<number, Record<string, number>> = {
  0x00: {
    'assoc-req': 0x00, assocreq: 0x00, 'assoc-resp': 0x10, assocresp: 0x10, 'reassoc-req': 0x20, reassocreq: 0x20,
    'reassoc-resp': 0x30, reassocresp: 0x30, 'probe-req': 0x40, probereq: 0x40, 'probe-resp': 0x50,
    proberesp: 0x50, beacon: 0x80, atim: 0x90, disassoc: 0xa0, disassociation: 0xa0, auth: 0xb0,
    authentication: 0xb0, deauth: 0xc0, deauthentication: 0xc0,
  },
  0x04: {
    bar: 0x80, ba: 0x90, 'ps-poll': 0xa0, rts: 0xb0, cts: 0xc0, ack: 0xd0, 'cf-end': 0xe0, 'cf-end-ack': 0xf0,
  },
  0x08: {
    data: 0x00, 'data-cf-ack': 0x10, 'data-cf-poll': 0x20, 'data-cf-ack-poll': 0x30, null: 0x40, 'cf-ack': 0x50,
    'cf-poll': 0x60, 'cf-ack-poll': 0x70, 'qos-data': 0x80, 'qos-data-cf-ack': 0x90, 'qos-data-cf-poll': 0xa0,
    'qos-data-cf-ack-poll': 0xb0, qos: 0xc0, 'qos-cf-poll': 0xe0, 'qos-cf-ack-poll': 0xf0,
  },
};
const WLAN_DIRS: Record<string, number> = { nods: 0, tods: 1, fromds: 2, dstods: 3 };
const PF_REASONS = ['match', 'bad-offset', 'fragment', 'short', 'normalize', 'memory', 'bad-timestamp', 'congestion',
  'ip-option', 'proto-cksum', 'state-mismatch', 'state-insert', 'state-limit', 'src-limit', 'synproxy'];
const PF_ACTIONS: Record<string, number> = {
  pass: 0, accept: 0, block: 1, drop: 1, scrub: 2, noscrub: 3, nat: 4, nonat: 5, binat: 6, nobinat: 7, rdr: 8, nordr: 9,
  'synproxy-drop': 10,
};
const LLC_S: Record<string, number> = { rr: 0x01, rnr: 0x05, rej: 0x09 };
const LLC_U: Record<string, number> = { ui: 0x03, ua: 0x63, disc: 0x43, dm: 0x0f, sabme: 0x6f, test: 0xe3, xid: 0xaf, frmr: 0x87 };

const PROTO_UNDEF = -1;
const WLAN_ONLY_DIRS = new Set(['addr1', 'addr2', 'addr3', 'addr4', 'ra', 'ta']);

export class Qualify {
  constructor(private readonly g: Generator) {}

  private fail(msg: string): never { return this.g.fail(msg); }

  /** A number or dotted IPv4 (partial) address. */
  ncode(s: string | undefined, v: number, q: Qual): GBlock {
    const g = this.g;
    const proto = q.proto; const dir = q.dir;
    let vlen = 32;
    if (s !== undefined) {
      if (proto === 'decnet') {
        const m = /^([0-9]+)\.([0-9]+)$/.exec(s);
        if (!m || +m[1]! > 63 || +m[2]! > 1023) this.fail(`malformed decnet address '${s}'`);
        v = ((+m[1]! << 10) | +m[2]!) >>> 0;
        vlen = 16;
      } else {
        const a = parseIPv4Partial(s);
        if (!a) this.fail(`invalid IPv4 address '${s}'`);
        v = a.addr; vlen = a.bits;
      }
    }
    if (s === undefined && proto === 'decnet' && (q.addr === 'default' || q.addr === 'host')) {
      this.fail(`invalid DECnet address '${v}'`);
    }
    switch (q.addr) {
      case 'default': case 'host': case 'net': {
        if (proto === 'decnet') return g.genHost([v], 0, proto, dir, q.addr);
        if (proto === 'link') this.fail('illegal link layer address');
        let mask = 0xffffffff;
        if (s === undefined && q.addr === 'net') {
          while (v && (v & 0xff000000) === 0) { v = (v << 8) >>> 0; mask = (mask << 8) >>> 0; }
        } else if (vlen < 32) {
          v = (v << (32 - vlen)) >>> 0;
          mask = (mask << (32 - vlen)) >>> 0;
        }
        return g.genHost([v], mask, proto, dir, q.addr);
      }
      case 'port': case 'portrange': {
        if (s !== undefined) this.fail(`'${q.addr}' qualifier applied to IPv4 address`);
        const p = g.portQual(proto, q.addr);
        if (v > 65535) this.fail(`illegal port number ${v} > 65535`);
        return g.ports(v, v, p, dir, q.addr);
      }
      case 'gateway':
        if (s !== undefined) this.fail(`'gateway' is not a valid qualifier for '${s}'`);
        return this.fail("'gateway' requires a name");
      case 'proto':
        if (s !== undefined) this.fail(`'proto' qualifier applied to IPv4 address`);
        if (dir !== 'default') this.fail(`'${dir}' is not a valid qualifier for 'proto'`);
        return g.genProto(v, proto);
      case 'protochain':
        if (s !== undefined) this.fail(`'protochain' qualifier applied to IPv4 address`);
        return g.protochain(v, proto);
      default: this.fail("can't parse filter expression: syntax error");
    }
  }

  /** A name: host, network, port, protocol, or link-level host. */
  scode(name: string, q: Qual): GBlock {
    const g = this.g;
    const proto = q.proto; const dir = q.dir;
    // libpcap rejects 802.11-only directions before it looks the name up.
    if (WLAN_ONLY_DIRS.has(dir) && proto !== 'link') {
      if (q.addr === 'port' || q.addr === 'portrange') this.fail(`'${dir}' is not a valid qualifier for '${q.addr}'`);
      this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
    switch (q.addr) {
      case 'net': {
        let addr = networkByName(name, g.names);
        if (addr === undefined || addr === 0) this.fail(`unknown network '${name}'`);
        let mask = 0xffffffff;
        while (addr && (addr & 0xff000000) === 0) { addr = (addr << 8) >>> 0; mask = (mask << 8) >>> 0; }
        return g.genHost([addr], mask, proto, dir, q.addr);
      }
      case 'default': case 'host': {
        if (proto === 'link') {
          if (WLAN_ONLY_DIRS.has(dir) && !g.isWlan()) this.fail(`'${dir}' is valid for 802.11 syntax only`);
          const mac = etherByName(name, g.names);
          if (!mac) this.fail(`unknown Ethernet-like host '${name}'`);
          return g.macHost(mac, dir);
        }
        const h = hostByName(name, g.names);
        if (!h || (h.v4.length === 0 && h.v6.length === 0)) this.fail(`unknown host '${name}'`);
        let b: GBlock | undefined;
        if (h.v4.length && proto !== 'ip6') b = g.genHost(h.v4, 0xffffffff, proto, dir, q.addr);
        if (h.v6.length && (proto === 'default' || proto === 'ip6')) {
          const t = g.genHost6(h.v6, new Uint8Array(16).fill(0xff), proto, dir, q.addr);
          b = b ? g.or(b, t) : t;
        }
        if (!b) this.fail(`unknown host '${name}'`);
        return b;
      }
      case 'port': {
        const want = g.portQual(proto, 'port');
        const r = this.nameToPort(name);
        if (!r) this.fail(`unknown port '${name}'`);
        return g.ports(r.port, r.port, this.portProto(want, r.proto, name), dir, 'port');
      }
      case 'portrange': {
        const want = g.portQual(proto, 'portrange');
        const m = /^([^-]+)-([^-]+)$/.exec(name);
        const one = (s: string): { port: number; proto: number } => {
          if (/^[0-9]+$/.test(s)) {
            const n = parseInt(s, 10);
            if (n > 65535) this.fail(`port number ${s} > 65535`);
            return { port: n, proto: PROTO_UNDEF };
          }
          const r = this.nameToPort(s);
          if (!r) this.fail(`unknown port '${s}'`);
          return r;
        };
        let lo: { port: number; proto: number }; let hi: { port: number; proto: number };
        if (m) { lo = one(m[1]!); hi = one(m[2]!); } else { lo = one(name); hi = lo; }
        const p = lo.proto === hi.proto ? lo.proto : PROTO_UNDEF;
        return g.ports(lo.port, hi.port, this.portProto(want, p, name), dir, 'portrange');
      }
      case 'gateway': {
        if (dir !== 'default') this.fail(`'${dir}' is not a valid qualifier for 'gateway'`);
        g.checkGatewayLink();
        const h = hostByName(name, g.names);
        if (!h || h.v4.length === 0) this.fail(`unknown host '${name}'`);
        const mac = etherByName(name, g.names);
        if (!mac) this.fail(`unknown Ethernet-like host '${name}'`);
        return g.gateway(mac, h.v4, proto);
      }
      case 'proto': {
        const v = this.lookupProto(name, proto);
        if (dir !== 'default') this.fail(`'${dir}' is not a valid qualifier for 'proto'`);
        return g.genProto(v, proto);
      }
      case 'protochain': {
        const v = this.lookupProto(name, proto);
        if (v < 0) this.fail(`unknown protocol: ${name}`);
        return g.protochain(v, proto);
      }
      default: this.fail("can't parse filter expression: syntax error");
    }
  }

  private nameToPort(name: string): { port: number; proto: number } | undefined {
    const tcp = serviceByName(name, 'tcp');
    const udp = serviceByName(name, 'udp');
    if (tcp >= 0) return { port: tcp, proto: udp >= 0 ? PROTO_UNDEF : 6 };
    if (udp >= 0) return { port: udp, proto: 17 };
    const sctp = serviceByName(name, 'sctp');
    if (sctp >= 0) return { port: sctp, proto: 132 };
    return undefined;
  }
  private portProto(want: number, real: number, name: string): number {
    if (want === PROTO_UNDEF) return real;
    if (real !== PROTO_UNDEF && real !== want) this.fail(`port '${name}' is ${real === 6 ? 'tcp' : real === 17 ? 'udp' : 'sctp'}`);
    return want;
  }

  private lookupProto(name: string, proto: string): number {
    switch (proto) {
      case 'default': case 'ip': case 'ip6': {
        const v = protocolByName(name);
        if (v < 0) this.fail(`unknown ip proto '${name}'`);
        return v;
      }
      case 'link': {
        const e = ETHER_PROTO_NAMES[name] ?? LLC_PROTO_NAMES[name];
        if (e === undefined) this.fail(`unknown ether proto '${name}'`);
        return e;
      }
      case 'iso': {
        const v = { esis: 0x82, isis: 0x83, clnp: 0x81 }[name];
        if (v === undefined) this.fail(`unknown osi proto '${name}'`);
        return v;
      }
      case 'isis': return this.fail(`unknown 'isis proto' value '${name}'`);
      default: return PROTO_UNDEF;
    }
  }

  /** `a.b.c.d/len` or `a.b.c.d mask m.m.m.m`. */
  mcode(s1: string, s2: string | undefined, masklen: number, q: Qual): GBlock {
    if (q.proto === 'decnet' && (q.addr === 'net' || q.addr === 'default')) this.fail(`'decnet' is not a valid qualifier for 'net'`);
    const a = parseIPv4Partial(s1);
    if (!a) this.fail(`invalid IPv4 address '${s1}'`);
    const n = a.bits === 32 ? a.addr : (a.addr << (32 - a.bits)) >>> 0;
    let m: number;
    let text: string;
    if (s2 !== undefined) {
      const b = parseIPv4Partial(s2);
      if (!b) this.fail(`invalid IPv4 address '${s2}'`);
      m = b.bits === 32 ? b.addr : (b.addr << (32 - b.bits)) >>> 0;
      text = `${s1} mask ${s2}`;
      if ((n & ~m) >>> 0 !== 0) this.fail(`non-network bits set in "${text}"`);
    } else {
      if (masklen > 32) this.fail('mask length must be <= 32');
      m = masklen === 0 ? 0 : (0xffffffff << (32 - masklen)) >>> 0;
      text = `${s1}/${masklen}`;
      if ((n & ~m) >>> 0 !== 0) this.fail(`non-network bits set in "${text}"`);
    }
    switch (q.addr) {
      case 'net': case 'default': return this.g.genHost([n], m, q.proto, q.dir, q.addr);
      case 'port': case 'portrange': case 'proto': case 'protochain':
        return this.fail(`'${q.addr}' qualifier applied to IPv4 address and ${s2 !== undefined ? 'netmask' : 'prefix length'}`);
      default: this.fail(`'${q.addr}' is not a valid qualifier for '${text}'`);
    }
  }

  mcode6(s: string, masklen: number, q: Qual): GBlock {
    const a = parseIPv6(s);
    if (!a) this.fail(`invalid IPv6 address '${s}'`);
    if (masklen > 128) this.fail('mask length must be <= 128');
    const m = new Uint8Array(16);
    for (let i = 0; i < 16; i++) {
      const bits = Math.max(0, Math.min(8, masklen - 8 * i));
      m[i] = (0xff00 >> bits) & 0xff;
    }
    for (let i = 0; i < 16; i++) if ((a[i]! & ~m[i]!) & 0xff) this.fail(`non-network bits set in "${s}/${masklen}"`);
    switch (q.addr) {
      case 'default': case 'host':
        if (masklen !== 128) this.fail(`'${q.addr === 'default' ? 'host' : q.addr}' is not a valid qualifier for '${s}/${masklen}'`);
        return this.g.genHost6([a], m, q.proto, q.dir, q.addr);
      case 'net': return this.g.genHost6([a], m, q.proto, q.dir, q.addr);
      case 'port': case 'portrange': case 'proto': case 'protochain':
        return this.fail(`'${q.addr}' qualifier applied to IPv6 address${masklen !== 128 ? ' and prefix length' : ''}`);
      default: this.fail(`'${q.addr}' is not a valid qualifier for '${s}${masklen !== 128 ? `/${masklen}` : ''}'`);
    }
  }

  ecode(s: string, q: Qual): GBlock {
    const mac = parseMac(s);
    if (!mac) this.fail('invalid Ethernet address');
    if ((q.addr === 'host' || q.addr === 'default') && q.proto === 'link') return this.g.macHost(mac, q.dir);
    this.fail('Ethernet address used in non-ether expression');
  }

  acode(s: string, q: Qual): GBlock {
    if ((q.addr === 'host' || q.addr === 'default') && q.proto === 'link') {
      const v = parseInt(s.slice(1), 16);
      const lt = this.g.linktype;
      if (lt === DLT.ARCNET || lt === DLT.ARCNET_LINUX) return this.g.arcHost(v, q.dir);
      if (lt === DLT.BACNET_MS_TP) return this.bacnetHost(v, q.dir);
      this.fail('aid supported only on ARCnet');
    }
    this.fail(`'link' is the only valid proto qualifier for 'host $XX'`);
  }

  private bacnetHost(v: number, dir: string): GBlock {
    const g = this.g;
    switch (dir) {
      case 'src': return g.cmp('linkhdr', 4, 0x10, v);
      case 'dst': return g.cmp('linkhdr', 3, 0x10, v);
      case 'and': return g.and(this.bacnetHost(v, 'src'), this.bacnetHost(v, 'dst'));
      case 'default': case 'or': return g.or(this.bacnetHost(v, 'src'), this.bacnetHost(v, 'dst'));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }

  // ---- keyword values ----
  wlanType(t: Token): number {
    if (t.kind === 'NUM') {
      if ((t.value! & ~0x0c) !== 0) this.fail('invalid 802.11 type value');
      return t.value!;
    }
    const v = WLAN_TYPES[t.text];
    if (v === undefined) this.fail(`unknown 802.11 type name "${t.text}"`);
    return v;
  }
  wlanSubtype(type: number, t: Token): number {
    if (t.kind === 'NUM') {
      if ((t.value! & ~0xf0) !== 0) this.fail('invalid 802.11 subtype value');
      return t.value!;
    }
    const v = WLAN_SUBTYPES[type]?.[t.text];
    if (v === undefined) this.fail(`unknown 802.11 subtype name "${t.text}"`);
    return v;
  }
  wlanTypeSubtype(t: Token): number {
    if (t.kind !== 'ID') throw new FilterSyntaxError("can't parse filter expression: syntax error", t.column);
    for (const [ty, table] of Object.entries(WLAN_SUBTYPES)) {
      const v = table[t.text];
      if (v !== undefined) return Number(ty) | v;
    }
    this.fail(`unknown 802.11 subtype name "${t.text}"`);
  }
  wlanDir(t: Token): number {
    if (t.kind === 'NUM') {
      if (t.value! > 3) this.fail('invalid 802.11 direction');
      return t.value!;
    }
    const v = WLAN_DIRS[t.text];
    if (v === undefined) this.fail(`unknown 802.11 direction name "${t.text}"`);
    return v;
  }
  pfReason(t: Token): number {
    if (t.kind === 'NUM') return t.value!;
    const i = PF_REASONS.indexOf(t.text);
    if (i < 0) this.fail(`unknown PF reason "${t.text}"`);
    return i;
  }
  pfAction(t: Token): number {
    const v = PF_ACTIONS[t.text];
    if (v === undefined) this.fail(`unknown PF action "${t.text}"`);
    return v;
  }
  llcNamed(name: string): GBlock {
    const g = this.g;
    if (name === 'i') return g.llcI();
    if (name === 's') return g.llcS();
    if (name === 'u') return g.llcU();
    if (LLC_S[name] !== undefined) return g.llcSSubtype(LLC_S[name]!);
    if (LLC_U[name] !== undefined) return g.llcUSubtype(LLC_U[name]!);
    this.fail(`unknown LLC type name "${name}"`);
  }
}
