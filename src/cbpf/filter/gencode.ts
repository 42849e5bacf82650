/**
 * The pcap-filter code generator: turns the parser's primitives (qualified names, numbers,
 * addresses, arithmetic relations, keyword tests) into CFG blocks, per link-layer type, the way
 * libpcap's gencode.c does, so the unoptimised output matches libpcap's instruction for instruction.
 */
import type { Stmt } from './cfg.js';
import { Compiler, BPF, stmt, absOffset, type Arth, type GBlock, type OffRel } from './core.js';
import { DLT, linkOffsets, linkTypeName } from './linktype.js';
import type { NameTables } from './names.js';

export interface Qual { proto: string; dir: string; addr: string }
export const QDEFAULT: Qual = { proto: 'default', dir: 'default', addr: 'default' };

const ETHERMTU = 1500;
const ET = {
  IP: 0x0800, ARP: 0x0806, REVARP: 0x8035, IPV6: 0x86dd, ATALK: 0x809b, AARP: 0x80f3, DN: 0x6003,
  SCA: 0x6007, LAT: 0x6004, MOPDL: 0x6001, MOPRC: 0x6002, IPX: 0x8137, NS: 0x0600, VLAN: 0x8100,
  QINQ: 0x88a8, QINQ_OLD: 0x9100, MPLS: 0x8847, MPLS_MULTI: 0x8848, PPPOED: 0x8863, PPPOES: 0x8864,
  TEB: 0x6558,
} as const;
const LLCSAP = { IP: 0x06, ISONS: 0xfe, NETBEUI: 0xf0, IPX: 0xe0, SNAP: 0xaa, STP: 0x42 } as const;
const IPPROTO = {
  ICMP: 1, IGMP: 2, TCP: 6, UDP: 17, IGRP: 9, PIM: 103, VRRP: 112, ICMPV6: 58, AH: 51, ESP: 50, SCTP: 132,
  FRAGMENT: 44, HOPOPTS: 0, ROUTING: 43, DSTOPTS: 60, NONE: 59,
} as const;
const ISO = { CLNP: 0x81, ESIS: 0x82, ISIS: 0x83 } as const;
const PROTO_UNDEF = -1;

/** ISO/IS-IS PDU types per abbreviation, in the order libpcap ORs them (last listed comes first). */
const ISIS_PDUS: Record<string, number[]> = {
  l1: [15, 17, 18, 24, 26], l2: [16, 17, 20, 25, 27], iih: [15, 16, 17], lsp: [18, 20],
  snp: [24, 25, 26, 27], csnp: [24, 25], psnp: [26, 27],
};

const WLAN_DIRS = new Set(['addr1', 'addr2', 'addr3', 'addr4', 'ra', 'ta']);
const isWlanFamily = (lt: number): boolean =>
  lt === DLT.IEEE802_11 || lt === DLT.PRISM_HEADER || lt === DLT.IEEE802_11_RADIO_AVS ||
  lt === DLT.IEEE802_11_RADIO || lt === DLT.PPI;
const isEtherLike = (lt: number): boolean =>
  lt === DLT.EN10MB || lt === DLT.NETANALYZER || lt === DLT.NETANALYZER_TRANSPARENT ||
  lt === DLT.DSA_TAG_BRCM || lt === DLT.DSA_TAG_DSA;

export class Generator extends Compiler {
  /** Name tables consulted before the /etc files. */
  names: NameTables | undefined;

  init(linktype: number, snaplen: number, netmask: number | undefined, linuxExt: boolean): void {
    this.linktype = linktype;
    this.outermostlinktype = linktype;
    this.snaplen = snaplen;
    this.linuxExt = linuxExt;
    if (netmask !== undefined) { this.netmask = netmask >>> 0; this.netmaskKnown = true; }
    const o = linkOffsets(linktype);
    if (!o) this.fail(`unknown data link type ${linktype}`);
    this.offLinkhdr = absOffset(o.linkhdr, o.linkhdrVariable);
    this.offOutermostlinkhdr = this.offLinkhdr;
    this.offPrevlinkhdr = absOffset(0);
    this.offLinktype = absOffset(o.linktype);
    this.offLinkpl = absOffset(o.linkpl, o.linkplVariable);
    this.offNl = o.nl;
    this.offNlNosnap = o.nlNosnap;
    if (linktype === DLT.MTP2) { this.offLi = 2; this.offLiHsl = 4; this.offSio = 3; this.offOpc = 4; this.offDpc = 4; this.offSls = 7; }
    if (linktype === DLT.MTP2_WITH_PHDR) { this.offLi = 6; this.offLiHsl = 8; this.offSio = 7; this.offOpc = 8; this.offDpc = 8; this.offSls = 11; }
    // libpcap never optimises Prism captures (their header-length code jumps inside a block).
    if (linktype === DLT.PRISM_HEADER) this.noOptimize = true;
    if (linktype === DLT.SUNATM) { this.isAtm = true; this.offVpi = 1; this.offVci = 2; this.offProto = 0; this.offPayload = 4; }
  }

  // ---------- finishing ----------

  /** Wraps the expression with the returns (and the variable-offset setup), like finish_parse. */
  finish(p: GBlock | undefined): GBlock {
    if (!p) return this.retBlock(this.snaplen);
    this.insertComputeVloffsets(p.head);
    if (this.linktype === DLT.PPI) p = this.and(this.cmp('packet', 4, BPF.W, 0x69000000), p);
    this.backpatch(p, this.retBlock(this.snaplen));
    p.sense = !p.sense;
    this.backpatch(p, this.retBlock(0));
    return p.head;
  }

  private insertComputeVloffsets(b: GBlock): void {
    const lt = this.outermostlinktype;
    let pre: Stmt[] = [];
    const hdr = this.offLinkhdr;
    if (hdr.reg !== -1 || (isWlanFamily(lt) && this.offLinkpl.reg !== -1 && hdr.isVariable)) {
      if (hdr.isVariable && hdr.reg === -1) hdr.reg = this.allocReg();
      if (lt === DLT.PRISM_HEADER && hdr.reg !== -1) pre = this.prismPrefix(hdr.reg);
      else if (lt === DLT.IEEE802_11_RADIO_AVS && hdr.reg !== -1) {
        pre = [stmt(BPF.LD | BPF.W | BPF.ABS, 4), stmt(BPF.ST, hdr.reg), stmt(BPF.MISC | BPF.TAX)];
      } else if ((lt === DLT.IEEE802_11_RADIO || lt === DLT.PPI) && hdr.reg !== -1) {
        pre = [stmt(BPF.LD | BPF.B | BPF.ABS, 3), stmt(BPF.ALU | BPF.LSH | BPF.K, 8), stmt(BPF.MISC | BPF.TAX),
          stmt(BPF.LD | BPF.B | BPF.ABS, 2), stmt(BPF.ALU | BPF.OR | BPF.X), stmt(BPF.ST, hdr.reg), stmt(BPF.MISC | BPF.TAX)];
      }
    }
    let hl: Stmt[] = [];
    if (isWlanFamily(lt) && this.offLinkpl.reg !== -1) {
      hl = this.wlanHeaderLen(pre.length === 0, b.stmts[0]);
      // Its in-block jumps are beyond the optimiser, as in libpcap.
      this.noOptimize = true;
    } else if (lt === DLT.PFLOG && this.offLinkpl.reg !== -1) {
      hl = [stmt(BPF.LD | BPF.B | BPF.ABS, 0), stmt(BPF.ALU | BPF.ADD | BPF.K, 3),
        stmt(BPF.ALU | BPF.AND | BPF.K, 0xfffffffc), stmt(BPF.ST, this.offLinkpl.reg), stmt(BPF.MISC | BPF.TAX)];
    }
    if (pre.length || hl.length) b.stmts = [...pre, ...hl, ...b.stmts];
  }

