/**
 * Recursive-descent parser for pcap-filter expressions with libpcap grammar.y's semantics: `and`
 * and `or` share one precedence level (left-associative), `not` binds tighter, and a bare name or
 * number after `and`/`or` inherits the qualifiers of the expression before it (`host a or b`).
 * Code is generated while parsing, in the same order libpcap's LALR parser reduces, so scratch
 * registers come out the same.
 */
import type { Token } from './lexer.js';
import { tokenize } from './lexer.js';
import { FilterError, FilterSyntaxError } from './errors.js';
import { BPF, type Arth, type GBlock } from './core.js';
import { Generator, QDEFAULT, type Qual } from './gencode.js';
import { Qualify } from './qualify.js';

const PNAMES = new Set(['link', 'ip', 'arp', 'rarp', 'sctp', 'tcp', 'udp', 'icmp', 'igmp', 'igrp', 'pim', 'vrrp',
  'carp', 'atalk', 'aarp', 'decnet', 'lat', 'sca', 'moprc', 'mopdl', 'ip6', 'icmp6', 'ah', 'esp', 'iso', 'esis',
  'isis', 'l1', 'l2', 'iih', 'lsp', 'snp', 'csnp', 'psnp', 'clnp', 'stp', 'ipx', 'netbeui', 'radio']);
const DQUALS = new Set(['src', 'dst', 'addr1', 'addr2', 'addr3', 'addr4', 'ra', 'ta']);
const AQUALS = new Set(['host', 'net', 'port', 'portrange']);
const ARITH_OPS = new Set(['+', '-', '*', '/', '%', '&', '|', '^', '<<', '>>']);
const RELOPS: Record<string, [number, boolean]> = {
  '>': [BPF.JGT, false], '>=': [BPF.JGE, false], '=': [BPF.JEQ, false],
  '<=': [BPF.JGT, true], '<': [BPF.JGE, true], '!=': [BPF.JEQ, true],
};
/** Binary arithmetic operators: precedence (higher binds tighter) and ALU op. */
const BINOPS: Record<string, [number, number]> = {
  '|': [1, BPF.OR], '^': [2, BPF.XOR], '&': [3, BPF.AND], '<<': [4, BPF.LSH], '>>': [4, BPF.RSH],
  '+': [5, BPF.ADD], '-': [5, BPF.SUB], '*': [6, BPF.MUL], '/': [6, BPF.DIV], '%': [6, BPF.MOD],
};
const ATM_TYPES = new Set(['lane', 'metac', 'bcc', 'oamf4ec', 'oamf4sc', 'sc', 'ilmic']);
const ATM_MULTI = new Set(['oam', 'oamf4', 'connectmsg', 'metaconnect']);
const MTP2_TYPES = new Set(['fisu', 'lssu', 'msu', 'hfisu', 'hlssu', 'hmsu']);
const MTP3_FIELDS = new Set(['sio', 'opc', 'dpc', 'sls', 'hsio', 'hopc', 'hdpc', 'hsls']);

const QERR: Qual = { proto: 'undef', dir: 'undef', addr: 'undef' };

interface Node { b: GBlock; q: Qual }

export class Parser {
  private toks: Token[];
  private pos = 0;
  private readonly q: Qualify;
  /** Column of the primitive being generated: where semantic errors (unknown host...) point. */
  private primitiveColumn = 1;
  /** Nesting of parentheses and `not`s; bounded so deep input fails cleanly, not by stack overflow. */
  private depth = 0;

  constructor(src: string, private readonly g: Generator) {
    this.toks = tokenize(src);
    this.q = new Qualify(g);
  }

  parse(): GBlock | undefined {
    try {
      if (this.peek().kind === 'EOF') return undefined;
      const n = this.expr(QDEFAULT);
      if (this.peek().kind !== 'EOF') this.syntax();
      return n.b;
    } catch (e) {
      if (e instanceof FilterError && e.location.column === undefined) {
        if (e instanceof FilterSyntaxError) throw new FilterSyntaxError(e.reason, this.peek().column);
        throw new FilterError(e.reason, this.primitiveColumn, e.code);
      }
      throw e;
    }
  }

  // ---- token helpers ----
  private peek(n = 0): Token { return this.toks[Math.min(this.pos + n, this.toks.length - 1)]!; }
  private next(): Token { const t = this.peek(); this.pos++; return t; }
  private isKw(t: Token, ...kws: string[]): boolean { return t.kind === 'KW' && kws.includes(t.text); }
  private isOp(t: Token, ...ops: string[]): boolean { return t.kind === 'OP' && ops.includes(t.text); }
  private isAnd(t: Token): boolean { return this.isKw(t, 'and') || this.isOp(t, '&&'); }
  private isOr(t: Token): boolean { return this.isKw(t, 'or') || this.isOp(t, '||'); }
  private isNot(t: Token): boolean { return this.isKw(t, 'not') || this.isOp(t, '!'); }
  private syntax(): never {
    throw new FilterSyntaxError("can't parse filter expression: syntax error", this.peek().column);
  }
  private expectOp(op: string): void { if (!this.isOp(this.next(), op)) { this.pos--; this.syntax(); } }
  private num(): number { const t = this.next(); if (t.kind !== 'NUM') { this.pos--; this.syntax(); } return t.value!; }

