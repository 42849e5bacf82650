/**
 * The uBPF / bpf_conformance assembly syntax: `mnemonic operand, operand, ...` with `%r` registers,
 * `[%r1+4]` memory operands and `lock [fetch] op` atomics. One statement in, one or two slots out.
 */
import { fail, type SourceLine } from './asm-errors.js';
import {
  insn, ldImm64Slots, looksLikeRegister, parseImm32, parseImm64, parseOff16, parseRegister,
  parseSmall, parseTarget, withTarget, type PendingSlot,
} from './asm-operands.js';
import { parsePseudoImm64 } from './asm-pseudo.js';
import { AluOp, AtomicOp, InsnClass, JmpOp, Mode, PseudoCall, Size, Source } from './opcodes.js';

const ALU_MNEMONICS: Readonly<Record<string, { op: number; off: number }>> = {
  add: { op: AluOp.ADD, off: 0 }, sub: { op: AluOp.SUB, off: 0 }, mul: { op: AluOp.MUL, off: 0 },
  div: { op: AluOp.DIV, off: 0 }, sdiv: { op: AluOp.DIV, off: 1 }, or: { op: AluOp.OR, off: 0 },
  and: { op: AluOp.AND, off: 0 }, lsh: { op: AluOp.LSH, off: 0 }, rsh: { op: AluOp.RSH, off: 0 },
  mod: { op: AluOp.MOD, off: 0 }, smod: { op: AluOp.MOD, off: 1 }, xor: { op: AluOp.XOR, off: 0 },
  mov: { op: AluOp.MOV, off: 0 }, arsh: { op: AluOp.ARSH, off: 0 },
};

const JUMP_MNEMONICS: Readonly<Record<string, number>> = {
  jeq: JmpOp.JEQ, jgt: JmpOp.JGT, jge: JmpOp.JGE, jset: JmpOp.JSET, jne: JmpOp.JNE, jsgt: JmpOp.JSGT,
  jsge: JmpOp.JSGE, jlt: JmpOp.JLT, jle: JmpOp.JLE, jslt: JmpOp.JSLT, jsle: JmpOp.JSLE,
};

const SIZES: Readonly<Record<string, number>> = { b: Size.B, h: Size.H, w: Size.W, dw: Size.DW };
/** Width suffix of atomics: none = 64-bit, as bpf_conformance writes `lock add` / `lock add32`. */
const ATOMIC_WIDTHS: Readonly<Record<string, number>> = { '': Size.DW, '64': Size.DW, '32': Size.W, '16': Size.H, '8': Size.B };
const ATOMIC_BASES: Readonly<Record<string, number>> = {
  add: AtomicOp.ADD, or: AtomicOp.OR, and: AtomicOp.AND, xor: AtomicOp.XOR,
};

/** Split `a, [b+1], c` at top-level commas. */
function splitOperands(text: string): string[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  return trimmed.split(',').map((s) => s.trim());
}

function expectCount(src: SourceLine, mnemonic: string, operands: string[], ...counts: number[]): void {
  if (!counts.includes(operands.length)) {
    fail(src, 'operand-count', `invalid number of operands for ${mnemonic}: expected ${counts.join(' or ')}, got ${operands.length}`, mnemonic);
  }
}

const MEMORY_RE = /^\[\s*([%\w]+)\s*(?:([+-])\s*([^\]\s]+)\s*)?\]$/;

/** `[%r1+4]`, `[%r10-8]`, `[%r2]`. */
export function parseMemory(src: SourceLine, token: string): { reg: number; off: number } {
  const m = MEMORY_RE.exec(token);
  if (!m) return fail(src, 'bad-operand', `expected a memory operand like [%r1+4], got '${token}'`, token);
  const reg = parseRegister(src, m[1]!).reg;
  const off = m[3] === undefined ? 0 : parseOff16(src, `${m[2]}${m[3]}`);
  return { reg, off };
}

