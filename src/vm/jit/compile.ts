import { validate, type Instruction } from '../../isa/index.js';
import { HelperStatus } from '../abi.js';
import { STACK_FRAME_BYTES, type InlineMapLayout } from '../engine.js';
import { buildSubprogram, subprogramStarts, JitCompileError } from './cfg.js';
import { FunctionCompiler, type CodegenContext } from './codegen.js';
import {
  EXPORTED_GLOBALS, Global, I32_LOCALS, I64_LOCALS, IMPORT_FN_NAMES, IMPORT_MODULE, IMPORT_TABLE_NAME,
  IMPORTED_GLOBAL_NAMES, ImportFn, LOOKUP_FN_NAMES, LOOKUP_TYPE, MAY_GOTO_ITERATIONS, FaultKind, RUN_SLOT,
} from './layout.js';
import { callImport, declareImportTypes } from './import-table.js';
import { ByteWriter, ModuleBuilder, Op, ValType, VOID_BLOCK, encodeLocals } from './wasm.js';
import { NO_WASM_HELPERS, addWasmHelpers, type WasmHelperChoice } from './wasm-helpers.js';

/**
 * eBPF program -> one WebAssembly module. The JS side's functions are reached through an imported
 * table (import-table.ts), the map searches (wasm-lookup.ts) as imported functions. Each subprogram
 * becomes a function (r1..r5, fp) -> r0; `run` reads r1..r5 from the register file, then calls the
 * entry and stores r0 back as many times as asked (a test run's repeat loop); `invoke` runs a
 * subprogram as a callback of a helper (bpf_loop, for_each_map_elem); `forget` clears the checked-mode
 * site caches. Slow paths carry branch hints (v8-flags.ts).
 */

export interface CompiledModule {
  bytes: Uint8Array<ArrayBuffer>;
  subprograms: number;
  /** True when some subprogram needed the dispatch-loop form. */
  irreducible: boolean;
  /** First slot of each subprogram; the exported `invoke(k, insn)` calls subprogram k as a callback. */
  starts: number[];
  /** Checked mode: memory access sites (with any, the module exports `forget`). */
  sites: number;
  /** Helper results may ask to clear the site caches (bit 1); false beyond a few thousand sites. */
  forgetsAfterHelpers: boolean;
  /** Some inlined per-CPU lookup reads the run's CPU from the register file (CPU_SLOT). */
  usesCpu: boolean;
}

const { i32, i64, f64 } = ValType;

export interface InlineMaps {
  arrays: ReadonlyMap<number, InlineMapLayout>;
  lookupSlots: ReadonlyMap<number, number>;
}
const NO_INLINE_MAPS: InlineMaps = { arrays: new Map(), lookupSlots: new Map() };

/**
 * `inline`: maps whose map_lookup_elem calls (on a constant handle) skip the helper ABI: arrays
 * become inline wasm, lookup slots call the `lookup_map` import (inline-maps.ts). `helpers`: helpers
 * answered by functions of the module, called directly (wasm-helpers.ts; unchecked programs only).
 */
