import { validate, type Instruction, type Op } from '../isa/instruction.js';

/**
 * Pre-decoding for the interpreter: every slot becomes four int32 words in one Int32Array, so the
 * run loop reads typed-array elements instead of object properties:
 *
 *   word 0: op (10 bits: the opcode byte, or one of the PseudoOp codes below that folds in the fields
 *           that select a variant), then dst * 2 at bit 10 and src * 2 at bit 15 (register-pair indexes)
 *   word 1: offset, or the absolute target slot of a jump or local call
 *   word 2: imm (the low half of an LD_IMM64)
 *   word 3: imm >> 31 (the 64-bit sign extension of imm), or the high half of an LD_IMM64
 */

export const WORDS_PER_SLOT = 4;
export const DST_SHIFT = 10;
export const SRC_SHIFT = 15;
export const OP_MASK = 0x3ff;
export const REG_MASK = 0x1f;

/** Variants the opcode byte alone does not tell apart (selected by off, imm or src). */
export const PseudoOp = {
  SDIV64_K: 0x100, SDIV64_X: 0x101, SMOD64_K: 0x102, SMOD64_X: 0x103,
  SDIV32_K: 0x104, SDIV32_X: 0x105, SMOD32_K: 0x106, SMOD32_X: 0x107,
  MOVSX64_8: 0x108, MOVSX64_16: 0x109, MOVSX64_32: 0x10a, MOVSX32_8: 0x10b, MOVSX32_16: 0x10c,
  LE16: 0x10d, LE32: 0x10e, LE64: 0x10f, BE16: 0x110, BE32: 0x111, BE64: 0x112,
  CALL_LOCAL: 0x113, CALL_KFUNC: 0x114, ATOMIC: 0x115,
  /** A slot never executed (second half of an LD_IMM64). */
  NOT_CODE: 0x116,
} as const;

/** Atomic sub-operation (word 1 of an ATOMIC slot holds the offset; word 3 holds one of these). */
export const AtomicKind = {
  ADD: 0, OR: 1, AND: 2, XOR: 3, XCHG: 4, CMPXCHG: 5, LOAD_ACQ: 6, STORE_REL: 7,
} as const;

const ATOMIC_KIND: Readonly<Record<string, number>> = {
  add: AtomicKind.ADD, or: AtomicKind.OR, and: AtomicKind.AND, xor: AtomicKind.XOR, xchg: AtomicKind.XCHG,
  cmpxchg: AtomicKind.CMPXCHG, load_acq: AtomicKind.LOAD_ACQ, store_rel: AtomicKind.STORE_REL,
};

/** Atomic slots also record width (bits 0..3) and fetch (bit 4) in word 2 in place of imm. */
export const ATOMIC_FETCH = 0x10;

export interface DecodedProgram {
  readonly code: Int32Array;
  readonly length: number;
}

/** Validate (throws InvalidInstructionError) and pre-decode a program. */
export function decodeProgram(insns: readonly Instruction[]): DecodedProgram {
  const ops = validate(insns);
  // One extra slot past the end: running off the end of the program lands on it and stops cleanly.
  const code = new Int32Array((insns.length + 1) * WORDS_PER_SLOT);
  code[insns.length * WORDS_PER_SLOT] = PseudoOp.NOT_CODE;
  for (let i = 0; i < insns.length; i++) {
    const base = i * WORDS_PER_SLOT;
    const op = ops[i];
    const insn = insns[i]!;
    if (op === undefined) {
      code[base] = PseudoOp.NOT_CODE;
      continue;
    }
    const regs = ((insn.dst * 2) << DST_SHIFT) | ((insn.src * 2) << SRC_SHIFT);
    code[base] = opFor(insn, op) | regs;
    code[base + 1] = insn.off;
    code[base + 2] = insn.imm | 0;
    code[base + 3] = (insn.imm | 0) >> 31;
    switch (op.kind) {
      case 'jcond':
      case 'may_goto':
        code[base + 1] = i + 1 + insn.off;
        break;
      case 'ja':
        code[base + 1] = i + 1 + (op.wide ? insn.imm : insn.off);
        break;
      case 'call':
        if (op.target === 'local') code[base + 1] = i + 1 + insn.imm;
        break;
      case 'ld_imm64':
        // Pseudo forms (map fds, BTF ids ...) were resolved by the loader: the immediate is the value.
        code[base + 3] = insns[i + 1]!.imm | 0;
        break;
      case 'atomic':
        code[base + 2] = op.width | (op.fetch ? ATOMIC_FETCH : 0);
        code[base + 3] = ATOMIC_KIND[op.op]!;
        break;
      default:
        break;
    }
  }
  return { code, length: insns.length };
}

function opFor(insn: Instruction, op: Op): number {
  const code = insn.code;
  const useReg = (code & 0x08) !== 0;
  switch (op.kind) {
    case 'alu':
      switch (op.name) {
        case 'sdiv':
          return op.is64 ? (useReg ? PseudoOp.SDIV64_X : PseudoOp.SDIV64_K) : useReg ? PseudoOp.SDIV32_X : PseudoOp.SDIV32_K;
        case 'smod':
          return op.is64 ? (useReg ? PseudoOp.SMOD64_X : PseudoOp.SMOD64_K) : useReg ? PseudoOp.SMOD32_X : PseudoOp.SMOD32_K;
        case 'movsx':
          if (op.is64) return insn.off === 8 ? PseudoOp.MOVSX64_8 : insn.off === 16 ? PseudoOp.MOVSX64_16 : PseudoOp.MOVSX64_32;
          return insn.off === 8 ? PseudoOp.MOVSX32_8 : PseudoOp.MOVSX32_16;
        case 'addr_space_cast':
          // One flat address space: the cast is a plain 64-bit move.
          return 0xbf;
        case 'le':
          return insn.imm === 16 ? PseudoOp.LE16 : insn.imm === 32 ? PseudoOp.LE32 : PseudoOp.LE64;
        case 'be':
        case 'bswap':
          // On a little-endian machine `be` swaps, and bswap always swaps.
          return insn.imm === 16 ? PseudoOp.BE16 : insn.imm === 32 ? PseudoOp.BE32 : PseudoOp.BE64;
        default:
          return code;
      }
    case 'call':
      return op.target === 'local' ? PseudoOp.CALL_LOCAL : op.target === 'kfunc' ? PseudoOp.CALL_KFUNC : code;
    case 'atomic':
      return PseudoOp.ATOMIC;
    default:
      return code;
  }
}
