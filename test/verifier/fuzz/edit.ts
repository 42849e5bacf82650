import { disassemble } from '../../../src/isa/disasm.js';
import type { Instruction } from '../../../src/isa/instruction.js';

/** Editing instruction lists while keeping every jump and local call on its target. */

const JMP = 0x05;
const JMP32 = 0x06;
const CALL = 0x85;
const EXIT = 0x95;
const GOTOL = 0x06;
const LD_IMM64 = 0x18;
const PSEUDO_CALL = 1;
const PSEUDO_FUNC = 4;

/** Which field holds the relative target of `insn`, if it has one. */
function relativeField(insn: Instruction): 'off' | 'imm' | undefined {
  const cls = insn.code & 7;
  if (insn.code === CALL) return insn.src === PSEUDO_CALL ? 'imm' : undefined;
  if (insn.code === LD_IMM64) return insn.src === PSEUDO_FUNC ? 'imm' : undefined;
  if (insn.code === EXIT) return undefined;
  if (insn.code === GOTOL) return 'imm';
  return cls === JMP || cls === JMP32 ? 'off' : undefined;
}

export const isLdImm64 = (insn: Instruction): boolean => insn.code === LD_IMM64;

/** Slot indexes where an instruction starts (the second half of an LD_IMM64 is not one). */
export function instructionStarts(insns: readonly Instruction[]): number[] {
  const starts: number[] = [];
  for (let i = 0; i < insns.length; i++) {
    starts.push(i);
    if (isLdImm64(insns[i]!)) i++;
  }
  return starts;
}

/**
 * `insns` without slots [start, start + count). Jumps into the removed slots land on the first slot
 * after them; every other target keeps pointing at the same instruction.
 */
export function removeSlots(insns: readonly Instruction[], start: number, count: number): Instruction[] {
  const newIndex = (i: number): number => (i < start ? i : i < start + count ? start : i - count);
  const out: Instruction[] = [];
  insns.forEach((insn, i) => {
    if (i >= start && i < start + count) return;
    const field = relativeField(insn);
    if (!field) {
      out.push(insn);
      return;
    }
    const target = i + 1 + insn[field];
    out.push({ ...insn, [field]: newIndex(target) - (newIndex(i) + 1) });
  });
  return out;
}

/** `insns` with `added` inserted before slot `at`; jumps to `at` still reach the old instruction. */
export function insertSlots(insns: readonly Instruction[], at: number, added: readonly Instruction[]): Instruction[] {
  const shift = (i: number): number => (i < at ? i : i + added.length);
  const out: Instruction[] = [];
  insns.forEach((insn, i) => {
    const field = relativeField(insn);
    if (i === at) out.push(...added);
    if (!field) {
      out.push(insn);
      return;
    }
    const target = i + 1 + insn[field];
    out.push({ ...insn, [field]: shift(target) - (shift(i) + 1) });
  });
  if (at >= insns.length) out.push(...added);
  return out;
}

/** Assembly for reports, one instruction per line with its index. */
export function listing(insns: readonly Instruction[]): string {
  return disassemble(insns, { addresses: true });
}
