/**
 * The LLVM / kernel C-like syntax as llvm-objdump and the verifier log print it: `r0 = *(u32 *)(r1 + 4)`,
 * `if w1 s< 5 goto -2`, `lock *(u64 *)(r0 + 0) += r1`, `r1 = 0x1234 ll`, `r0 = be16 r0` ...
 * Also PREVAIL's spellings where they cannot mean anything else: `lock ... += r1 fetch`, `x=` (xchg),
 * `cx=` (cmpxchg), `r1 = swap16 r1` (bswap), `r2 s8= r1` (movsx), `if r1 &== 4 goto` (jset), `7ll`.
 * Only statements with `=`, `if` or `store_release(` come here; the rest share the uBPF parser.
 */
import { fail, type SourceLine } from './asm-errors.js';
import {
  insn, ldImm64Slots, looksLikeInteger, parseImm32, parseImm64, parseOff16, parseRegister, parseSmall,
  parseTarget, withTarget, type PendingSlot, type Register,
} from './asm-operands.js';
import { parsePseudoImm64 } from './asm-pseudo.js';
import { AluOp, AtomicOp, InsnClass, JmpOp, Mode, Size, Source } from './opcodes.js';

const COMPARISONS: Readonly<Record<string, number>> = {
  '==': JmpOp.JEQ, '!=': JmpOp.JNE, '>': JmpOp.JGT, '>=': JmpOp.JGE, '<': JmpOp.JLT, '<=': JmpOp.JLE,
  's>': JmpOp.JSGT, 's>=': JmpOp.JSGE, 's<': JmpOp.JSLT, 's<=': JmpOp.JSLE, '&': JmpOp.JSET,
  // PREVAIL's spelling of the same test.
  '&==': JmpOp.JSET,
};

/** Compound assignment operator (text before `=`) to ALU op and offset (1 = signed div/mod). */
const ASSIGN_OPS: Readonly<Record<string, { op: number; off: number }>> = {
  '+': { op: AluOp.ADD, off: 0 }, '-': { op: AluOp.SUB, off: 0 }, '*': { op: AluOp.MUL, off: 0 },
  '/': { op: AluOp.DIV, off: 0 }, 's/': { op: AluOp.DIV, off: 1 }, '%': { op: AluOp.MOD, off: 0 },
  's%': { op: AluOp.MOD, off: 1 }, '|': { op: AluOp.OR, off: 0 }, '&': { op: AluOp.AND, off: 0 },
  '^': { op: AluOp.XOR, off: 0 }, '<<': { op: AluOp.LSH, off: 0 }, '>>': { op: AluOp.RSH, off: 0 },
  's>>': { op: AluOp.ARSH, off: 0 },
};

const FETCH_OPS: Readonly<Record<string, number>> = { add: AtomicOp.ADD, or: AtomicOp.OR, and: AtomicOp.AND, xor: AtomicOp.XOR };

/** `x` and `cx` are PREVAIL's xchg and cmpxchg (both always fetch; cmpxchg compares with r0). */
const LOCK_OPS: Readonly<Record<string, number>> = {
  '+': AtomicOp.ADD, '|': AtomicOp.OR, '&': AtomicOp.AND, '^': AtomicOp.XOR, x: AtomicOp.XCHG, cx: AtomicOp.CMPXCHG,
};

const SIZE_BY_BITS: Readonly<Record<string, number>> = { '8': Size.B, '16': Size.H, '32': Size.W, '64': Size.DW };

const REG = '([%\\w]+)';
/** `(r1 + 4)`, `(r10 - 8)`, `(r2)`: groups reg, sign, offset. */
const ADDR = `\\(\\s*${REG}\\s*(?:([+-])\\s*(\\w+)\\s*)?\\)`;
/** The same without parentheses, as xchg/cmpxchg print it. */
const BARE_ADDR = `${REG}\\s*(?:([+-])\\s*(\\w+))?`;
const CAST = (signs: string): string => `\\*\\s*\\(\\s*([${signs}])(8|16|32|64)\\s*\\*\\s*\\)\\s*`;

