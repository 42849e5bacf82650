import type { Instruction } from '../../../src/isa/instruction.js';
import { instructionStarts, insertSlots, isLdImm64, removeSlots } from './edit.js';
import type { FuzzProgram } from './generate.js';
import type { Rng } from './rng.js';

/**
 * Small edits of a program that keep it well-formed (LD_IMM64 pairs whole, jumps retargeted): most
 * push one offset, immediate, register, width or condition over an edge the verifier must notice.
 */

const SIZES = [0x00, 0x08, 0x10, 0x18];
const JUMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0, 0xb0, 0xc0];
const EDGE_IMMS = [0, 1, -1, 7, 8, 16, 47, 48, 64, 255, 256, 0x7fffffff, -0x80000000, 4096, -512];
const FILLERS: readonly Instruction[] = [
  { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }, { code: 0x07, dst: 1, src: 0, off: 0, imm: 8 },
  { code: 0x7a, dst: 10, src: 0, off: -8, imm: 0 }, { code: 0xbf, dst: 2, src: 10, off: 0, imm: 0 },
  { code: 0x07, dst: 0, src: 0, off: 0, imm: 1 }, { code: 0x05, dst: 0, src: 0, off: 0, imm: 0 },
];

function tweak(insn: Instruction, rng: Rng): Instruction {
  const cls = insn.code & 7;
  const memory = cls === 0x01 || cls === 0x02 || cls === 0x03;
  const jump = (cls === 0x05 || cls === 0x06) && insn.code !== 0x85 && insn.code !== 0x95 && (insn.code & 0xf0) !== 0;
  const alu = cls === 0x04 || cls === 0x07;
  switch (rng.below(6)) {
    case 0:
      return { ...insn, off: insn.off + rng.pick([-8, -4, -2, -1, 1, 2, 4, 8]) };
    case 1:
      return { ...insn, imm: rng.chance(0.5) ? rng.pick(EDGE_IMMS) : insn.imm + rng.pick([-8, -1, 1, 8]) };
    case 2:
      return { ...insn, dst: rng.below(11) };
    case 3:
      return { ...insn, src: rng.below(11) };
    default:
      if (memory) return { ...insn, code: (insn.code & ~0x18) | rng.pick(SIZES) };
      if (jump) return { ...insn, code: (insn.code & 0x0f) | rng.pick(JUMP_OPS) };
      if (alu) return { ...insn, code: (insn.code & 0x0f) | rng.pick(ALU_OPS) };
      return { ...insn, imm: insn.imm ^ (1 << rng.below(32)) };
  }
}

export function mutate(program: FuzzProgram, rng: Rng): FuzzProgram {
  let insns = program.insns;
  const edits = rng.pick([1, 1, 1, 2, 3]);
  for (let n = 0; n < edits; n++) {
    const starts = instructionStarts(insns);
    const at = rng.pick(starts);
    const kind = rng.next();
    if (kind < 0.7) {
      const copy = insns.slice();
      copy[at] = tweak(copy[at]!, rng);
      insns = copy;
    } else if (kind < 0.85 && starts.length > 2) {
      insns = removeSlots(insns, at, isLdImm64(insns[at]!) ? 2 : 1);
    } else if (kind < 0.93) {
      insns = insertSlots(insns, at, isLdImm64(insns[at]!) ? insns.slice(at, at + 2) : [insns[at]!]);
    } else {
      insns = insertSlots(insns, at, [rng.pick(FILLERS)]);
    }
  }
  return { type: program.type, insns, origin: program.origin.startsWith('mutant of ') ? program.origin : `mutant of ${program.origin}` };
}
