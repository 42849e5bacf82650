/**
 * Code generator, network and transport layers: `proto`/abbreviations (ip, tcp, isis ...),
 * `protochain`, IPv4/IPv6/DECnet hosts and networks, `gateway`, ports and port ranges.
 */
import type { Stmt } from './cfg.js';
import { BPF, stmt, type GBlock, type OffRel } from './core.js';
import { DLT } from './linktype.js';
import { ET, ETHERMTU, IPPROTO, ISIS_PDUS, ISO, LLCSAP, PROTO_UNDEF, WLAN_DIRS, isEtherLike, isWlanFamily } from './gen-constants.js';
import { LinkGen } from './gen-link.js';

export abstract class ProtoGen extends LinkGen {
  // ---------- protocols ----------

  protoAbbrev(proto: string): GBlock {
    switch (proto) {
      case 'sctp': return this.genProto(IPPROTO.SCTP, 'default');
      case 'tcp': return this.genProto(IPPROTO.TCP, 'default');
      case 'udp': return this.genProto(IPPROTO.UDP, 'default');
      case 'icmp': return this.genProto(IPPROTO.ICMP, 'ip');
      case 'igmp': return this.genProto(IPPROTO.IGMP, 'ip');
      case 'igrp': return this.genProto(IPPROTO.IGRP, 'ip');
      case 'pim': return this.genProto(IPPROTO.PIM, 'default');
      case 'vrrp': case 'carp': return this.genProto(IPPROTO.VRRP, 'ip');
      case 'ip': return this.linktypeTest(ET.IP);
      case 'arp': return this.linktypeTest(ET.ARP);
      case 'rarp': return this.linktypeTest(ET.REVARP);
      case 'link': return this.fail('link layer applied in wrong context');
      case 'atalk': return this.linktypeTest(ET.ATALK);
      case 'aarp': return this.linktypeTest(ET.AARP);
      case 'decnet': return this.linktypeTest(ET.DN);
      case 'sca': return this.linktypeTest(ET.SCA);
      case 'lat': return this.linktypeTest(ET.LAT);
      case 'mopdl': return this.linktypeTest(ET.MOPDL);
      case 'moprc': return this.linktypeTest(ET.MOPRC);
      case 'ip6': return this.linktypeTest(ET.IPV6);
      case 'icmp6': return this.genProto(IPPROTO.ICMPV6, 'ip6');
      case 'ah': return this.genProto(IPPROTO.AH, 'default');
      case 'esp': return this.genProto(IPPROTO.ESP, 'default');
      case 'iso': return this.linktypeTest(LLCSAP.ISONS);
      case 'esis': return this.genProto(ISO.ESIS, 'iso');
      case 'isis': return this.genProto(ISO.ISIS, 'iso');
      case 'clnp': return this.genProto(ISO.CLNP, 'iso');
      case 'stp': return this.linktypeTest(LLCSAP.STP);
      case 'ipx': return this.linktypeTest(LLCSAP.IPX);
      case 'netbeui': return this.linktypeTest(LLCSAP.NETBEUI);
      case 'radio': return this.fail("'radio' is not a valid protocol type");
      default: {
        const pdus = ISIS_PDUS[proto];
        if (!pdus) this.fail(`unknown protocol '${proto}'`);
        let b = this.isisPdu(pdus[0]!);
        for (let i = 1; i < pdus.length; i++) b = i === 1 ? this.or(b, this.isisPdu(pdus[i]!)) : this.or(this.isisPdu(pdus[i]!), b);
        return b;
      }
    }
  }

