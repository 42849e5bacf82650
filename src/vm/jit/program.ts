import type { Instruction } from '../../isa/index.js';
import {
  ExecutionError, ExecutionLimitError, MAX_TAIL_CALLS, STACK_FRAME_BYTES, MAX_CALL_FRAMES, makeResult,
  type ExecutableProgram, type LoadOptions, type RunOptions, type RunResult,
} from '../engine.js';
import { HelperStatus, type HelperCall, type HelperTable } from '../abi.js';
import { MemoryAccessError, type AddressSpace, type Region } from '../memory.js';
import { ModuleCache } from './cache.js';
import './v8-flags.js';
import { compileProgram, type CompiledModule } from './compile.js';
import { JitCompileError } from './cfg.js';
import {
  CHECK_LIMIT_SLOT, CPU_SLOT, FaultKind, IMPORT_MODULE, IMPORT_TABLE_NAME, JIT_REGFILE_BYTES, LOOP_HELPER_ID,
  RUN_SLOT, WINDOW_SLOT,
} from './layout.js';
import { importTable } from './import-table.js';
import { emptyPlan, planInlineMaps, planKey, type InlineMapPlan } from './inline-maps.js';
import { enterProgram, registerEntry, releaseEntry, type EntryOwner } from './entry-table.js';
import { wasmLookup, type FindInIndex, type LookupMap } from './wasm-lookup.js';
import {
  CSUM_DIFF_HELPER_ID, MAP_UPDATE_HELPER_ID, NO_WASM_HELPERS, SKB_LOAD_BYTES_HELPER_ID, wasmHelperKey, type WasmHelperChoice,
} from './wasm-helpers.js';

/**
 * A program loaded into the JIT: the module compiled once per distinct bytecode (cached), instantiated
 * per load against the load's address space (its stack, guards and register file are regions there),
 * run through the exported `run`. The JS side here serves the module's imports: helper dispatch,
 * faults, LD_ABS/LD_IND and checked-mode region lookups.
 */

interface CachedModule { module: WebAssembly.Module; compiled: CompiledModule }

const moduleCache = new ModuleCache<CachedModule>();

/**
 * Compile (or fetch from the cache) the module for a program (with the map lookups it inlines and the
 * helpers it answers in wasm).
 */
