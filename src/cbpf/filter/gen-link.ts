/**
 * Code generator, link layer: per-DLT header offsets, the link-layer type tests (Ethernet type,
 * 802.2 LLC/SNAP, PPP, loopback AF_, 802.11 data frames...), link-layer addresses, and the header
 * length code inserted at the root for variable-length headers (radiotap, AVS, Prism, PPI, 802.11, PFLOG).
 */
import type { Stmt } from './cfg.js';
import { Compiler, BPF, stmt, absOffset, type GBlock, type OffRel } from './core.js';
import { DLT, isJuniper, linkOffsets, linkTypeName, type LinkOffsets } from './linktype.js';
import type { NameTables } from './names.js';
import { BSD_AF_INET6, ET, ETHERMTU, ISO, LLCSAP, isEtherLike, isWlanFamily } from './gen-constants.js';

export abstract class LinkGen extends Compiler {
  /** Name tables consulted before the /etc files. */
  names: NameTables | undefined;
  /**
   * Compiling for a savefile rather than a live capture ('swapped' when its byte order differs from
   * this host's): loopback AF_ values are then matched in both byte orders and with the BSD values.
   */
  offline: 'swapped' | 'unswapped' | undefined;
  /** Set once `vlan` used the Linux metadata path (its offset registers need initialising). */
  protected isVlanVloffset = false;

  init(linktype: number, snaplen: number, netmask: number | undefined, linuxExt: boolean): void {
    this.linktype = linktype;
    this.outermostlinktype = linktype;
    this.snaplen = snaplen;
    this.linuxExt = linuxExt;
    if (netmask !== undefined) { this.netmask = netmask >>> 0; this.netmaskKnown = true; }
    const o = linkOffsets(linktype) ?? rawLinkOnlyOffsets(linktype);
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
    if (this.outermostlinktype === DLT.PPI) p = this.and(this.cmp('packet', 4, BPF.W, 0x69000000), p);
    this.backpatch(p, this.retBlock(this.snaplen));
    p.sense = !p.sense;
    this.backpatch(p, this.retBlock(0));
    return p.head;
  }

  protected insertComputeVloffsets(b: GBlock): void {
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
    if (pre.length === 0 && hl.length === 0 && this.isVlanVloffset) {
      // The VLAN offset registers start at 0 (no tag in the packet).
      hl = [stmt(BPF.LD | BPF.IMM, 0)];
      if (this.offLinkpl.reg !== -1) hl.push(stmt(BPF.ST, this.offLinkpl.reg));
      if (this.offLinktype.reg !== -1) hl.push(stmt(BPF.ST, this.offLinktype.reg));
    }
    if (pre.length || hl.length) b.stmts = [...pre, ...hl, ...b.stmts];
  }

  /** Prism or AVS header in front of 802.11: its length is 144 or the AVS header's length word. */
  protected prismPrefix(reg: number): Stmt[] {
    const ldLen = stmt(BPF.LD | BPF.W | BPF.ABS, 4);
    const ld144 = stmt(BPF.LD | BPF.IMM, 144);
    const store = stmt(BPF.ST, reg);
    const jeq: Stmt = { ...stmt(BPF.JMP | BPF.JEQ | BPF.K, 0x80211000), jt: ldLen, jf: ld144 };
    return [stmt(BPF.LD | BPF.W | BPF.ABS, 0), stmt(BPF.ALU | BPF.AND | BPF.K, 0xfffff000), jeq, ldLen,
      stmt(BPF.JMP | BPF.JA, 1), ld144, store, stmt(BPF.MISC | BPF.TAX)];
  }