  /** libpcap's range checks on `proto N`. */
  protected checkProtoRange(v: number, proto: string): void {
    switch (proto) {
      case 'default': case 'ip': case 'ip6':
        if (v > 255) this.fail(`protocol number ${v} greater than maximum 255`);
        break;
      case 'iso': if (v > 255) this.fail(`ISO protocol ${v} greater than maximum 255`); break;
      case 'isis': if (v > 31) this.fail(`IS-IS PDU type ${v} greater than maximum 31`); break;
      case 'link': {
        const lt = this.linktype;
        const kind = lt === DLT.C_HDLC ? 'HDLC protocol' : lt === DLT.PPP || lt === DLT.PPP_BSDOS || lt === DLT.PPP_PPPD ||
          lt === DLT.PPP_SERIAL || lt === DLT.PPP_ETHER ? 'PPP protocol' : 'EtherType';
        if (v > 65535) this.fail(`${kind} ${v} greater than maximum 65535`);
        const llcBased = isEtherLike(lt) || lt === DLT.LINUX_SLL || lt === DLT.LINUX_SLL2 || lt === DLT.IP_OVER_FC ||
          lt === DLT.FDDI || lt === DLT.IEEE802 || isWlanFamily(lt);
        if (llcBased && v > 255 && v <= ETHERMTU) this.fail(`LLC DSAP ${v} greater than maximum 255`);
        break;
      }
      default: break;
    }
  }

  protected isisPdu(t: number): GBlock {
    return this.and(this.genProto(ISO.ISIS, 'iso'), this.mcmp('linkpl_nosnap', 4, BPF.B, t, 0x1f));
  }

  genProto(v: number, proto: string): GBlock {
    this.checkProtoRange(v, proto);
    switch (proto) {
      case 'default': return this.or(this.genProto(v, 'ip'), this.genProto(v, 'ip6'));
      case 'link': return this.linktypeTest(v);
      case 'ip': return this.and(this.linktypeTest(ET.IP), this.cmp('linkpl', 9, BPF.B, v));
      case 'ip6': {
        const b0 = this.linktypeTest(ET.IPV6);
        let b1 = this.and(this.cmp('linkpl', 6, BPF.B, IPPROTO.FRAGMENT), this.cmp('linkpl', 40, BPF.B, v));
        b1 = this.or(this.cmp('linkpl', 6, BPF.B, v), b1);
        return this.and(b0, b1);
      }
      case 'iso':
        switch (this.linktype) {
          case DLT.FRELAY: return this.cmp('linkhdr', 2, BPF.H, 0x0300 | v);
          default:
            return this.and(this.linktypeTest(LLCSAP.ISONS), this.cmp('linkpl_nosnap', 0, BPF.B, v));
        }
      case 'isis': return this.and(this.genProto(ISO.ISIS, 'iso'), this.mcmp('linkpl_nosnap', 4, BPF.B, v, 0x1f));
      case 'arp': case 'rarp': case 'sctp': case 'tcp': case 'udp': case 'icmp': case 'igmp': case 'igrp':
      case 'atalk': case 'aarp': case 'decnet': case 'lat': case 'sca': case 'moprc': case 'mopdl':
      case 'icmp6': case 'ah': case 'esp': case 'pim': case 'vrrp': case 'carp': case 'esis': case 'clnp':
      case 'stp': case 'ipx': case 'netbeui': case 'radio':
      default:
        this.fail(`'${proto} proto' is bogus`);
    }
  }