/** Register or 32-bit immediate as the second operand of ALU and jump instructions. */
function regOrImm(src: SourceLine, token: string): { useReg: boolean; reg: number; imm: number } {
  if (looksLikeRegister(token) || /^%/.test(token)) return { useReg: true, reg: parseRegister(src, token).reg, imm: 0 };
  return { useReg: false, reg: 0, imm: parseImm32(src, token) };
}

/** Assemble one uBPF-syntax statement; undefined when the mnemonic is not a uBPF mnemonic. */
export function assembleUbpf(src: SourceLine, statement: string): PendingSlot[] | undefined {
  const space = statement.search(/\s/);
  const mnemonic = (space < 0 ? statement : statement.slice(0, space)).toLowerCase();
  const rest = space < 0 ? '' : statement.slice(space + 1).trim();
  const one = (code: number, dst = 0, s = 0, off = 0, imm = 0): PendingSlot[] => [{ insn: insn(code, dst, s, off, imm), src }];
  let m: RegExpExecArray | null;

  if (mnemonic === 'lock') return assembleLock(src, rest);
  if (mnemonic === 'call') return assembleCall(src, rest);
  if (mnemonic === 'callx') {
    const ops = splitOperands(rest);
    expectCount(src, mnemonic, ops, 1);
    return one(InsnClass.JMP | JmpOp.CALL | Source.X, parseRegister(src, ops[0]!).reg);
  }
  const ops = splitOperands(rest);
  if (mnemonic === 'exit') {
    expectCount(src, mnemonic, ops, 0);
    return one(InsnClass.JMP | JmpOp.EXIT);
  }
  if (mnemonic === 'ja' || mnemonic === 'goto' || mnemonic === 'may_goto') {
    expectCount(src, mnemonic, ops, 1);
    const code = mnemonic !== 'may_goto' ? InsnClass.JMP | JmpOp.JA : InsnClass.JMP | JmpOp.JCOND;
    return [withTarget(src, insn(code), 'off', parseTarget(src, ops[0]!))];
  }
  if (mnemonic === 'ja32' || mnemonic === 'jal' || mnemonic === 'gotol') {
    expectCount(src, mnemonic, ops, 1);
    return [withTarget(src, insn(InsnClass.JMP32 | JmpOp.JA), 'imm', parseTarget(src, ops[0]!, true))];
  }
  if ((m = /^(j[a-z]+?)(32)?$/.exec(mnemonic)) && JUMP_MNEMONICS[m[1]!] !== undefined) {
    expectCount(src, mnemonic, ops, 3);
    const cls = m[2] ? InsnClass.JMP32 : InsnClass.JMP;
    const dst = parseRegister(src, ops[0]!).reg;
    const right = regOrImm(src, ops[1]!);
    const code = cls | JUMP_MNEMONICS[m[1]!]! | (right.useReg ? Source.X : Source.K);
    return [withTarget(src, insn(code, dst, right.reg, 0, right.imm), 'off', parseTarget(src, ops[2]!))];
  }
  if (mnemonic === 'lddw') {
    expectCount(src, mnemonic, ops, 2);
    const dst = parseRegister(src, ops[0]!).reg;
    const pseudo = parsePseudoImm64(src, ops[1]!);
    const slots = pseudo ? ldImm64Slots(dst, pseudo.src, pseudo.value) : ldImm64Slots(dst, 0, parseImm64(src, ops[1]!));
    return slots.map((s) => ({ insn: s, src }));
  }
  if (mnemonic === 'ld_pseudo') {
    // What llvm-objdump prints for an LD_IMM64 with a pseudo source: `ld_pseudo r1, 1, 5`.
    expectCount(src, mnemonic, ops, 3);
    const slots = ldImm64Slots(parseRegister(src, ops[0]!).reg, parseSmall(src, ops[1]!, 15), BigInt.asUintN(32, BigInt(parseImm32(src, ops[2]!))));
    return slots.map((s) => ({ insn: s, src }));
  }
  if ((m = /^ldx(s?)(b|h|w|dw)$/.exec(mnemonic))) {
    expectCount(src, mnemonic, ops, 2);
    if (m[1] && m[2] === 'dw') return undefined;
    const dst = parseRegister(src, ops[0]!).reg;
    const mem = parseMemory(src, ops[1]!);
    return one(InsnClass.LDX | SIZES[m[2]!]! | (m[1] ? Mode.MEMSX : Mode.MEM), dst, mem.reg, mem.off);
  }
  if ((m = /^st(x?)(b|h|w|dw)$/.exec(mnemonic))) {
    expectCount(src, mnemonic, ops, 2);
    const mem = parseMemory(src, ops[0]!);
    if (m[1]) return one(InsnClass.STX | SIZES[m[2]!]! | Mode.MEM, mem.reg, parseRegister(src, ops[1]!).reg, mem.off);
    return one(InsnClass.ST | SIZES[m[2]!]! | Mode.MEM, mem.reg, 0, mem.off, parseImm32(src, ops[1]!));
  }
  if ((m = /^ld(abs|ind)(b|h|w)$/.exec(mnemonic))) {
    if (m[1] === 'abs') {
      expectCount(src, mnemonic, ops, 1);
      return one(InsnClass.LD | SIZES[m[2]!]! | Mode.ABS, 0, 0, 0, parseImm32(src, ops[0]!));
    }
    expectCount(src, mnemonic, ops, 1, 2);
    const imm = ops.length === 2 ? parseImm32(src, ops[1]!) : 0;
    return one(InsnClass.LD | SIZES[m[2]!]! | Mode.IND, 0, parseRegister(src, ops[0]!).reg, 0, imm);
  }
  if ((m = /^(le|be|bswap|swap)(16|32|64)$/.exec(mnemonic))) {
    expectCount(src, mnemonic, ops, 1);
    const dst = parseRegister(src, ops[0]!).reg;
    const code = m[1] === 'le' ? InsnClass.ALU | AluOp.END | Source.K
      : m[1] === 'be' ? InsnClass.ALU | AluOp.END | Source.X
        : InsnClass.ALU64 | AluOp.END;
    return one(code, dst, 0, 0, Number(m[2]));
  }
  if ((m = /^movsx(8|16|32)(32|64)$/.exec(mnemonic))) {
    expectCount(src, mnemonic, ops, 2);
    const cls = m[2] === '64' ? InsnClass.ALU64 : InsnClass.ALU;
    return one(cls | AluOp.MOV | Source.X, parseRegister(src, ops[0]!).reg, parseRegister(src, ops[1]!).reg, Number(m[1]));
  }
  if (mnemonic === 'addr_space_cast') {
    expectCount(src, mnemonic, ops, 4);
    const imm = (parseSmall(src, ops[2]!, 0xffff) << 16) | parseSmall(src, ops[3]!, 0xffff);
    return one(InsnClass.ALU64 | AluOp.MOV | Source.X, parseRegister(src, ops[0]!).reg, parseRegister(src, ops[1]!).reg, 1, imm);
  }
  if ((m = /^(neg)(32|64)?$/.exec(mnemonic))) {
    expectCount(src, mnemonic, ops, 1);
    const cls = m[2] === '32' ? InsnClass.ALU : InsnClass.ALU64;
    return one(cls | AluOp.NEG, parseRegister(src, ops[0]!).reg);
  }
  if ((m = /^([a-z]+?)(32|64)?$/.exec(mnemonic)) && ALU_MNEMONICS[m[1]!] !== undefined) {
    expectCount(src, mnemonic, ops, 2);
    const { op, off } = ALU_MNEMONICS[m[1]!]!;
    const cls = m[2] === '32' ? InsnClass.ALU : InsnClass.ALU64;
    const dst = parseRegister(src, ops[0]!).reg;
    const right = regOrImm(src, ops[1]!);
    return one(cls | op | (right.useReg ? Source.X : Source.K), dst, right.reg, off, right.imm);
  }
  return undefined;
}

