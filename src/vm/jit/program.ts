import type { Instruction } from '../../isa/index.js';
import {
  ExecutionError, ExecutionLimitError, MAX_TAIL_CALLS, STACK_FRAME_BYTES, MAX_CALL_FRAMES, makeResult,
  type ExecutableProgram, type LoadOptions, type RunOptions, type RunResult,
} from '../engine.js';
import { HelperStatus, REGFILE_BYTES, type HelperCall, type HelperTable } from '../abi.js';
import { MemoryAccessError, type AddressSpace, type Region } from '../memory.js';
import { ModuleCache } from './cache.js';
import { compileProgram, type CompiledModule } from './compile.js';
import { JitCompileError } from './cfg.js';
import { FaultKind, IMPORT_MODULE } from './layout.js';

/**
 * A program loaded into the JIT: the module compiled once per distinct bytecode (cached), instantiated
 * per load against the load's address space (its stack, guards and register file are regions there),
 * run through the exported `run`. The JS side here serves the module's imports: helper dispatch,
 * faults, LD_ABS/LD_IND and checked-mode region lookups.
 */

interface CachedModule { module: WebAssembly.Module; compiled: CompiledModule }

const moduleCache = new ModuleCache<CachedModule>();

/** Compile (or fetch from the cache) the module for a program. */
export function compileCached(insns: readonly Instruction[], checked: boolean): CachedModule {
  return moduleCache.get(insns, checked ? 'checked' : 'fast', () => {
    const compiled = compileProgram(insns, checked);
    try {
      return { module: new WebAssembly.Module(compiled.bytes), compiled };
    } catch (error) {
      // Engine limits (function size, locals): the program is too big for one wasm function.
      if (error instanceof WebAssembly.CompileError) throw new JitCompileError('jit/wasm-compile', error.message);
      throw error;
    }
  });
}

export const jitCacheStats = (): { hits: number; misses: number; size: number } =>
  ({ hits: moduleCache.hits, misses: moduleCache.misses, size: moduleCache.size });
export const clearJitCache = (): void => moduleCache.clear();

const DEFAULT_BUDGET = 2 ** 53;
const STACK_GUARD_BYTES = 64;

/** State of one run (shared along a chain of tail calls). */
interface RunState<Env> {
  env: Env | undefined;
  budget: number;
  tailCalls: number;
  tailTarget: unknown;
  tailR1lo: number;
  tailR1hi: number;
  /** LD_ABS/LD_IND window, resolved on first use (-1: not yet). */
  packetStart: number;
  packetLength: number;
}

/** Where LD_ABS / LD_IND read (the interpreter's `PacketWindow`). */
export interface JitPacketWindow {
  start: number;
  length: number;
}

export interface JitRunOptions<Env = unknown> extends RunOptions<Env> {
  /** The packet LD_ABS/LD_IND read. Default: the region holding r6, from r6 to the region's end. */
  packet?: JitPacketWindow;
}

interface ModuleExports {
  /** (budget) -> fuel left, or -1 - fuel left after a tail call. */
  run: (budget: number) => number;
  fuel: WebAssembly.Global;
  halt: WebAssembly.Global;
  checkLimit: WebAssembly.Global;
}

export class JitProgram<Env> implements ExecutableProgram<Env> {
  readonly engine = 'jit' as const;
  private readonly space: AddressSpace;
  private readonly helpers: HelperTable<Env>;
  private readonly name: string;
  private readonly stack: Region;
  private readonly regfile: Region;
  private readonly exports: ModuleExports;
  private readonly call: HelperCall<Env | undefined>;
  private state: RunState<Env> | undefined;
  private disposed = false;
  private readonly guards: Region[] = [];

