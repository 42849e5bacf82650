import { REGFILE_BYTES } from '../abi.js';

/**
 * The fixed shape of every module the JIT emits: import names, global and function indexes, local
 * slots of a subprogram function, fault kinds. Shared by the compiler and the JS glue that
 * instantiates the module.
 */

export const IMPORT_MODULE = 'bpf';

/**
 * The JS functions a module calls, by their slot in its imported table of functions (import-table.ts):
 * reached with `call_indirect`, not as function imports.
 */
export const ImportFn = {
  /**
   * (helper id, insn) -> bit 0: unwind (STOP, TAIL_CALL), bit 1: clear the checked-mode site caches;
   * r1..r5 and r0 travel through the register file.
   */
  callHelper: 0,
  /** (kind, insn) -> never returns (throws). */
  fault: 1,
  /** (ctx lo, ctx hi, offset, width, insn) -> 0 loaded (value in regfile r0) | 1 program ends with 0. */
  loadPacket: 2,
  /**
   * (address lo, address hi, size, write, insn) -> region start, with region size - size + 1 as a u32
   * at regfile + CHECK_LIMIT_SLOT; throws if bad.
   */
  check: 3,
} as const;
export const IMPORT_FN_NAMES = ['call_helper', 'fault', 'load_packet', 'check'] as const;
/** Name of the imported table of functions. */
export const IMPORT_TABLE_NAME = 'calls';

/**
 * The map searches of wasm-lookup.ts, wasm functions already: a module that searches maps imports them
 * as its functions 0 and 1 (a plain call; through the table, the bpf_loop hash-map fixture ran ~8%
 * slower). V8 compiles one import wrapper for them per such module.
 */
export const LookupFn = {
  /** (lookup slot, key address) -> the value's address or 0: map_lookup_elem on a known hash/LPM map. */
  lookupMap: 0,
  /** (hash index, key address) -> the value's address or 0: map_update_elem in wasm (wasm-helpers.ts). */
  find: 1,
} as const;
export const LOOKUP_FN_NAMES = ['lookup_map', 'find'] as const;

/**
 * The signatures of the table's functions and the map searches: every module declares these as its
 * first types, in this order.
 */
export const IMPORT_SIGNATURES = [
  /** (i32, i32) -> i32: call_helper, lookup_map, find. */
  { params: 2, result: true },
  /** (i32, i32) -> nothing: fault. */
  { params: 2, result: false },
  /** (i32 x 5) -> i32: load_packet, check. */
  { params: 5, result: true },
] as const;
/** The type index (in IMPORT_SIGNATURES) of each function of ImportFn, by slot. */
export const IMPORT_TYPE_OF = [0, 1, 2, 2] as const;
/** The type index of the map searches (LookupFn). */
export const LOOKUP_TYPE = 0;

/** Register-file byte offset (slot 10, unused by helpers) where `check` leaves the region limit. */
export const CHECK_LIMIT_SLOT = 80;
/** Byte offset just past the helpers' register file where `run` leaves the run's CPU (a u32). */
export const CPU_SLOT = REGFILE_BYTES;
/**
 * Where skb_load_bytes in wasm reads the packet (wasm-helpers.ts), kept current by the JS side at the
 * start of a run and after every JS helper (which may move it): u32 data address, u32 length, u32 1
 * when there is one.
 */
export const WINDOW_SLOT = CPU_SLOT + 8;
/**
 * The repeat loop of `run` (compile.ts): a u32 the loop sets to 1 at the start of every run after the
 * first of one entry, so the JS side resets its per-run state at its next import call (and 0 at the
 * first, which JS prepared itself); then a u32, the runs still to do when a run ends in a tail call.
 */
export const RUN_SLOT = WINDOW_SLOT + 16;
/** The JIT's register file: the helpers' slots, the CPU slot, the packet window, the repeat loop's slots. */
export const JIT_REGFILE_BYTES = RUN_SLOT + 8;
/** Helper id of bpf_map_lookup_elem (inlined for array maps the loader describes). */
export const MAP_LOOKUP_HELPER_ID = 1;

