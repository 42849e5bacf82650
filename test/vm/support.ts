import type { Instruction } from '../../src/isa/instruction.js';
import { assemble } from '../../src/isa/asm.js';
import type { HelperTable } from '../../src/vm/abi.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter, type InterpreterRunOptions } from '../../src/vm/interpreter.js';
import type { RunResult } from '../../src/vm/engine.js';

/** Hand-encoded instructions for the interpreter tests (fields as in struct bpf_insn). */
export const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

/** Both slots of `lddw dst, value`. */
export function lddw(dst: number, value: bigint): Instruction[] {
  const v = BigInt.asUintN(64, value);
  return [insn(0x18, dst, 0, 0, Number(v & 0xffffffffn) | 0), insn(0, 0, 0, 0, Number(v >> 32n) | 0)];
}

export const EXIT = insn(0x95);
/** r0 = r1 (64-bit move). */
export const MOV_R0_R1 = insn(0xbf, 0, 1);

export interface Harness {
  space: AddressSpace;
  result: RunResult;
}

export interface RunProgramOptions extends InterpreterRunOptions {
  helpers?: HelperTable;
  checked?: boolean;
  mem?: Uint8Array;
}

/** One space for the quick cases: a WebAssembly.Memory per case would dominate the test time. */
const sharedSpace = new AddressSpace();

/**
 * Load and run once (with `mem` as a region, its address in r1 and length in r2). Regions are released
 * afterwards unless `keep` (then the caller inspects `space`, a fresh one).
 */
export function runProgram(program: readonly Instruction[] | string, options: RunProgramOptions & { keep?: boolean } = {}): Harness {
  const insns = typeof program === 'string' ? assemble(program) : program;
  const space = options.keep ? new AddressSpace() : sharedSpace;
  const runOptions: InterpreterRunOptions = { ...options };
  const region = options.mem !== undefined ? space.allocateWith(options.mem, 'packet', 'mem') : undefined;
  if (region !== undefined) runOptions.args = options.args ?? [region.start, options.mem!.length];
  const loaded = interpreter.load(insns, { space, helpers: options.helpers ?? [], checked: options.checked ?? false, name: 'test' });
  try {
    return { space, result: loaded.run(runOptions) };
  } finally {
    if (!options.keep) {
      loaded.dispose();
      if (region !== undefined) space.release(region);
    }
  }
}

export const r0Of = (program: readonly Instruction[] | string, options: RunProgramOptions = {}): bigint => runProgram(program, options).result.r0;