const IF_RE = /^if\s+(\S+)\s+(s?[<>]=?|==|!=|&(?:==)?)\s+(\S+)\s+goto\s+(\S+)$/i;
const LOCK_RE = new RegExp(`^lock\\s+${CAST('u')}${ADDR}\\s*([+|&^]|c?x)=\\s*(\\S+?)(\\s+fetch)?$`, 'i');
const STORE_RE = new RegExp(`^${CAST('u')}${ADDR}\\s*=\\s*(\\S+)$`, 'i');
const STORE_REL_RE = new RegExp(`^store_release\\s*\\(\\s*\\(\\s*u(8|16|32|64)\\s*\\*\\s*\\)\\s*${ADDR}\\s*,\\s*(\\S+)\\s*\\)$`, 'i');
const ASSIGN_RE = /^([%\w]+)\s*(s\/|s%|s>>|s8|s16|s32|<<|>>|[-+*/%|&^])?=\s*(.*)$/;

const LOAD_RE = new RegExp(`^${CAST('us')}${ADDR}$`, 'i');
const SKB_RE = new RegExp(`^${CAST('u')}skb\\s*\\[\\s*([^\\]]*?)\\s*\\]$`, 'i');
const SWAP_RE = /^(be|le|bswap|swap)(16|32|64)\s+(\S+)$/i;
const MOVSX_RE = /^\(\s*s(8|16|32)\s*\)\s*(\S+)$/i;
/** LLVM's `atomic_fetch_add(...)`; the verifier log says `atomic64_fetch_add(...)`. */
const FETCH_RE = new RegExp(`^atomic(?:64)?_fetch_(add|or|and|xor)\\s*\\(\\s*\\(\\s*u(32|64)\\s*\\*\\s*\\)\\s*${ADDR}\\s*,\\s*(\\S+)\\s*\\)$`, 'i');
/** The verifier log's `atomic64_xchg((u64 *)(r1 +0), r2)` and `atomic64_cmpxchg((u64 *)(r1 +0), r0, r2)`. */
const KERNEL_XCHG_RE = new RegExp(`^atomic(?:64)?_(xchg|cmpxchg)\\s*\\(\\s*\\(\\s*u(32|64)\\s*\\*\\s*\\)\\s*${ADDR}\\s*,\\s*(\\S+?)\\s*(?:,\\s*(\\S+)\\s*)?\\)$`, 'i');
const XCHG_RE = new RegExp(`^xchg(32_32|_64)\\s*\\(\\s*${BARE_ADDR}\\s*,\\s*(\\S+)\\s*\\)$`, 'i');
const CMPXCHG_RE = new RegExp(`^cmpxchg(32_32|_64)\\s*\\(\\s*${BARE_ADDR}\\s*,\\s*(\\S+)\\s*,\\s*(\\S+)\\s*\\)$`, 'i');
const LOAD_ACQ_RE = new RegExp(`^load_acquire\\s*\\(\\s*\\(\\s*u(8|16|32|64)\\s*\\*\\s*\\)\\s*${ADDR}\\s*\\)$`, 'i');
const CAST_AS_RE = /^addr_space_cast\s*\(\s*(\S+)\s*,\s*(\w+)\s*,\s*(\w+)\s*\)$/i;

