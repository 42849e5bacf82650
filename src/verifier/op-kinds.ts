import type { Instruction } from '../isa/instruction.js';

/**
 * What kind of instruction each slot holds, as small numbers in a typed array: the static passes
 * switch on these instead of reading `Op.kind` from objects of a dozen shapes.
 */
export const K_NONE = 0; // second half of an LD_IMM64
export const K_ALU = 1;
export const K_JCOND = 2;
export const K_JA = 3;
export const K_MAY_GOTO = 4;
export const K_CALL_HELPER = 5;
export const K_CALL_LOCAL = 6;
export const K_CALL_KFUNC = 7;
export const K_CALLX = 8;
export const K_EXIT = 9;
export const K_LD_IMM64 = 10;
export const K_LD_ABS = 11;
export const K_LD_IND = 12;
export const K_LDX = 13;
export const K_ST = 14;
export const K_STX = 15;
export const K_ATOMIC = 16;

/** The kind of an instruction `classify` accepted, from its opcode (and `src` for calls). */
export function opKind(insn: Instruction): number {
  const code = insn.code;
  switch (code & 7) {
    case 0: {
      const mode = code & 0xe0;
      return mode === 0 ? K_LD_IMM64 : mode === 0x20 ? K_LD_ABS : K_LD_IND;
    }
    case 1: return K_LDX;
    case 2: return K_ST;
    case 3: return (code & 0xe0) === 0xc0 ? K_ATOMIC : K_STX;
    case 5:
    case 6:
      switch (code & 0xf0) {
        case 0x00: return K_JA;
        case 0x80:
          if (code & 0x08) return K_CALLX;
          return insn.src === 0 ? K_CALL_HELPER : insn.src === 1 ? K_CALL_LOCAL : K_CALL_KFUNC;
        case 0x90: return K_EXIT;
        case 0xe0: return K_MAY_GOTO;
        default: return K_JCOND;
      }
    default: return K_ALU;
  }
}

/** Calls and jumps end a straight run of instructions. */
export const endsRun = (kind: number): boolean => (kind >= K_JCOND && kind <= K_EXIT);
