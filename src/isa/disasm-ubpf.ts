/**
 * One instruction in the uBPF / bpf_conformance syntax (`mov32 %r0, 1`, `ldxw %r0, [%r1+4]`,
 * `lock fetch add [%r10-8], %r1`): exactly what the assembler's uBPF parser reads back.
 */
import { imm64BigInt, s16, type Instruction, type Op } from './instruction.js';
import { formatPseudoImm64 } from './asm-pseudo.js';
import { SIZE_SUFFIX, Size } from './opcodes.js';

const r = (n: number): string => `%r${n}`;
const memory = (base: number, off: number): string => `[${r(base)}${off < 0 ? '-' : '+'}${Math.abs(off)}]`;
const offset = (value: number): string => (value < 0 ? `${value}` : `+${value}`);
const suffixOf = (width: number): string => SIZE_SUFFIX[{ 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW }[width]!]!;

/** 64-bit lddw constants print in hex as bpf_conformance writes them. */
const hex64 = (value: bigint): string => `0x${value.toString(16)}`;

export function formatUbpf(insns: readonly Instruction[], index: number, op: Op): string {
  const insn = insns[index]!;
  const { dst, src, imm } = insn;
  const off = s16(insn.off);
  switch (op.kind) {
    case 'alu': {
      const bits = op.is64 ? '' : '32';
      switch (op.name) {
        case 'neg':
          return `neg${bits} ${r(dst)}`;
        case 'le':
        case 'be':
        case 'bswap':
          return `${op.name}${imm} ${r(dst)}`;
        case 'movsx':
          return `movsx${off}${op.is64 ? '64' : '32'} ${r(dst)}, ${r(src)}`;
        case 'addr_space_cast':
          return `addr_space_cast ${r(dst)}, ${r(src)}, ${(imm >>> 16) & 0xffff}, ${imm & 0xffff}`;
        default:
          return `${op.name}${bits} ${r(dst)}, ${op.useReg ? r(src) : imm}`;
      }
    }
    case 'jcond':
      return `${op.cond}${op.is32 ? '32' : ''} ${r(dst)}, ${op.useReg ? r(src) : imm}, ${offset(off)}`;
    case 'ja':
      return op.wide ? `ja32 ${offset(imm)}` : `ja ${offset(off)}`;
    case 'may_goto':
      return `may_goto ${offset(off)}`;
    case 'call':
      if (op.target === 'local') return `call local ${offset(imm)}`;
      return op.target === 'kfunc' ? `call kfunc ${imm}` : `call ${imm}`;
    case 'callx':
      return `callx ${r(dst)}`;
    case 'exit':
      return 'exit';
    case 'ld_imm64': {
      const next = insns[index + 1]!;
      if (op.pseudo !== 0) return `lddw ${r(dst)}, ${formatPseudoImm64(op.pseudo, imm, next.imm)}`;
      return `lddw ${r(dst)}, ${hex64(imm64BigInt(insn, next))}`;
    }
    case 'ld_abs':
      return `ldabs${suffixOf(op.width)} ${imm}`;
    case 'ld_ind':
      return `ldind${suffixOf(op.width)} ${r(src)}, ${imm}`;
    case 'ldx':
      return `ldx${op.signed ? 's' : ''}${suffixOf(op.width)} ${r(dst)}, ${memory(src, off)}`;
    case 'st':
      return `st${suffixOf(op.width)} ${memory(dst, off)}, ${imm}`;
    case 'stx':
      return `stx${suffixOf(op.width)} ${memory(dst, off)}, ${r(src)}`;
    case 'atomic': {
      const width = op.width === 8 ? '' : `${op.width * 8}`;
      if (op.op === 'load_acq') return `lock load_acq${width} ${r(dst)}, ${memory(src, off)}`;
      const fetch = op.fetch && op.op !== 'xchg' && op.op !== 'cmpxchg' ? 'fetch ' : '';
      return `lock ${fetch}${op.op}${width} ${memory(dst, off)}, ${r(src)}`;
    }
  }
}