  constructor(readonly insns: readonly Instruction[], options: LoadOptions<Env>) {
    this.space = options.space;
    this.helpers = options.helpers ?? [];
    this.name = options.name ?? 'program';
    const { module } = compileCached(insns, options.checked === true);
    // Read-only guards on both sides of the stack, so that in checked mode a store just past either
    // end is caught instead of landing in a neighbouring region.
    this.guards.push(this.space.allocate(STACK_GUARD_BYTES, 'scratch', `guard below stack of ${this.name}`, false));
    this.stack = this.space.allocate(MAX_CALL_FRAMES * STACK_FRAME_BYTES, 'stack', `stack of ${this.name}`);
    this.guards.push(this.space.allocate(STACK_GUARD_BYTES, 'scratch', `guard above stack of ${this.name}`, false));
    this.regfile = this.space.allocate(REGFILE_BYTES, 'scratch', `register file of ${this.name}`);
    this.call = { space: this.space, regfile: this.regfile.start, insn: 0, env: undefined, tailCallTarget: undefined };
    const imports = {
      [IMPORT_MODULE]: {
        memory: this.space.memory,
        regfile: this.regfile.start,
        stack_low: this.stack.start,
        stack_top: this.stack.start + this.stack.size,
        call_helper: (id: number, insn: number): number => this.callHelper(id, insn),
        fault: (kind: number, insn: number): never => this.fault(kind, insn),
        load_packet: (lo: number, hi: number, offset: number, width: number, insn: number): number =>
          this.loadPacket(lo, hi, offset, width, insn),
        check: (lo: number, hi: number, size: number, write: number, insn: number): number =>
          this.check(lo, hi, size, write, insn),
      },
    };
    const instance = new WebAssembly.Instance(module, imports);
    this.exports = instance.exports as unknown as ModuleExports;
  }

  run(options: JitRunOptions<Env> = {}): RunResult {
    if (this.disposed) throw new ExecutionError('vm/disposed', `${this.name} was disposed`, 0);
    const args = options.args ?? [];
    const view = this.space.view;
    const base = this.regfile.start;
    for (let r = 1; r <= 5; r++) {
      const value = args[r - 1] ?? 0;
      if (typeof value === 'bigint') view.setBigUint64(base + 8 * r, BigInt.asUintN(64, value), true);
      else {
        view.setUint32(base + 8 * r, value >>> 0, true);
        view.setUint32(base + 8 * r + 4, Math.floor(value / 4294967296) >>> 0, true);
      }
    }
    const state: RunState<Env> = {
      env: options.env, budget: options.budget ?? DEFAULT_BUDGET, tailCalls: 0, tailTarget: undefined,
      tailR1lo: 0, tailR1hi: 0,
      packetStart: options.packet?.start ?? -1, packetLength: options.packet?.length ?? 0,
    };
    // Fresh stack for every run, as the kernel gives each invocation its own (and as the interpreter).
    this.space.u8.fill(0, this.stack.start, this.stack.start + this.stack.size);
    return this.runWith(state, state.budget);
  }

  /** Run with r1..r5 already in the register file; follows tail calls. */
  private runWith(state: RunState<Env>, fuel: number): RunResult {
    const outer = this.state;
    this.state = state;
    this.call.env = state.env;
    let out: number;
    try {
      out = this.exports.run(fuel);
    } catch (error) {
      throw translateTrap(error, this.name);
    } finally {
      this.state = outer;
      if (outer !== undefined) this.call.env = outer.env;
    }
    if (out < 0 && state.tailTarget !== undefined) {
      const target = state.tailTarget;
      state.tailTarget = undefined;
      return this.tailCall(target, state, -1 - out);
    }
    const view = this.space.view;
    const base = this.regfile.start;
    return makeResult(view.getUint32(base, true), view.getUint32(base + 4, true), state.budget - out);
  }

  private tailCall(target: unknown, state: RunState<Env>, fuel: number): RunResult {
    if (target instanceof JitProgram) {
      const next = target as JitProgram<Env>;
      next.space.u8.fill(0, next.stack.start, next.stack.start + next.stack.size);
      const view = next.space.view;
      view.setUint32(next.regfile.start + 8, state.tailR1lo, true);
      view.setUint32(next.regfile.start + 12, state.tailR1hi, true);
      return next.runWith(state, fuel);
    }
    if (isExecutable<Env>(target)) {
      const r1 = state.tailR1hi * 4294967296 + state.tailR1lo;
      const env = state.env;
      const result = target.run(env === undefined ? { args: [r1], budget: fuel } : { args: [r1], env, budget: fuel });
      return makeResult(result.r0lo, result.r0hi, state.budget - fuel + Math.max(result.executed, 0));
    }
    throw new ExecutionError('vm/bad-tail-call', `${this.name}: tail call target is not a program`, this.call.insn);
  }