export function compileProgram(
  insns: readonly Instruction[], checked: boolean, inline: InlineMaps = NO_INLINE_MAPS,
  helpers: WasmHelperChoice = NO_WASM_HELPERS,
): CompiledModule {
  if (insns.length === 0) throw new JitCompileError('jit/empty', 'empty program');
  const ops = validate(insns);
  const starts = subprogramStarts(insns, ops);
  const m = new ModuleBuilder();

  declareImportTypes(m);
  m.importTable(IMPORT_MODULE, IMPORT_TABLE_NAME, IMPORT_FN_NAMES.length);
  const wasmHelperChoice = checked ? NO_WASM_HELPERS : helpers;
  if (inline.lookupSlots.size > 0 || wasmHelperChoice.mapUpdate) {
    LOOKUP_FN_NAMES.forEach((name, index) => {
      if (m.importFunction(IMPORT_MODULE, name, LOOKUP_TYPE) !== index) throw new JitCompileError('jit/internal', 'import order');
    });
  }
  m.importMemory(IMPORT_MODULE, 'memory');
  for (const name of IMPORTED_GLOBAL_NAMES) m.importGlobal(IMPORT_MODULE, name, i32);
  const zeroI32 = (w: ByteWriter): void => { w.byte(Op.i32_const); w.s32(0); };
  if (m.global(i64, true, (w) => { w.byte(Op.i64_const); w.s64(0, 0); }) !== Global.fuel) throw new JitCompileError('jit/internal', 'global order');
  m.global(i32, true, zeroI32);
  m.global(i32, true, zeroI32);
  m.global(i32, true, zeroI32);
  if (m.global(i64, true, (w) => { w.byte(Op.i64_const); w.s64(0, 0); }) !== Global.callerFp) {
    throw new JitCompileError('jit/internal', 'global order');
  }
  m.global(i32, true, zeroI32);
  for (const [name, index] of Object.entries(EXPORTED_GLOBALS)) m.exportGlobal(name, index);

  const subType = m.type([i64, i64, i64, i64, i64, i64], [i64]);
  const runType = m.type([], []);
  const entryType = m.type([f64, i32, i32], [f64]);
  const functionAt = new Map<number, number>();
  for (const start of starts) functionAt.set(start, m.declareFunction(subType));
  const runFunction = m.declareFunction(entryType);
  m.exportFunction('run', runFunction);
  const invokeFunction = m.declareFunction(m.type([i32, i32], []));
  m.exportFunction('invoke', invokeFunction);

  // Checked mode: two cache globals per memory instruction (an upper bound on the sites emitted).
  let totalSites = 0;
  const siteOf = new Int32Array(insns.length).fill(-1);
  if (checked) {
    ops.forEach((op, i) => {
      const kind = op?.kind;
      if (kind === 'ldx' || kind === 'st' || kind === 'stx' || kind === 'atomic') siteOf[i] = totalSites++;
    });
  }
  const zeroI64 = (w: ByteWriter): void => { w.byte(Op.i64_const); w.s64(0, 0); };
  for (let k = 0; k < 2 * totalSites; k++) {
    const index = m.global(i64, true, zeroI64);
    if (k === 0 && index !== Global.firstSiteCache) throw new JitCompileError('jit/internal', 'global order');
  }
  const forgetFunction = totalSites > 0 ? m.declareFunction(runType) : -1;
  if (forgetFunction >= 0) m.exportFunction('forget', forgetFunction);
  const wasmHelpers = addWasmHelpers(m, wasmHelperChoice);
  const ctx: CodegenContext = {
    insns, ops, checked, functionAt, siteOf, totalSites, frameIsFixed: !writesFramePointer(insns, ops),
    forgetFunction: totalSites <= MAX_SITES_FORGOTTEN_PER_HELPER_CALL ? forgetFunction : -1,
    arrayMaps: inline.arrays, lookupSlots: inline.lookupSlots, wasmHelpers, usesCpu: false,
  };
  let irreducible = false;
  starts.forEach((start, k) => {
    const end = k + 1 < starts.length ? starts[k + 1]! : insns.length;
    const sub = buildSubprogram(insns, ops, start, end);
    if (!sub.reducible) irreducible = true;
    const compiler = new FunctionCompiler(ctx, sub);
    const code = compiler.compile();
    const body = new ByteWriter(code.length + 16);
    encodeLocals(body, [[I64_LOCALS, i64], [I32_LOCALS, i32]]);
    const codeStart = body.length;
    body.append(code);
    m.hintUnlikely(functionAt.get(start)!, compiler.unlikely.map((offset) => codeStart + offset));
    m.defineFunction(functionAt.get(start)!, body.finish());
  });

  if (forgetFunction >= 0) m.defineFunction(forgetFunction, forgetSites(totalSites));
  // Past MAX_SITES_FORGOTTEN_PER_HELPER_CALL the caches are cleared at every run instead (program.ts).
  const forgetEachRun = ctx.forgetFunction < 0 ? forgetFunction : -1;
  m.defineFunction(runFunction, repeatLoop(functionAt.get(0)!, forgetEachRun));
  m.defineFunction(invokeFunction, invokeTrampoline(starts.map((start) => functionAt.get(start)!), forgetFunction));
  return {
    bytes: m.encode(), subprograms: starts.length, irreducible, starts, sites: totalSites,
    forgetsAfterHelpers: ctx.forgetFunction >= 0, usesCpu: ctx.usesCpu,
  };
}

