import type { Instruction } from '../isa/instruction.js';
import type { HelperTable } from './abi.js';
import type { AddressSpace } from './memory.js';
import { TsbpfError } from '../errors.js';

/**
 * The contract every execution engine (the interpreter, the WebAssembly JIT) fulfils, so the runtime,
 * the CLI and the tests can swap engines with `--engine interp|jit` and compare them.
 */

export type EngineName = 'interp' | 'jit';

export interface LoadOptions<Env = unknown> {
  space: AddressSpace;
  helpers?: HelperTable<Env>;
  /**
   * Checked mode: every load and store is checked against the regions of `space`, and a bad access
   * throws MemoryAccessError naming the instruction. Required for unverified programs.
   */
  checked?: boolean;
  /** Name for error messages (program or file name). */
  name?: string;
  /**
   * How `helpers`' map_lookup_elem treats the map whose handle a program loads as a constant, so
   * engines may call it without the helper ABI: an array's layout (a bounds check, then an address:
   * inlined), or a direct lookup function. Undefined for anything else (other maps, non-handles).
   */
  describeMap?(handle: number): InlineMap | undefined;
  /** The CPU a run's `env` runs on (per-CPU slots of inlined lookups; read once per env object). Default 0. */
  cpuOf?(env: Env): number;
}

export type InlineMap = InlineMapLayout | DirectMapLookup;

/**
 * A map whose lookup returns an address or 0: `lookup(key address, cpu)` is what map_lookup_elem
 * returns for a key pointer below 4 GiB.
 */
export interface DirectMapLookup {
  kind: 'lookup';
  lookup(keyAddress: number, cpu: number): number;
}

/** Where an array map's values are: entry `index` for `cpu` is at `values + index * elemStride + cpu * cpuStride`. */
export interface InlineMapLayout {
  kind: 'array' | 'percpu_array';
  /** Address of entry 0 (CPU 0). */
  values: number;
  valueSize: number;
  elemStride: number;
  /** Distance between the CPUs' slots of one entry (0 for plain arrays). */
  cpuStride: number;
  maxEntries: number;
}

export interface RunOptions<Env = unknown> {
  /** Initial r1..r5 (64-bit; numbers must be safe integers, negatives are two's complement). */
  args?: ReadonlyArray<number | bigint>;
  /** Passed to helpers as `call.env`. */
  env?: Env;
  /**
   * Most instructions to execute before stopping with ExecutionLimitError (interpreter exact; the JIT
   * counts back-edges and calls). Default 2^53.
   */
  budget?: number;
  /**
   * Where LD_ABS/LD_IND read (the skb's packet for socket filters and tc). Default: engine-defined
   * (the interpreter uses the region holding r6, the context).
   */
  packet?: { start: number; length: number };
}

export interface RunResult {
  /** r0 as unsigned halves, and as a bigint for convenience (not on hot paths). */
  readonly r0lo: number;
  readonly r0hi: number;
  readonly r0: bigint;
  /** Instructions executed (interpreter; the JIT reports what it counted, or -1). */
  readonly executed: number;
}

export interface ExecutableProgram<Env = unknown> {
  readonly engine: EngineName;
  readonly insns: readonly Instruction[];
  run(options?: RunOptions<Env>): RunResult;
  /**
   * `repeat` (>= 1) runs with the same options, as many calls of `run`; the last run's result. The
   * options are read once (BPF_PROG_TEST_RUN's repeat loop). `beforeRun` resets per-run state that
   * helpers read (the runtime's tail-call count): it is called before the first run and, for every
   * later run, before that run's first helper call at the latest. An engine that loops without
   * leaving WebAssembly (the JIT) skips it for runs that call no helper implemented in JS, so it must
   * not change what the program reads itself.
   */
  runRepeated(options: RunOptions<Env>, repeat: number, beforeRun?: () => void): RunResult;
  /** Frees the regions (stack, register file) the program holds in the address space. */
  dispose(): void;
}

export interface Engine {
  readonly name: EngineName;
  load<Env>(insns: readonly Instruction[], options: LoadOptions<Env>): ExecutableProgram<Env>;
}

/** Kernel limits the engines enforce. */
export const MAX_CALL_FRAMES = 8;
export const STACK_FRAME_BYTES = 512;
export const MAX_TAIL_CALLS = 33;

/** The budget ran out (a runaway loop in an unverified program). */
export class ExecutionLimitError extends TsbpfError {
  override name = 'ExecutionLimitError';
  constructor(limit: number, insn: number) {
    super('vm/budget', `executed-instruction budget of ${limit} exhausted`, { insn });
  }
}

/** Runtime faults that the kernel's verifier would have prevented (call depth, unknown helper ...). */
export class ExecutionError extends TsbpfError {
  override name = 'ExecutionError';
  constructor(code: string, message: string, insn: number) {
    super(code, message, { insn });
  }
}

/**
 * The result engines return. A class, so the `r0` getter lives on the prototype: an object literal
 * with its own getter per run costs more than running a small program.
 */
export class EngineResult implements RunResult {
  readonly r0lo: number;
  readonly r0hi: number;
  readonly executed: number;
  constructor(r0lo: number, r0hi: number, executed: number) {
    this.r0lo = r0lo >>> 0;
    this.r0hi = r0hi >>> 0;
    this.executed = executed;
  }
  get r0(): bigint {
    return (BigInt(this.r0hi) << 32n) | BigInt(this.r0lo);
  }
}

export function makeResult(r0lo: number, r0hi: number, executed: number): RunResult {
  return new EngineResult(r0lo, r0hi, executed);
}