/** `call 1`, `call local label`, `call local +3`, `call pc+3`, `call %r2`, `call kfunc 7`, `call name#12`. */
function assembleCall(src: SourceLine, rest: string): PendingSlot[] {
  const words = rest.split(/\s+/).filter((w) => w !== '');
  const code = InsnClass.JMP | JmpOp.CALL;
  if (words.length === 0) return fail(src, 'operand-count', 'invalid number of operands for call: expected 1, got 0', 'call');
  const [first, second] = words;
  if ((first === 'local' || first === 'kfunc') && words.length !== 2) {
    return fail(src, 'operand-count', `invalid number of operands for call ${first}`, first);
  }
  if (first === 'local') return [withTarget(src, insn(code, 0, PseudoCall.LOCAL), 'imm', parseTarget(src, second!, true))];
  if (first === 'kfunc') return [{ insn: insn(code, 0, PseudoCall.KFUNC, 0, parseImm32(src, second!)), src }];
  if (words.length !== 1) return fail(src, 'operand-count', `invalid number of operands for call: expected 1, got ${words.length}`, second);
  if (looksLikeRegister(first!) || first!.startsWith('%')) {
    return [{ insn: insn(code | Source.X, parseRegister(src, first!).reg), src }];
  }
  if (/^pc[+-]/i.test(first!)) return [withTarget(src, insn(code, 0, PseudoCall.LOCAL), 'imm', parseTarget(src, first!, true))];
  // The verifier log names helpers as `bpf_map_lookup_elem#1`: the number is what counts.
  const named = /^[A-Za-z_]\w*#(-?\d+)$/.exec(first!);
  if (named) return [{ insn: insn(code, 0, PseudoCall.HELPER, 0, parseImm32(src, named[1]!)), src }];
  if (/^[+-]?(0x[0-9a-f]+|\d+)$/i.test(first!)) {
    return [{ insn: insn(code, 0, PseudoCall.HELPER, 0, parseImm32(src, first!)), src }];
  }
  // A bare name is a local call to that label (what LLVM's `call func` means).
  return [withTarget(src, insn(code, 0, PseudoCall.LOCAL), 'imm', parseTarget(src, first!, true))];
}

