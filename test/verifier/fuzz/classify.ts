import { formatInstruction } from '../../../src/isa/disasm.js';
import type { Instruction } from '../../../src/isa/instruction.js';

/**
 * Findings are grouped by the kernel's error line with its numbers and register names taken out
 * (`R3 invalid mem access 'scalar'` and `R1 invalid mem access 'scalar'` are one class), and, inside
 * a class, by the construct: the instruction the kernel stopped at, with registers and numbers
 * generalised.
 */

export function errorClass(line: string): string {
  return line
    .replace(/\bR\d+(_w)?\b/g, 'R#')
    .replace(/\bfp-?\d+\b/g, 'fp#')
    .replace(/=-?\d+/g, '=N')
    .replace(/\b0x[0-9a-f]+\b/gi, 'N')
    .replace(/-?\b\d+\b/g, 'N')
    .replace(/\(id=N[^)]*\)/g, '(...)')
    .trim();
}

export function constructOf(insns: readonly Instruction[], at: number | undefined): string {
  if (at === undefined || at < 0 || at >= insns.length) return 'unknown instruction';
  let text: string;
  try {
    text = formatInstruction(insns, at);
  } catch {
    return 'undecodable instruction';
  }
  return text.replace(/\b[rw]\d+\b/g, 'rX').replace(/-?\b(0x[0-9a-f]+|\d+)\b/gi, 'N').replace(/\s+/g, ' ').trim();
}
