/**
 * The code generator's state and primitives: blocks with libpcap's "sense" back-patch lists,
 * and/or/not, packet loads relative to the link/network/transport headers, comparisons, scratch
 * registers and arithmetic values. Everything above (protocols, link types, qualifiers) builds on this.
 */
import type { Block, Stmt } from './cfg.js';
import { FilterError } from './errors.js';

export const BPF = {
  LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07,
  W: 0x00, H: 0x08, B: 0x10,
  IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0,
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, NEG: 0x80,
  MOD: 0x90, XOR: 0xa0,
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40,
  K: 0x00, X: 0x08, A: 0x10,
  TAX: 0x00, TXA: 0x80,
} as const;

/** A block under construction: `sense` says which edge is the pending exit list (libpcap's trick). */
export interface GBlock extends Block {
  jt?: GBlock;
  jf?: GBlock;
  sense: boolean;
  head: GBlock;
  /** Set on gen_true/gen_false blocks: their raw truth value (before `sense`). */
  uncond?: boolean;
}

/** An arithmetic value: the statements computing it into scratch register `regno`, plus guards. */
export interface Arth { s: Stmt[]; regno: number; b?: GBlock }

/** An offset from the start of the packet: a constant plus, when variable, a scratch register. */
export interface AbsOffset { constantPart: number; isVariable: boolean; reg: number }

export const absOffset = (c: number, variable = false): AbsOffset => ({ constantPart: c, isVariable: variable, reg: -1 });

export type OffRel =
  | 'packet' | 'linkhdr' | 'prevlinkhdr' | 'llc' | 'prevmplshdr' | 'linkpl' | 'linkpl_nosnap'
  | 'linktype' | 'tran_ipv4' | 'tran_ipv6';

export const stmt = (code: number, k = 0): Stmt => ({ code, k: k >>> 0 });

export class Compiler {
  linktype = 1;
  snaplen = 262144;
  netmask = 0xffffffff;
  netmaskKnown = false;
  noOptimize = false;
  /**
   * libpcap turns its optimiser off for this filter (protochain's loop, geneve's in-block branch),
   * but tsbpf's optimiser handles blocks with in-block jumps safely, so it still optimises unless
   * asked for libpcap's choice (`CompileOptions.libpcapOptimizerChoice`).
   */
  libpcapSkipsOptimizer = false;
  /**
   * The optimiser will run over the CFG: build what libpcap puts in one block with in-block jumps
   * as separate blocks instead where that is possible (geneve), since the optimiser must leave
   * blocks with in-block jumps untouched. Never set for unoptimised output (libpcap's exact code).
   */
  shapeForOptimizer = false;
  linuxExt = false;

  offLinkhdr = absOffset(0);
  offPrevlinkhdr = absOffset(0);
  offOutermostlinkhdr = absOffset(0);
  offLinktype = absOffset(-1);
  offLinkpl = absOffset(0);
  offNl = 0;
  offNlNosnap = 0;
  prevlinktype = -1;
  outermostlinktype = -1;
  isGeneve = false;
  isVxlan = false;
  labelStackDepth = 0;
  vlanStackDepth = 0;
  isEncap = false;
  /** MTP2/MTP3 field offsets (-1 when not SS7). */
  offLi = -1; offLiHsl = -1; offSio = -1; offOpc = -1; offDpc = -1; offSls = -1;
  /** SunATM field offsets. */
  offVpi = -1; offVci = -1; offProto = -1; offPayload = -1; isAtm = false; isLane = false;
  /** The 802.11 family's "compute header length" setup emitted at the root, in order. */
  vloffsetKinds: string[] = [];

  private regUsed = new Array<boolean>(16).fill(false);
  private curReg = 0;
  private nextId = 0;

  fail(msg: string): never { throw new FilterError(msg); }

  // ---- blocks ----
  newBlock(code: number, k = 0): GBlock {
    const b = { id: this.nextId++, stmts: [] as Stmt[], branch: stmt(code, k), sense: false } as unknown as GBlock;
    b.head = b;
    return b;
  }
  retBlock(v: number): GBlock { return this.newBlock(BPF.RET | BPF.K, v); }