/** `lock [fetch] add[32] [%r10-8], %r1`, `lock xchg`, `lock cmpxchg`, `lock load_acq %r0, [%r1+0]`. */
function assembleLock(src: SourceLine, rest: string): PendingSlot[] {
  const m = /^(fetch\s+)?([a-z_]+?)(64|32|16|8)?(?:\s+(.*))?$/i.exec(rest.trim());
  if (!m) return fail(src, 'operand-count', 'invalid number of operands for lock', 'lock');
  const fetch = Boolean(m[1]);
  const name = m[2]!.toLowerCase();
  const size = ATOMIC_WIDTHS[m[3] ?? ''];
  const ops = splitOperands(m[4] ?? '');
  const code = (sz: number): number => InsnClass.STX | Mode.ATOMIC | sz;
  if (size === undefined) return fail(src, 'bad-operand', `unknown atomic width ${m[3]}`, m[3]);
  if (name === 'load_acq') {
    expectCount(src, 'lock', ops, 2);
    const dst = parseRegister(src, ops[0]!).reg;
    const mem = parseMemory(src, ops[1]!);
    return [{ insn: insn(code(size), dst, mem.reg, mem.off, AtomicOp.LOAD_ACQ), src }];
  }
  let imm: number;
  if (name === 'store_rel') imm = AtomicOp.STORE_REL;
  else if (name === 'xchg') imm = AtomicOp.XCHG;
  else if (name === 'cmpxchg') imm = AtomicOp.CMPXCHG;
  else if (ATOMIC_BASES[name] !== undefined) imm = ATOMIC_BASES[name]! | (fetch ? AtomicOp.FETCH : 0);
  else return fail(src, 'unknown-mnemonic', `unknown atomic operation 'lock ${name}'`, name);
  if (name !== 'store_rel' && size !== Size.DW && size !== Size.W) {
    return fail(src, 'bad-operand', `atomic ${name} is 32 or 64 bits only`, m[3]);
  }
  expectCount(src, 'lock', ops, 2);
  const mem = parseMemory(src, ops[0]!);
  return [{ insn: insn(code(size), mem.reg, parseRegister(src, ops[1]!).reg, mem.off, imm), src }];
}