export function compileCached(
  insns: readonly Instruction[], checked: boolean, plan: InlineMapPlan = emptyPlan(), helpers: WasmHelperChoice = NO_WASM_HELPERS,
): CachedModule {
  const key = `${checked ? 'checked' : 'fast'}${planKey(plan)}|${checked ? '' : wasmHelperKey(helpers)}`;
  return moduleCache.get(insns, key, () => {
    const compiled = compileProgram(insns, checked, plan, helpers);
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
/** Most runs of one call of the module's repeat loop (its count is an i32). */
const MAX_RUNS_PER_ENTRY = 2 ** 30;
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
  /** The run's packet option, read live: packet-changing helpers move the skb's data. */
  packet: JitPacketWindow | undefined;
  /** `runRepeated`'s beforeRun (undefined for a single run). */
  beforeRun: (() => void) | undefined;
}

/** What a run starts with: no tail calls yet, the LD_ABS window not resolved. */
function startRun<Env>(state: RunState<Env>): void {
  state.tailCalls = 0;
  state.tailTarget = undefined;
  // Resolved at the first LD_ABS/LD_IND (a test run's packet option follows the skb).
  state.packetStart = -1;
  state.packetLength = 0;
}

function newRunState<Env>(): RunState<Env> {
  return {
    env: undefined, budget: DEFAULT_BUDGET, tailCalls: 0, tailTarget: undefined, tailR1lo: 0, tailR1hi: 0,
    packetStart: -1, packetLength: 0, packet: undefined, beforeRun: undefined,
  };
}

/** Where LD_ABS / LD_IND read (the interpreter's `PacketWindow`). */
export interface JitPacketWindow {
  start: number;
  length: number;
}

export interface JitRunOptions<Env = unknown> extends RunOptions<Env> {
  /**
   * The packet LD_ABS/LD_IND read (default: the region holding r6, from r6 to the region's end); also
   * the skb data skb_load_bytes reads when wasm answers it (a test run passes the skb's data here).
   */
  packet?: JitPacketWindow;
}

interface ModuleExports {
  /**
   * (budget, registers given, runs) -> the last run's fuel left, or -1 - fuel left when a run ended in
   * a tail call (the runs still to do at RUN_SLOT + 4); r1..r5 past `given` start at 0.
   */
  run: (budget: number, given: number, runs: number) => number;
  fuel: WebAssembly.Global;
  halt: WebAssembly.Global;
  checkLimit: WebAssembly.Global;
  /** Callbacks running now (nonzero: a helper's TAIL_CALL is ignored, as in the interpreter). */
  callbackDepth: WebAssembly.Global;
  /** (subprogram k, insn): runs subprogram k as a callback; r1..r5 and r0 through the register file. */
  invoke: (slot: number, insn: number) => void;
  /** Checked mode with access sites: clears every site's cached region. */
  forget?: () => void;
}

/** Checked mode: regions the site caches may hold, validated before trusting the caches again. */
class CachedRegions {
  private readonly regions: Region[] = [];
  private readonly writable: boolean[] = [];
  private readonly known = new Set<Region>();
  private overflow = false;
  /** Past this many distinct regions, validating costs more than refilling: forget instead. */
  private static readonly MAX = 32;

  add(region: Region): void {
    if (this.known.has(region)) return;
    if (this.regions.length >= CachedRegions.MAX) { this.overflow = true; return; }
    this.known.add(region);
    this.regions.push(region);
    this.writable.push(region.writable);
  }

  /** Whether every region a cache may hold is still allocated, as it was (same object, same access). */
  intact(space: AddressSpace): boolean {
    if (this.overflow) return false;
    const regions = this.regions;
    for (let k = 0; k < regions.length; k++) {
      const region = regions[k]!;
      if (space.regionAt(region.start) !== region || region.writable !== this.writable[k]) return false;
    }
    return true;
  }

  clear(): void {
    this.regions.length = 0;
    this.writable.length = 0;
    this.known.clear();
    this.overflow = false;
  }
}

/**
 * Whether a helper is the runtime's implementation `name` (bpf_loop, csum_diff ...), whose semantics
 * the inlined code reproduces. The engine cannot import the helpers (they sit above it), so it recognises
 * the implementation by name.
 */
function isRuntimeHelper(helper: unknown, name: string): boolean {
  return typeof helper === 'function' && helper.name === name;
}

const CALL = 0x85;
const callsHelper = (insns: readonly Instruction[], id: number): boolean =>
  insns.some((insn) => insn.code === CALL && insn.src === 0 && insn.imm === id);

export class JitProgram<Env> implements ExecutableProgram<Env>, EntryOwner {
  readonly engine = 'jit' as const;
  private readonly space: AddressSpace;
  private readonly helpers: HelperTable<Env>;
  private readonly name: string;
  private readonly stack: Region;
  private readonly regfile: Region;
  private readonly exports: ModuleExports;
  private readonly call: HelperCall<Env | undefined>;
  private state: RunState<Env> | undefined;
  private readonly spareState: RunState<Env> = newRunState();
  private readonly regfileStart: number;
  private lastResult: RunResult | undefined;
  /** skb_load_bytes is answered in wasm (wasm-helpers.ts): the packet window is published per run. */
  private readonly publishesWindow: boolean;
  /** The handles of the maps lookup_map serves, by slot (wasm-lookup.ts). */
  private handles: Region | undefined;
  /** Where the entry sits in the shared entry table (entry-table.ts), -1 when it is not there. */
  private entry = -1;
  private disposed = false;
  private readonly guards: Region[] = [];
  /** Subprogram number by first slot: what `call.invoke` targets. */
  private readonly callbackSlot: Map<number, number>;
  /** Checked mode with access sites: what the site caches may hold (undefined otherwise). */
  private readonly cachedRegions: CachedRegions | undefined;
  /** Too many sites to track: clear the caches at every run (and never after helpers, a known gap). */
  private readonly forgetEveryRun: boolean;
  /** Whether `prepare` has anything to do before a run. */
  private readonly prepares: boolean;
  /** Inlined per-CPU lookups read the run's CPU: `run` stores cpuOf(env) at CPU_SLOT (else undefined). */
  private readonly cpuOf: ((env: Env) => number) | undefined;
  /** The env whose CPU is in the register file now. */
  private cpuEnv: Env | undefined;

  constructor(readonly insns: readonly Instruction[], options: LoadOptions<Env>) {
    this.space = options.space;
    this.helpers = options.helpers ?? [];
    this.name = options.name ?? 'program';
    const plan = planInlineMaps(insns, options.describeMap?.bind(options));
    const checked = options.checked === true;
    const helpers = this.wasmHelperChoice(insns, checked);
    this.publishesWindow = helpers.loadBytes;
    const { module, compiled } = compileCached(insns, checked, plan, helpers);
    const cpuOf = options.cpuOf?.bind(options) ?? ((): number => 0);
    this.cpuOf = compiled.usesCpu ? cpuOf : undefined;
    this.callbackSlot = new Map(compiled.starts.map((start, k) => [start, k]));
    this.cachedRegions = compiled.forgetsAfterHelpers ? new CachedRegions() : undefined;
    this.forgetEveryRun = compiled.sites > 0 && !compiled.forgetsAfterHelpers;
    this.prepares = this.cpuOf !== undefined || this.cachedRegions !== undefined || this.forgetEveryRun;
    // Read-only guards on both sides of the stack, so that in checked mode a store just past either
    // end is caught instead of landing in a neighbouring region.
    this.guards.push(this.space.allocate(STACK_GUARD_BYTES, 'scratch', `guard below stack of ${this.name}`, false));
    this.stack = this.space.allocate(MAX_CALL_FRAMES * STACK_FRAME_BYTES, 'stack', `stack of ${this.name}`);
    this.guards.push(this.space.allocate(STACK_GUARD_BYTES, 'scratch', `guard above stack of ${this.name}`, false));
    this.regfile = this.space.allocate(JIT_REGFILE_BYTES, 'scratch', `register file of ${this.name}`);
    this.regfileStart = this.regfile.start;
    this.call = {
      space: this.space, regfile: this.regfile.start, insn: 0, env: undefined, tailCallTarget: undefined,
      invoke: (target, args) => this.invoke(target, args),
    };
    const jsLookup = (slot: number, key: number): number => {
      const env = this.call.env;
      return plan.lookups[slot]!.lookup(key >>> 0, env === undefined ? 0 : cpuOf(env));
    };
    const maps = plan.lookups.length > 0 || helpers.mapUpdate ? this.mapSearch(plan, jsLookup) : undefined;
    const calls = importTable({
      call_helper: (id: number, insn: number): number => this.callHelper(id, insn),
      fault: (kind: number, insn: number): never => this.fault(kind, insn),
      load_packet: (lo: number, hi: number, offset: number, width: number, insn: number): number =>
        this.loadPacket(lo, hi, offset, width, insn),
      check: (lo: number, hi: number, size: number, write: number, insn: number): number =>
        this.check(lo, hi, size, write, insn),
    });
    const imports = {
      [IMPORT_MODULE]: {
        memory: this.space.memory,
        [IMPORT_TABLE_NAME]: calls,
        // Imported (as wasm functions) only by modules that search maps: those have `maps`.
        ...(maps === undefined ? {} : { lookup_map: maps.lookupMap, find: maps.find }),
        regfile: this.regfile.start,
        stack_low: this.stack.start,
        stack_top: this.stack.start + this.stack.size,
        inline_loop: isRuntimeHelper(this.helpers[LOOP_HELPER_ID], 'loop') ? 1 : 0,
      },
    };
    const instance = new WebAssembly.Instance(module, imports);
    this.exports = instance.exports as unknown as ModuleExports;
  }

  /**
   * The helpers the module answers in wasm (wasm-helpers.ts): those an unchecked program calls that
   * the table holds the runtime's implementations of.
   */
  private wasmHelperChoice(insns: readonly Instruction[], checked: boolean): WasmHelperChoice {
    if (checked) return NO_WASM_HELPERS;
    const usable = (id: number, name: string): boolean => callsHelper(insns, id) && isRuntimeHelper(this.helpers[id], name);
    return {
      csumDiff: usable(CSUM_DIFF_HELPER_ID, 'csum_diff'),
      loadBytes: usable(SKB_LOAD_BYTES_HELPER_ID, 'loadBytes'),
      mapUpdate: usable(MAP_UPDATE_HELPER_ID, 'mapUpdateElem'),
    };
  }

  /**
   * Map searches in wasm (wasm-lookup.ts): the module's lookup_map, where maps that publish their
   * index are searched in place through a table of the planned maps' handles by slot (`jsLookup`
   * serves the others), and the hash search map_update_elem in wasm uses.
   */
  private mapSearch(plan: InlineMapPlan, jsLookup: LookupMap): { lookupMap: LookupMap; find: FindInIndex } {
    const handles = this.space.allocate(Math.max(4, 4 * plan.lookups.length), 'scratch', `map handles of ${this.name}`, false);
    for (const [handle, slot] of plan.lookupSlots) this.space.view.setUint32(handles.start + 4 * slot, handle, true);
    this.handles = handles;
    return wasmLookup(this.space.memory, handles.start, jsLookup);
  }

  /** Where skb_load_bytes in wasm reads: the run's packet option (the skb's data), read live. */
  private publishWindow(packet: JitPacketWindow | undefined): void {
    const at = this.regfileStart + WINDOW_SLOT;
    const view = this.space.view;
    if (packet === undefined) {
      view.setUint32(at + 8, 0, true);
      return;
    }
    view.setUint32(at, packet.start, true);
    view.setUint32(at + 4, packet.length, true);
    view.setUint32(at + 8, 1, true);
  }

  run(options: JitRunOptions<Env> = {}): RunResult {
    const state = this.openState(options, undefined);
    const given = this.storeArgs(options.args);
    this.resetRun(state);
    return this.finish(state, this.enter(state, state.budget, given, 1));
  }

  /**
   * `repeat` runs with the same options, as `repeat` calls of `run` (BPF_PROG_TEST_RUN's repeat): the
   * module's own loop runs them in one call from JS (a trivial program: 10 -> 1.5 ns per run), only the
   * last run's result is made. JS runs between two runs only where a run needs it: after a run that
   * ended in a tail call (JS follows it, to whatever program the helper named, then enters the loop
   * again for the rest), and every MAX_RUNS_PER_ENTRY runs (the loop counts in an i32). The per-run
   * state JS keeps (tail calls, the LD_ABS window) is reset at the run's first import call (`syncRun`),
   * where `beforeRun` is called too: the engine contract lets it skip runs that call no helper.
   * The CPU and the checked-mode site caches need nothing between runs: the env is the same for
   * all, and every JS helper call already checks the regions the caches may hold (`regionsChanged`).
   */
  runRepeated(options: JitRunOptions<Env>, repeat: number, beforeRun?: () => void): RunResult {
    const state = this.openState(options, beforeRun);
    let left = repeat > 1 ? Math.ceil(repeat) : 1;
    for (;;) {
      beforeRun?.();
      const given = this.storeArgs(options.args);
      this.resetRun(state);
      const runs = left < MAX_RUNS_PER_ENTRY ? left : MAX_RUNS_PER_ENTRY;
      const out = this.enter(state, state.budget, given, runs);
      // Read before following the tail call: it may enter this program again.
      left -= out < 0 ? runs - this.space.view.getUint32(this.regfileStart + RUN_SLOT + 4, true) : runs;
      if (left <= 0) return this.finish(state, out);
      this.finish(state, out);
    }
  }

  /**
   * The state of the runs `options` start: one object per program, reused (a run allocates as little
   * as possible); a run started from inside a helper of a run of this program gets its own.
   */
  private openState(options: JitRunOptions<Env>, beforeRun: (() => void) | undefined): RunState<Env> {
    if (this.disposed) throw new ExecutionError('vm/disposed', `${this.name} was disposed`, 0);
    const state: RunState<Env> = this.state === undefined ? this.spareState : newRunState();
    state.env = options.env;
    state.budget = options.budget ?? DEFAULT_BUDGET;
    state.packet = options.packet;
    state.beforeRun = beforeRun;
    return state;
  }

  /**
   * r1..r5 from `args` into the register file (before every entry: helper calls pass their arguments
   * through it); how many were given (the module zeroes the rest, and a test run passes one).
   */
  private storeArgs(args: RunOptions<Env>['args']): number {
    const given = args === undefined ? 0 : args.length < 5 ? args.length : 5;
    const first = given === 1 ? args![0]! : -1;
    if (typeof first === 'number' && first >= 0 && first <= 0xffffffff) {
      // One pointer (a test run's context): no loop, no general case.
      const view = this.space.view;
      view.setUint32(this.regfileStart + 8, first, true);
      view.setUint32(this.regfileStart + 12, 0, true);
    } else for (let r = 1; r <= given; r++) this.storeArg(r, args![r - 1]!);
    return given;
  }

  /**
   * Per-run state back to a run's start. The stack is not cleared between runs (as in the interpreter
   * and the kernel: the verifier rejects reads of stack slots the program did not write; clearing
   * 4 KiB per run cost more than a small run).
   */
  private resetRun(state: RunState<Env>): void {
    startRun(state);
    if (this.prepares) this.prepare(state.env);
  }

  /**
   * At an import that reads per-run state: when the module's repeat loop has started another run since
   * JS last looked (RUN_SLOT set), that state goes back to a run's start and `beforeRun` is called.
   */
  private syncRun(state: RunState<Env>): void {
    const view = this.space.view;
    const at = this.regfileStart + RUN_SLOT;
    if (view.getUint32(at, true) === 0) return;
    view.setUint32(at, 0, true);
    startRun(state);
    state.beforeRun?.();
  }

  /** Back to the run this one was nested in (a helper's), or to none. */
  private leaveRun(outer: RunState<Env> | undefined): void {
    this.state = outer;
    if (outer === undefined) return;
    this.call.env = outer.env;
    // The outer run is inside an import, so JS is in step with its loop; the nested run's loop may
    // have left RUN_SLOT set.
    this.space.view.setUint32(this.regfileStart + RUN_SLOT, 0, true);
    // A run nested in a helper of this one may have run on another CPU.
    if (this.cpuOf !== undefined) this.storeCpu(outer.env);
  }

  entryEvicted(): void {
    this.entry = -1;
  }

  /** What some programs need before each run: the CPU stored, the checked-mode site caches checked. */
  private prepare(env: Env | undefined): void {
    if (this.cpuOf !== undefined) this.storeCpu(env);
    // Site caches survive from run to run while the regions they hold do (the context and packet of a
    // repeated test run, map values ...).
    const cached = this.cachedRegions;
    if (cached !== undefined && !cached.intact(this.space)) {
      this.exports.forget!();
      cached.clear();
    } else if (this.forgetEveryRun) this.exports.forget!();
  }

  /** r<r> = value in the register file (64-bit two's complement). */
  private storeArg(r: number, value: number | bigint): void {
    const view = this.space.view;
    const at = this.regfileStart + 8 * r;
    if (typeof value === 'bigint') view.setBigUint64(at, BigInt.asUintN(64, value), true);
    else {
      view.setUint32(at, value >>> 0, true);
      view.setUint32(at + 4, value >= 0 && value <= 0xffffffff ? 0 : Math.floor(value / 4294967296) >>> 0, true);
    }
  }

  /** Run with r1..r<given> already in the register file; follows tail calls. */
  private runWith(state: RunState<Env>, fuel: number, given: number): RunResult {
    return this.finish(state, this.enter(state, fuel, given, 1));
  }

  /**
   * One call of the module's entry (`runs` runs) with r1..r<given> in the register file: the last
   * run's fuel left, or -1 - the fuel left when a run ended in a tail call. (No `finally`: it cost a
   * small run 2 ns.)
   */
  private enter(state: RunState<Env>, fuel: number, given: number, runs: number): number {
    const outer = this.state;
    this.state = state;
    this.call.env = state.env;
    if (this.publishesWindow) this.publishWindow(state.packet);
    if (this.entry < 0) this.entry = registerEntry(this, this.exports.run);
    let out: number;
    try {
      out = enterProgram(this.entry, fuel, given, runs);
    } catch (error) {
      this.leaveRun(outer);
      throw translateTrap(error, this.name);
    }
    this.leaveRun(outer);
    return out;
  }

  /** The result of a run whose entry returned `out`, following its tail call. */
  private finish(state: RunState<Env>, out: number): RunResult {
    if (out < 0 && state.tailTarget !== undefined) {
      const target = state.tailTarget;
      state.tailTarget = undefined;
      return this.tailCall(target, state, -1 - out);
    }
    const view = this.space.view;
    const base = this.regfileStart;
    return this.result(view.getUint32(base, true), view.getUint32(base + 4, true), state.budget - out);
  }

  /**
   * The run's result. Results are immutable, so a run ending as the previous one did (every repeat of
   * a test run, most packets) returns the same object: no allocation per run.
   */
  private result(r0lo: number, r0hi: number, executed: number): RunResult {
    const last = this.lastResult;
    if (last !== undefined && last.r0lo === r0lo && last.r0hi === r0hi && last.executed === executed) return last;
    return (this.lastResult = makeResult(r0lo, r0hi, executed));
  }

  private tailCall(target: unknown, state: RunState<Env>, fuel: number): RunResult {
    if (target instanceof JitProgram) {
      const next = target as JitProgram<Env>;
      const view = next.space.view;
      view.setUint32(next.regfile.start + 8, state.tailR1lo, true);
      view.setUint32(next.regfile.start + 12, state.tailR1hi, true);
      if (next.cpuOf !== undefined) next.storeCpu(state.env);
      // r2..r5 as the tail_call helper left them in the register file.
      return next.runWith(state, fuel, 5);
    }
    if (isExecutable<Env>(target)) {
      const r1 = state.tailR1hi * 4294967296 + state.tailR1lo;
      const env = state.env;
      const result = target.run(env === undefined ? { args: [r1], budget: fuel } : { args: [r1], env, budget: fuel });
      return makeResult(result.r0lo, result.r0hi, state.budget - fuel + Math.max(result.executed, 0));
    }
    throw new ExecutionError('vm/bad-tail-call', `${this.name}: tail call target is not a program`, this.call.insn);
  }

  /** The run's CPU where inlined per-CPU lookups read it (once per env: a test run's repeats share one). */
  private storeCpu(env: Env | undefined): void {
    if (env === this.cpuEnv && env !== undefined) return;
    this.cpuEnv = env;
    const cpu = env === undefined ? 0 : this.cpuOf!(env);
    this.space.view.setUint32(this.regfile.start + CPU_SLOT, cpu >>> 0, true);
  }

  private callHelper(id: number, insn: number): number {
    const helper = this.helpers[id];
    if (helper === undefined) {
      throw new ExecutionError('vm/unknown-helper', `${this.name}: call to unknown helper ${id}`, insn);
    }
    const state = this.state!;
    this.syncRun(state);
    const call = this.call;
    call.insn = insn;
    call.tailCallTarget = undefined;
    const status = helper(call as HelperCall<Env>) ?? HelperStatus.CONTINUE;
    // The helper may have moved the packet (change_head, adjust_room ...).
    if (this.publishesWindow) this.publishWindow(state.packet);
    if (status === HelperStatus.CONTINUE) return this.regionsChanged();
    if (status === HelperStatus.TAIL_CALL) {
      // Inside a callback a tail call does nothing (the interpreter only follows them at depth 0).
      if ((this.exports.callbackDepth.value as number) > 0) return this.regionsChanged();
      // Past the limit the tail call fails and the program goes on, as in the kernel.
      if (state.tailCalls >= MAX_TAIL_CALLS || call.tailCallTarget === undefined) return this.regionsChanged();
      state.tailCalls++;
      state.tailTarget = call.tailCallTarget;
      const view = this.space.view;
      state.tailR1lo = view.getUint32(this.regfile.start + 8, true);
      state.tailR1hi = view.getUint32(this.regfile.start + 12, true);
    }
    this.exports.halt.value = status;
    // The repeat loop's next run trusts the site caches: check them after a stopping helper too.
    return 1 | this.regionsChanged();
  }

  /**
   * `call.invoke` for callback helpers: the subprogram starting at slot `target` runs one frame below
   * the function calling the helper, with r1..r5 = args; returns its r0 (exact up to 2^53).
   */
  private invoke(target: number, args: ArrayLike<number>): number {
    const insn = this.call.insn;
    const slot = this.callbackSlot.get(target);
    if (slot === undefined) {
      throw new ExecutionError('vm/bad-callback', `${this.name}: callback target ${target} is not the start of a function`, insn);
    }
    const view = this.space.view;
    const base = this.regfile.start;
    for (let r = 1; r <= 5; r++) {
      const value = r <= args.length ? args[r - 1]! : 0;
      view.setUint32(base + 8 * r, value >>> 0, true);
      view.setUint32(base + 8 * r + 4, Math.floor(value / 4294967296) >>> 0, true);
    }
    this.exports.invoke(slot, insn);
    this.call.insn = insn;
    // A helper in the callback may have grown the memory (a new view).
    const after = this.space.view;
    return after.getInt32(base + 4, true) * 4294967296 + after.getUint32(base, true);
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
    this.syncRun(state);
    if (state.packet !== undefined) {
      state.packetStart = state.packet.start;
      state.packetLength = state.packet.length;
    }
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

  /**
   * After a helper went on (CONTINUE): 2 when it released or changed a region some site cache may
   * hold, so the module clears the caches (bit 1 of the import's result), else 0.
   */
  private regionsChanged(): number {
    const cached = this.cachedRegions;
    if (cached === undefined || cached.intact(this.space)) return 0;
    cached.clear();
    return 2;
  }

  /** A site cache miss: check the access (throws if bad); the region's start, its limit in the regfile. */
  private check(lo: number, hi: number, size: number, write: number, insn: number): number {
    this.space.check(lo, hi, size, write !== 0, insn);
    const region = this.space.regionAt(lo >>> 0)!;
    this.cachedRegions?.add(region);
    this.space.view.setUint32(this.regfile.start + CHECK_LIMIT_SLOT, region.size - size + 1, true);
    return region.start;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.space.release(this.stack);
    this.space.release(this.regfile);
    if (this.handles !== undefined) this.space.release(this.handles);
    releaseEntry(this, this.entry);
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