  backpatch(list: GBlock | undefined, target: GBlock): void {
    while (list) {
      let next: GBlock | undefined;
      if (!list.sense) { next = list.jt; list.jt = target; } else { next = list.jf; list.jf = target; }
      list = next;
    }
  }

  /** Appends list b1 to the end of list b0. */
  merge(b0: GBlock, b1: GBlock): void {
    let p: GBlock = b0;
    for (;;) {
      const next = !p.sense ? p.jt : p.jf;
      if (!next) break;
      p = next;
    }
    if (!p.sense) p.jt = b1; else p.jf = b1;
  }

  /** Logical value of an unconditional block, or undefined when it tests the packet. */
  private constValue(b: GBlock): boolean | undefined {
    if (b.uncond === undefined || b.head !== b) return undefined;
    return b.uncond !== b.sense;
  }

  and(b0: GBlock, b1: GBlock): GBlock {
    const v0 = this.constValue(b0);
    if (v0 !== undefined) return v0 ? b1 : b0;
    const v1 = this.constValue(b1);
    if (v1 !== undefined) return v1 ? b0 : b1;
    this.backpatch(b0, b1.head);
    b0.sense = !b0.sense;
    b1.sense = !b1.sense;
    this.merge(b1, b0);
    b1.sense = !b1.sense;
    b1.head = b0.head;
    return b1;
  }

  or(b0: GBlock, b1: GBlock): GBlock {
    const v0 = this.constValue(b0);
    if (v0 !== undefined) return v0 ? b0 : b1;
    const v1 = this.constValue(b1);
    if (v1 !== undefined) return v1 ? b1 : b0;
    b0.sense = !b0.sense;
    this.backpatch(b0, b1.head);
    b0.sense = !b0.sense;
    this.merge(b1, b0);
    b1.head = b0.head;
    return b1;
  }

  not(b: GBlock): GBlock { b.sense = !b.sense; return b; }

  uncond(rsense: boolean): GBlock {
    const b = this.newBlock(BPF.JMP | BPF.JEQ | BPF.K, 0);
    b.stmts = [stmt(BPF.LD | BPF.IMM, rsense ? 0 : 1)];
    b.uncond = rsense;
    return b;
  }
  true(): GBlock { return this.uncond(true); }
  false(): GBlock { return this.uncond(false); }

  // ---- scratch registers (round robin, like libpcap) ----
  allocReg(): number {
    for (let n = 0; n < 16; n++) {
      if (this.regUsed[this.curReg]) this.curReg = (this.curReg + 1) % 16;
      else { this.regUsed[this.curReg] = true; return this.curReg; }
    }
    this.fail('too many registers needed to evaluate expression');
  }
  freeReg(n: number): void { this.regUsed[n] = false; }
  get regsUsedCount(): number { return this.regUsed.filter(Boolean).length; }

  // ---- loads ----
  absOffsetVarpart(off: AbsOffset): Stmt[] | undefined {
    if (!off.isVariable) return undefined;
    if (off.reg === -1) off.reg = this.allocReg();
    return [stmt(BPF.LDX | BPF.MEM, off.reg)];
  }

  loadAbsOffsetRel(off: AbsOffset | undefined, offset: number, size: number): Stmt[] {
    const v = off ? this.absOffsetVarpart(off) : undefined;
    const base = off ? off.constantPart : 0;
    if (v) { v.push(stmt(BPF.LD | BPF.IND | size, base + offset)); return v; }
    return [stmt(BPF.LD | BPF.ABS | size, base + offset)];
  }

  /** `ldxb 4*([ip]&0xf)` or its variable-offset equivalent: X = IPv4 header length (+ link offset). */
  loadxIpHdrLen(): Stmt[] {
    const v = this.absOffsetVarpart(this.offLinkpl);
    if (v) {
      v.push(stmt(BPF.LD | BPF.IND | BPF.B, this.offLinkpl.constantPart + this.offNl));
      v.push(stmt(BPF.ALU | BPF.AND | BPF.K, 0xf));
      v.push(stmt(BPF.ALU | BPF.LSH | BPF.K, 2));
      v.push(stmt(BPF.ALU | BPF.ADD | BPF.X));
      v.push(stmt(BPF.MISC | BPF.TAX));
      return v;
    }
    return [stmt(BPF.LDX | BPF.MSH | BPF.B, this.offLinkpl.constantPart + this.offNl)];
  }