/** Whether any instruction can write r10 (then checked mode checks stack accesses too). */
function writesFramePointer(insns: readonly Instruction[], ops: ReturnType<typeof validate>): boolean {
  return ops.some((op, i) => {
    if (op === undefined) return false;
    const insn = insns[i]!;
    switch (op.kind) {
      case 'alu': case 'ldx': case 'ld_imm64': return insn.dst === 10;
      case 'atomic': return op.op === 'load_acq' ? insn.dst === 10 : op.fetch && insn.src === 10;
      default: return false;
    }
  });
}

/** Helper calls clear the site caches only up to this many sites (the cost is per call). */
const MAX_SITES_FORGOTTEN_PER_HELPER_CALL = 4096;

/** Clear every checked-mode site cache (limit 0 never hits). */
function forgetSites(total: number): Uint8Array {
  const w = new ByteWriter(16 + 12 * total);
  encodeLocals(w, []);
  for (let k = 0; k < total; k++) {
    w.byte(Op.i64_const); w.s64(0, 0);
    w.byte(Op.global_set); w.u32(Global.firstSiteCache + 2 * k + 1);
  }
  w.byte(Op.end);
  return w.finish();
}

/**
 * `invoke(k, insn)`: runs subprogram k as a callback of the helper being called (bpf_loop,
 * for_each_map_elem through the helper's `call.invoke`): r1..r5 from the register file, a frame below
 * the caller's, r0 back into the register file. A helper's STOP inside the callback ends the callback
 * only (as in the interpreter).
 */
function invokeTrampoline(functions: readonly number[], forgetFunction: number): Uint8Array {
  const w = new ByteWriter();
  const slot = 0, insn = 1, savedFp = 2, fp = 3;
  encodeLocals(w, [[2, ValType.i64]]);
  const gget = (g: number): void => { w.byte(Op.global_get); w.u32(g); };
  const gset = (g: number): void => { w.byte(Op.global_set); w.u32(g); };
  const lget = (l: number): void => { w.byte(Op.local_get); w.u32(l); };
  const lset = (l: number): void => { w.byte(Op.local_set); w.u32(l); };
  // A helper may have released regions before calling back.
  if (forgetFunction >= 0) { w.byte(Op.call); w.u32(forgetFunction); }
  gget(Global.callerFp); lset(savedFp);
  gget(Global.callerFp); w.byte(Op.i64_const); w.s64(STACK_FRAME_BYTES, 0); w.byte(Op.i64_sub); lset(fp);
  lget(fp); gget(Global.stackLow); w.byte(Op.i64_extend_i32_u); w.byte(Op.i64_le_s);
  w.byte2(Op.if, VOID_BLOCK);
  w.byte(Op.i32_const); w.s32(FaultKind.callDepth); lget(insn); callImport(w, ImportFn.fault);
  w.byte(Op.end);
  gget(Global.callbackDepth); w.byte(Op.i32_const); w.s32(1); w.byte(Op.i32_add); gset(Global.callbackDepth);
  gget(Global.regfile);
  functions.forEach((fn, k) => {
    lget(slot); w.byte(Op.i32_const); w.s32(k); w.byte(Op.i32_eq);
    w.byte2(Op.if, ValType.i64);
    for (let r = 1; r <= 5; r++) { gget(Global.regfile); w.byte(Op.i64_load); w.byte(0); w.u32(8 * r); }
    lget(fp);
    w.byte(Op.call); w.u32(fn);
    w.byte(Op.else);
  });
  w.byte(Op.i64_const); w.s64(0, 0);
  for (let k = 0; k < functions.length; k++) w.byte(Op.end);
  w.byte(Op.i64_store); w.byte(0); w.u32(0);
  gget(Global.callbackDepth); w.byte(Op.i32_const); w.s32(1); w.byte(Op.i32_sub); gset(Global.callbackDepth);
  w.byte(Op.i32_const); w.s32(0); gset(Global.halt);
  lget(savedFp); gset(Global.callerFp);
  w.byte(Op.end);
  return w.finish();
}

