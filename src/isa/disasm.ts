/**
 * The disassembler: bytecode slots to text in the LLVM syntax (as `llvm-objdump -d` prints it) or the
 * uBPF syntax. Invalid encodings print `<unknown>` the way objdump does; nothing here throws.
 */
import { classify, encode, isLdImm64, type Instruction, type Op } from './instruction.js';
import { formatLlvm } from './disasm-llvm.js';
import { formatUbpf } from './disasm-ubpf.js';

export type Syntax = 'llvm' | 'ubpf';

export interface FormatOptions {
  /** LLVM syntax only: hex immediates and offsets, llvm-objdump-16's default (`--print-imm-hex`). */
  hex?: boolean;
  /**
   * LLVM syntax only: print exactly what llvm-objdump prints, even where that cannot be reassembled
   * to the same bytes (local and kfunc calls as `call imm`, pseudo map loads as `ld_pseudo`).
   */
  objdump?: boolean;
}

export interface DisasmOptions extends FormatOptions {
  syntax?: Syntax;
  /** Prefix each line with its slot index, right-aligned like objdump (`      12:\t`). */
  addresses?: boolean;
  /** Show the raw instruction bytes like objdump (`07 01 00 00 02 00 00 00\t`). */
  bytes?: boolean;
}

export const UNKNOWN = '<unknown>';

/** The op at `index`, or undefined when the slot does not decode to a valid instruction. */
export function tryClassify(insns: readonly Instruction[], index: number): Op | undefined {
  try {
    return classify(insns[index]!, index, insns[index + 1]);
  } catch {
    return undefined;
  }
}

/** Text of the instruction at `index` (an LD_IMM64 uses the next slot too); `<unknown>` when invalid. */
export function formatInstruction(insns: readonly Instruction[], index: number, syntax: Syntax = 'llvm', options: FormatOptions = {}): string {
  const op = tryClassify(insns, index);
  if (op === undefined) return UNKNOWN;
  if (syntax === 'ubpf') return formatUbpf(insns, index, op);
  return formatLlvm(insns, index, op, { hex: options.hex ?? false, objdump: options.objdump ?? false });
}

/** How many slots the instruction at `index` takes when listed: 2 for a valid LD_IMM64, else 1. */
export function slotsAt(insns: readonly Instruction[], index: number): 1 | 2 {
  return isLdImm64(insns[index]!) && tryClassify(insns, index) !== undefined ? 2 : 1;
}

const hexBytes = (insns: readonly Instruction[]): string =>
  Array.from(encode(insns), (b) => b.toString(16).padStart(2, '0')).join(' ');

/** One line per instruction (LD_IMM64 takes one line for its two slots), each ending in a newline. */
export function disassemble(insns: readonly Instruction[], options: DisasmOptions = {}): string {
  const syntax = options.syntax ?? 'llvm';
  let out = '';
  for (let i = 0; i < insns.length;) {
    const width = slotsAt(insns, i);
    let line = '';
    if (options.addresses) line += `${String(i).padStart(8)}:\t`;
    if (options.bytes) line += `${hexBytes(insns.slice(i, i + width))}\t`;
    line += formatInstruction(insns, i, syntax, options);
    out += line + '\n';
    i += width;
  }
  return out;
}
