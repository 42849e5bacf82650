import { CbpfError } from './cbpf-error.js';
import { BPF_MEMWORDS, SKF_AD_OFF, type CbpfInstruction } from './opcodes.js';

/**
 * Classic programs pre-decoded for the interpreter: each instruction becomes a dense operation
 * number, its operand, and absolute jump targets, in parallel typed arrays (no objects per step).
 */
export const Op = {
  LD_W_ABS: 0, LD_H_ABS: 1, LD_B_ABS: 2, LD_W_IND: 3, LD_H_IND: 4, LD_B_IND: 5,
  LD_LEN: 6, LDX_LEN: 7, LD_IMM: 8, LDX_IMM: 9, LD_MEM: 10, LDX_MEM: 11, LDX_MSH: 12,
  ST: 13, STX: 14,
  ADD_K: 15, SUB_K: 16, MUL_K: 17, DIV_K: 18, MOD_K: 19, AND_K: 20, OR_K: 21, XOR_K: 22, LSH_K: 23, RSH_K: 24,
  ADD_X: 25, SUB_X: 26, MUL_X: 27, DIV_X: 28, MOD_X: 29, AND_X: 30, OR_X: 31, XOR_X: 32, LSH_X: 33, RSH_X: 34,
  NEG: 35,
  JA: 36, JEQ_K: 37, JGT_K: 38, JGE_K: 39, JSET_K: 40, JEQ_X: 41, JGT_X: 42, JGE_X: 43, JSET_X: 44,
  RET_K: 45, RET_A: 46, RET_X: 47, TAX: 48, TXA: 49,
  /** `ld [SKF_AD_OFF + n]` with ancillary data supplied (operand: the SKF_AD_ number). */
  LD_ANC: 50,
} as const;

/** Opcode (16-bit code) to operation, for every instruction libpcap's bpf_filter runs. */
export const OPCODE_TO_OP: ReadonlyMap<number, number> = new Map<number, number>([
  [0x20, Op.LD_W_ABS], [0x28, Op.LD_H_ABS], [0x30, Op.LD_B_ABS],
  [0x40, Op.LD_W_IND], [0x48, Op.LD_H_IND], [0x50, Op.LD_B_IND],
  [0x80, Op.LD_LEN], [0x81, Op.LDX_LEN], [0x00, Op.LD_IMM], [0x01, Op.LDX_IMM],
  [0x60, Op.LD_MEM], [0x61, Op.LDX_MEM], [0xb1, Op.LDX_MSH], [0x02, Op.ST], [0x03, Op.STX],
  [0x04, Op.ADD_K], [0x14, Op.SUB_K], [0x24, Op.MUL_K], [0x34, Op.DIV_K], [0x94, Op.MOD_K],
  [0x54, Op.AND_K], [0x44, Op.OR_K], [0xa4, Op.XOR_K], [0x64, Op.LSH_K], [0x74, Op.RSH_K],
  [0x0c, Op.ADD_X], [0x1c, Op.SUB_X], [0x2c, Op.MUL_X], [0x3c, Op.DIV_X], [0x9c, Op.MOD_X],
  [0x5c, Op.AND_X], [0x4c, Op.OR_X], [0xac, Op.XOR_X], [0x6c, Op.LSH_X], [0x7c, Op.RSH_X],
  [0x84, Op.NEG],
  [0x05, Op.JA], [0x15, Op.JEQ_K], [0x25, Op.JGT_K], [0x35, Op.JGE_K], [0x45, Op.JSET_K],
  [0x1d, Op.JEQ_X], [0x2d, Op.JGT_X], [0x3d, Op.JGE_X], [0x4d, Op.JSET_X],
  [0x06, Op.RET_K], [0x16, Op.RET_A], [0x0e, Op.RET_X], [0x07, Op.TAX], [0x87, Op.TXA],
]);

export interface DecodedCbpf {
  length: number;
  op: Uint8Array;
  /** Operand, unsigned 32-bit. */
  k: Float64Array;
  /** The same operand as a signed 32-bit integer: small offsets index packets without doubles. */
  ki: Int32Array;
  /** Whether any instruction reads scratch memory (then it is cleared before each run). */
  readsMemory: boolean;
  /** Absolute targets: for conditional jumps the true/false instruction, for `ja` in `jt`. */
  jt: Int32Array;
  jf: Int32Array;
}

export interface DecodeOptions {
  /** Turn `ld [SKF_AD_OFF + n]` into ancillary loads (Linux); otherwise they are ordinary, out-of-bounds loads. */
  ancillary?: boolean;
}

export function decodeCbpf(prog: readonly CbpfInstruction[], options: DecodeOptions = {}): DecodedCbpf {
  const n = prog.length;
  if (n === 0) throw new CbpfError('cbpf/empty', 'empty classic BPF program');
  const decoded: DecodedCbpf = { length: n, op: new Uint8Array(n), k: new Float64Array(n), ki: new Int32Array(n), jt: new Int32Array(n), jf: new Int32Array(n), readsMemory: false };
  for (let pc = 0; pc < n; pc++) {
    const insn = prog[pc]!;
    let op = OPCODE_TO_OP.get(insn.code);
    if (op === undefined) throw new CbpfError('cbpf/bad-opcode', `unknown opcode 0x${insn.code.toString(16)}`, { insn: pc });
    const k = insn.k >>> 0;
    if ((op === Op.ST || op === Op.STX || op === Op.LD_MEM || op === Op.LDX_MEM) && k >= BPF_MEMWORDS) {
      throw new CbpfError('cbpf/bad-mem-index', `scratch memory index ${k} out of range (M[0..15])`, { insn: pc });
    }
    let operand = k;
    if (options.ancillary && (op === Op.LD_W_ABS || op === Op.LD_H_ABS || op === Op.LD_B_ABS) && k >= (SKF_AD_OFF >>> 0)) {
      op = Op.LD_ANC;
      operand = k - (SKF_AD_OFF >>> 0);
    }
    decoded.op[pc] = op;
    decoded.k[pc] = operand;
    decoded.ki[pc] = operand | 0;
    if (op === Op.LD_MEM || op === Op.LDX_MEM) decoded.readsMemory = true;
    if (op === Op.JA) {
      // libpcap sign-extends `ja` offsets: protochain jumps backwards.
      const target = pc + 1 + (k | 0);
      if (target < 0 || target >= n) throw new CbpfError('cbpf/bad-jump', `jump to ${target} is outside the program (${n} instructions)`, { insn: pc });
      decoded.jt[pc] = target;
    } else if (op >= Op.JEQ_K && op <= Op.JSET_X) {
      const t = pc + 1 + insn.jt;
      const f = pc + 1 + insn.jf;
      if (t >= n || f >= n) throw new CbpfError('cbpf/bad-jump', `jump to ${Math.max(t, f)} is outside the program (${n} instructions)`, { insn: pc });
      decoded.jt[pc] = t;
      decoded.jf[pc] = f;
    }
  }
  return decoded;
}