  /**
   * `protochain N`: follow the IPv6 extension-header / IPv4 AH chain in a loop until protocol N (a
   * backward `ja` inside one block: libpcap does not optimise such programs; tsbpf's optimiser
   * leaves that block's statements alone and optimises around it).
   */
  protochain(v: number, proto: string): GBlock {
    if (v > 255) this.fail(`protocol number ${v} greater than maximum 255`);
    const reg = this.allocReg();
    if (proto === 'default') {
      // libpcap allocates its scratch register here too and never frees it.
      return this.or(this.protochain(v, 'ip'), this.protochain(v, 'ip6'));
    }
    if (proto !== 'ip' && proto !== 'ip6') this.fail("bad protocol applied for 'protochain'");
    if (this.offLinkpl.isVariable) this.fail("'protochain' not supported with variable length headers");
    this.libpcapSkipsOptimizer = true;
    const base = this.offLinkpl.constantPart + this.offNl;
    const s: Stmt[] = [];
    const jeq = (k: number): Stmt => stmt(BPF.JMP | BPF.JEQ | BPF.K, k);
    let b0: GBlock;
    if (proto === 'ip') {
      b0 = this.linktypeTest(ET.IP);
      s.push(stmt(BPF.LD | BPF.ABS | BPF.B, base + 9), stmt(BPF.LDX | BPF.MSH | BPF.B, base));
    } else {
      b0 = this.linktypeTest(ET.IPV6);
      s.push(stmt(BPF.LD | BPF.ABS | BPF.B, base + 6), stmt(BPF.LDX | BPF.IMM, 40));
    }
    const again = s.length;
    const found = jeq(v); s.push(found);
    const none = jeq(IPPROTO.NONE); s.push(none);
    found.jf = none;
    const end = stmt(BPF.ALU | BPF.ADD | BPF.K, 0);
    const ahcheck = jeq(IPPROTO.AH);
    const ja = (i: number): Stmt => stmt(BPF.JMP | BPF.JA, again - i - 1);
    if (proto === 'ip6') {
      const exts = [IPPROTO.HOPOPTS, IPPROTO.DSTOPTS, IPPROTO.ROUTING, IPPROTO.FRAGMENT].map(jeq);
      none.jf = exts[0];
      for (let i = 1; i < exts.length; i++) exts[i - 1]!.jf = exts[i];
      s.push(...exts);
      const advance = stmt(BPF.LD | BPF.IND | BPF.B, base);
      for (const e of exts) e.jt = advance;
      exts[exts.length - 1]!.jf = ahcheck;
      s.push(advance, stmt(BPF.ST, reg), stmt(BPF.LD | BPF.IND | BPF.B, base + 1), stmt(BPF.ALU | BPF.ADD | BPF.K, 1),
        stmt(BPF.ALU | BPF.MUL | BPF.K, 8), stmt(BPF.ALU | BPF.ADD | BPF.X), stmt(BPF.MISC | BPF.TAX), stmt(BPF.LD | BPF.MEM, reg));
      s.push(ja(s.length));
    } else {
      const nop = stmt(BPF.ALU | BPF.ADD | BPF.K, 0);
      none.jf = nop;
      s.push(nop);
    }
    s.push(ahcheck);
    ahcheck.jf = end;
    s.push(stmt(BPF.LD | BPF.IND | BPF.B, base), stmt(BPF.ST, reg), stmt(BPF.MISC | BPF.TXA), stmt(BPF.ALU | BPF.ADD | BPF.K, 1),
      stmt(BPF.MISC | BPF.TAX), stmt(BPF.LD | BPF.IND | BPF.B, base), stmt(BPF.ALU | BPF.ADD | BPF.K, 2),
      stmt(BPF.ALU | BPF.MUL | BPF.K, 4), stmt(BPF.MISC | BPF.TAX), stmt(BPF.LD | BPF.MEM, reg));
    s.push(ja(s.length));
    s.push(end);
    none.jt = end;
    found.jt = end;
    const b = this.newBlock(BPF.JMP | BPF.JEQ | BPF.K, v);
    b.stmts = s;
    this.freeReg(reg);
    return this.and(b0, b);
  }

  // ---------- hosts and networks ----------

