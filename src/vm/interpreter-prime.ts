import type { Instruction } from '../isa/instruction.js';
import { AluOp, AtomicOp, InsnClass, JmpOp, Mode, Size, Source } from '../isa/opcodes.js';

/**
 * A program that runs every case of the interpreter's run loop once (but kfunc calls and bad
 * opcodes), so V8 compiles the loop with type feedback for all of them.
 *
 * Why: the run loop is one large function (~13 KB of bytecode, 50-450 ms of TurboFan time). Compiled
 * while only some cases had run, it deopts to baseline code (~15x slower) the first time a program
 * uses another case, and stays there until a new background compile lands: on a loaded machine that
 * took longer than a whole bench measurement (checksum fixture: 400-700 us per run instead of 26-35).
 * With feedback for every case, programs loaded later find nothing new.
 *
 * Layout: r6 points 64 bytes below the frame top (memory operands), r7/r8 hold operands with both
 * halves set, r9 a nonzero divisor; the PRIME_HELPER_IDS helpers are called directly and through
 * callx, PRIME_NEST_HELPER_ID runs callbacks; a local call runs the function after the main one;
 * LD_ABS/LD_IND read the packet the caller passes (PRIME_PACKET_BYTES).
 */

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

/**
 * The helper ids the program calls, directly and through callx: the caller's table holds a different
 * function at each, so the run loop's helper call site is megamorphic from the start (one target would
 * make TurboFan expect it, and deopt at the first real helper).
 */
export const PRIME_HELPER_IDS = [1, 2] as const;
/**
 * A helper like bpf_loop: with r1 = n > 0, it runs the program's callback (`callbackSlot`) with r1 =
 * n - 1, which calls it again; the program calls it with n = 2 (callbacks two deep, as nested bpf_loop).
 */
export const PRIME_NEST_HELPER_ID = 3;
/** Bytes of packet the program's LD_ABS/LD_IND read from offset 0. */
export const PRIME_PACKET_BYTES = 16;

const ALU_OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.MOD, AluOp.XOR, AluOp.MOV, AluOp.ARSH];
const JMP_OPS = [JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JSET, JmpOp.JNE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE];
const SIZES = [Size.B, Size.H, Size.W, Size.DW];
/**
 * (lo, hi) of r7 and r8 for each round of jumps, the immediate operand being 3: every condition is
 * both taken and not, and a 64-bit compare also meets equal low halves (then it tests the high ones).
 */
const JUMP_OPERANDS: readonly (readonly [readonly [number, number], readonly [number, number]])[] = [
  [[0x87654321 | 0, 0x12345678], [0x0badf00d, -2]],
  [[3, 0x1234], [3, 5]],
  [[3, 0], [3, 0]],
  [[1, 0], [2, 0]],
  [[5, 0], [2, 0]],
  [[-1, -1], [1, 0]],
];

/** Operands: r7 and r8 with both halves nonzero, r9 small. */
function setOperands(out: Instruction[]): void {
  out.push(I(0x18, 7, 0, 0, 0x87654321 | 0), I(0, 0, 0, 0, 0x12345678));
  out.push(I(0x18, 8, 0, 0, 0x0badf00d), I(0, 0, 0, 0, -2));
  out.push(I(0xb7, 9, 0, 0, 3));
}

export interface PrimingProgram {
  insns: Instruction[];
  /** The slot of the callback PRIME_NEST_HELPER_ID runs. */
  callbackSlot: number;
}