/**
 * `run(budget, given, runs) -> fuel left`: `runs` (>= 1) complete runs of the entry, the repeat loop of
 * a test run inside WebAssembly (one call from JS for all of them, as the kernel loops in the kernel).
 * r1..r<given> are read once from the register file (the others are 0) and passed to every run, so
 * what a run or its helpers write there does not leak into the next; each run starts with the whole
 * budget, no halt, fresh may_goto and callback counts, and stores its r0 back. The result is the last
 * run's fuel left, or -1 - fuel left when a run ends in a tail call: the loop stops there (JS follows
 * the tail call) and leaves the runs still to do at RUN_SLOT + 4. Returning one f64 carries everything
 * (WebAssembly.Global accessors cost more than the call itself). At the start of every run but the
 * first, RUN_SLOT is set to 1 so the JS side resets its own per-run state before serving an import
 * (program.ts); with `forgetEachRun` (too many sites to forget after helpers) the site caches are
 * cleared before those runs, as JS clears them before the first.
 */
function repeatLoop(entry: number, forgetEachRun: number): Uint8Array {
  const w = new ByteWriter();
  const budget = 0, given = 1, runs = 2, firstArg = 3, fuel = 8;
  encodeLocals(w, [[6, i64]]);
  const lget = (l: number): void => { w.byte(Op.local_get); w.u32(l); };
  const lset = (l: number): void => { w.byte(Op.local_set); w.u32(l); };
  const gget = (g: number): void => { w.byte(Op.global_get); w.u32(g); };
  const gset = (g: number): void => { w.byte(Op.global_set); w.u32(g); };
  const i32c = (v: number): void => { w.byte(Op.i32_const); w.s32(v); };
  const storeRunSlot = (offset: number): void => { w.byte(Op.i32_store); w.byte(2); w.u32(RUN_SLOT + offset); };
  lget(budget); w.byte(Op.i64_trunc_f64_s); lset(fuel);
  for (let r = 1; r <= 5; r++) {
    gget(Global.regfile); w.byte(Op.i64_load); w.byte(0); w.u32(8 * r);
    w.byte(Op.i64_const); w.s64(0, 0);
    lget(given); i32c(r); w.byte(Op.i32_ge_s);
    w.byte(Op.select);
    lset(firstArg + r - 1);
  }
  gget(Global.regfile); i32c(0); storeRunSlot(0);
  w.byte2(Op.loop, VOID_BLOCK);
  lget(fuel); gset(Global.fuel);
  i32c(0); gset(Global.halt);
  i32c(MAY_GOTO_ITERATIONS); gset(Global.mayGoto);
  // A fault inside a callback left the count raised (the exception skipped the decrement).
  i32c(0); gset(Global.callbackDepth);
  gget(Global.regfile);
  for (let r = 1; r <= 5; r++) lget(firstArg + r - 1);
  gget(Global.stackTop); w.byte(Op.i64_extend_i32_u);
  w.byte(Op.call); w.u32(entry);
  w.byte(Op.i64_store); w.byte(0); w.u32(0);
  gget(Global.halt); i32c(HelperStatus.TAIL_CALL); w.byte(Op.i32_eq);
  w.byte2(Op.if, VOID_BLOCK);
  gget(Global.regfile); lget(runs); i32c(1); w.byte(Op.i32_sub); storeRunSlot(4);
  w.byte(Op.f64_const); w.f64(-1);
  gget(Global.fuel); w.byte(Op.f64_convert_i64_s);
  w.byte(Op.f64_sub);
  w.byte(Op.return);
  w.byte(Op.end);
  lget(runs); i32c(1); w.byte(Op.i32_sub); w.byte(Op.local_tee); w.u32(runs);
  w.byte2(Op.if, VOID_BLOCK);
  if (forgetEachRun >= 0) { w.byte(Op.call); w.u32(forgetEachRun); }
  gget(Global.regfile); i32c(1); storeRunSlot(0);
  w.byte(Op.br); w.u32(1);
  w.byte(Op.end);
  w.byte(Op.end);
  gget(Global.fuel); w.byte(Op.f64_convert_i64_s);
  w.byte(Op.end);
  return w.finish();
}