  protected hostop(addr: number, mask: number, dir: string, srcOff: number, dstOff: number): GBlock {
    switch (dir) {
      case 'src': return this.hostCmp(addr, mask, srcOff);
      case 'dst': return this.hostCmp(addr, mask, dstOff);
      case 'and': return this.and(this.hostop(addr, mask, 'src', srcOff, dstOff), this.hostop(addr, mask, 'dst', srcOff, dstOff));
      case 'default': case 'or':
        return this.or(this.hostop(addr, mask, 'src', srcOff, dstOff), this.hostop(addr, mask, 'dst', srcOff, dstOff));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }
  protected hostCmp(addr: number, mask: number, off: number): GBlock {
    if (mask >>> 0 === 0) return this.true();
    return this.mcmp('linkpl', off, BPF.W, (addr & mask) >>> 0, mask);
  }

  /** IPv4 host/net test for the given addresses under one protocol qualifier. */
  /** IPv4 host/net test for the given addresses; `negate` (for `gateway`) inverts the address match. */
  genHost(addrs: number[], mask: number, proto: string, dir: string, what: string, negate = false): GBlock {
    if (WLAN_DIRS.has(dir)) this.fail(`'${dir}' is valid for 802.11 syntax only`);
    const list = (src: number, dst: number): GBlock => {
      let b: GBlock | undefined;
      for (const a of addrs) { const t = this.hostop(a, mask, dir, src, dst); b = b ? this.or(b, t) : t; }
      return negate ? this.not(b!) : b!;
    };
    switch (proto) {
      case 'default': {
        const b0 = this.genHost(addrs, mask, 'ip', dir, what, negate);
        if (this.labelStackDepth > 0) return b0;
        const b1 = this.or(b0, this.genHost(addrs, mask, 'arp', dir, what, negate));
        return this.or(b1, this.genHost(addrs, mask, 'rarp', dir, what, negate));
      }
      case 'ip': return this.andUnlessFalse(this.linktypeTest(ET.IP), () => list(12, 16));
      case 'arp': return this.andUnlessFalse(this.linktypeTest(ET.ARP), () => list(14, 24));
      case 'rarp': return this.andUnlessFalse(this.linktypeTest(ET.REVARP), () => list(14, 24));
      case 'link': return this.fail(`link-layer modifier applied to ${what}`);
      case 'decnet': {
        let b: GBlock | undefined;
        for (const a of addrs) { const t = this.dnHostop(a, dir); b = b ? this.or(b, t) : t; }
        return this.and(this.linktypeTest(ET.DN), b!);
      }
      default: this.fail(`'${proto}' modifier applied to ${what}`);
    }
  }

  protected dnHostop(addr: number, dir: string): GBlock {
    let offsetSh: number; let offsetLh: number;
    switch (dir) {
      case 'dst': offsetSh = 1; offsetLh = 7; break;
      case 'src': offsetSh = 3; offsetLh = 15; break;
      case 'and': return this.and(this.dnHostop(addr, 'src'), this.dnHostop(addr, 'dst'));
      case 'default': case 'or': return this.or(this.dnHostop(addr, 'src'), this.dnHostop(addr, 'dst'));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
    const swapped = ((addr >> 8) & 0xff) | ((addr & 0xff) << 8);
    // Long header, padded (first byte 0x81, type 6) and not.
    let b1 = this.and(this.mcmp('linkpl', 2, BPF.H, 0x8106, 0xff07), this.cmp('linkpl', 2 + 1 + offsetLh, BPF.H, swapped));
    let b2 = this.and(this.mcmp('linkpl', 2, BPF.B, 0x06, 0x7), this.cmp('linkpl', 2 + offsetLh, BPF.H, swapped));
    b1 = this.or(b2, b1);
    if (dir === 'dst') {
      // The short header's flags and destination fit in one word.
      b2 = this.mcmp('linkpl', 2, BPF.W, (0x8102 << 16 | swapped) >>> 0, 0xff07ffff);
      b1 = this.or(b2, b1);
      b2 = this.mcmp('linkpl', 2, BPF.W, (0x02 << 24 | swapped << 8) >>> 0, 0x07ffff00);
      b1 = this.or(b2, b1);
    } else {
      b2 = this.and(this.mcmp('linkpl', 2, BPF.H, 0x8102, 0xff07), this.cmp('linkpl', 2 + 1 + offsetSh, BPF.H, swapped));
      b1 = this.or(b2, b1);
      b2 = this.and(this.mcmp('linkpl', 2, BPF.B, 0x02, 0x7), this.cmp('linkpl', 2 + offsetSh, BPF.H, swapped));
      b1 = this.or(b2, b1);
    }
    return b1;
  }

  protected hostop6(addr: Uint8Array, mask: Uint8Array, dir: string, srcOff: number, dstOff: number): GBlock {
    let off: number;
    switch (dir) {
      case 'src': off = srcOff; break;
      case 'dst': off = dstOff; break;
      case 'and': return this.and(this.hostop6(addr, mask, 'src', srcOff, dstOff), this.hostop6(addr, mask, 'dst', srcOff, dstOff));
      case 'default': case 'or': return this.or(this.hostop6(addr, mask, 'src', srcOff, dstOff), this.hostop6(addr, mask, 'dst', srcOff, dstOff));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
    const word = (b: Uint8Array, i: number): number => ((b[4 * i]! << 24) | (b[4 * i + 1]! << 16) | (b[4 * i + 2]! << 8) | b[4 * i + 3]!) >>> 0;
    let b: GBlock | undefined;
    for (let i = 3; i >= 0; i--) {
      const m = word(mask, i);
      if (m === 0) continue;
      const t = this.mcmp('linkpl', off + 4 * i, BPF.W, (word(addr, i) & m) >>> 0, m);
      b = b ? this.and(t, b) : t;
    }
    return b ?? this.true();
  }

  genHost6(addrs: Uint8Array[], mask: Uint8Array, proto: string, dir: string, what: string): GBlock {
    switch (proto) {
      case 'default': case 'ip6': {
        let b: GBlock | undefined;
        for (const a of addrs) { const t = this.hostop6(a, mask, dir, 8, 24); b = b ? this.or(b, t) : t; }
        return this.and(this.linktypeTest(ET.IPV6), b!);
      }
      case 'link': return this.fail(`link-layer modifier applied to ${what}`);
      default: this.fail(`'${proto}' modifier applied to ${what}`);
    }
  }

  /** `gateway H`: to or from H's MAC address, but not to or from any of its IPv4 addresses. */
  gateway(mac: Uint8Array, addrs: number[], proto: string): GBlock {
    if (proto !== 'default' && proto !== 'ip' && proto !== 'arp' && proto !== 'rarp') this.fail('illegal modifier of \'gateway\'');
    const b0 = this.macHost(mac, 'default');
    return this.and(b0, this.genHost(addrs, 0xffffffff, proto, 'or', 'host', true));
  }


  // ---------- ports ----------

  protected ipFrag(): GBlock { return this.not(this.mset('linkpl', 6, BPF.H, 0x1fff)); }

  protected portAtoms(dir: string, atom: (off: number) => GBlock, what = 'port'): GBlock {
    switch (dir) {
      case 'src': return atom(0);
      case 'dst': return atom(2);
      case 'and': return this.and(atom(0), atom(2));
      case 'default': case 'or': return this.or(atom(0), atom(2));
      default: this.fail(`'${dir}' is not a valid qualifier for '${what}'`);
    }
  }

  protected protoList(ipProto: number, test: (p: number) => GBlock): GBlock {
    if (ipProto !== PROTO_UNDEF) return test(ipProto);
    let b = this.or(test(IPPROTO.TCP), test(IPPROTO.UDP));
    b = this.or(b, test(IPPROTO.SCTP));
    return b;
  }

  genPort(lo: number, hi: number, ipProto: number, dir: string, v6: boolean, what = 'port'): GBlock {
    if (WLAN_DIRS.has(dir)) this.fail(`'${dir}' is not a valid qualifier for '${what}'`);
    const rel: OffRel = v6 ? 'tran_ipv6' : 'tran_ipv4';
    const atom = (off: number): GBlock => {
      if (lo === hi) return this.cmp(rel, off, BPF.H, lo);
      return this.and(this.cmpGe(rel, off, BPF.H, lo), this.cmpLe(rel, off, BPF.H, hi));
    };
    // libpcap builds the port tests before the protocol tests; that order decides which
    // variable-offset register is allocated first.
    const ports = this.portAtoms(dir, atom, what);
    if (v6) {
      const b0 = this.linktypeTest(ET.IPV6);
      const b1 = this.protoList(ipProto, (p) => this.cmp('linkpl', 6, BPF.B, p));
      return this.and(this.and(b0, b1), ports);
    }
    const b0 = this.linktypeTest(ET.IP);
    const b1 = this.protoList(ipProto, (p) => this.cmp('linkpl', 9, BPF.B, p));
    return this.and(this.and(this.and(b0, b1), this.ipFrag()), ports);
  }

  portQual(proto: string, what: string): number {
    switch (proto) {
      case 'udp': return IPPROTO.UDP;
      case 'tcp': return IPPROTO.TCP;
      case 'sctp': return IPPROTO.SCTP;
      case 'default': return PROTO_UNDEF;
      default: this.fail(`illegal qualifier of '${what}'`);
    }
  }

  ports(lo: number, hi: number, ipProto: number, dir: string, what = 'port'): GBlock {
    if (lo > hi) [lo, hi] = [hi, lo];
    const b4 = this.genPort(lo, hi, ipProto, dir, false, what);
    const b6 = this.genPort(lo, hi, ipProto, dir, true, what);
    return this.or(b6, b4);
  }

}