  /** Index of the token after the parenthesis group starting at `i`. */
  private afterParens(i: number): number {
    let depth = 0;
    for (let j = i; j < this.toks.length; j++) {
      const t = this.toks[j]!;
      if (this.isOp(t, '(')) depth++;
      else if (this.isOp(t, ')')) { depth--; if (depth === 0) return j + 1; }
      else if (t.kind === 'EOF') return j;
    }
    return this.toks.length - 1;
  }

  /** Does an `id` (name, address, bare number or parenthesised list of them) start here? */
  private startsId(i: number): boolean {
    let j = i;
    while (this.isNot(this.toks[j]!) || this.isOp(this.toks[j]!, '(')) {
      if (this.isOp(this.toks[j]!, '(')) {
        const after = this.toks[this.afterParens(j)]!;
        if (after.kind === 'OP' && (ARITH_OPS.has(after.text) || RELOPS[after.text] !== undefined)) return false;
      }
      j++;
    }
    const t = this.toks[j]!;
    if (t.kind === 'ID' || t.kind === 'HID' || t.kind === 'HID6' || t.kind === 'EID' || t.kind === 'AID') return true;
    if (t.kind === 'NUM') {
      const after = this.toks[j + 1]!;
      return !(after.kind === 'OP' && (ARITH_OPS.has(after.text) || RELOPS[after.text] !== undefined || after.text === '['));
    }
    return false;
  }

  // ---- boolean structure ----
  private expr(ctx: Qual): Node {
    let left = this.term(ctx);
    for (;;) {
      const t = this.peek();
      const isAnd = this.isAnd(t);
      if (!isAnd && !this.isOr(t)) return left;
      this.next();
      const right = this.startsId(this.pos) ? this.id(left.q) : this.term(left.q);
      const b = isAnd ? this.g.and(left.b, right.b) : this.g.or(left.b, right.b);
      left = { b, q: right.q };
    }
  }

  private term(ctx: Qual): Node {
    this.enter();
    try {
      if (this.isNot(this.peek())) {
        this.next();
        const n = this.term(ctx);
        return { b: this.g.not(n.b), q: n.q };
      }
      return this.rterm(ctx);
    } finally { this.depth--; }
  }

  private enter(): void {
    if (++this.depth > 1000) throw new FilterSyntaxError('filter expression nested too deeply', this.peek().column);
  }

  /** `id`: a name/number/address with the inherited qualifiers, `not id`, or `( pid )`. */
  private id(ctx: Qual): Node {
    this.enter();
    try { return this.idInner(ctx); } finally { this.depth--; }
  }

  private idInner(ctx: Qual): Node {
    const t = this.peek();
    this.primitiveColumn = t.column;
    if (this.isNot(t)) {
      this.next();
      const n = this.id(ctx);
      return { b: this.g.not(n.b), q: n.q };
    }
    if (this.isOp(t, '(')) {
      this.next();
      let left = this.id(ctx);
      for (;;) {
        const c = this.peek();
        if (this.isOp(c, ')')) { this.next(); return left; }
        const isAnd = this.isAnd(c);
        if (!isAnd && !this.isOr(c)) this.syntax();
        this.next();
        const right = this.id(left.q);
        left = { b: isAnd ? this.g.and(left.b, right.b) : this.g.or(left.b, right.b), q: right.q };
      }
    }
    this.next();
    const q = { ...ctx };
    switch (t.kind) {
      case 'NUM': return { b: this.q.ncode(undefined, t.value!, q), q };
      case 'ID': return { b: this.q.scode(t.text, q), q };
      case 'HID': {
        if (this.isOp(this.peek(), '/')) { this.next(); return { b: this.q.mcode(t.text, undefined, this.num(), q), q }; }
        if (this.isKw(this.peek(), 'mask')) {
          this.next();
          const m = this.next();
          if (m.kind !== 'HID') { this.pos--; this.syntax(); }
          return { b: this.q.mcode(t.text, m.text, 0, q), q };
        }
        return { b: this.q.ncode(t.text, 0, q), q };
      }
      case 'HID6': {
        if (this.isOp(this.peek(), '/')) { this.next(); return { b: this.q.mcode6(t.text, this.num(), q), q }; }
        return { b: this.q.mcode6(t.text, 128, q), q };
      }
      case 'EID': return { b: this.q.ecode(t.text, q), q };
      case 'AID': return { b: this.q.acode(t.text, q), q };
      default: this.pos--; this.syntax();
    }
  }