  private callHelper(id: number, insn: number): number {
    const helper = this.helpers[id];
    if (helper === undefined) {
      throw new ExecutionError('vm/unknown-helper', `${this.name}: call to unknown helper ${id}`, insn);
    }
    const call = this.call;
    call.insn = insn;
    call.tailCallTarget = undefined;
    const status = helper(call as HelperCall<Env>) ?? HelperStatus.CONTINUE;
    if (status === HelperStatus.CONTINUE) return 0;
    const state = this.state!;
    if (status === HelperStatus.TAIL_CALL) {
      // Past the limit the tail call fails and the program goes on, as in the kernel.
      if (state.tailCalls >= MAX_TAIL_CALLS || call.tailCallTarget === undefined) return 0;
      state.tailCalls++;
      state.tailTarget = call.tailCallTarget;
      const view = this.space.view;
      state.tailR1lo = view.getUint32(this.regfile.start + 8, true);
      state.tailR1hi = view.getUint32(this.regfile.start + 12, true);
    }
    this.exports.halt.value = status;
    return 1;
  }

  private fault(kind: number, insn: number): never {
    switch (kind) {
      case FaultKind.budget: throw new ExecutionLimitError(this.state?.budget ?? DEFAULT_BUDGET, insn);
      case FaultKind.callDepth:
        throw new ExecutionError('vm/call-depth', `${this.name}: more than ${MAX_CALL_FRAMES} call frames`, insn);
      case FaultKind.fellOff:
        throw new ExecutionError('vm/fell-off', `${this.name}: execution ran past the last instruction`, insn);
      case FaultKind.kfunc:
        throw new ExecutionError('vm/kfunc', `${this.name}: kfunc calls are not supported`, insn);
      case FaultKind.badCallx:
        throw new ExecutionError('vm/bad-callx', `${this.name}: callx target is not a function`, insn);
    }
    throw new ExecutionError('vm/fault', `${this.name}: fault ${kind}`, insn);
  }

  /**
   * LD_ABS/LD_IND: a big-endian load from the packet window: the run's `packet` option, else the region
   * holding r6 from r6 to its end (as the interpreter). Out of bounds: the program ends with r0 = 0.
   */
  private loadPacket(ctxLo: number, ctxHi: number, offset: number, width: number, insn: number): number {
    const space = this.space;
    const state = this.state!;
    if (state.packetStart < 0) {
      const ctx = ctxLo >>> 0;
      const region = ctxHi === 0 ? space.regionAt(ctx) : undefined;
      if (region === undefined) {
        throw new ExecutionError('vm/no-packet', 'LD_ABS/LD_IND: r6 does not point at a context or packet', insn);
      }
      state.packetStart = ctx;
      state.packetLength = region.start + region.size - ctx;
    }
    const view = space.view;
    const rf = this.regfile.start;
    if (offset < 0 || offset + width > state.packetLength) {
      view.setUint32(rf, 0, true);
      view.setUint32(rf + 4, 0, true);
      this.exports.halt.value = HelperStatus.STOP;
      return 1;
    }
    const address = state.packetStart + offset;
    const value = width === 1 ? view.getUint8(address) : width === 2 ? view.getUint16(address, false) : view.getUint32(address, false);
    view.setUint32(rf, value, true);
    view.setUint32(rf + 4, 0, true);
    return 0;
  }

  private check(lo: number, hi: number, size: number, write: number, insn: number): number {
    this.space.check(lo, hi, size, write !== 0, insn);
    const region = this.space.regionAt(lo >>> 0)!;
    this.exports.checkLimit.value = region.size - size + 1;
    return region.start;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.space.release(this.stack);
    this.space.release(this.regfile);
    for (const guard of this.guards) this.space.release(guard);
  }
}

function isExecutable<Env>(value: unknown): value is ExecutableProgram<Env> {
  return typeof value === 'object' && value !== null && typeof (value as { run?: unknown }).run === 'function';
}

/** Turn a wasm trap into the error the interpreter would give. */
function translateTrap(error: unknown, name: string): unknown {
  if (!(error instanceof WebAssembly.RuntimeError)) return error;
  if (/out of bounds/i.test(error.message)) {
    return new MemoryAccessError(`${name}: memory access outside the address space (unchecked mode)`, 0, 0, false);
  }
  return new ExecutionError('vm/trap', `${name}: ${error.message}`, 0);
}