  /** Prism or AVS header in front of 802.11: its length is 144 or the AVS header's length word. */
  private prismPrefix(reg: number): Stmt[] {
    const ldLen = stmt(BPF.LD | BPF.W | BPF.ABS, 4);
    const ld144 = stmt(BPF.LD | BPF.IMM, 144);
    const store = stmt(BPF.ST, reg);
    const jeq: Stmt = { ...stmt(BPF.JMP | BPF.JEQ | BPF.K, 0x80211000), jt: ldLen, jf: ld144 };
    return [stmt(BPF.LD | BPF.W | BPF.ABS, 0), stmt(BPF.ALU | BPF.AND | BPF.K, 0xfffff000), jeq, ldLen,
      stmt(BPF.JMP | BPF.JA, 1), ld144, store, stmt(BPF.MISC | BPF.TAX)];
  }

  /** 802.11 header length into the link-payload register: 24, +2 for QoS data frames. */
  private wlanHeaderLen(noPrefix: boolean, next: Stmt | undefined): Stmt[] {
    const reg = this.offLinkpl.reg;
    const out: Stmt[] = [];
    if (noPrefix) out.push(stmt(BPF.LDX | BPF.IMM, this.offLinkhdr.constantPart));
    const end = next ?? stmt(BPF.LD | BPF.IMM, 0);
    const addQos = stmt(BPF.LD | BPF.MEM, reg);
    const notCtl: Stmt = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x04);
    const qos: Stmt = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x80);
    const data: Stmt = { ...stmt(BPF.JMP | BPF.JSET | BPF.K, 0x08), jt: notCtl, jf: end };
    notCtl.jt = end; notCtl.jf = qos;
    qos.jt = addQos; qos.jf = end;
    out.push(stmt(BPF.MISC | BPF.TXA), stmt(BPF.ALU | BPF.ADD | BPF.K, 24), stmt(BPF.ST, reg),
      stmt(BPF.LD | BPF.IND | BPF.B, 0), data, notCtl, qos, addQos, stmt(BPF.ALU | BPF.ADD | BPF.K, 2), stmt(BPF.ST, reg));
    if (this.linktype === DLT.IEEE802_11_RADIO) {
      // Radiotap: when the Flags field is present and says "data padding", round up to 4 bytes.
      // Flags follows the present word, or the 8-byte TSFT when that is present too.
      const ldPresent = stmt(BPF.LD | BPF.W | BPF.ABS, 4);
      const hasFlags = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x02000000);
      const hasExt = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x80);
      const hasTsft = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x01000000);
      const ldFlags16 = stmt(BPF.LD | BPF.B | BPF.ABS, 16);
      const pad16 = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x20);
      const ldFlags8 = stmt(BPF.LD | BPF.B | BPF.ABS, 8);
      const pad8 = stmt(BPF.JMP | BPF.JSET | BPF.K, 0x20);
      const round = stmt(BPF.LD | BPF.MEM, reg);
      qos.jf = ldPresent;
      hasFlags.jt = hasExt; hasFlags.jf = end;
      hasExt.jt = end; hasExt.jf = hasTsft;
      hasTsft.jt = ldFlags16; hasTsft.jf = ldFlags8;
      pad16.jt = round; pad16.jf = end;
      pad8.jt = round; pad8.jf = end;
      out.push(ldPresent, hasFlags, hasExt, hasTsft, ldFlags16, pad16, ldFlags8, pad8, round,
        stmt(BPF.ALU | BPF.ADD | BPF.K, 3), stmt(BPF.ALU | BPF.AND | BPF.K, 0xfffffffc), stmt(BPF.ST, reg));
    }
    if (!next) out.push(end);
    return out;
  }

  /** `b0 and rest()`, without generating `rest` when b0 can never be true (libpcap skips it too). */
  private andUnlessFalse(b0: GBlock, rest: () => GBlock): GBlock {
    if (b0.uncond === false && b0.head === b0 && !b0.sense) return b0;
    return this.and(b0, rest());
  }

  // ---------- link-layer type tests ----------

  /** After `lane`, Ethernet tests must also rule out LE Control frames of the ATM LANE header. */
  prevLinkhdrCheck(): GBlock | undefined {
    if (this.isVxlan || this.isGeneve) return undefined;
    if (this.prevlinktype === DLT.SUNATM) return this.not(this.cmp('prevlinkhdr', 4, BPF.H, 0xff00));
    return undefined;
  }

  snap(orgcode: number, ptype: number): GBlock {
    return this.bcmp('llc', 0, Uint8Array.of(LLCSAP.SNAP, LLCSAP.SNAP, 0x03, (orgcode >> 16) & 0xff,
      (orgcode >> 8) & 0xff, orgcode & 0xff, (ptype >> 8) & 0xff, ptype & 0xff));
  }

  private notGt(rel: OffRel, off: number, v: number): GBlock { return this.not(this.cmpGt(rel, off, BPF.H, v)); }

  etherLinktype(p: number): GBlock {
    switch (p) {
      case LLCSAP.ISONS: case LLCSAP.IP: case LLCSAP.NETBEUI:
        return this.and(this.notGt('linktype', 0, ETHERMTU), this.cmp('llc', 0, BPF.H, (p << 8) | p));
      case LLCSAP.IPX: {
        let b1 = this.or(this.cmp('llc', 0, BPF.B, LLCSAP.IPX), this.cmp('llc', 0, BPF.H, 0xffff));
        b1 = this.or(this.snap(0, ET.IPX), b1);
        b1 = this.and(this.notGt('linktype', 0, ETHERMTU), b1);
        return this.or(this.cmp('linktype', 0, BPF.H, ET.IPX), b1);
      }
      case ET.ATALK: case ET.AARP: {
        const b0 = this.notGt('linktype', 0, ETHERMTU);
        const b1 = p === ET.ATALK ? this.snap(0x080007, ET.ATALK) : this.snap(0, ET.AARP);
        return this.or(this.cmp('linktype', 0, BPF.H, p), this.and(b0, b1));
      }
      default:
        if (p <= ETHERMTU) return this.and(this.notGt('linktype', 0, ETHERMTU), this.cmp('linktype', 2, BPF.B, p));
        return this.cmp('linktype', 0, BPF.H, p);
    }
  }

  llcLinktype(p: number): GBlock {
    switch (p) {
      case LLCSAP.IP: case LLCSAP.ISONS: case LLCSAP.NETBEUI: return this.cmp('llc', 0, BPF.H, (p << 8) | p);
      case LLCSAP.IPX: return this.cmp('llc', 0, BPF.B, LLCSAP.IPX);
      case ET.ATALK: return this.snap(0x080007, ET.ATALK);
      default:
        return p <= ETHERMTU ? this.cmp('llc', 0, BPF.B, p) : this.cmp('llc', 6, BPF.H, p);
    }
  }

  private sllLinktype(p: number): GBlock {
    const P_802_2 = 4; const P_802_3 = 1;
    switch (p) {
      case LLCSAP.ISONS: case LLCSAP.IP: case LLCSAP.NETBEUI:
        return this.and(this.cmp('linktype', 0, BPF.H, P_802_2), this.cmp('llc', 0, BPF.H, (p << 8) | p));
      case LLCSAP.IPX: {
        let b1 = this.or(this.cmp('llc', 0, BPF.B, LLCSAP.IPX), this.snap(0, ET.IPX));
        b1 = this.and(this.cmp('linktype', 0, BPF.H, P_802_2), b1);
        b1 = this.or(this.cmp('linktype', 0, BPF.H, P_802_3), b1);
        return this.or(this.cmp('linktype', 0, BPF.H, ET.IPX), b1);
      }
      case ET.ATALK: case ET.AARP: {
        const b0 = this.cmp('linktype', 0, BPF.H, P_802_2);
        const b1 = p === ET.ATALK ? this.snap(0x080007, ET.ATALK) : this.snap(0, ET.AARP);
        return this.or(this.cmp('linktype', 0, BPF.H, p), this.and(b0, b1));
      }
      default:
        if (p <= ETHERMTU) {
          return this.and(this.cmp('linktype', 0, BPF.H, P_802_2), this.cmp('linkhdr', this.offLinkpl.constantPart, BPF.B, p));
        }
        return this.cmp('linktype', 0, BPF.H, p);
    }
  }

  private static readonly PPP_TYPES: Record<number, number> = {
    [ET.IP]: 0x21, [ET.IPV6]: 0x57, [ET.DN]: 0x27, [ET.ATALK]: 0x29, [ET.NS]: 0x25, [LLCSAP.ISONS]: 0x23,
    [LLCSAP.STP]: 0x31, [LLCSAP.IPX]: 0x2b,
  };
  private pppType(p: number): number { return Generator.PPP_TYPES[p] ?? p; }

  /** A 32-bit AF_ value in host (little-endian) order, as DLT_NULL live captures carry it. */
  private loopbackLinktype(af: number): GBlock {
    const v = this.linktype === DLT.LOOP ? af : (((af & 0xff) << 24) | ((af & 0xff00) << 8) | ((af >>> 8) & 0xff00) | (af >>> 24)) >>> 0;
    return this.cmp('linkhdr', 0, BPF.W, v);
  }

  dataFrameCheck(): GBlock { return this.mcmp('linkhdr', 0, BPF.B, 0x08, 0x0c); }

  linktypeTest(p: number): GBlock {
    if (this.labelStackDepth > 0) return this.mplsLinktype(p);
    const lt = this.linktype;
    if (isEtherLike(lt)) {
      const b0 = this.isGeneve ? undefined : this.prevLinkhdrCheck();
      const b1 = this.etherLinktype(p);
      return b0 ? this.and(b0, b1) : b1;
    }
    switch (lt) {
      case DLT.C_HDLC:
        return this.cmp('linktype', 0, BPF.H, p === LLCSAP.ISONS ? (p << 8) | LLCSAP.ISONS : p);
      case DLT.IEEE802_11: case DLT.PRISM_HEADER: case DLT.IEEE802_11_RADIO_AVS: case DLT.IEEE802_11_RADIO: case DLT.PPI:
        return this.and(this.dataFrameCheck(), this.llcLinktype(p));
      case DLT.FDDI: case DLT.IEEE802: case DLT.ATM_RFC1483: case DLT.ATM_CLIP: case DLT.IP_OVER_FC:
        return this.llcLinktype(p);
      case DLT.SUNATM:
        return this.and(this.atmType('llc'), this.llcLinktype(p));
      case DLT.LINUX_SLL: case DLT.LINUX_SLL2: return this.sllLinktype(p);
      case DLT.SLIP: case DLT.SLIP_BSDOS: case DLT.RAW:
        if (p === ET.IP) return this.mcmp('linkhdr', 0, BPF.B, 0x40, 0xf0);
        if (p === ET.IPV6) return this.mcmp('linkhdr', 0, BPF.B, 0x60, 0xf0);
        return this.false();
      case DLT.IPV4: return p === ET.IP ? this.true() : this.false();
      case DLT.IPV6: return p === ET.IPV6 ? this.true() : this.false();
      case DLT.PPP: case DLT.PPP_PPPD: case DLT.PPP_SERIAL: case DLT.PPP_ETHER:
        return this.cmp('linktype', 0, BPF.H, this.pppType(p));
      case DLT.PPP_BSDOS:
        if (p === ET.IP) {
          const b1 = this.or(this.cmp('linktype', 0, BPF.H, 0x21), this.cmp('linktype', 0, BPF.H, 0x2d));
          return this.or(b1, this.cmp('linktype', 0, BPF.H, 0x2f));
        }
        return this.cmp('linktype', 0, BPF.H, this.pppType(p));
      case DLT.NULL: case DLT.LOOP: case DLT.ENC:
        if (p === ET.IP) return this.loopbackLinktype(2);
        if (p === ET.IPV6) return this.loopbackLinktype(10);
        return this.false();
      case DLT.IPNET:
        if (p === ET.IP) return this.cmp('linktype', 0, BPF.B, 2);
        if (p === ET.IPV6) return this.cmp('linktype', 0, BPF.B, 26);
        return this.false();
      case DLT.PFLOG:
        if (p === ET.IP) return this.cmp('linkhdr', 1, BPF.B, 2);
        if (p === ET.IPV6) return this.cmp('linkhdr', 1, BPF.B, 10);
        return this.false();
      case DLT.ARCNET: case DLT.ARCNET_LINUX:
        switch (p) {
          case ET.IPV6: return this.cmp('linktype', 0, BPF.B, 0xc4);
          case ET.IP: return this.cmp('linktype', 0, BPF.B, 0xd4);
          case ET.ARP: return this.cmp('linktype', 0, BPF.B, 0xd5);
          case ET.REVARP: return this.cmp('linktype', 0, BPF.B, 0xd6);
          case ET.ATALK: return this.cmp('linktype', 0, BPF.B, 0xdd);
          default: return this.false();
        }
      case DLT.LTALK: return p === ET.ATALK ? this.true() : this.false();
      case DLT.FRELAY:
        if (p === ET.IP) return this.cmp('linkhdr', 2, BPF.H, 0x03cc);
        if (p === ET.IPV6) return this.cmp('linkhdr', 2, BPF.H, 0x038e);
        if (p === LLCSAP.ISONS) {
          const b2 = this.or(this.cmp('linkhdr', 2, BPF.H, 0x0300 | ISO.ESIS), this.cmp('linkhdr', 2, BPF.H, 0x0300 | ISO.ISIS));
          return this.or(this.cmp('linkhdr', 2, BPF.H, 0x0300 | ISO.CLNP), b2);
        }
        return this.false();
      case DLT.JUNIPER_MFR: case DLT.JUNIPER_MLFR: case DLT.JUNIPER_MLPPP: case DLT.JUNIPER_ATM1:
      case DLT.JUNIPER_ATM2: case DLT.JUNIPER_ES: case DLT.JUNIPER_GGSN: case DLT.JUNIPER_SERVICES:
        // Only the Juniper "MGC" magic cookie can be checked.
        return this.mcmp('linkhdr', 0, BPF.W, 0x4d474300, 0xffffff00);
      case DLT.MTP2: case DLT.MTP2_WITH_PHDR: case DLT.BACNET_MS_TP:
        this.fail(`link-layer type filtering not implemented for ${linkTypeName(lt)}`);
        break;
      default: break;
    }
    if (this.offLinktype.constantPart !== -1) return this.cmp('linktype', 0, BPF.H, p);
    this.fail(`link-layer type filtering not implemented for ${linkTypeName(lt)}`);
  }

  private mplsLinktype(p: number): GBlock {
    // Bottom-of-stack bit set, then the first nibble of the payload says IPv4 or IPv6.
    const b0 = this.mset('linkpl', -2, BPF.B, 0x01);
    if (p === ET.IP) return this.and(b0, this.mcmp('linkpl', 0, BPF.B, 0x40, 0xf0));
    if (p === ET.IPV6) return this.and(b0, this.mcmp('linkpl', 0, BPF.B, 0x60, 0xf0));
    this.fail(`unsupported protocol over mpls`);
  }

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
      case 'link': this.fail('link layer applied in wrong context');
      // eslint-disable-next-line no-fallthrough
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
      case 'radio': this.fail("'radio' is not a valid protocol type");
      // eslint-disable-next-line no-fallthrough
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
  private checkProtoRange(v: number, proto: string): void {
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

  private isisPdu(t: number): GBlock {
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
   * backward `ja` inside one block, which is why the program must not be optimised).
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
    this.noOptimize = true;
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

  private hostop(addr: number, mask: number, dir: string, srcOff: number, dstOff: number): GBlock {
    switch (dir) {
      case 'src': return this.hostCmp(addr, mask, srcOff);
      case 'dst': return this.hostCmp(addr, mask, dstOff);
      case 'and': return this.and(this.hostop(addr, mask, 'src', srcOff, dstOff), this.hostop(addr, mask, 'dst', srcOff, dstOff));
      case 'default': case 'or':
        return this.or(this.hostop(addr, mask, 'src', srcOff, dstOff), this.hostop(addr, mask, 'dst', srcOff, dstOff));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }
  private hostCmp(addr: number, mask: number, off: number): GBlock {
    if (mask >>> 0 === 0) return this.true();
    return this.mcmp('linkpl', off, BPF.W, (addr & mask) >>> 0, mask);
  }

  /** IPv4 host/net test for the given addresses under one protocol qualifier. */
  genHost(addrs: number[], mask: number, proto: string, dir: string, what: string): GBlock {
    if (WLAN_DIRS.has(dir)) this.fail(`'${dir}' is valid for 802.11 syntax only`);
    const list = (src: number, dst: number): GBlock => {
      let b: GBlock | undefined;
      for (const a of addrs) { const t = this.hostop(a, mask, dir, src, dst); b = b ? this.or(b, t) : t; }
      return b!;
    };
    switch (proto) {
      case 'default': {
        const b0 = this.genHost(addrs, mask, 'ip', dir, what);
        if (this.labelStackDepth > 0) return b0;
        const b1 = this.or(b0, this.genHost(addrs, mask, 'arp', dir, what));
        return this.or(b1, this.genHost(addrs, mask, 'rarp', dir, what));
      }
      case 'ip': return this.andUnlessFalse(this.linktypeTest(ET.IP), () => list(12, 16));
      case 'arp': return this.andUnlessFalse(this.linktypeTest(ET.ARP), () => list(14, 24));
      case 'rarp': return this.andUnlessFalse(this.linktypeTest(ET.REVARP), () => list(14, 24));
      case 'link': this.fail(`link-layer modifier applied to ${what}`);
      // eslint-disable-next-line no-fallthrough
      case 'decnet': {
        let b: GBlock | undefined;
        for (const a of addrs) { const t = this.dnHostop(a, dir); b = b ? this.or(b, t) : t; }
        return this.and(this.linktypeTest(ET.DN), b!);
      }
      default: this.fail(`'${proto}' modifier applied to ${what}`);
    }
  }

  private dnHostop(addr: number, dir: string): GBlock {
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

  private hostop6(addr: Uint8Array, mask: Uint8Array, dir: string, srcOff: number, dstOff: number): GBlock {
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
      case 'link': this.fail(`link-layer modifier applied to ${what}`);
      // eslint-disable-next-line no-fallthrough
      default: this.fail(`'${proto}' modifier applied to ${what}`);
    }
  }

  // ---------- link-layer addresses ----------

  private ehostopAt(mac: Uint8Array, dir: string, srcOff: number, dstOff: number): GBlock {
    switch (dir) {
      case 'src': return this.bcmp('linkhdr', srcOff, mac);
      case 'dst': return this.bcmp('linkhdr', dstOff, mac);
      case 'and': return this.and(this.ehostopAt(mac, 'src', srcOff, dstOff), this.ehostopAt(mac, 'dst', srcOff, dstOff));
      case 'default': case 'or': return this.or(this.ehostopAt(mac, 'src', srcOff, dstOff), this.ehostopAt(mac, 'dst', srcOff, dstOff));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }

  private wlanAddrAt(mac: Uint8Array, off: number): GBlock { return this.bcmp('linkhdr', off, mac); }
  private jsetAt(off: number, mask: number): GBlock { return this.mset('linkhdr', off, BPF.B, mask); }

  /** 802.11 address tests: which address field holds SA/DA/TA/RA depends on frame type and DS bits. */
  wlanHostop(mac: Uint8Array, dir: string, test: (off: number) => GBlock = (o) => this.wlanAddrAt(mac, o)): GBlock {
    switch (dir) {
      case 'src': {
        // Data frames: SA at 10 (FromDS clear), 16 (FromDS only) or 24 (both DS bits); management: 10.
        let b = this.or(this.and(this.not(this.jsetAt(1, 0x01)), test(16)), this.and(this.jsetAt(1, 0x01), test(24)));
        b = this.and(this.jsetAt(1, 0x02), b);
        b = this.or(this.and(this.not(this.jsetAt(1, 0x02)), test(10)), b);
        b = this.and(this.jsetAt(0, 0x08), b);
        b = this.or(this.and(this.not(this.jsetAt(0, 0x08)), test(10)), b);
        return this.and(this.not(this.jsetAt(0, 0x04)), b);
      }
      case 'dst': {
        let b1 = this.jsetAt(1, 0x01);
        let b0 = this.and(b1, test(16));
        const b2 = this.not(this.jsetAt(1, 0x01));
        b1 = this.and(b2, test(4));
        b0 = this.or(b1, b0);
        b1 = this.jsetAt(0, 0x08);
        b0 = this.and(b1, b0);
        const b3 = this.not(this.jsetAt(0, 0x08));
        b1 = this.and(b3, test(4));
        b0 = this.or(b1, b0);
        b1 = this.not(this.jsetAt(0, 0x04));
        return this.and(b1, b0);
      }
      case 'ra': return this.and(this.jsetAt(0, 0x08), test(4));
      case 'ta': return this.and(this.jsetAt(0, 0x08), this.wlanHostop(mac, 'addr2', test));
      case 'addr1': return test(4);
      case 'addr2': {
        // Control frames other than RTS/PS-Poll... carry no address 2: CTS (0xc4) and ACK (0xd4).
        const ctl = this.mcmp('linkhdr', 0, BPF.B, 0x04, 0x0c);
        const noTa = this.or(this.mcmp('linkhdr', 0, BPF.B, 0xc0, 0xf0), this.mcmp('linkhdr', 0, BPF.B, 0xd0, 0xf0));
        return this.and(this.not(this.and(ctl, noTa)), test(10));
      }
      case 'addr3': {
        const b1 = this.not(this.mcmp('linkhdr', 0, BPF.B, 0x04, 0x0c));
        return this.and(b1, test(16));
      }
      case 'addr4': {
        const b1 = this.mcmp('linkhdr', 1, BPF.B, 0x03, 0x03);
        return this.and(b1, test(24));
      }
      case 'and': return this.and(this.wlanHostop(mac, 'src', test), this.wlanHostop(mac, 'dst', test));
      case 'default': case 'or': return this.or(this.wlanHostop(mac, 'src', test), this.wlanHostop(mac, 'dst', test));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }

  /** `ether host`, `link host`, `broadcast`: the link-layer address test for this link type. */
  macHost(mac: Uint8Array, dir: string): GBlock {
    const lt = this.linktype;
    if (isEtherLike(lt)) {
      const b0 = this.prevLinkhdrCheck();
      const b = this.ehostopAt(mac, dir, 6, 0);
      return b0 ? this.and(b0, b) : b;
    }
    switch (lt) {
      case DLT.FDDI: return this.ehostopAt(mac, dir, 7, 1);
      case DLT.IEEE802: return this.ehostopAt(mac, dir, 8, 2);
      case DLT.IP_OVER_FC: return this.ehostopAt(mac, dir, 10, 2);
      case DLT.IEEE802_11: case DLT.PRISM_HEADER: case DLT.IEEE802_11_RADIO_AVS: case DLT.IEEE802_11_RADIO: case DLT.PPI:
        return this.wlanHostop(mac, dir);
      case DLT.SUNATM:
        break;
      default: break;
    }
    this.fail('ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel');
  }

  /** `gateway H`: to or from H's MAC address, but not to or from any of its IPv4 addresses. */
  gateway(mac: Uint8Array, addrs: number[], proto: string): GBlock {
    if (proto !== 'default' && proto !== 'ip' && proto !== 'arp' && proto !== 'rarp') this.fail('illegal modifier of \'gateway\'');
    const b0 = this.macHost(mac, 'default');
    const b1 = this.genHost(addrs, 0xffffffff, proto, 'or', 'host');
    return this.and(b0, this.not(b1));
  }

  arcHost(a: number, dir: string): GBlock {
    switch (dir) {
      case 'src': return this.cmp('linkhdr', 0, BPF.B, a);
      case 'dst': return this.cmp('linkhdr', 1, BPF.B, a);
      case 'and': return this.and(this.arcHost(a, 'src'), this.arcHost(a, 'dst'));
      case 'default': case 'or': return this.or(this.arcHost(a, 'src'), this.arcHost(a, 'dst'));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }

  // ---------- ports ----------

  private ipFrag(): GBlock { return this.not(this.mset('linkpl', 6, BPF.H, 0x1fff)); }

  private portAtoms(dir: string, atom: (off: number) => GBlock, what = 'port'): GBlock {
    switch (dir) {
      case 'src': return atom(0);
      case 'dst': return atom(2);
      case 'and': return this.and(atom(0), atom(2));
      case 'default': case 'or': return this.or(atom(0), atom(2));
      default: this.fail(`'${dir}' is not a valid qualifier for '${what}'`);
    }
  }

  private protoList(ipProto: number, test: (p: number) => GBlock): GBlock {
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

  // ---------- arithmetic ----------

  loadi(v: number): Arth {
    const reg = this.allocReg();
    return { s: [stmt(BPF.LD | BPF.IMM, v), stmt(BPF.ST, reg)], regno: reg };
  }
  loadLen(): Arth {
    const reg = this.allocReg();
    return { s: [stmt(BPF.LD | BPF.LEN), stmt(BPF.ST, reg)], regno: reg };
  }
  private xferToX(a: Arth): Stmt { return stmt(BPF.LDX | BPF.MEM, a.regno); }
  private xferToA(a: Arth): Stmt { return stmt(BPF.LD | BPF.MEM, a.regno); }

  genLoad(proto: string, inst: Arth, size: number): Arth {
    const regno = this.allocReg();
    this.freeReg(inst.regno);
    const sz = size === 1 ? BPF.B : size === 2 ? BPF.H : size === 4 ? BPF.W : -1;
    if (sz < 0) this.fail('data size must be 1, 2, or 4');
    const addX = (varpart: Stmt[] | undefined, k: number): void => {
      let s: Stmt[];
      if (varpart) s = [...varpart, this.xferToA(inst), stmt(BPF.ALU | BPF.ADD | BPF.X), stmt(BPF.MISC | BPF.TAX)];
      else s = [this.xferToX(inst)];
      s.push(stmt(BPF.LD | BPF.IND | sz, k));
      inst.s.push(...s);
    };
    switch (proto) {
      case 'radio':
        if (this.linktype !== DLT.IEEE802_11_RADIO_AVS && this.linktype !== DLT.IEEE802_11_RADIO &&
          this.linktype !== DLT.PRISM_HEADER) this.fail('radio information not present in capture');
        inst.s.push(this.xferToX(inst), stmt(BPF.LD | BPF.IND | sz, 0));
        break;
      case 'link':
        addX(this.absOffsetVarpart(this.offLinkhdr), this.offLinkhdr.constantPart);
        break;
      case 'ip': case 'arp': case 'rarp': case 'atalk': case 'decnet': case 'sca': case 'lat': case 'moprc':
      case 'mopdl': case 'ip6': {
        addX(this.absOffsetVarpart(this.offLinkpl), this.offLinkpl.constantPart + this.offNl);
        const b = this.protoAbbrev(proto);
        inst.b = inst.b ? this.and(inst.b, b) : b;
        break;
      }
      case 'sctp': case 'tcp': case 'udp': case 'icmp': case 'igmp': case 'igrp': case 'pim': case 'vrrp': case 'carp': {
        const s = this.loadxIpHdrLen();
        s.push(this.xferToA(inst), stmt(BPF.ALU | BPF.ADD | BPF.X), stmt(BPF.MISC | BPF.TAX),
          stmt(BPF.LD | BPF.IND | sz, this.offLinkpl.constantPart + this.offNl));
        inst.s.push(...s);
        const pnum = { sctp: IPPROTO.SCTP, tcp: IPPROTO.TCP, udp: IPPROTO.UDP, icmp: IPPROTO.ICMP, igmp: IPPROTO.IGMP,
          igrp: IPPROTO.IGRP, pim: IPPROTO.PIM, vrrp: IPPROTO.VRRP, carp: IPPROTO.VRRP }[proto];
        let b = this.and(this.genProto(pnum, 'ip'), this.ipFrag());
        if (inst.b) b = this.and(inst.b, b);
        inst.b = b;
        break;
      }
      case 'icmp6': {
        let b = this.and(this.linktypeTest(ET.IPV6), this.cmp('linkpl', 6, BPF.B, IPPROTO.ICMPV6));
        addX(this.absOffsetVarpart(this.offLinkpl), this.offLinkpl.constantPart + this.offNl + 40);
        if (inst.b) b = this.and(inst.b, b);
        inst.b = b;
        break;
      }
      default: this.fail(`'${proto}' does not support the index operation`);
    }
    inst.regno = regno;
    inst.s.push(stmt(BPF.ST, regno));
    return inst;
  }

  genArth(op: number, a0: Arth, a1: Arth): Arth {
    const k = a1.s.length === 2 && a1.s[0]!.code === (BPF.LD | BPF.IMM) ? a1.s[0]!.k : undefined;
    if (k === 0 && op === BPF.DIV) this.fail('division by zero');
    if (k === 0 && op === BPF.MOD) this.fail('modulus by zero');
    if (k !== undefined && k > 31 && (op === BPF.LSH || op === BPF.RSH)) this.fail('shift by more than 31 bits');
    const s0 = this.xferToX(a1);
    const s1 = this.xferToA(a0);
    const s2 = stmt(BPF.ALU | BPF.X | op);
    a0.s.push(...a1.s, s0, s1, s2);
    this.freeReg(a0.regno);
    this.freeReg(a1.regno);
    a0.regno = this.allocReg();
    a0.s.push(stmt(BPF.ST, a0.regno));
    if (a1.b) a0.b = a0.b ? this.and(a0.b, a1.b) : a1.b;
    return a0;
  }

  genNeg(a: Arth): Arth {
    a.s.push(this.xferToA(a), stmt(BPF.ALU | BPF.NEG), stmt(BPF.ST, a.regno));
    return a;
  }

  genRelation(code: number, a0: Arth, a1: Arth, reversed: boolean): GBlock {
    const s0 = this.xferToX(a1);
    const s1 = this.xferToA(a0);
    const b = this.newBlock(BPF.JMP | code | BPF.X);
    if (reversed) this.not(b);
    b.stmts = [...a0.s, ...a1.s, s0, s1];
    this.freeReg(a0.regno);
    this.freeReg(a1.regno);
    let tmp: GBlock | undefined;
    if (a0.b) tmp = a1.b ? this.and(a0.b, a1.b) : a0.b;
    else tmp = a1.b;
    return tmp ? this.and(tmp, b) : b;
  }

  // ---------- keyword primitives ----------

  less(n: number): GBlock {
    const b = this.newBlock(BPF.JMP | BPF.JGT | BPF.K, n);
    b.stmts = [stmt(BPF.LD | BPF.LEN)];
    return this.not(b);
  }
  greater(n: number): GBlock {
    const b = this.newBlock(BPF.JMP | BPF.JGE | BPF.K, n);
    b.stmts = [stmt(BPF.LD | BPF.LEN)];
    return b;
  }

  byteop(op: string, idx: number, val: number): GBlock {
    if (val > 255) this.fail(`byte argument ${val} greater than maximum 255`);
    switch (op) {
      case '=': return this.cmp('linkhdr', idx, BPF.B, val);
      case '<': return this.cmpLt('linkhdr', idx, BPF.B, val);
      case '>': return this.cmpGt('linkhdr', idx, BPF.B, val);
      default: {
        const s = this.loadA('linkhdr', idx, BPF.B);
        s.push(stmt(BPF.ALU | (op === '|' ? BPF.OR : BPF.AND) | BPF.K, val));
        const b = this.newBlock(BPF.JMP | BPF.JEQ | BPF.K, 0);
        b.stmts = s;
        return this.not(b);
      }
    }
  }

  broadcast(proto: string): GBlock {
    const all = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    switch (proto) {
      case 'default': case 'link':
        switch (this.linktype) {
          case DLT.ARCNET: case DLT.ARCNET_LINUX: return this.arcHost(0, 'dst');
          case DLT.BACNET_MS_TP: return this.cmp('linkhdr', 3, BPF.B, 0xff);
          default:
            if (isEtherLike(this.linktype) || [DLT.FDDI, DLT.IEEE802, DLT.IP_OVER_FC, DLT.SUNATM].includes(this.linktype as 10) ||
              isWlanFamily(this.linktype)) return this.macHost(all, 'dst');
            this.fail('not a broadcast link');
        }
      // eslint-disable-next-line no-fallthrough
      case 'ip': {
        if (!this.netmaskKnown || this.netmask === 0xffffffff) this.fail("netmask not known, so 'ip broadcast' not supported");
        const hostmask = ~this.netmask >>> 0;
        const b0 = this.linktypeTest(ET.IP);
        const b2 = this.or(this.mcmp('linkpl', 16, BPF.W, 0, hostmask), this.mcmp('linkpl', 16, BPF.W, hostmask, hostmask));
        return this.and(b0, b2);
      }
      default: this.fail('only link-layer/IP broadcast filters supported');
    }
  }

  private macMulticast(off: number): GBlock { return this.mset('linkhdr', off, BPF.B, 0x01); }

  multicast(proto: string): GBlock {
    switch (proto) {
      case 'default': case 'link': {
        const lt = this.linktype;
        if (lt === DLT.ARCNET || lt === DLT.ARCNET_LINUX) return this.arcHost(0, 'dst');
        if (isEtherLike(lt)) {
          const b1 = this.prevLinkhdrCheck();
          const b0 = this.macMulticast(0);
          return b1 ? this.and(b1, b0) : b0;
        }
        if (lt === DLT.FDDI) return this.macMulticast(1);
        if (lt === DLT.IEEE802) return this.macMulticast(2);
        if (lt === DLT.IP_OVER_FC) return this.macMulticast(2);
        if (isWlanFamily(lt)) return this.wlanHostop(new Uint8Array(6), 'dst', (o) => this.macMulticast(o));
        this.fail('link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel');
      }
      // eslint-disable-next-line no-fallthrough
      case 'ip': return this.and(this.linktypeTest(ET.IP), this.mcmp('linkpl', 16, BPF.B, 224, 0xf0));
      case 'ip6': return this.and(this.linktypeTest(ET.IPV6), this.cmp('linkpl', 24, BPF.B, 255));
      default: this.fail("only IP multicast filters supported on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel");
    }
  }

  /** `inbound` (outbound = false) / `outbound`. */
  inbound(outbound: boolean): GBlock {
    switch (this.linktype) {
      case DLT.SLIP: return this.cmp('linkhdr', 0, BPF.B, outbound ? 1 : 0);
      case DLT.IPNET: return this.cmp('linkhdr', 2, BPF.H, outbound ? 1 : 2);
      case DLT.DSA_TAG_BRCM: return this.mcmp('linkhdr', 12, BPF.B, outbound ? 0x20 : 0x00, 0xe0);
      case DLT.DSA_TAG_DSA: return outbound ? this.mcmp('linkhdr', 12, BPF.B, 0x40, 0xc0) : this.mcmp('linkhdr', 12, BPF.B, 0x00, 0x40);
      case DLT.LINUX_SLL: { const b = this.cmp('linkhdr', 0, BPF.H, 4); return outbound ? b : this.not(b); }
      case DLT.LINUX_SLL2: { const b = this.cmp('linkhdr', 10, BPF.B, 4); return outbound ? b : this.not(b); }
      case DLT.PFLOG: return this.cmp('linkhdr', 60, BPF.B, outbound ? 2 : 1);
      case DLT.PPP_PPPD: return this.cmp('linkhdr', 0, BPF.B, outbound ? 1 : 0);
      case DLT.JUNIPER_MFR: case DLT.JUNIPER_MLFR: case DLT.JUNIPER_MLPPP: case DLT.JUNIPER_ATM1:
      case DLT.JUNIPER_ATM2: case DLT.JUNIPER_ES: case DLT.JUNIPER_GGSN: case DLT.JUNIPER_SERVICES:
        return this.mcmp('linkhdr', 3, BPF.B, outbound ? 0 : 1, 0x01);
      default:
        if (this.linuxExt) {
          const b = this.cmp('packet', (-0x1000 + 4) >>> 0, BPF.H, 4);
          return outbound ? b : this.not(b);
        }
        this.fail(`inbound/outbound not supported on ${linkTypeName(this.linktype)}`);
    }
  }

  ifindex(n: number): GBlock {
    if (this.linktype === DLT.LINUX_SLL2) return this.cmp('linkhdr', 4, BPF.W, n);
    if (this.linuxExt) return this.cmp('packet', (-0x1000 + 8) >>> 0, BPF.W, n);
    this.fail(`ifindex not supported on ${linkTypeName(this.linktype)}`);
  }

  // ---------- 802.11 ----------

  p80211Type(v: number, mask: number): GBlock {
    if (!isWlanFamily(this.linktype)) this.fail("802.11 link-layer types supported only on 802.11");
    return this.mcmp('linkhdr', 0, BPF.B, v, mask);
  }
  p80211Dir(v: number): GBlock {
    if (!isWlanFamily(this.linktype)) this.fail("frame direction supported only with 802.11 headers");
    return this.mcmp('linkhdr', 1, BPF.B, v, 0x03);
  }

  // ---------- 802.2 LLC ----------

  llc(): GBlock {
    const lt = this.linktype;
    if (lt === DLT.EN10MB || lt === DLT.DSA_TAG_BRCM || lt === DLT.DSA_TAG_DSA) {
      const b0 = this.notGt('linktype', 0, ETHERMTU);
      const b1 = this.not(this.cmp('llc', 0, BPF.H, 0xffff));
      return this.and(b0, b1);
    }
    if (lt === DLT.SUNATM) return this.atmType('llc');
    if (lt === DLT.IEEE802 || lt === DLT.FDDI || lt === DLT.ATM_RFC1483) return this.true();
    if (isWlanFamily(lt)) return this.dataFrameCheck();
    this.fail(`'llc' not supported on DLT_${linkTypeName(lt)}`);
  }
  llcI(): GBlock { return this.and(this.llc(), this.not(this.mset('llc', 2, BPF.B, 0x01))); }
  llcS(): GBlock { return this.and(this.llc(), this.mcmp('llc', 2, BPF.B, 0x01, 0x03)); }
  llcU(): GBlock { return this.and(this.llc(), this.mcmp('llc', 2, BPF.B, 0x03, 0x03)); }
  llcSSubtype(v: number): GBlock { return this.and(this.llc(), this.mcmp('llc', 2, BPF.B, v, 0x0f)); }
  llcUSubtype(v: number): GBlock { return this.and(this.llc(), this.mcmp('llc', 2, BPF.B, v, 0xef)); }

  // ---------- PFLOG ----------

  private needPflog(what: string): void {
    if (this.linktype !== DLT.PFLOG) this.fail(`'${what}' supported only on PFLOG linktype`);
  }
  pfIfname(name: string): GBlock {
    this.needPflog('ifname');
    if (name.length >= 16) this.fail(`ifname interface names can only be 15 characters`);
    return this.bcmp('linkhdr', 4, new TextEncoder().encode(name));
  }
  pfRuleset(name: string): GBlock {
    this.needPflog('ruleset');
    if (name.length >= 16) this.fail('ruleset names can only be 15 characters');
    return this.bcmp('linkhdr', 20, new TextEncoder().encode(name));
  }
  pfRnr(n: number): GBlock { this.needPflog('rnr'); return this.cmp('linkhdr', 36, BPF.W, n); }
  pfSrnr(n: number): GBlock { this.needPflog('srnr'); return this.cmp('linkhdr', 40, BPF.W, n); }
  pfReason(n: number): GBlock { this.needPflog('reason'); return this.cmp('linkhdr', 3, BPF.B, n); }
  pfAction(n: number): GBlock { this.needPflog('action'); return this.cmp('linkhdr', 2, BPF.B, n); }

  // ---------- SS7 MTP2/MTP3 ----------

  mtp2Type(t: string): GBlock {
    if (this.linktype !== DLT.MTP2 && this.linktype !== DLT.MTP2_WITH_PHDR && this.linktype !== DLT.ERF) {
      this.fail(`'${t}' supported only on SS7`);
    }
    const li = this.offLi; const hsl = this.offLiHsl;
    switch (t) {
      case 'fisu': return this.ncmp('packet', li, BPF.B, 0x3f, BPF.JEQ, false, 0);
      case 'lssu': return this.and(this.ncmp('packet', li, BPF.B, 0x3f, BPF.JGT, false, 0), this.ncmp('packet', li, BPF.B, 0x3f, BPF.JGT, true, 2));
      case 'msu': return this.ncmp('packet', li, BPF.B, 0x3f, BPF.JGT, false, 2);
      case 'hfisu': return this.ncmp('packet', hsl, BPF.H, 0xff80, BPF.JEQ, false, 0);
      case 'hlssu': return this.and(this.ncmp('packet', hsl, BPF.H, 0xff80, BPF.JGT, false, 0), this.ncmp('packet', hsl, BPF.H, 0xff80, BPF.JGT, true, 0x0100));
      default: return this.ncmp('packet', hsl, BPF.H, 0xff80, BPF.JGT, false, 0x0100);
    }
  }

  mtp3Field(field: string, v: number, jtype: number, reverse: boolean): GBlock {
    if (this.offSio === -1) this.fail(`'${field}' supported only on SS7`);
    // The "h" fields are the same fields in a high-speed-link header, 3 bytes further on.
    const h = field.startsWith('h') ? 3 : 0;
    switch (field.replace(/^h/, '')) {
      case 'sio':
        if (v > 255) this.fail(`${field} ${v} greater than maximum 255`);
        return this.ncmp('packet', this.offSio + h, BPF.B, 0xffffffff, jtype, reverse, v);
      case 'opc': {
        if (v > 16383) this.fail(`${field} ${v} greater than maximum 16383`);
        const val = (((v & 0x0003) << 22) | ((v & 0x03fc) << 6) | ((v & 0x3c00) >>> 10)) >>> 0;
        return this.ncmp('packet', this.offOpc + h, BPF.W, 0x00c0ff0f, jtype, reverse, val);
      }
      case 'dpc': {
        if (v > 16383) this.fail(`${field} ${v} greater than maximum 16383`);
        const val = ((v & 0x00ff) << 8) | ((v & 0x3f00) >>> 8);
        return this.ncmp('packet', this.offDpc + h, BPF.H, 0xff3f, jtype, reverse, val);
      }
      default:
        if (v > 15) this.fail(`${field} ${v} greater than maximum 15`);
        return this.ncmp('packet', this.offSls + h, BPF.B, 0xf0, jtype, reverse, (v << 4) >>> 0);
    }
  }

  // ---------- ATM ----------

  atmField(field: string, v: number, jtype: number, reverse: boolean): GBlock {
    if (!this.isAtm) this.fail(`'${field}' supported only on SUNATM`);
    if (field === 'vpi') {
      if (v > 255) this.fail(`vpi ${v} greater than maximum 255`);
      return this.ncmp('linkhdr', this.offVpi, BPF.B, 0xffffffff, jtype, reverse, v);
    }
    if (v > 65535) this.fail(`vci ${v} greater than maximum 65535`);
    return this.ncmp('linkhdr', this.offVci, BPF.H, 0xffffffff, jtype, reverse, v);
  }

  atmType(t: string): GBlock {
    if (!this.isAtm) this.fail(`'${t}' supported only on SUNATM`);
    const proto = (p: number): GBlock => this.ncmp('linkhdr', this.offProto, BPF.B, 0x0f, BPF.JEQ, false, p);
    const vpiVci = (vpi: number, vci: number): GBlock =>
      this.and(this.atmField('vpi', vpi, BPF.JEQ, false), this.atmField('vci', vci, BPF.JEQ, false));
    switch (t) {
      case 'metac': return vpiVci(0, 1);
      case 'bcc': return vpiVci(0, 2);
      case 'oamf4sc': return vpiVci(0, 3);
      case 'oamf4ec': return vpiVci(0, 4);
      case 'sc': return vpiVci(0, 5);
      case 'ilmic': return vpiVci(0, 16);
      case 'lane': {
        const b = proto(1);
        // From here on the packet is Ethernet behind the 2-byte LANE header.
        this.isLane = true;
        this.prevlinktype = this.linktype;
        this.linktype = DLT.EN10MB;
        this.offPrevlinkhdr = this.offLinkhdr;
        this.offLinkhdr = absOffset(this.offPayload + 2);
        this.offLinktype = absOffset(this.offPayload + 2 + 12);
        this.offLinkpl = absOffset(this.offPayload + 2 + 14);
        this.offNl = 0; this.offNlNosnap = 3;
        return b;
      }
      case 'llc': return proto(2);
      default: this.fail(`unknown ATM type ${t}`);
    }
  }

  atmMulti(t: string): GBlock {
    if (!this.isAtm) this.fail(`'${t}' supported only on SUNATM`);
    const vpi0 = (): GBlock => this.atmField('vpi', 0, BPF.JEQ, false);
    const vci = (n: number): GBlock => this.atmField('vci', n, BPF.JEQ, false);
    switch (t) {
      case 'oam': case 'oamf4': {
        const b1 = this.or(vci(3), vci(4));
        return this.and(vpi0(), b1);
      }
      case 'connectmsg': {
        const b = this.atmType('sc');
        return this.and(b, this.atmMsgTypes([0x05, 0x02, 0x07, 0x0f, 0x4d, 0x5a]));
      }
      default: {
        const b = this.atmType('metac');
        return this.and(b, this.atmMsgTypes([0x05, 0x02, 0x07, 0x4d, 0x5a]));
      }
    }
  }
  private atmMsg(t: number): GBlock { return this.cmp('linkhdr', this.offPayload + 5, BPF.B, t); }
  private atmMsgTypes(types: number[]): GBlock {
    // The first two are ORed in order, every later one in front (libpcap's gen_or(new, acc)).
    let b = this.or(this.atmMsg(types[0]!), this.atmMsg(types[1]!));
    for (const t of types.slice(2)) b = this.or(this.atmMsg(t), b);
    return b;
  }

  // ---------- VLAN / MPLS / PPPoE ----------

  private shiftLinkpl(n: number): void {
    this.offLinkpl.constantPart += n;
    this.offLinktype.constantPart += n;
  }

  vlan(id: number | undefined): GBlock {
    if (this.labelStackDepth > 0) this.fail('no VLAN match after MPLS');
    if (!isEtherLike(this.linktype) && this.linktype !== DLT.IEEE802_11 && this.linktype !== DLT.IEEE802_11_RADIO &&
      this.linktype !== DLT.PRISM_HEADER && this.linktype !== DLT.IEEE802_11_RADIO_AVS) {
      this.fail(`'vlan' not supported on DLT_${linkTypeName(this.linktype)}`);
    }
    let b = this.or(this.or(this.linktypeTest(ET.VLAN), this.linktypeTest(ET.QINQ)), this.linktypeTest(ET.QINQ_OLD));
    if (id !== undefined) {
      if (id > 4095) this.fail(`VLAN tag ${id} greater than maximum 4095`);
      b = this.and(b, this.mcmp('linkpl', 0, BPF.H, id, 0x0fff));
    }
    this.shiftLinkpl(4);
    this.vlanStackDepth++;
    return b;
  }

  mpls(label: number | undefined): GBlock {
    let b0: GBlock | undefined;
    if (this.labelStackDepth > 0) {
      b0 = this.not(this.mset('linkpl', -2, BPF.B, 0x01));
    } else {
      switch (this.linktype) {
        case DLT.C_HDLC: b0 = this.linktypeTest(ET.MPLS); break;
        case DLT.PPP: b0 = this.cmp('linktype', 0, BPF.H, 0x0281); break;
        default:
          if (isEtherLike(this.linktype)) { b0 = this.linktypeTest(ET.MPLS); break; }
          this.fail(`no MPLS support for ${linkTypeName(this.linktype)}`);
      }
    }
    if (label !== undefined) {
      if (label > 0xfffff) this.fail(`MPLS label ${label} greater than maximum 1048575`);
      const b1 = this.mcmp('linkpl', 0, BPF.W, (label << 12) >>> 0, 0xfffff000);
      b0 = this.and(b0, b1);
    }
    this.offNl += 4;
    this.labelStackDepth++;
    return b0;
  }

  pppoed(): GBlock { return this.linktypeTest(ET.PPPOED); }

  // ---------- UDP tunnels: VXLAN and Geneve ----------

  /** UDP to `port` over IPv4 or IPv6, a header check, then A = offset of the UDP header's end - 8. */
  private udpTunnel(port: number, check: (rel: OffRel) => GBlock, vni: number | undefined): GBlock {
    const side = (v6: boolean): GBlock => {
      const rel: OffRel = v6 ? 'tran_ipv6' : 'tran_ipv4';
      let b = this.genPort(port, port, IPPROTO.UDP, 'dst', v6);
      b = this.and(b, check(rel));
      if (vni !== undefined) b = this.and(b, this.mcmp(rel, 12, BPF.W, (vni << 8) >>> 0, 0xffffff00));
      // A = X = the IP header length (plus a variable link offset), joined with "jeq x".
      let s: Stmt[];
      if (!v6) s = [...this.loadxIpHdrLen(), stmt(BPF.MISC | BPF.TXA)];
      else {
        const v = this.absOffsetVarpart(this.offLinkpl);
        s = v ? [...v, stmt(BPF.LD | BPF.IMM, 40), stmt(BPF.ALU | BPF.ADD | BPF.X), stmt(BPF.MISC | BPF.TAX)]
          : [stmt(BPF.LD | BPF.IMM, 40), stmt(BPF.MISC | BPF.TAX)];
      }
      const j = this.newBlock(BPF.JMP | BPF.JEQ | BPF.X, 0);
      j.stmts = s;
      return this.and(b, j);
    };
    return this.or(side(false), side(true));
  }

  /** A block that always succeeds after running `s` (the new header offsets). */
  private trueWith(s: Stmt[]): GBlock {
    const b = this.true();
    b.stmts = [...s, ...b.stmts];
    delete b.uncond;
    return b;
  }

  private checkVni(vni: number | undefined, what: string): void {
    if (vni !== undefined && vni > 0xffffff) this.fail(`${what} VNI ${vni} greater than maximum 16777215`);
  }

  vxlan(vni: number | undefined): GBlock {
    this.checkVni(vni, 'VXLAN');
    const b0 = this.udpTunnel(4789, (rel) => this.cmp(rel, 8, BPF.B, 0x08), vni);
    // The inner Ethernet header follows the 8-byte VXLAN header.
    const hdr = this.allocReg(); const typ = this.allocReg(); const pl = this.allocReg();
    const s = [stmt(BPF.ALU | BPF.ADD | BPF.K, this.offLinkpl.constantPart + this.offNl + 8), stmt(BPF.ALU | BPF.ADD | BPF.K, 8),
      stmt(BPF.ST, hdr), stmt(BPF.ALU | BPF.ADD | BPF.K, 12), stmt(BPF.ST, typ), stmt(BPF.ALU | BPF.ADD | BPF.K, 2),
      stmt(BPF.MISC | BPF.TAX), stmt(BPF.STX, pl)];
    const b = this.and(b0, this.trueWith(s));
    this.enterTunnel(hdr, typ, pl);
    this.isVxlan = true;
    return b;
  }

  geneve(vni: number | undefined): GBlock {
    this.checkVni(vni, 'Geneve');
    const b0 = this.udpTunnel(6081, (rel) => this.mcmp(rel, 8, BPF.B, 0, 0xc0), vni);
    const typ = this.allocReg(); const hdr = this.allocReg(); const pl = this.allocReg();
    const stxPl = stmt(BPF.STX, pl);
    const txa = stmt(BPF.MISC | BPF.TXA);
    const isTeb: Stmt = { ...stmt(BPF.JMP | BPF.JEQ | BPF.K, ET.TEB), jt: txa, jf: stxPl };
    // X = Geneve header; payload = X + 8 + 4 * option length; Ethernet (TEB) payloads add 14 more.
    const s = [stmt(BPF.ALU | BPF.ADD | BPF.K, this.offLinkpl.constantPart + this.offNl + 8), stmt(BPF.MISC | BPF.TAX),
      stmt(BPF.ALU | BPF.ADD | BPF.K, 2), stmt(BPF.ST, typ), stmt(BPF.LD | BPF.IND | BPF.B, 0),
      stmt(BPF.ALU | BPF.AND | BPF.K, 0x3f), stmt(BPF.ALU | BPF.MUL | BPF.K, 4), stmt(BPF.ALU | BPF.ADD | BPF.K, 8),
      stmt(BPF.ALU | BPF.ADD | BPF.X), stmt(BPF.ST, hdr), stmt(BPF.LD | BPF.IND | BPF.H, 2), stmt(BPF.LDX | BPF.MEM, hdr),
      isTeb, txa, stmt(BPF.ALU | BPF.ADD | BPF.K, 12), stmt(BPF.ST, typ), stmt(BPF.ALU | BPF.ADD | BPF.K, 2),
      stmt(BPF.MISC | BPF.TAX), stxPl];
    const b = this.and(b0, this.trueWith(s));
    this.enterTunnel(hdr, typ, pl);
    this.isGeneve = true;
    this.noOptimize = true;
    return b;
  }

  /** Later tests look at the tunnelled frame, whose header offsets are now in scratch registers. */
  private enterTunnel(hdr: number, typ: number, pl: number): void {
    this.prevlinktype = this.linktype;
    this.linktype = DLT.EN10MB;
    this.offLinkhdr = { constantPart: 0, isVariable: true, reg: hdr };
    this.offLinktype = { constantPart: 0, isVariable: true, reg: typ };
    this.offLinkpl = { constantPart: 0, isVariable: true, reg: pl };
    this.offNl = 0;
    this.offNlNosnap = 3;
  }

  pppoes(sess: number | undefined): GBlock {
    let b0 = this.linktypeTest(ET.PPPOES);
    if (sess !== undefined) {
      if (sess > 65535) this.fail(`PPPoE session number ${sess} greater than maximum 65535`);
      b0 = this.and(b0, this.cmp('linkpl', 2, BPF.H, sess));
    }
    // Subsequent tests look at the PPP payload after the 6-byte PPPoE and 2-byte PPP headers.
    this.prevlinktype = this.linktype;
    this.linktype = DLT.PPP;
    this.offLinktype = absOffset(this.offLinkpl.constantPart + 6);
    this.offLinkpl = absOffset(this.offLinkpl.constantPart + 8, this.offLinkpl.isVariable);
    this.offNl = 0; this.offNlNosnap = 0;
    return b0;
  }
}