  /** 802.11 header length into the link-payload register: 24, +2 for QoS data frames. */
  protected wlanHeaderLen(noPrefix: boolean, next: Stmt | undefined): Stmt[] {
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
  protected andUnlessFalse(b0: GBlock, rest: () => GBlock): GBlock {
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

  protected notGt(rel: OffRel, off: number, v: number): GBlock { return this.not(this.cmpGt(rel, off, BPF.H, v)); }

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

  protected sllLinktype(p: number): GBlock {
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
  protected pppType(p: number): number { return LinkGen.PPP_TYPES[p] ?? p; }

  /** A 32-bit AF_ value in host (little-endian) order, as DLT_NULL live captures carry it. */
  protected loopbackLinktype(af: number): GBlock {
    const v = this.linktype === DLT.LOOP ? af : (((af & 0xff) << 24) | ((af & 0xff00) << 8) | ((af >>> 8) & 0xff00) | (af >>> 24)) >>> 0;
    return this.cmp('linkhdr', 0, BPF.W, v);
  }

  /** Savefiles may come from any OS: try the AF_ values of every BSD, in either byte order for DLT_NULL. */
  protected offlineLoopbackLinktype(p: number): GBlock {
    const afs = p === ET.IP ? [2] : p === ET.IPV6 ? BSD_AF_INET6 : [];
    if (afs.length === 0) return this.false();
    const swap = (v: number): number => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
    if (this.linktype === DLT.LOOP) return this.anyOf(afs.map((af) => () => this.cmp('linkhdr', 0, BPF.W, af)));
    const first = afs.map((af) => (this.offline === 'swapped' ? swap(af) : af));
    const values = [...first, ...first.map(swap)];
    return this.anyOf(values.map((v) => () => this.cmp('linkhdr', 0, BPF.W, v)));
  }

  /** The tests ORed in order. */
  protected anyOf(tests: (() => GBlock)[]): GBlock {
    let b = tests[0]!();
    for (const t of tests.slice(1)) b = this.or(b, t());
    return b;
  }

  dataFrameCheck(): GBlock { return this.mcmp('linkhdr', 0, BPF.B, 0x08, 0x0c); }

  linktypeTest(p: number): GBlock {
    if (this.labelStackDepth > 0) return this.mplsLinktype(p);
    const lt = this.linktype;
    // Only the Juniper "MGC" magic cookie can be checked.
    if (isJuniper(lt)) return this.mcmp('linkhdr', 0, BPF.W, 0x4d474300, 0xffffff00);
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
        if (this.offline) return this.offlineLoopbackLinktype(p);
        if (p === ET.IP) return this.loopbackLinktype(2);
        if (p === ET.IPV6) return this.loopbackLinktype(10);
        return this.false();
      case DLT.IPNET:
        if (p === ET.IP) return this.cmp('linktype', 0, BPF.B, 2);
        if (p === ET.IPV6) return this.cmp('linktype', 0, BPF.B, 26);
        return this.false();
      case DLT.PFLOG:
        if (this.offline && p === ET.IPV6) return this.anyOf(BSD_AF_INET6.map((af) => () => this.cmp('linkhdr', 1, BPF.B, af)));
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
      case DLT.MTP2: case DLT.MTP2_WITH_PHDR: case DLT.BACNET_MS_TP:
        this.fail(`link-layer type filtering not implemented for ${linkTypeName(lt)}`);
        break;
      default: break;
    }
    if (this.offLinktype.constantPart !== -1) return this.cmp('linktype', 0, BPF.H, p);
    this.fail(`link-layer type filtering not implemented for ${linkTypeName(lt)}`);
  }

  protected mplsLinktype(p: number): GBlock {
    // Bottom-of-stack bit set, then the first nibble of the payload says IPv4 or IPv6.
    const b0 = this.mset('linkpl', -2, BPF.B, 0x01);
    if (p === ET.IP) return this.and(b0, this.mcmp('linkpl', 0, BPF.B, 0x40, 0xf0));
    if (p === ET.IPV6) return this.and(b0, this.mcmp('linkpl', 0, BPF.B, 0x60, 0xf0));
    this.fail(`unsupported protocol over mpls`);
  }

  // ---------- link-layer addresses ----------

  protected ehostopAt(mac: Uint8Array, dir: string, srcOff: number, dstOff: number): GBlock {
    switch (dir) {
      case 'src': return this.bcmp('linkhdr', srcOff, mac);
      case 'dst': return this.bcmp('linkhdr', dstOff, mac);
      case 'and': return this.and(this.ehostopAt(mac, 'src', srcOff, dstOff), this.ehostopAt(mac, 'dst', srcOff, dstOff));
      case 'default': case 'or': return this.or(this.ehostopAt(mac, 'src', srcOff, dstOff), this.ehostopAt(mac, 'dst', srcOff, dstOff));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
  }

  protected wlanAddrAt(mac: Uint8Array, off: number): GBlock { return this.bcmp('linkhdr', off, mac); }
  protected jsetAt(off: number, mask: number): GBlock { return this.mset('linkhdr', off, BPF.B, mask); }

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

  isWlan(): boolean { return isWlanFamily(this.linktype); }

  /** `gateway` needs a link layer with 48-bit MAC addresses. */
  checkGatewayLink(): void {
    const lt = this.linktype;
    if (isEtherLike(lt) || isWlanFamily(lt) || lt === DLT.FDDI || lt === DLT.IEEE802 || lt === DLT.IP_OVER_FC) return;
    this.fail(`'gateway' not supported on DLT_${linkTypeName(lt)}`);
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

  arcHost(a: number, dir: string): GBlock {
    switch (dir) {
      case 'src': return this.cmp('linkhdr', 0, BPF.B, a);
      case 'dst': return this.cmp('linkhdr', 1, BPF.B, a);
      case 'and': return this.and(this.arcHost(a, 'src'), this.arcHost(a, 'dst'));
      case 'default': case 'or': return this.or(this.arcHost(a, 'src'), this.arcHost(a, 'dst'));
      default: this.fail(`'${dir}' is valid for 802.11 syntax only`);
    }
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

  /** SunATM's LLC/LANE type test lives with the other ATM code. */
  abstract atmType(t: string): GBlock;
}

/**
 * libpcap's "matching" DLT range (DLT_MATCHING_MIN..MAX, pcap/dlt.h): a link type there that the
 * compiler has no layout for (IPOIB, DOCSIS, ...) still gets raw `link[]`, `byte`, `len` filtering,
 * with no link-layer type field and no network layer.
 */
const DLT_MATCHING_MIN = 104;
const DLT_MATCHING_MAX = 299;
function rawLinkOnlyOffsets(linktype: number): LinkOffsets | undefined {
  if (linktype < DLT_MATCHING_MIN || linktype > DLT_MATCHING_MAX) return undefined;
  return { linkhdr: 0, linkhdrVariable: false, linktype: -1, linkpl: -1, linkplVariable: false, nl: -1, nlNosnap: -1 };
}