  // ---- terms ----
  private rterm(ctx: Qual): Node {
    const t = this.peek();
    this.primitiveColumn = t.column;
    // ( expr ) or an arithmetic expression in parentheses.
    if (this.isOp(t, '(')) {
      const after = this.toks[this.afterParens(this.pos)]!;
      if (!(after.kind === 'OP' && (ARITH_OPS.has(after.text) || RELOPS[after.text] !== undefined))) {
        this.next();
        const n = this.expr(ctx);
        this.expectOp(')');
        return { b: n.b, q: ctx };
      }
      return { b: this.relation(), q: QERR };
    }
    if (t.kind === 'NUM' || this.isOp(t, '-') || this.isKw(t, 'len')) return { b: this.relation(), q: QERR };
    if (t.kind === 'KW') {
      // Qualified id: [pname] [dqual] [aqual|proto|protochain|gateway] id
      let i = this.pos;
      let proto = 'default';
      if (PNAMES.has(this.toks[i]!.text)) {
        const nx = this.toks[i + 1]!;
        if (this.isOp(nx, '[')) return { b: this.relation(), q: QERR };
        proto = this.toks[i]!.text;
        i++;
      }
      const h = this.head(i, proto);
      if (h) {
        this.pos = h.end;
        if (!this.startsId(this.pos)) this.syntax();
        const n = this.id(h.q);
        return n;
      }
      if (proto !== 'default' && !this.isKw(this.toks[i]!, 'broadcast', 'multicast', 'type', 'subtype', 'dir')) {
        this.next();
        return { b: this.g.protoAbbrev(proto), q: QERR };
      }
      return { b: this.other(), q: QERR };
    }
    this.syntax();
  }

  private head(i: number, proto: string): { q: Qual; end: number } | undefined {
    let dir = 'default';
    let addr = 'default';
    let t = this.toks[i]!;
    let any = false;
    if (t.kind === 'KW' && DQUALS.has(t.text)) {
      dir = t.text;
      i++;
      any = true;
      const c = this.toks[i]!;
      const d = this.toks[i + 1]!;
      if ((t.text === 'src' || t.text === 'dst') && (this.isOr(c) || this.isAnd(c)) &&
        this.isKw(d, t.text === 'src' ? 'dst' : 'src')) {
        dir = this.isOr(c) ? 'or' : 'and';
        i += 2;
      }
      t = this.toks[i]!;
    }
    if (t.kind === 'KW' && AQUALS.has(t.text)) { addr = t.text; i++; any = true; }
    else if (!any && this.isKw(t, 'proto', 'protochain', 'gateway')) { addr = t.text; i++; any = true; }
    if (!any) return undefined;
    return { q: { proto, dir, addr }, end: i };
  }

  /** `arth relop arth`. */
  private relation(): GBlock {
    const a0 = this.arth(0);
    const op = this.next();
    const rel = op.kind === 'OP' ? RELOPS[op.text] : undefined;
    if (!rel) { this.pos--; this.syntax(); }
    const a1 = this.arth(0);
    return this.g.genRelation(rel[0], a0, a1, rel[1]);
  }

  private arth(minPrec: number): Arth {
    let left = this.arthPrimary();
    for (;;) {
      const t = this.peek();
      const op = t.kind === 'OP' ? BINOPS[t.text] : undefined;
      if (!op || op[0] < minPrec) return left;
      this.next();
      const right = this.arth(op[0] + 1);
      left = this.g.genArth(op[1], left, right);
    }
  }

  private arthPrimary(): Arth {
    this.enter();
    try { return this.arthPrimaryInner(); } finally { this.depth--; }
  }

  private arthPrimaryInner(): Arth {
    const t = this.next();
    if (t.kind === 'NUM') return this.g.loadi(t.value!);
    if (this.isKw(t, 'len')) return this.g.loadLen();
    if (this.isOp(t, '-')) return this.g.genNeg(this.arth(7));
    if (this.isOp(t, '(')) { const a = this.arth(0); this.expectOp(')'); return a; }
    if (t.kind === 'KW' && PNAMES.has(t.text)) {
      this.expectOp('[');
      const idx = this.arth(0);
      let size = 1;
      if (this.isOp(this.peek(), ':')) { this.next(); size = this.num(); }
      this.expectOp(']');
      return this.g.genLoad(t.text, idx, size);
    }
    this.pos--;
    this.syntax();
  }

