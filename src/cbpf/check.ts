import { CbpfError } from './cbpf-error.js';
import { BPF_MAXINSNS, BPF_MEMWORDS, SKF_AD_OFF, SkfAd, type CbpfInstruction } from './opcodes.js';

/**
 * Linux's `bpf_check_classic`: what the kernel accepts from SO_ATTACH_FILTER and seccomp before it
 * translates a classic program. Every failure is a CbpfError naming the instruction.
 */

/** Opcodes the kernel accepts (its `chk_code_allowed` table). RET X is not among them. */
export const LINUX_ALLOWED_OPCODES: ReadonlySet<number> = new Set([
  // ALU, K and X forms, and NEG
  0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x94, 0x9c, 0x54, 0x5c, 0x44, 0x4c, 0xa4, 0xac, 0x64, 0x6c, 0x74, 0x7c, 0x84,
  // loads into A: W/H/B ABS and IND, MEM, IMM, LEN
  0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x60, 0x00, 0x80,
  // loads into X: LEN, MSH, IMM, MEM
  0x81, 0xb1, 0x01, 0x61,
  // ST, STX, TAX, TXA, RET K, RET A
  0x02, 0x03, 0x07, 0x87, 0x06, 0x16,
  // JA, conditional jumps K and X
  0x05, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d,
]);

const CONDITIONAL_JUMPS = new Set([0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45, 0x4d]);
const ANCILLARY_OFFSETS = new Set<number>(Object.values(SkfAd).filter((v) => v !== SkfAd.MAX));

export interface CheckOptions {
  /** The kernel's limit is 4096 (BPF_MAXINSNS). */
  maxInstructions?: number;
}

export function checkClassic(prog: readonly CbpfInstruction[], options: CheckOptions = {}): void {
  const n = prog.length;
  const limit = options.maxInstructions ?? BPF_MAXINSNS;
  if (n === 0) throw new CbpfError('cbpf/empty', 'empty classic BPF program');
  if (n > limit) throw new CbpfError('cbpf/too-long', `program has ${n} instructions, more than ${limit}`);
  for (let pc = 0; pc < n; pc++) {
    const { code, jt, jf } = prog[pc]!;
    const k = prog[pc]!.k >>> 0;
    const at = { insn: pc };
    if (!LINUX_ALLOWED_OPCODES.has(code)) throw new CbpfError('cbpf/bad-opcode', `opcode 0x${code.toString(16).padStart(2, '0')} is not allowed`, at);
    switch (code) {
      case 0x34: case 0x94:
        if (k === 0) throw new CbpfError('cbpf/div-by-zero', `${code === 0x34 ? 'division' : 'modulo'} by constant zero`, at);
        break;
      case 0x64: case 0x74:
        if (k >= 32) throw new CbpfError('cbpf/bad-shift', `shift by ${k} (must be below 32)`, at);
        break;
      case 0x60: case 0x61: case 0x02: case 0x03:
        if (k >= BPF_MEMWORDS) throw new CbpfError('cbpf/bad-mem-index', `scratch memory index ${k} out of range (M[0..15])`, at);
        break;
      case 0x05:
        // The kernel compares unsigned: only forward jumps that stay inside the program.
        if (k >= n - pc - 1) throw new CbpfError('cbpf/bad-jump', `ja +${k} leaves the program or jumps backwards`, at);
        break;
      case 0x20: case 0x28: case 0x30:
        if (k >= (SKF_AD_OFF >>> 0) && !ANCILLARY_OFFSETS.has(k - (SKF_AD_OFF >>> 0))) {
          throw new CbpfError('cbpf/bad-ancillary', `unknown ancillary load SKF_AD_OFF+${k - (SKF_AD_OFF >>> 0)}`, at);
        }
        break;
      default:
        if (CONDITIONAL_JUMPS.has(code) && (pc + jt + 1 >= n || pc + jf + 1 >= n)) {
          throw new CbpfError('cbpf/bad-jump', `jump target ${pc + Math.max(jt, jf) + 1} is outside the program (${n} instructions)`, at);
        }
    }
  }
  const last = prog[n - 1]!.code;
  if (last !== 0x06 && last !== 0x16) throw new CbpfError('cbpf/no-return', 'the last instruction is not a return', { insn: n - 1 });
  checkLoadsAfterStores(prog);
}

/**
 * Every M[] slot must be written on every path before it is read. As the kernel does: one pass
 * in order (jumps only go forward), a mask of valid slots, targets keep the intersection.
 */
function checkLoadsAfterStores(prog: readonly CbpfInstruction[]): void {
  const n = prog.length;
  const masks = new Uint16Array(n).fill(0xffff);
  let valid = 0;
  for (let pc = 0; pc < n; pc++) {
    valid &= masks[pc]!;
    const { code, jt, jf } = prog[pc]!;
    const k = prog[pc]!.k >>> 0;
    if (code === 0x02 || code === 0x03) valid |= 1 << k;
    else if (code === 0x60 || code === 0x61) {
      if (!(valid & (1 << k))) throw new CbpfError('cbpf/uninitialized-mem', `M[${k}] may be read before it is written`, { insn: pc });
    } else if (code === 0x05) {
      masks[pc + 1 + k] &= valid;
      valid = 0xffff;
    } else if (CONDITIONAL_JUMPS.has(code)) {
      masks[pc + 1 + jt] &= valid;
      masks[pc + 1 + jf] &= valid;
      valid = 0xffff;
    }
  }
}

/** True when `checkClassic` accepts the program. */
export function isValidClassic(prog: readonly CbpfInstruction[]): boolean {
  try {
    checkClassic(prog);
    return true;
  } catch (err) {
    if (err instanceof CbpfError) return false;
    throw err;
  }
}
