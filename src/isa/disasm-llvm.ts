/**
 * One instruction in the LLVM syntax, character for character as `llvm-objdump -d` prints it (decimal
 * immediates as with `--no-print-imm-hex`, or hex as llvm-objdump-16's default). Instructions llvm-16
 * does not know (cpu v4: sdiv/smod, movsx, sign-extending loads, bswap, gotol, callx; may_goto,
 * addr_space_cast, load-acquire/store-release) print as newer LLVM prints them.
 */
import { imm64BigInt, s16, type Instruction, type Op } from './instruction.js';
import { formatPseudoImm64 } from './asm-pseudo.js';
import { ALU_OPERATORS, JMP_OPERATORS } from './opcodes.js';

export interface LlvmFormat {
  /** Immediates and offsets in hex (`r1 += -0x30`), llvm-objdump-16's default. */
  hex: boolean;
  /**
   * Print what llvm-objdump prints even where it loses information: calls print `call imm` whatever
   * their kind, LD_IMM64 with a pseudo source prints `ld_pseudo`. Otherwise local calls print
   * `call pc+N`, kfunc calls `call kfunc N` and pseudo loads `r1 = map_fd[N] ll`, all of which
   * reassemble to the same bytes.
   */
  objdump: boolean;
}

/** A signed number the way LLVM's printer writes it. */
export function llvmNumber(value: number | bigint, hex: boolean): string {
  if (!hex) return value.toString();
  const negative = value < 0;
  const magnitude = negative ? -BigInt(value) : BigInt(value);
  return `${negative ? '-' : ''}0x${magnitude.toString(16)}`;
}

/** `+3`, `-2`, `+0x3`: branch offsets always carry a sign. */
const signed = (value: number, hex: boolean): string => (value < 0 ? '' : '+') + llvmNumber(value, hex);

const reg = (n: number, w32: boolean): string => `${w32 ? 'w' : 'r'}${n}`;

/** `(r10 - 8)`, `(r1 + 0)`. */
function address(base: number, off: number, hex: boolean, parens = true): string {
  const text = `r${base} ${off < 0 ? '-' : '+'} ${llvmNumber(Math.abs(off), hex)}`;
  return parens ? `(${text})` : text;
}

const sizeName = (width: number, signedLoad = false): string => `${signedLoad ? 's' : 'u'}${width * 8}`;

export function formatLlvm(insns: readonly Instruction[], index: number, op: Op, format: LlvmFormat): string {
  const insn = insns[index]!;
  const { dst, src, imm } = insn;
  const off = s16(insn.off);
  const { hex } = format;
  const num = (v: number | bigint): string => llvmNumber(v, hex);
  switch (op.kind) {
    case 'alu': {
      const w = !op.is64;
      const d = reg(dst, w);
      switch (op.name) {
        case 'neg':
          return `${d} = -${d}`;
        case 'le':
        case 'be':
        case 'bswap':
          return `r${dst} = ${op.name}${imm} r${dst}`;
        case 'movsx':
          return `${d} = (s${off})${reg(src, w)}`;
        case 'addr_space_cast':
          return `r${dst} = addr_space_cast(r${src}, ${(imm >>> 16) & 0xffff}, ${imm & 0xffff})`;
        default: {
          const operator = ALU_OPERATORS[op.name]!;
          return `${d} ${operator} ${op.useReg ? reg(src, w) : num(imm)}`;
        }
      }
    }
    case 'jcond': {
      const w = op.is32;
      const right = op.useReg ? reg(src, w) : num(imm);
      return `if ${reg(dst, w)} ${JMP_OPERATORS[op.cond]} ${right} goto ${signed(off, hex)}`;
    }
    case 'ja':
      return op.wide ? `gotol ${signed(imm, hex)}` : `goto ${signed(off, hex)}`;
    case 'may_goto':
      return `may_goto ${signed(off, hex)}`;
    case 'call':
      if (format.objdump || op.target === 'helper') return `call ${num(imm)}`;
      return op.target === 'local' ? `call pc${signed(imm, false)}` : `call kfunc ${imm}`;
    case 'callx':
      return `callx r${dst}`;
    case 'exit':
      return 'exit';
    case 'ld_imm64': {
      const next = insns[index + 1]!;
      if (op.pseudo !== 0) {
        if (format.objdump) return `ld_pseudo\tr${dst}, ${num(op.pseudo)}, ${num(imm >>> 0)}`;
        return `r${dst} = ${formatPseudoImm64(op.pseudo, imm, next.imm)} ll`;
      }
      return `r${dst} = ${num(BigInt.asIntN(64, imm64BigInt(insn, next)))} ll`;
    }
    case 'ld_abs':
      return `r0 = *(${sizeName(op.width)} *)skb[${num(imm)}]`;
    case 'ld_ind':
      return imm === 0 || format.objdump
        ? `r0 = *(${sizeName(op.width)} *)skb[r${src}]`
        : `r0 = *(${sizeName(op.width)} *)skb[r${src} ${imm < 0 ? '-' : '+'} ${num(Math.abs(imm))}]`;
    case 'ldx':
      return `r${dst} = *(${sizeName(op.width, op.signed)} *)${address(src, off, hex)}`;
    case 'st':
      return `*(${sizeName(op.width)} *)${address(dst, off, hex)} = ${num(imm)}`;
    case 'stx':
      return `*(${sizeName(op.width)} *)${address(dst, off, hex)} = r${src}`;
    case 'atomic':
      return formatAtomic(dst, src, off, op, hex);
  }
}

function formatAtomic(dst: number, src: number, off: number, op: Extract<Op, { kind: 'atomic' }>, hex: boolean): string {
  const size = sizeName(op.width);
  const w = op.width === 4;
  switch (op.op) {
    case 'xchg':
      return `${reg(src, w)} = xchg${w ? '32_32' : '_64'}(${address(dst, off, hex, false)}, ${reg(src, w)})`;
    case 'cmpxchg':
      return `${reg(0, w)} = cmpxchg${w ? '32_32' : '_64'}(${address(dst, off, hex, false)}, ${reg(0, w)}, ${reg(src, w)})`;
    case 'load_acq':
      return `${reg(dst, op.width !== 8)} = load_acquire((${size} *)${address(src, off, hex)})`;
    case 'store_rel':
      return `store_release((${size} *)${address(dst, off, hex)}, ${reg(src, op.width !== 8)})`;
    default: {
      if (op.fetch) return `${reg(src, w)} = atomic_fetch_${op.op}((${size} *)${address(dst, off, hex)}, ${reg(src, w)})`;
      const operator = { add: '+=', or: '|=', and: '&=', xor: '^=' }[op.op];
      return `lock *(${size} *)${address(dst, off, hex)} ${operator} r${src}`;
    }
  }
}