  private pnum(): number {
    if (this.isOp(this.peek(), '(')) { this.next(); const v = this.pnum(); this.expectOp(')'); return v; }
    return this.num();
  }
  private pnumAhead(): boolean {
    let j = this.pos;
    while (this.isOp(this.toks[j]!, '(')) j++;
    return this.toks[j]!.kind === 'NUM';
  }

  private other(): GBlock {
    const g = this.g;
    const t = this.next();
    let proto = 'default';
    let k = t;
    if (PNAMES.has(t.text)) { proto = t.text; k = this.next(); }
    if (k.kind !== 'KW') { this.pos--; this.syntax(); }
    const word = k.text;
    if (proto !== 'default' && !['broadcast', 'multicast', 'type', 'subtype', 'dir'].includes(word)) { this.pos--; this.syntax(); }
    switch (word) {
      case 'broadcast': return g.broadcast(proto);
      case 'multicast': return g.multicast(proto);
      case 'less': return g.less(this.num());
      case 'greater': return g.greater(this.num());
      case 'byte': {
        const idx = this.num();
        const op = this.next();
        if (!this.isOp(op, '&', '|', '<', '>', '=')) { this.pos--; this.syntax(); }
        return g.byteop(op.text, idx, this.num());
      }
      case 'inbound': return g.inbound(false);
      case 'outbound': return g.inbound(true);
      case 'ifindex': return g.ifindex(this.num());
      case 'vlan': return g.vlan(this.pnumAhead() ? this.pnum() : undefined);
      case 'mpls': return g.mpls(this.pnumAhead() ? this.pnum() : undefined);
      case 'pppoed': return g.pppoed();
      case 'pppoes': return g.pppoes(this.pnumAhead() ? this.pnum() : undefined);
      case 'geneve': return g.geneve(this.pnumAhead() ? this.pnum() : undefined);
      case 'vxlan': return g.vxlan(this.pnumAhead() ? this.pnum() : undefined);
      case 'on': case 'rset': {
        const n = this.next();
        if (n.kind !== 'ID' && n.kind !== 'KW' && n.kind !== 'NUM') { this.pos--; this.syntax(); }
        return word === 'on' ? g.pfIfname(n.text) : g.pfRuleset(n.text);
      }
      case 'rnr': return g.pfRnr(this.num());
      case 'srnr': return g.pfSrnr(this.num());
      case 'reason': return g.pfReason(this.q.pfReason(this.next()));
      case 'action': return g.pfAction(this.q.pfAction(this.next()));
      case 'type': {
        const ty = this.q.wlanType(this.next());
        if (this.isKw(this.peek(), 'subtype')) {
          this.next();
          const st = this.q.wlanSubtype(ty, this.next());
          return g.p80211Type(ty | st, 0x0c | 0xf0);
        }
        return g.p80211Type(ty, 0x0c);
      }
      case 'subtype': return g.p80211Type(this.q.wlanTypeSubtype(this.next()), 0x0c | 0xf0);
      case 'dir': return g.p80211Dir(this.q.wlanDir(this.next()));
      case 'llc': {
        const n = this.peek();
        if (n.kind === 'ID') { this.next(); return this.q.llcNamed(n.text); }
        if (this.isKw(n, 'rnr')) { this.next(); return g.llcSSubtype(0x05); }
        return g.llc();
      }
      default: break;
    }
    if (ATM_TYPES.has(word)) return g.atmType(word);
    if (ATM_MULTI.has(word)) return g.atmMulti(word);
    if (MTP2_TYPES.has(word)) return g.mtp2Type(word);
    if (word === 'vpi' || word === 'vci') return this.fieldValue((v, j, r) => g.atmField(word, v, j, r));
    if (MTP3_FIELDS.has(word)) return this.fieldValue((v, j, r) => g.mtp3Field(word, v, j, r));
    this.pos--;
    this.syntax();
  }

  /** `NUM`, `relop NUM`, or `( NUM or NUM ... )` after vpi/vci/sio/opc/dpc/sls. */
  private fieldValue(code: (v: number, jtype: number, reverse: boolean) => GBlock): GBlock {
    const t = this.peek();
    if (t.kind === 'NUM') { this.next(); return code(t.value!, BPF.JEQ, false); }
    if (t.kind === 'OP' && RELOPS[t.text]) {
      this.next();
      const [j, r] = RELOPS[t.text]!;
      return code(this.num(), j, r);
    }
    if (this.isOp(t, '(')) {
      this.next();
      let b = code(this.num(), BPF.JEQ, false);
      while (this.isOr(this.peek())) { this.next(); b = this.g.or(b, code(this.num(), BPF.JEQ, false)); }
      this.expectOp(')');
      return b;
    }
    this.syntax();
  }
}