export function primingProgram(): PrimingProgram {
  const out: Instruction[] = [];
  out.push(I(0xbf, 6, 10), I(0x07, 6, 0, 0, -64));
  setOperands(out);
  for (const cls of [InsnClass.ALU64, InsnClass.ALU]) {
    for (const op of ALU_OPS) {
      // Immediate then register forms on r2 (a copy of r7), divisors r9 / 3.
      for (const src of [Source.K, Source.X]) {
        out.push(I(0xbf, 2, 7));
        out.push(src === Source.X ? I(cls | op | src, 2, 9) : I(cls | op | src, 2, 0, 0, 3));
      }
    }
    out.push(I(0xbf, 2, 7), I(cls | AluOp.NEG, 2));
    // Signed division and modulo (off 1), sign-extending moves (off 8, 16, 32 for ALU64).
    for (const op of [AluOp.DIV, AluOp.MOD]) {
      out.push(I(0xbf, 2, 7), I(cls | op | Source.K, 2, 0, 1, -3));
      out.push(I(0xbf, 2, 7), I(cls | op | Source.X, 2, 9, 1));
    }
    for (const width of cls === InsnClass.ALU64 ? [8, 16, 32] : [8, 16]) out.push(I(cls | AluOp.MOV | Source.X, 2, 8, width));
  }
  // Byte order: le and be (ALU class), bswap (ALU64), each at 16, 32 and 64 bits.
  for (const code of [InsnClass.ALU | AluOp.END | Source.K, InsnClass.ALU | AluOp.END | Source.X, InsnClass.ALU64 | AluOp.END]) {
    for (const width of [16, 32, 64]) out.push(I(0xbf, 2, 7), I(code, 2, 0, 0, width));
  }
  // Stores (immediate and register), loads (zero- and sign-extending), atomics, on r6's bytes.
  for (const size of SIZES) {
    out.push(I(InsnClass.ST | Mode.MEM | size, 6, 0, 0, 0x5a5a5a5a));
    out.push(I(InsnClass.STX | Mode.MEM | size, 6, 8));
    out.push(I(InsnClass.LDX | Mode.MEM | size, 2, 6));
    if (size !== Size.DW) out.push(I(InsnClass.LDX | Mode.MEMSX | size, 2, 6));
  }
  for (const size of [Size.W, Size.DW]) {
    for (const op of [AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR]) {
      out.push(I(InsnClass.STX | Mode.ATOMIC | size, 6, 8, 0, op));
      out.push(I(InsnClass.STX | Mode.ATOMIC | size, 6, 8, 0, op | AtomicOp.FETCH));
    }
    out.push(I(InsnClass.STX | Mode.ATOMIC | size, 6, 8, 0, AtomicOp.XCHG));
    out.push(I(InsnClass.STX | Mode.ATOMIC | size, 6, 8, 0, AtomicOp.CMPXCHG));
  }
  for (const size of SIZES) {
    out.push(I(InsnClass.STX | Mode.ATOMIC | size, 2, 6, 0, AtomicOp.LOAD_ACQ));
    out.push(I(InsnClass.STX | Mode.ATOMIC | size, 6, 8, 0, AtomicOp.STORE_REL));
  }
  // Conditional jumps to the next slot (taken or not, the same path), JMP and JMP32, K and X.
  for (const [r7, r8] of JUMP_OPERANDS) {
    out.push(I(0x18, 7, 0, 0, r7[0]), I(0, 0, 0, 0, r7[1]), I(0x18, 8, 0, 0, r8[0]), I(0, 0, 0, 0, r8[1]));
    for (const cls of [InsnClass.JMP, InsnClass.JMP32]) {
      for (const op of JMP_OPS) {
        out.push(I(cls | op | Source.K, 7, 0, 0, 3));
        out.push(I(cls | op | Source.X, 7, 8));
      }
    }
  }
  out.push(I(InsnClass.JMP | JmpOp.JA), I(InsnClass.JMP32 | JmpOp.JA), I(InsnClass.JMP | JmpOp.JCOND));
  // Packet loads, a helper (direct and callx), a local call.
  for (const size of [Size.W, Size.H, Size.B]) {
    out.push(I(InsnClass.LD | Mode.ABS | size, 0, 0, 0, 4));
    out.push(I(InsnClass.LD | Mode.IND | size, 0, 9, 0, 4));
  }
  out.push(I(InsnClass.JMP | JmpOp.CALL, 0, 0, 0, PRIME_HELPER_IDS[0]));
  out.push(I(0xb7, 2, 0, 0, PRIME_HELPER_IDS[1]), I(InsnClass.JMP | JmpOp.CALL | Source.X, 2));
  out.push(I(0xb7, 1, 0, 0, 2), I(InsnClass.JMP | JmpOp.CALL, 0, 0, 0, PRIME_NEST_HELPER_ID));
  out.push(I(InsnClass.JMP | JmpOp.CALL, 0, 1, 0, 1));
  out.push(I(InsnClass.JMP | JmpOp.EXIT));
  // The local function, then the callback.
  out.push(I(0xb7, 0, 0, 0, 0), I(InsnClass.JMP | JmpOp.EXIT));
  const callbackSlot = out.length;
  out.push(I(InsnClass.JMP | JmpOp.CALL, 0, 0, 0, PRIME_NEST_HELPER_ID), I(0xb7, 0, 0, 0, 0), I(InsnClass.JMP | JmpOp.EXIT));
  return { insns: out, callbackSlot };
}
