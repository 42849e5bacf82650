/**
 * The pcap-filter code generator: turns the parser's primitives (qualified names, numbers,
 * addresses, arithmetic relations, keyword tests) into CFG blocks, per link-layer type, the way
 * libpcap's gencode.c does, so the unoptimised output matches libpcap's instruction for instruction.
 * Layers: core.ts (blocks, loads) <- gen-link.ts <- gen-proto.ts <- this file (arithmetic, keyword
 * primitives, PFLOG, SS7, ATM, VLAN/MPLS/PPPoE, VXLAN/Geneve).
 */
import type { Stmt } from './cfg.js';
import { BPF, stmt, absOffset, type Arth, type GBlock, type OffRel } from './core.js';
import { DLT, isJuniper, linkTypeName } from './linktype.js';
import { ET, IPPROTO, isEtherLike, isWlanFamily } from './gen-constants.js';
import { ProtoGen } from './gen-proto.js';

export { QDEFAULT, type Qual } from './gen-constants.js';

export class Generator extends ProtoGen {
  // ---------- arithmetic ----------

  loadi(v: number): Arth {
    const reg = this.allocReg();
    return { s: [stmt(BPF.LD | BPF.IMM, v), stmt(BPF.ST, reg)], regno: reg };
  }
  loadLen(): Arth {
    const reg = this.allocReg();
    return { s: [stmt(BPF.LD | BPF.LEN), stmt(BPF.ST, reg)], regno: reg };
  }
  protected xferToX(a: Arth): Stmt { return stmt(BPF.LDX | BPF.MEM, a.regno); }
  protected xferToA(a: Arth): Stmt { return stmt(BPF.LD | BPF.MEM, a.regno); }

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
            return this.fail('not a broadcast link');
        }
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

  protected macMulticast(off: number): GBlock { return this.mset('linkhdr', off, BPF.B, 0x01); }

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
        return this.fail('link-layer multicast filters supported only on ethernet/FDDI/token ring/ARCNET/802.11/ATM LANE/Fibre Channel');
      }
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
      default:
        if (isJuniper(this.linktype)) return this.mcmp('linkhdr', 3, BPF.B, outbound ? 0 : 1, 0x01);
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

  // ---------- PFLOG ----------

  protected needPflog(what: string): void {
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
  protected atmMsg(t: number): GBlock { return this.cmp('linkhdr', this.offPayload + 5, BPF.B, t); }
  protected atmMsgTypes(types: number[]): GBlock {
    // The first two are ORed in order, every later one in front (libpcap's gen_or(new, acc)).
    let b = this.or(this.atmMsg(types[0]!), this.atmMsg(types[1]!));
    for (const t of types.slice(2)) b = this.or(this.atmMsg(t), b);
    return b;
  }

  // ---------- VLAN / MPLS / PPPoE ----------

  protected shiftLinkpl(n: number): void {
    this.offLinkpl.constantPart += n;
    this.offLinktype.constantPart += n;
  }

  vlan(id: number | undefined): GBlock {
    if (this.labelStackDepth > 0) this.fail('no VLAN match after MPLS');
    const lt = this.linktype;
    if (this.linuxExt && (lt === DLT.EN10MB || lt === DLT.NETANALYZER || lt === DLT.NETANALYZER_TRANSPARENT) &&
      this.vlanStackDepth === 0 && !this.offLinkhdr.isVariable &&
      this.offLinkhdr.constantPart === this.offOutermostlinkhdr.constantPart) {
      return this.vlanWithMetadata(id);
    }
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

  /**
   * Linux strips the outer VLAN tag into skb metadata: test SKF_AD_VLAN_TAG_PRESENT, else an
   * in-packet tag, whose presence moves later headers by 4 (tracked in scratch registers).
   */
  protected vlanWithMetadata(id: number | undefined): GBlock {
    if (id !== undefined && id > 4095) this.fail(`VLAN tag ${id} greater than maximum 4095`);
    const present = (): Stmt => stmt(BPF.LD | BPF.B | BPF.ABS, (-0x1000 + 48) >>> 0);
    const b0 = this.newBlock(BPF.JMP | BPF.JEQ | BPF.K, 1);
    b0.stmts = [present()];
    const tpid = this.or(this.or(this.linktypeTest(ET.VLAN), this.linktypeTest(ET.QINQ)), this.linktypeTest(ET.QINQ_OLD));
    const vid = id === undefined ? undefined : this.mcmp('linkpl', 0, BPF.H, id, 0x0fff);
    // Only an in-packet tag shifts the offsets: add 4 in front of the TPID tests.
    this.isVlanVloffset = true;
    const adds: Stmt[] = [];
    for (const off of [this.offLinkpl, this.offLinktype]) {
      off.isVariable = true;
      if (off.reg === -1) off.reg = this.allocReg();
      adds.push(stmt(BPF.LD | BPF.MEM, off.reg), stmt(BPF.ALU | BPF.ADD | BPF.K, 4), stmt(BPF.ST, off.reg));
    }
    tpid.head.stmts = [...adds, ...tpid.head.stmts];
    let b = this.or(b0, tpid);
    if (vid) {
      // The VLAN ID comes from the metadata when the tag was stripped, else from the packet.
      const old = vid.stmts;
      const tci = stmt(BPF.LD | BPF.H | BPF.ABS, (-0x1000 + 44) >>> 0);
      const jeq: Stmt = { ...stmt(BPF.JMP | BPF.JEQ | BPF.K, 1), jt: tci, jf: old[0] };
      vid.stmts = [present(), jeq, tci, stmt(BPF.JMP | BPF.JA, old.length - 1), ...old];
      b = this.and(b, vid);
    }
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
  protected udpTunnel(port: number, check: (rel: OffRel) => GBlock, vni: number | undefined): GBlock {
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
  protected trueWith(s: Stmt[]): GBlock {
    const b = this.true();
    b.stmts = [...s, ...b.stmts];
    delete b.uncond;
    return b;
  }

  protected checkVni(vni: number | undefined, what: string): void {
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
    // X = Geneve header; payload = X + 8 + 4 * option length; Ethernet (TEB) payloads add 14 more.
    const header = [stmt(BPF.ALU | BPF.ADD | BPF.K, this.offLinkpl.constantPart + this.offNl + 8), stmt(BPF.MISC | BPF.TAX),
      stmt(BPF.ALU | BPF.ADD | BPF.K, 2), stmt(BPF.ST, typ), stmt(BPF.LD | BPF.IND | BPF.B, 0),
      stmt(BPF.ALU | BPF.AND | BPF.K, 0x3f), stmt(BPF.ALU | BPF.MUL | BPF.K, 4), stmt(BPF.ALU | BPF.ADD | BPF.K, 8),
      stmt(BPF.ALU | BPF.ADD | BPF.X), stmt(BPF.ST, hdr), stmt(BPF.LD | BPF.IND | BPF.H, 2), stmt(BPF.LDX | BPF.MEM, hdr)];
    const teb = [stmt(BPF.MISC | BPF.TXA), stmt(BPF.ALU | BPF.ADD | BPF.K, 12), stmt(BPF.ST, typ), stmt(BPF.ALU | BPF.ADD | BPF.K, 2),
      stmt(BPF.MISC | BPF.TAX)];
    const b = this.and(b0, this.shapeForOptimizer ? this.genevePayloadBlocks(header, teb, pl) : this.genevePayloadBlock(header, teb, pl));
    this.enterTunnel(hdr, typ, pl);
    this.isGeneve = true;
    this.libpcapSkipsOptimizer = true;
    return b;
  }

  /** libpcap's form: one always-true block whose TEB test is a jump inside its statements. */
  private genevePayloadBlock(header: Stmt[], teb: Stmt[], pl: number): GBlock {
    const stxPl = stmt(BPF.STX, pl);
    const isTeb: Stmt = { ...stmt(BPF.JMP | BPF.JEQ | BPF.K, ET.TEB), jt: teb[0], jf: stxPl };
    return this.trueWith([...header, isTeb, ...teb, stxPl]);
  }

  /**
   * The same computation as real blocks, `(isTeb and teb) or notTeb` with both sides always true,
   * so the optimiser sees straight-line code it can number, thread and prune (it leaves blocks with
   * in-block jumps alone). Over 12 geneve filters: 755 instructions optimised in libpcap's one-block
   * form, 678 in this one (886 unoptimised).
   */
  private genevePayloadBlocks(header: Stmt[], teb: Stmt[], pl: number): GBlock {
    const isTeb = this.newBlock(BPF.JMP | BPF.JEQ | BPF.K, ET.TEB);
    isTeb.stmts = header;
    const tebSide = this.and(isTeb, this.trueWith([...teb, stmt(BPF.STX, pl)]));
    return this.or(tebSide, this.trueWith([stmt(BPF.STX, pl)]));
  }

  /** Later tests look at the tunnelled frame, whose header offsets are now in scratch registers. */
  protected enterTunnel(hdr: number, typ: number, pl: number): void {
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