/** True when a statement is in the LLVM syntax (the uBPF syntax never has `=` or `if`). */
export const isLlvmStatement = (statement: string): boolean =>
  statement.includes('=') || /^if\s/i.test(statement) || /^store_release\s*\(/i.test(statement);

function offsetOf(src: SourceLine, sign: string | undefined, value: string | undefined): number {
  return value === undefined ? 0 : parseOff16(src, `${sign}${value}`);
}

function sameWidth(src: SourceLine, left: Register, right: Register, token: string): void {
  if (left.w32 !== right.w32) fail(src, 'bad-operand', `mixed 32-bit and 64-bit registers ('${token}')`, token);
}

/**
 * Assemble one LLVM-syntax statement. `ldImm64Hint` is set when the verifier log's opcode column said
 * `(18)`: it prints `r1 = 0x1234` without the `ll` that marks a 64-bit load in objdump's syntax.
 */
export function assembleLlvm(src: SourceLine, statement: string, ldImm64Hint = false): PendingSlot[] {
  const one = (code: number, dst = 0, s = 0, off = 0, imm = 0): PendingSlot[] => [{ insn: insn(code, dst, s, off, imm), src }];
  let m: RegExpExecArray | null;

  if ((m = IF_RE.exec(statement))) {
    const left = parseRegister(src, m[1]!);
    const cond = COMPARISONS[m[2]!];
    if (cond === undefined) return fail(src, 'syntax', `unknown comparison '${m[2]}'`, m[2]);
    const cls = left.w32 ? InsnClass.JMP32 : InsnClass.JMP;
    let slot;
    if (looksLikeInteger(m[3]!)) slot = insn(cls | cond | Source.K, left.reg, 0, 0, parseImm32(src, m[3]!));
    else {
      const right = parseRegister(src, m[3]!);
      sameWidth(src, left, right, m[3]!);
      slot = insn(cls | cond | Source.X, left.reg, right.reg);
    }
    return [withTarget(src, slot, 'off', parseTarget(src, m[4]!))];
  }
  if ((m = LOCK_RE.exec(statement))) {
    if (m[1]!.toLowerCase() !== 'u' || (m[2] !== '32' && m[2] !== '64')) return fail(src, 'bad-operand', 'atomic operations are 32 or 64 bits', m[2]);
    const base = parseRegister(src, m[3]!).reg;
    const value = parseRegister(src, m[7]!).reg;
    const op = LOCK_OPS[m[6]!.toLowerCase()]!;
    const fetch = m[8] !== undefined && op !== AtomicOp.XCHG && op !== AtomicOp.CMPXCHG ? AtomicOp.FETCH : 0;
    return one(InsnClass.STX | Mode.ATOMIC | SIZE_BY_BITS[m[2]!]!, base, value, offsetOf(src, m[4], m[5]), op | fetch);
  }
  if ((m = STORE_RE.exec(statement))) {
    const size = SIZE_BY_BITS[m[2]!]!;
    const base = parseRegister(src, m[3]!).reg;
    const off = offsetOf(src, m[4], m[5]);
    if (looksLikeInteger(m[6]!)) return one(InsnClass.ST | Mode.MEM | size, base, 0, off, parseImm32(src, m[6]!));
    return one(InsnClass.STX | Mode.MEM | size, base, parseRegister(src, m[6]!).reg, off);
  }
  if ((m = STORE_REL_RE.exec(statement))) {
    const base = parseRegister(src, m[2]!).reg;
    return one(InsnClass.STX | Mode.ATOMIC | SIZE_BY_BITS[m[1]!]!, base, parseRegister(src, m[5]!).reg, offsetOf(src, m[3], m[4]), AtomicOp.STORE_REL);
  }
  m = ASSIGN_RE.exec(statement);
  if (!m) return fail(src, 'syntax', `cannot parse '${statement}'`);
  const left = parseRegister(src, m[1]!);
  const cls = left.w32 ? InsnClass.ALU : InsnClass.ALU64;
  const rhs = m[3]!.trim();
  if (rhs === '') return fail(src, 'operand-count', 'missing right-hand side', m[1]);
  if (m[2] !== undefined && /^s\d/.test(m[2])) return assembleAssignment(src, left, `(${m[2]})${rhs}`, false);
  if (m[2] !== undefined) {
    const { op, off } = ASSIGN_OPS[m[2]]!;
    if (looksLikeInteger(rhs)) return one(cls | op | Source.K, left.reg, 0, off, parseImm32(src, rhs));
    const right = parseRegister(src, rhs);
    sameWidth(src, left, right, rhs);
    return one(cls | op | Source.X, left.reg, right.reg, off);
  }
  return assembleAssignment(src, left, rhs, ldImm64Hint);
}

/** `dst = <rhs>` with a plain `=`: loads, moves, swaps, negation, atomics with a result, lddw. */
function assembleAssignment(src: SourceLine, left: Register, rhs: string, ldImm64Hint: boolean): PendingSlot[] {
  const one = (code: number, dst = 0, s = 0, off = 0, imm = 0): PendingSlot[] => [{ insn: insn(code, dst, s, off, imm), src }];
  const cls = left.w32 ? InsnClass.ALU : InsnClass.ALU64;
  let m: RegExpExecArray | null;

  if ((m = LOAD_RE.exec(rhs))) {
    const signed = m[1]!.toLowerCase() === 's';
    if (signed && m[2] === '64') return fail(src, 'bad-operand', 'there is no sign-extending 64-bit load', rhs);
    const base = parseRegister(src, m[3]!).reg;
    return one(InsnClass.LDX | (signed ? Mode.MEMSX : Mode.MEM) | SIZE_BY_BITS[m[2]!]!, left.reg, base, offsetOf(src, m[4], m[5]));
  }
  if ((m = SKB_RE.exec(rhs))) {
    if (left.reg !== 0) fail(src, 'bad-operand', 'packet loads always write r0', rhs);
    if (m[2] === '64') return fail(src, 'bad-operand', 'there is no 64-bit packet load', rhs);
    const size = SIZE_BY_BITS[m[2]!]!;
    const index = m[3]!;
    if (looksLikeInteger(index)) return one(InsnClass.LD | Mode.ABS | size, 0, 0, 0, parseImm32(src, index));
    const ind = /^([%\w]+)\s*(?:([+-])\s*(\w+))?$/.exec(index);
    if (!ind) return fail(src, 'bad-operand', `bad packet index '${index}'`, index);
    const imm = ind[3] === undefined ? 0 : parseImm32(src, `${ind[2]}${ind[3]}`);
    return one(InsnClass.LD | Mode.IND | size, 0, parseRegister(src, ind[1]!).reg, 0, imm);
  }
  if ((m = /^-\s*(%?[a-z]\w*)$/i.exec(rhs))) {
    const right = parseRegister(src, m[1]!);
    if (right.reg !== left.reg || right.w32 !== left.w32) fail(src, 'bad-operand', 'negation must name the destination register', m[1]);
    return one(cls | AluOp.NEG, left.reg);
  }
  if ((m = SWAP_RE.exec(rhs))) {
    const right = parseRegister(src, m[3]!);
    if (right.reg !== left.reg) fail(src, 'bad-operand', 'byte swap must name the destination register', m[3]);
    const kind = m[1]!.toLowerCase();
    const code = kind === 'le' ? InsnClass.ALU | AluOp.END | Source.K
      : kind === 'be' ? InsnClass.ALU | AluOp.END | Source.X
        : InsnClass.ALU64 | AluOp.END;
    return one(code, left.reg, 0, 0, Number(m[2]));
  }
  if ((m = MOVSX_RE.exec(rhs))) {
    const right = parseRegister(src, m[2]!);
    sameWidth(src, left, right, m[2]!);
    if (left.w32 && m[1] === '32') fail(src, 'bad-operand', '32-bit movsx from 32 bits does not exist', rhs);
    return one(cls | AluOp.MOV | Source.X, left.reg, right.reg, Number(m[1]));
  }
  if ((m = FETCH_RE.exec(rhs))) {
    const value = parseRegister(src, m[6]!);
    if (value.reg !== left.reg) fail(src, 'bad-operand', 'atomic_fetch_* returns into its value register', m[6]);
    const imm = FETCH_OPS[m[1]!.toLowerCase()]! | AtomicOp.FETCH;
    const base = parseRegister(src, m[3]!).reg;
    return one(InsnClass.STX | Mode.ATOMIC | SIZE_BY_BITS[m[2]!]!, base, value.reg, offsetOf(src, m[4], m[5]), imm);
  }
  if ((m = XCHG_RE.exec(rhs))) {
    const value = parseRegister(src, m[5]!);
    if (value.reg !== left.reg) fail(src, 'bad-operand', 'xchg returns into its value register', m[5]);
    const size = m[1] === '_64' ? Size.DW : Size.W;
    return one(InsnClass.STX | Mode.ATOMIC | size, parseRegister(src, m[2]!).reg, value.reg, offsetOf(src, m[3], m[4]), AtomicOp.XCHG);
  }
  if ((m = CMPXCHG_RE.exec(rhs))) {
    if (left.reg !== 0 || parseRegister(src, m[5]!).reg !== 0) fail(src, 'bad-operand', 'cmpxchg compares and returns in r0', rhs);
    const size = m[1] === '_64' ? Size.DW : Size.W;
    return one(InsnClass.STX | Mode.ATOMIC | size, parseRegister(src, m[2]!).reg, parseRegister(src, m[6]!).reg, offsetOf(src, m[3], m[4]), AtomicOp.CMPXCHG);
  }
  if ((m = KERNEL_XCHG_RE.exec(rhs))) {
    const cmp = m[1]!.toLowerCase() === 'cmpxchg';
    if (cmp !== (m[7] !== undefined)) return fail(src, 'operand-count', `wrong number of operands for ${m[1]}`, rhs);
    const value = parseRegister(src, cmp ? m[7]! : m[6]!);
    if (cmp && (left.reg !== 0 || parseRegister(src, m[6]!).reg !== 0)) fail(src, 'bad-operand', 'cmpxchg compares and returns in r0', rhs);
    if (!cmp && value.reg !== left.reg) fail(src, 'bad-operand', 'xchg returns into its value register', m[6]);
    const imm = cmp ? AtomicOp.CMPXCHG : AtomicOp.XCHG;
    return one(InsnClass.STX | Mode.ATOMIC | SIZE_BY_BITS[m[2]!]!, parseRegister(src, m[3]!).reg, value.reg, offsetOf(src, m[4], m[5]), imm);
  }
  if ((m = LOAD_ACQ_RE.exec(rhs))) {
    return one(InsnClass.STX | Mode.ATOMIC | SIZE_BY_BITS[m[1]!]!, left.reg, parseRegister(src, m[2]!).reg, offsetOf(src, m[3], m[4]), AtomicOp.LOAD_ACQ);
  }
  if ((m = CAST_AS_RE.exec(rhs))) {
    const right = parseRegister(src, m[1]!);
    const imm = (parseSmall(src, m[2]!, 0xffff) << 16) | parseSmall(src, m[3]!, 0xffff);
    return one(InsnClass.ALU64 | AluOp.MOV | Source.X, left.reg, right.reg, 1, imm);
  }
  // `0x1234 ll` (objdump) or `0x1234ll` (C suffix, PREVAIL).
  const wide = /^(.*?)(?:\s+|(?<=^[+-]?(?:0x[\da-f]+|\d+)))ll$/i.exec(rhs);
  if (wide || (ldImm64Hint && !left.w32)) {
    const value = wide ? wide[1]!.trim() : rhs;
    const pseudo = parsePseudoImm64(src, value);
    const slots = pseudo ? ldImm64Slots(left.reg, pseudo.src, pseudo.value) : ldImm64Slots(left.reg, 0, parseImm64(src, value));
    if (left.w32) fail(src, 'bad-operand', '64-bit loads need an r register', rhs);
    return slots.map((s) => ({ insn: s, src }));
  }
  if (looksLikeInteger(rhs)) return one(cls | AluOp.MOV | Source.K, left.reg, 0, 0, parseImm32(src, rhs));
  if (/^[%\w]+$/.test(rhs)) {
    const right = parseRegister(src, rhs);
    sameWidth(src, left, right, rhs);
    return one(cls | AluOp.MOV | Source.X, left.reg, right.reg);
  }
  return fail(src, 'syntax', `cannot parse '${rhs}'`, rhs);
}