  loadA(rel: OffRel, offset: number, size: number): Stmt[] {
    switch (rel) {
      case 'packet': return this.loadAbsOffsetRel(undefined, offset, size);
      case 'linkhdr': return this.loadAbsOffsetRel(this.offLinkhdr, offset, size);
      case 'prevlinkhdr': return this.loadAbsOffsetRel(this.offPrevlinkhdr, offset, size);
      case 'llc': return this.loadAbsOffsetRel(this.offLinkpl, offset, size);
      case 'prevmplshdr': return this.loadAbsOffsetRel(this.offLinkpl, this.offNl - 4 + offset, size);
      case 'linkpl': return this.loadAbsOffsetRel(this.offLinkpl, this.offNl + offset, size);
      case 'linkpl_nosnap': return this.loadAbsOffsetRel(this.offLinkpl, this.offNlNosnap + offset, size);
      case 'linktype': return this.loadAbsOffsetRel(this.offLinktype, offset, size);
      case 'tran_ipv4': {
        const s = this.loadxIpHdrLen();
        s.push(stmt(BPF.LD | BPF.IND | size, this.offLinkpl.constantPart + this.offNl + offset));
        return s;
      }
      case 'tran_ipv6': return this.loadAbsOffsetRel(this.offLinkpl, this.offNl + 40 + offset, size);
    }
  }

  // ---- comparisons ----
  ncmp(rel: OffRel, offset: number, size: number, mask: number, jtype: number, reverse: boolean, v: number): GBlock {
    const s = this.loadA(rel, offset, size);
    if (mask >>> 0 !== 0xffffffff) s.push(stmt(BPF.ALU | BPF.AND | BPF.K, mask));
    const b = this.newBlock(BPF.JMP | jtype | BPF.K, v);
    b.stmts = s;
    if (reverse) this.not(b);
    return b;
  }
  cmp(rel: OffRel, off: number, size: number, v: number): GBlock { return this.ncmp(rel, off, size, 0xffffffff, BPF.JEQ, false, v); }
  cmpGt(rel: OffRel, off: number, size: number, v: number): GBlock { return this.ncmp(rel, off, size, 0xffffffff, BPF.JGT, false, v); }
  cmpGe(rel: OffRel, off: number, size: number, v: number): GBlock { return this.ncmp(rel, off, size, 0xffffffff, BPF.JGE, false, v); }
  cmpLt(rel: OffRel, off: number, size: number, v: number): GBlock { return this.ncmp(rel, off, size, 0xffffffff, BPF.JGE, true, v); }
  cmpLe(rel: OffRel, off: number, size: number, v: number): GBlock { return this.ncmp(rel, off, size, 0xffffffff, BPF.JGT, true, v); }
  cmpNe(rel: OffRel, off: number, size: number, v: number): GBlock { return this.not(this.cmp(rel, off, size, v)); }
  mcmp(rel: OffRel, off: number, size: number, v: number, mask: number): GBlock { return this.ncmp(rel, off, size, mask, BPF.JEQ, false, v); }
  /** `jset #mask` on the loaded value. */
  mset(rel: OffRel, off: number, size: number, mask: number): GBlock {
    const b = this.newBlock(BPF.JMP | BPF.JSET | BPF.K, mask);
    b.stmts = this.loadA(rel, off, size);
    return b;
  }

  /** Compares `bytes` at `offset` as big-endian words, then halfwords, then bytes, from the end. */
  bcmp(rel: OffRel, offset: number, bytes: Uint8Array): GBlock {
    let size = bytes.length;
    let b: GBlock | undefined;
    while (size >= 4) {
      const p = size - 4;
      const w = ((bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!) >>> 0;
      const t = this.cmp(rel, offset + p, BPF.W, w);
      b = b ? this.and(b, t) : t;
      size -= 4;
    }
    while (size >= 2) {
      const p = size - 2;
      const w = (bytes[p]! << 8) | bytes[p + 1]!;
      const t = this.cmp(rel, offset + p, BPF.H, w);
      b = b ? this.and(b, t) : t;
      size -= 2;
    }
    if (size > 0) {
      const t = this.cmp(rel, offset, BPF.B, bytes[0]!);
      b = b ? this.and(b, t) : t;
    }
    return b!;
  }
}