/** Globals: four imported constants, then the module's own mutable state. */
export const Global = {
  regfile: 0,
  stackLow: 1,
  stackTop: 2,
  /** i32: 1 when helper 181 is the runtime's bpf_loop, so calls with a known callback run inline. */
  inlineLoop: 3,
  /**
   * i64: budget left (set by `run`). Functions keep it in an i64 local, charged at back edges (the
   * static length of the loop) and calls, and store it here before calls and returns.
   */
  fuel: 4,
  /** i32: nonzero once the program must unwind (helper STOP or TAIL_CALL, failed LD_ABS). */
  halt: 5,
  /** i32: unused (kept so the other indexes stay put). */
  checkLimit: 6,
  /** i32: may_goto iterations left in this run. */
  mayGoto: 7,
  /** i64: r10 of the function making the current helper call (callbacks run one frame below it). */
  callerFp: 8,
  /** i32: callbacks (bpf_loop, for_each_map_elem ...) running now; tail calls are ignored inside. */
  callbackDepth: 9,
  /**
   * Checked mode: from here, one (region start, limit) pair of mutable i64 globals per memory access
   * site, caching the region the site last touched (limit 0: nothing cached).
   */
  firstSiteCache: 10,
} as const;
export const IMPORTED_GLOBAL_NAMES = ['regfile', 'stack_low', 'stack_top', 'inline_loop'] as const;
export const EXPORTED_GLOBALS = {
  fuel: Global.fuel, halt: Global.halt, checkLimit: Global.checkLimit, callbackDepth: Global.callbackDepth,
} as const;

export const FaultKind = {
  budget: 1,
  callDepth: 2,
  fellOff: 3,
  kfunc: 4,
  badCallx: 5,
} as const;

/** Checked mode: address ranges a versioned loop checks per iteration (check-hoist.ts). */
export const MAX_RANGES_PER_LOOP = 4;
/** i64 locals per range: see Local.firstRange. */
export const LOCALS_PER_RANGE = 3;

/** Local slots of a subprogram function: params r1..r5 and the frame pointer, then locals. */
export const Local = {
  fp: 5,
  r0: 6,
  t64a: 11,
  t64b: 12,
  /** The budget left, as an integer, while this function runs (the f64 global is synced at calls). */
  fuel: 13,
  /** The iteration counter of an inlined bpf_loop. */
  loopCounter: 14,
  /**
   * Checked mode: the ranges of a versioned loop (check-hoist.ts), three per range: the region's start
   * minus the range's low end (and its invariant registers); the room the range has in it (0: none)
   * or, for a strided register, the bound it is compared with for one iteration; and that bound
   * narrowed for a whole unrolled trip (structure.ts).
   */
  firstRange: 15,
  t32a: 15 + LOCALS_PER_RANGE * MAX_RANGES_PER_LOOP,
  label: 16 + LOCALS_PER_RANGE * MAX_RANGES_PER_LOOP,
  /** i32: r10 - 512, the base of stack accesses through r10 when no instruction writes r10. */
  frameBase: 17 + LOCALS_PER_RANGE * MAX_RANGES_PER_LOOP,
} as const;
/** i64 locals after the params: r0, r6..r9, two temporaries, fuel, loop counter, loop ranges. */
export const I64_LOCALS = 9 + LOCALS_PER_RANGE * MAX_RANGES_PER_LOOP;
export const I32_LOCALS = 3;

export function registerLocal(reg: number): number {
  if (reg === 0) return Local.r0;
  if (reg <= 5) return reg - 1;
  if (reg === 10) return Local.fp;
  return reg + 1;
}

/** kernel BPF_MAX_LOOPS: may_goto iterations per run. */
export const MAY_GOTO_ITERATIONS = 8 * 1024 * 1024;

/** kernel BPF_MAX_LOOPS: the most iterations bpf_loop accepts. */
export const BPF_MAX_LOOPS = 8 * 1024 * 1024;
/** Helper id of bpf_loop. */
export const LOOP_HELPER_ID = 181;
