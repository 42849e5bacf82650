import { imm64Parts, type Instruction, type Op as BpfOp, type Width } from '../../isa/index.js';
import { STACK_FRAME_BYTES, type InlineMapLayout } from '../engine.js';
import { JitCompileError, type Subprogram } from './cfg.js';
import { needsCheck, versionLoops, type LoopGuard, type RangeGuard } from './check-hoist.js';
import {
  BPF_MAX_LOOPS, CHECK_LIMIT_SLOT, CPU_SLOT, FaultKind, Global, ImportFn, LOCALS_PER_RANGE, LOOP_HELPER_ID, Local,
  LookupFn, MAP_LOOKUP_HELPER_ID, registerLocal,
} from './layout.js';
import { callImport } from './import-table.js';
import { emitDispatch, emitStructured, UNROLLED_ITERATIONS, type BlockEmitter } from './structure.js';
import { ByteWriter, Op, ValType, VOID_BLOCK } from './wasm.js';
import { CSUM_DIFF_HELPER_ID, csumDiffWord, csumDiffWordForm } from './wasm-helpers.js';

/**
 * Emits the body of one subprogram function: eBPF registers are i64 locals, memory is the imported
 * linear memory, helpers and faults are imported functions. Control flow comes from `structure.ts`.
 */

export interface CodegenContext {
  insns: readonly Instruction[];
  ops: readonly (BpfOp | undefined)[];
  checked: boolean;
  /** Function index of the subprogram starting at a slot. */
  functionAt: ReadonlyMap<number, number>;
  /** Checked mode: the access site of each memory instruction (numbered across the program), or -1. */
  siteOf: Int32Array;
  totalSites: number;
  /** No instruction writes r10, so r10 is always the frame pointer the function was given. */
  frameIsFixed: boolean;
  /** Function that clears every site cache, or -1 (unchecked, or too many sites to clear per call). */
  forgetFunction: number;
  /** Array maps by handle: map_lookup_elem on a constant handle among these is inlined. */
  arrayMaps: ReadonlyMap<number, InlineMapLayout>;
  /** Maps with a direct lookup by handle: map_lookup_elem calls `lookup_map` with this slot. */
  lookupSlots: ReadonlyMap<number, number>;
  /** Helpers answered by functions of the module (wasm-helpers.ts): function index by helper id. */
  wasmHelpers: ReadonlyMap<number, number>;
  /** Set when some inlined lookup reads the run's CPU (so `run` must store it). */
  usesCpu: boolean;
}

const LOAD_U: Record<Width, number> = { 1: Op.i64_load8_u, 2: Op.i64_load16_u, 4: Op.i64_load32_u, 8: Op.i64_load };
const LOAD_S: Record<Width, number> = { 1: Op.i64_load8_s, 2: Op.i64_load16_s, 4: Op.i64_load32_s, 8: Op.i64_load };
const STORE: Record<Width, number> = { 1: Op.i64_store8, 2: Op.i64_store16, 4: Op.i64_store32, 8: Op.i64_store };

type BinaryOps = { i32: number; i64: number };
const SIMPLE_ALU: Partial<Record<string, BinaryOps>> = {
  add: { i32: Op.i32_add, i64: Op.i64_add },
  sub: { i32: Op.i32_sub, i64: Op.i64_sub },
  mul: { i32: Op.i32_mul, i64: Op.i64_mul },
  or: { i32: Op.i32_or, i64: Op.i64_or },
  and: { i32: Op.i32_and, i64: Op.i64_and },
  xor: { i32: Op.i32_xor, i64: Op.i64_xor },
  lsh: { i32: Op.i32_shl, i64: Op.i64_shl },
  rsh: { i32: Op.i32_shr_u, i64: Op.i64_shr_u },
  arsh: { i32: Op.i32_shr_s, i64: Op.i64_shr_s },
};

const COMPARE: Record<string, BinaryOps> = {
  jeq: { i32: Op.i32_eq, i64: Op.i64_eq },
  jne: { i32: Op.i32_ne, i64: Op.i64_ne },
  jgt: { i32: Op.i32_gt_u, i64: Op.i64_gt_u },
  jge: { i32: Op.i32_ge_u, i64: Op.i64_ge_u },
  jlt: { i32: Op.i32_lt_u, i64: Op.i64_lt_u },
  jle: { i32: Op.i32_le_u, i64: Op.i64_le_u },
  jsgt: { i32: Op.i32_gt_s, i64: Op.i64_gt_s },
  jsge: { i32: Op.i32_ge_s, i64: Op.i64_ge_s },
  jslt: { i32: Op.i32_lt_s, i64: Op.i64_lt_s },
  jsle: { i32: Op.i32_le_s, i64: Op.i64_le_s },
};

/** Straight-line instructions without calls: blocks made of these may be unrolled (structure.ts). */
const REPEATABLE_KINDS: ReadonlySet<string> = new Set(['alu', 'ldx', 'st', 'stx', 'ld_imm64', 'jcond', 'ja']);
/** Longest block (in slots) unrolled. */
const MAX_REPEATED_BLOCK = 16;
const I64_BLOCK = ValType.i64;
/** The first of a versioned loop range's locals (layout.ts: Local.firstRange). */
const rangeLocal = (range: RangeGuard): number => Local.firstRange + LOCALS_PER_RANGE * range.slot;
/** V8's largest br_table. */
const MAX_DISPATCH_BLOCKS = 65520;

export class FunctionCompiler implements BlockEmitter {
  /** Sized for ~10 bytes per instruction slot, what straight-line code takes, so it seldom grows. */
  readonly w: ByteWriter;
  private readonly insns: readonly Instruction[];
  private readonly ops: readonly (BpfOp | undefined)[];
  /** The subprogram, with its loops versioned in checked mode (check-hoist.ts). */
  private readonly sub: Subprogram;
  /** Accesses left unchecked in the block being emitted (an unchecked copy of a loop block). */
  private covered: ReadonlySet<number> | undefined;

  /** Offsets in the code of `if`s that guard slow paths (for the branch-hint section). */
  readonly unlikely: number[] = [];

  constructor(private readonly ctx: CodegenContext, sub: Subprogram) {
    this.insns = ctx.insns;
    this.ops = ctx.ops;
    this.sub = ctx.checked ? versionLoops(sub, ctx.insns, ctx.ops, { frameIsFixed: ctx.frameIsFixed }) : sub;
    this.w = new ByteWriter(256 + 12 * (sub.end - sub.start));
  }

  /**
   * Code of the function (without the locals vector). With loops, the code sits in a `block` that
   * back edges leave, with the slot of the instruction, when the budget runs out: the fault call
   * after it keeps calls out of the loops (V8 unrolls only loops without calls).
   */
  compile(): Uint8Array {
    this.fuelIn();
    if (this.ctx.frameIsFixed) {
      // r10 - 512 as i32: the frame's lowest byte (the stack region starts above 0, so no wrap).
      this.reg(10); this.op(Op.i32_wrap_i64); this.i32(STACK_FRAME_BYTES); this.op(Op.i32_sub); this.set(Local.frameBase);
    }
    const loops = this.sub.loopHeader.includes(1);
    if (loops) this.w.byte2(Op.block, ValType.i32);
    if (this.sub.reducible) emitStructured(this.sub, this);
    else {
      if (this.sub.order.length > MAX_DISPATCH_BLOCKS) {
        throw new JitCompileError('jit/too-complex', `irreducible subprogram with ${this.sub.order.length} basic blocks (the dispatch loop handles at most ${MAX_DISPATCH_BLOCKS})`, this.sub.start);
      }
      emitDispatch(this.sub, this, Local.label);
    }
    this.w.byte(Op.unreachable);
    if (loops) {
      this.op(Op.end);
      this.w.byte(Op.local_set); this.w.u32(Local.t32a);
      this.i32(FaultKind.budget); this.get(Local.t32a); this.callImport(ImportFn.fault);
      this.op(Op.unreachable);
    }
    this.w.byte(Op.end);
    return this.w.finish();
  }

  // --- small emit helpers -------------------------------------------------------------------

  private op(code: number): void { this.w.byte(code); }
  private get(local: number): void { this.w.byte(Op.local_get); this.w.u32(local); }
  private set(local: number): void { this.w.byte(Op.local_set); this.w.u32(local); }
  private tee(local: number): void { this.w.byte(Op.local_tee); this.w.u32(local); }
  private gget(global: number): void { this.w.byte(Op.global_get); this.w.u32(global); }
  private gset(global: number): void { this.w.byte(Op.global_set); this.w.u32(global); }
  private i32(value: number): void { this.w.byte(Op.i32_const); this.w.s32(value); }
  private i64(lo: number, hi: number): void { this.w.byte(Op.i64_const); this.w.s64(lo, hi); }
  /** A sign-extended 32-bit immediate as i64. */
  private i64s(imm: number): void { this.i64(imm, imm >> 31); }
  private call(fn: number): void { this.w.byte(Op.call); this.w.u32(fn); }
  private callImport(fn: number): void { callImport(this.w, fn); }
  private mem(code: number, offset: number): void { this.w.byte(code); this.w.byte(0); this.w.u32(offset); }
  private reg(r: number): void { this.get(registerLocal(r)); }
  private setReg(r: number): void { this.set(registerLocal(r)); }
  private reg32(r: number): void { this.reg(r); this.op(Op.i32_wrap_i64); }
  /** Call the fault import, which throws: nothing is live after it. */
  private fault(kind: number, insn: number): void {
    this.i32(kind); this.i32(insn); this.callImport(ImportFn.fault);
    this.op(Op.unreachable);
  }
  /** `if` (void) around a slow path. */
  private unlikelyIf(): void {
    this.unlikely.push(this.w.length);
    this.w.byte2(Op.if, VOID_BLOCK);
  }
  /** `if (halt) return r0` after a local call (the fuel global is current: the callee stored it). */
  private returnIfHalted(): void {
    this.gget(Global.halt);
    this.unlikelyIf();
    this.get(Local.r0); this.op(Op.return);
    this.op(Op.end);
  }
  /** Fuel lives in a local while the function runs; the global is read at entry and after calls... */
  private fuelIn(): void {
    this.gget(Global.fuel); this.set(Local.fuel);
  }
  /** ... and written before calls and returns. */
  private fuelOut(): void {
    this.get(Local.fuel); this.gset(Global.fuel);
  }
  private charge(amount: number, insn: number): void {
    this.get(Local.fuel); this.i64(amount, 0); this.op(Op.i64_sub); this.tee(Local.fuel);
    this.i64(0, 0); this.op(Op.i64_lt_s);
    this.unlikelyIf();
    this.fault(FaultKind.budget, insn);
    this.op(Op.end);
  }

  // --- BlockEmitter ---------------------------------------------------------------------------

  body(b: number): void {
    const block = this.sub.blocks[b]!;
    if (block.role?.kind === 'loop-entry') {
      this.findRanges(block.role.guard);
      return;
    }
    this.covered = block.role?.kind === 'unchecked' ? block.role.guard.covered : undefined;
    const t = block.terminator;
    const last = t.kind === 'falloff' || t.insn < 0 ? block.end : t.insn;
    for (let i = block.start; i < last; i++) {
      const op = this.ops[i];
      if (op !== undefined) this.instruction(i, op);
    }
    this.covered = undefined;
  }

  condition(b: number): boolean {
    const block = this.sub.blocks[b]!;
    if (block.role?.kind === 'loop-test') {
      this.rangesFit(block.role.guard, false);
      this.op(Op.i32_eqz);
      return true;
    }
    const t = block.terminator;
    if (t.kind !== 'cond') throw new JitCompileError('jit/internal', 'condition of a block without a conditional jump');
    const insn = this.insns[t.insn]!;
    const op = this.ops[t.insn]!;
    if (op.kind === 'may_goto') {
      // Taken when the counter is exhausted; otherwise count one iteration.
      this.gget(Global.mayGoto); this.op(Op.i32_eqz); this.w.byte(Op.local_set); this.w.u32(Local.t32a);
      this.gget(Global.mayGoto);
      this.gget(Global.mayGoto); this.op(Op.i32_eqz); this.op(Op.i32_eqz);
      this.op(Op.i32_sub);
      this.gset(Global.mayGoto);
      this.get(Local.t32a);
      return false;
    }
    if (op.kind !== 'jcond') throw new JitCompileError('jit/internal', 'unexpected terminator');
    if (op.is32) {
      this.reg32(insn.dst);
      if (op.useReg) this.reg32(insn.src); else this.i32(insn.imm);
    } else {
      this.reg(insn.dst);
      if (op.useReg) this.reg(insn.src); else this.i64s(insn.imm);
    }
    if (op.cond === 'jset') {
      this.op(op.is32 ? Op.i32_and : Op.i64_and);
      if (!op.is32) { this.op(Op.i64_eqz); this.op(Op.i32_eqz); }
    } else this.op(op.is32 ? COMPARE[op.cond]!.i32 : COMPARE[op.cond]!.i64);
    return false;
  }

  exit(): void {
    this.fuelOut();
    this.get(Local.r0);
    this.op(Op.return);
  }

  fallOff(b: number): void {
    const block = this.sub.blocks[b]!;
    this.fault(FaultKind.fellOff, block.end - 1);
    this.op(Op.unreachable);
  }

  backEdge(from: number, to: number, outside: number): void {
    const source = this.sub.blocks[from]!;
    // Out of budget: leave for the fault call (compile()) with the slot.
    this.i32(Math.max(source.start, source.end - 1));
    this.get(Local.fuel); this.i64(this.backEdgeCost(from, to), 0); this.op(Op.i64_sub);
    this.tee(Local.fuel); this.i64(0, 0); this.op(Op.i64_lt_s);
    this.unlikely.push(this.w.length);
    this.w.byte(Op.br_if); this.w.u32(outside);
    this.op(Op.drop);
  }

  repeatable(b: number): boolean {
    const block = this.sub.blocks[b]!;
    const role = block.role;
    if (role?.kind === 'loop-test') return true;
    // Checked mode unrolls only a versioned loop's unchecked copy, and only when it checks nothing.
    if (this.ctx.checked ? role?.kind !== 'unchecked' : role !== undefined) return false;
    if (block.end - block.start > MAX_REPEATED_BLOCK) return false;
    for (let i = block.start; i < block.end; i++) {
      const op = this.ops[i];
      if (op === undefined) continue;
      if (!REPEATABLE_KINDS.has(op.kind)) return false;
      if (role !== undefined && this.checksAccess(i, op, role.guard.covered)) return false;
    }
    return true;
  }

  /** Checked mode, in an unchecked copy: whether the instruction still checks its access. */
  private checksAccess(i: number, op: BpfOp, covered: ReadonlySet<number>): boolean {
    if (op.kind !== 'ldx' && op.kind !== 'st' && op.kind !== 'stx') return false;
    if (covered.has(i)) return false;
    const insn = this.insns[i]!;
    const base = op.kind === 'ldx' ? insn.src : insn.dst;
    return needsCheck({ base, off: insn.off, width: op.width }, this.ctx);
  }

  budgetCovers(from: number, to: number, times: number): void {
    this.get(Local.fuel); this.i64(times * this.backEdgeCost(from, to), 0); this.op(Op.i64_ge_s);
  }

  testsTrip(b: number): boolean {
    const role = this.sub.blocks[b]!.role;
    return role?.kind === 'loop-test' && role.guard.wholeTrip;
  }

  fitsTrip(b: number): void {
    const role = this.sub.blocks[b]!.role;
    if (role?.kind !== 'loop-test') throw new JitCompileError('jit/internal', 'trip test without a range test');
    this.rangesFit(role.guard, true);
  }

  spend(from: number, to: number, times: number): void {
    const amount = times * this.backEdgeCost(from, to);
    this.get(Local.fuel); this.i64(amount, amount >> 31); this.op(Op.i64_sub); this.set(Local.fuel);
  }

  /**
   * A back edge charges the static length of the loop body; in an irreducible graph the target may
   * lie after the source, so at least the source block.
   */
  private backEdgeCost(from: number, to: number): number {
    const source = this.sub.blocks[from]!;
    const span = source.end - this.sub.blocks[to]!.start;
    return span > 0 ? span : source.end - source.start + 1;
  }

  // --- instructions ---------------------------------------------------------------------------

  private instruction(i: number, op: BpfOp): void {
    const insn = this.insns[i]!;
    switch (op.kind) {
      case 'alu': return op.is64 ? this.alu64(insn, op.name, op.useReg) : this.alu32(insn, op.name, op.useReg);
      case 'ld_imm64': {
        // Pseudo forms (map fds, function addresses ...) were resolved by the loader, as for the
        // interpreter: the immediate is the value.
        const { lo, hi } = imm64Parts(insn, this.insns[i + 1]!);
        this.i64(lo, hi);
        this.setReg(insn.dst);
        return;
      }
      case 'ldx': {
        const memOff = this.address(insn.src, insn.off, op.width, false, i);
        this.mem((op.signed ? LOAD_S : LOAD_U)[op.width], memOff);
        this.setReg(insn.dst);
        return;
      }
      case 'st':
      case 'stx': {
        const memOff = this.address(insn.dst, insn.off, op.width, true, i);
        if (op.kind === 'st') this.i64s(insn.imm); else this.reg(insn.src);
        this.mem(STORE[op.width], memOff);
        return;
      }
      case 'atomic': return this.atomic(i, insn, op.width, op.op, op.fetch);
      case 'ld_abs':
      case 'ld_ind': {
        this.reg(6); this.op(Op.i32_wrap_i64);
        this.reg(6); this.i64(32, 0); this.op(Op.i64_shr_u); this.op(Op.i32_wrap_i64);
        this.i32(insn.imm);
        if (op.kind === 'ld_ind') { this.reg32(insn.src); this.op(Op.i32_add); }
        this.i32(op.width); this.i32(i);
        this.callImport(ImportFn.loadPacket);
        this.w.byte2(Op.if, VOID_BLOCK);
        this.fuelOut();
        this.i64(0, 0); this.op(Op.return);
        this.op(Op.end);
        this.gget(Global.regfile); this.mem(Op.i64_load, 0); this.set(Local.r0);
        return;
      }
      case 'call': return this.callInsn(i, insn, op.target);
      case 'callx': {
        // The register holds a helper id (the uBPF / bpf_conformance convention, as the interpreter).
        this.reg(insn.dst); this.i64(32, 0); this.op(Op.i64_shr_u); this.op(Op.i64_eqz); this.op(Op.i32_eqz);
        this.w.byte2(Op.if, VOID_BLOCK);
        this.fault(FaultKind.badCallx, i);
        this.op(Op.end);
        this.helperCall(i, () => this.reg32(insn.dst));
        return;
      }
      case 'exit': case 'ja': case 'jcond': case 'may_goto':
        throw new JitCompileError('jit/internal', `jump inside a basic block`, i);
    }
  }

  /**
   * Push the i32 base address of `reg + off` and return the memarg offset to add to it (checked mode:
   * after checking the access). A stack access through a fixed r10 is the frame base plus a
   * non-negative offset (it never needs a check); otherwise a non-negative `off` goes in the memarg.
   */
  private address(base: number, off: number, size: number, write: boolean, insn: number): number {
    if (!needsCheck({ base, off, width: size }, this.ctx)) {
      this.get(Local.frameBase);
      return off + STACK_FRAME_BYTES;
    }
    if (this.ctx.checked && !this.covered?.has(insn)) this.check(base, off, size, write, insn);
    // Covered by its loop's range check, or checked: the same address computation as unchecked mode.
    this.reg(base); this.op(Op.i32_wrap_i64);
    if (off < 0) { this.i32(off); this.op(Op.i32_add); return 0; }
    return off;
  }

  /**
   * Checked mode: each access site caches the region it last touched as (start - off, limit) in two
   * globals, so the hit test is one subtraction and one unsigned compare of the base register:
   * (base - (start - off)) <u limit  <=>  base + off lies in [start, start + size - width].
   * A miss calls `check`, which throws for a bad access and refills the cache. Innermost loops test
   * whole ranges per iteration instead, from these caches (check-hoist.ts).
   */
  private check(base: number, off: number, size: number, write: boolean, insn: number): void {
    const site = this.ctx.siteOf[insn]!;
    if (site < 0) throw new JitCompileError('jit/internal', 'memory access without a site', insn);
    const start = Global.firstSiteCache + 2 * site;
    const limit = start + 1;
    // In globals, not locals: locals the slow path writes are loop-carried values TurboFan spills
    // (measured: checked memcpy 1.11 ms with locals, 0.84 ms with globals).
    this.reg(base); this.gget(start); this.op(Op.i64_sub); this.gget(limit); this.op(Op.i64_ge_u);
    this.unlikelyIf();
    this.reg(base); this.i64s(off); this.op(Op.i64_add); this.tee(Local.t64a);
    this.op(Op.i32_wrap_i64);
    this.get(Local.t64a); this.i64(32, 0); this.op(Op.i64_shr_u); this.op(Op.i32_wrap_i64);
    this.i32(size); this.i32(write ? 1 : 0); this.i32(insn);
    this.callImport(ImportFn.check);
    this.op(Op.i64_extend_i32_u); this.i64s(off); this.op(Op.i64_sub); this.gset(start);
    this.gget(Global.regfile); this.mem(Op.i64_load32_u, CHECK_LIMIT_SLOT); this.gset(limit);
    this.op(Op.end);
  }

  /**
   * Versioned loop, on entry and after a checked iteration: take each range's region from its source
   * site's cache (empty: no room).
   */
  private findRanges(guard: LoopGuard): void {
    for (const range of guard.ranges) {
      const { insn, off, width } = range.source;
      const cache = Global.firstSiteCache + 2 * this.ctx.siteOf[insn]!;
      const start = rangeLocal(range);
      const room = start + 1;
      // Site cache: (region start - off, region size - width + 1); 0 when empty.
      this.gget(cache); this.i64Number(off - range.low); this.op(Op.i64_add);
      for (const r of range.invariant) { this.reg(r); this.op(Op.i64_sub); }
      this.set(start);
      this.gget(cache + 1); this.i64Number(width - (range.high - range.low)); this.op(Op.i64_add); this.tee(room);
      this.i64(0, 0);
      this.get(room); this.i64(0, 0); this.op(Op.i64_gt_s);
      this.op(Op.select); this.set(room);
      if (range.stride === 0) continue;
      this.strideBound(range.varying[0]!, range.stride, start);
      if (guard.wholeTrip) this.tripBound(range.stride, start);
    }
  }

  /**
   * A range whose one varying register r moves by `stride` per iteration: when r fits now, keep one
   * bound in the room local, the end r moves towards (stride > 0: start + room, exclusive; < 0:
   * start - 1), else a bound no r passes (0 / 2^64 - 1). With 0 <= start < 2^63 (and |stride| <=
   * start going down) and room < 2^33, r cannot wrap around 2^64 past the bound; so from the entry to
   * the first failed compare, r stays in [start, start + room) as the full test requires.
   */
  private strideBound(r: number, stride: number, start: number): void {
    const room = start + 1;
    if (stride > 0) { this.get(start); this.get(room); this.op(Op.i64_add); this.i64(0, 0); }
    else { this.get(start); this.i64(1, 0); this.op(Op.i64_sub); this.i64(-1, -1); }
    this.reg(r); this.get(start); this.op(Op.i64_sub); this.get(room); this.op(Op.i64_lt_u);
    this.get(start); this.i64(stride > 0 ? 0 : -stride, 0); this.op(Op.i64_ge_s); this.op(Op.i32_and);
    this.op(Op.select); this.set(room);
  }

  /**
   * When every range of the loop can be tested for a whole unrolled trip at once, the trip's bound: a
   * strided range's bound narrowed by the strides of the trip's later iterations, so an r that passes
   * it fits in all of them (r + (UNROLLED_ITERATIONS - 1) * stride passes the one-iteration bound).
   * stride > 0: bound - step, or 0 when that would wrap; < 0: bound + step, or 2^64 - 1 when that
   * would wrap (no r passes). The last iterations before the region's end run one at a time against
   * the one-iteration bound, so the test stays exact.
   */
  private tripBound(stride: number, start: number): void {
    const bound = start + 1;
    const trip = start + 2;
    // |stride| < 2^31, so step < 2^35: an exact integer, and bound + step cannot wrap past 2^64 unnoticed.
    const step = (UNROLLED_ITERATIONS - 1) * Math.abs(stride);
    this.get(bound); this.i64Number(step); this.op(stride > 0 ? Op.i64_sub : Op.i64_add); this.tee(Local.t64a);
    this.i64(stride > 0 ? 0 : -1, stride > 0 ? 0 : -1);
    if (stride > 0) { this.get(bound); this.i64Number(step); this.op(Op.i64_ge_u); }
    else { this.get(Local.t64a); this.get(bound); this.op(Op.i64_ge_u); }
    this.op(Op.select); this.set(trip);
  }

  /**
   * Push 1 when every range fits: (sum of the varying registers) - start <u room, or for a strided
   * register, one compare with its bound (`trip`: the bound of a whole unrolled trip).
   */
  private rangesFit(guard: LoopGuard, trip: boolean): void {
    guard.ranges.forEach((range, k) => {
      const start = rangeLocal(range);
      if (range.stride !== 0) {
        this.reg(range.varying[0]!); this.get(trip ? start + 2 : start + 1);
        this.op(range.stride > 0 ? Op.i64_lt_u : Op.i64_gt_u);
        if (k > 0) this.op(Op.i32_and);
        return;
      }
      if (range.varying.length === 0) this.i64(0, 0);
      range.varying.forEach((r, j) => { this.reg(r); if (j > 0) this.op(Op.i64_add); });
      this.get(start); this.op(Op.i64_sub);
      this.get(start + 1); this.op(Op.i64_lt_u);
      if (k > 0) this.op(Op.i32_and);
    });
  }

  /** An i64 constant from an exact integer of at most 53 bits. */
  private i64Number(value: number): void {
    const lo = value | 0;
    this.i64(lo, Math.floor((value - (lo >>> 0)) / 2 ** 32) | 0);
  }

  private callArgs(insn: number): void {
    for (let r = 1; r <= 5; r++) this.reg(r);
    this.calleeFrame(insn);
  }

  /** Push the callee's frame pointer, with the call-depth check. */
  private calleeFrame(insn: number): void {
    this.reg(10); this.i64(STACK_FRAME_BYTES, 0); this.op(Op.i64_sub); this.tee(Local.t64b);
    this.gget(Global.stackLow); this.op(Op.i64_extend_i32_u); this.op(Op.i64_le_s);
    this.unlikelyIf();
    this.fault(FaultKind.callDepth, insn);
    this.op(Op.end);
    this.get(Local.t64b);
  }

  private callInsn(i: number, insn: Instruction, target: 'helper' | 'local' | 'kfunc'): void {
    if (target === 'kfunc') {
      this.fault(FaultKind.kfunc, i);
      return;
    }
    this.charge(1, i);
    if (target === 'local') {
      const fn = this.ctx.functionAt.get(i + 1 + insn.imm);
      if (fn === undefined) throw new JitCompileError('jit/internal', 'local call target is not a subprogram', i);
      this.fuelOut();
      this.callArgs(i);
      this.call(fn);
      this.set(Local.r0);
      this.fuelIn();
      this.returnIfHalted();
      return;
    }
    const direct = this.ctx.wasmHelpers.get(insn.imm);
    if (direct !== undefined) {
      const wordForm = insn.imm === CSUM_DIFF_HELPER_ID;
      if (wordForm) {
        csumDiffWordForm(this.w, (r) => this.reg(r));
        this.w.byte2(Op.if, I64_BLOCK);
        csumDiffWord(this.w, (r) => this.reg(r), Local.t64a);
        this.op(Op.else);
      }
      // (r1..r5, insn) -> r0: no register file, fuel or unwinding (these helpers call nothing back).
      for (let r = 1; r <= 5; r++) this.reg(r);
      this.i32(i);
      this.call(direct);
      if (wordForm) this.op(Op.end);
      this.set(Local.r0);
      return;
    }
    const handle = insn.imm === MAP_LOOKUP_HELPER_ID ? this.knownMapHandle(i) : undefined;
    if (handle !== undefined) {
      const layout = this.ctx.arrayMaps.get(handle);
      if (layout !== undefined) return this.inlineArrayLookup(i, layout);
      const slot = this.ctx.lookupSlots.get(handle);
      if (slot !== undefined) return this.directLookup(i, slot);
    }
    const callback = insn.imm === LOOP_HELPER_ID ? this.knownCallback(i) : undefined;
    if (callback === undefined) return this.helperCall(i, () => this.i32(insn.imm));
    // bpf_loop with a known callback and the runtime's bpf_loop: a wasm loop calling the callback
    // directly (what the kernel's verifier does by inlining it), unless flags are nonzero.
    this.gget(Global.inlineLoop); this.reg(4); this.op(Op.i64_eqz); this.op(Op.i32_and);
    this.w.byte2(Op.if, VOID_BLOCK);
    this.inlineLoop(i, callback);
    this.op(Op.else);
    this.helperCall(i, () => this.i32(insn.imm));
    this.op(Op.end);
  }

  /**
   * The function r2 names at the call in slot `i`, when the same basic block loaded it with lddw and
   * nothing wrote r2 since; else undefined.
   */
  private knownCallback(i: number): number | undefined {
    const value = this.constantBefore(i, 2);
    return value === undefined ? undefined : this.ctx.functionAt.get(value);
  }

  /** The map handle r1 holds at the call in slot `i` (a constant, as clang emits it), or undefined. */
  private knownMapHandle(i: number): number | undefined {
    if (this.ctx.arrayMaps.size === 0 && this.ctx.lookupSlots.size === 0) return undefined;
    return this.constantBefore(i, 1);
  }

  /**
   * The value (below 2^32) of `reg` at slot `i` when an lddw earlier in the same basic block set it and
   * nothing wrote `reg` since; else undefined.
   */
  private constantBefore(i: number, reg: number): number | undefined {
    for (let j = i - 1; j >= this.sub.start; j--) {
      if (this.isLeader(j + 1)) return undefined;
      const op = this.ops[j];
      if (op === undefined) continue;
      const insn = this.insns[j]!;
      switch (op.kind) {
        case 'ld_imm64': {
          if (insn.dst !== reg) continue;
          const { lo, hi } = imm64Parts(insn, this.insns[j + 1]!);
          return hi === 0 ? lo >>> 0 : undefined;
        }
        case 'alu': case 'ldx': if (insn.dst === reg) return undefined; continue;
        case 'st': case 'stx': continue;
        default: return undefined;
      }
    }
    return undefined;
  }

  /**
   * map_lookup_elem(r1 = array map, r2 = key) without leaving wasm, as the kernel's map_gen_lookup:
   * r0 = index <u max_entries ? values + index * stride (+ cpu * slot) : 0. A key pointer with a high
   * half (which the helper would reject) takes the helper call, so the faults stay the helper's.
   */
  private inlineArrayLookup(i: number, layout: InlineMapLayout): void {
    this.reg(2); this.i64(32, 0); this.op(Op.i64_shr_u); this.op(Op.i64_eqz);
    this.w.byte2(Op.if, VOID_BLOCK);
    this.reg32(2); this.mem(Op.i32_load, 0); this.tee(Local.t32a);
    this.i32(layout.maxEntries | 0); this.op(Op.i32_lt_u);
    this.w.byte2(Op.if, I64_BLOCK);
    this.i64(layout.values, 0);
    this.get(Local.t32a); this.op(Op.i64_extend_i32_u); this.i64(layout.elemStride, 0); this.op(Op.i64_mul);
    this.op(Op.i64_add);
    if (layout.kind === 'percpu_array' && layout.cpuStride !== 0) {
      this.ctx.usesCpu = true;
      this.gget(Global.regfile); this.mem(Op.i64_load32_u, CPU_SLOT);
      this.i64(layout.cpuStride, 0); this.op(Op.i64_mul);
      this.op(Op.i64_add);
    }
    this.op(Op.else);
    this.i64(0, 0);
    this.op(Op.end);
    this.set(Local.r0);
    this.op(Op.else);
    this.helperCall(i, () => this.i32(MAP_LOOKUP_HELPER_ID));
    this.op(Op.end);
  }

  /**
   * map_lookup_elem(r1 = a hash or LPM map, r2 = key) straight into the map's lookup: no register
   * file, helper table or handle lookup. A key pointer with a high half takes the helper call.
   */
  private directLookup(i: number, slot: number): void {
    this.reg(2); this.i64(32, 0); this.op(Op.i64_shr_u); this.op(Op.i64_eqz);
    this.w.byte2(Op.if, VOID_BLOCK);
    this.i32(slot); this.reg32(2);
    this.call(LookupFn.lookupMap);
    this.op(Op.i64_extend_i32_u); this.set(Local.r0);
    this.op(Op.else);
    this.helperCall(i, () => this.i32(MAP_LOOKUP_HELPER_ID));
    this.op(Op.end);
  }

  private isLeader(slot: number): boolean {
    return this.sub.blocks.some((block) => block.start === slot);
  }

  /** Inline bpf_loop(r1 = count, r2 = callback, r3 = context, r4 = 0), as the helper in src/helpers. */
  private inlineLoop(i: number, fn: number): void {
    this.reg(1); this.i64(BPF_MAX_LOOPS, 0); this.op(Op.i64_gt_u);
    this.w.byte2(Op.if, VOID_BLOCK);
    this.i64(-7 >>> 0, 0); this.setReg(0); // -E2BIG as a 32-bit value, as the kernel's inlined code
    this.op(Op.else);
    this.i64(0, 0); this.set(Local.loopCounter);
    this.gget(Global.callbackDepth); this.i32(1); this.op(Op.i32_add); this.gset(Global.callbackDepth);
    this.w.byte2(Op.block, VOID_BLOCK);
    this.w.byte2(Op.loop, VOID_BLOCK);
    this.get(Local.loopCounter); this.reg(1); this.op(Op.i64_ge_u); this.w.byte(Op.br_if); this.w.u32(1);
    this.charge(1, i);
    this.fuelOut();
    this.get(Local.loopCounter); this.reg(3); this.i64(0, 0); this.i64(0, 0); this.i64(0, 0);
    this.calleeFrame(i);
    this.call(fn);
    this.set(Local.r0);
    this.fuelIn();
    // A helper's STOP inside the callback ends only the callback.
    this.i32(0); this.gset(Global.halt);
    this.get(Local.loopCounter); this.i64(1, 0); this.op(Op.i64_add); this.set(Local.loopCounter);
    this.get(Local.r0); this.i64(1, 0); this.op(Op.i64_eq); this.w.byte(Op.br_if); this.w.u32(1);
    this.w.byte(Op.br); this.w.u32(0);
    this.op(Op.end);
    this.op(Op.end);
    this.gget(Global.callbackDepth); this.i32(1); this.op(Op.i32_sub); this.gset(Global.callbackDepth);
    this.get(Local.loopCounter); this.setReg(0);
    this.op(Op.end);
  }

  /** Helper call: r1..r5 out through the register file (r0 zeroed), r0 back; unwind on STOP/TAIL_CALL. */
  private helperCall(i: number, pushId: () => void): void {
    this.fuelOut();
    // Callbacks the helper runs (call.invoke) take their frame below this one.
    this.reg(10); this.gset(Global.callerFp);
    this.gget(Global.regfile); this.i64(0, 0); this.mem(Op.i64_store, 0);
    for (let r = 1; r <= 5; r++) {
      this.gget(Global.regfile); this.reg(r); this.mem(Op.i64_store, 8 * r);
    }
    pushId(); this.i32(i);
    this.callImport(ImportFn.callHelper);
    if (this.ctx.forgetFunction >= 0) {
      this.tee(Local.t32a); this.i32(2); this.op(Op.i32_and);
      this.unlikelyIf();
      this.forgetRegions();
      this.op(Op.end);
      this.get(Local.t32a); this.i32(1); this.op(Op.i32_and);
    }
    // Callbacks the helper ran spent fuel.
    this.fuelIn();
    this.gget(Global.regfile); this.mem(Op.i64_load, 0); this.set(Local.r0);
    this.unlikelyIf();
    this.get(Local.r0); this.op(Op.return);
    this.op(Op.end);
  }

  /**
   * Checked mode: a helper may have released regions (a map element deleted ...), so every site's
   * cached region is dropped after a helper call (up to a few thousand sites; beyond that the caches
   * are kept, a documented gap: a use-after-free through a cached site goes unnoticed).
   */
  private forgetRegions(): void {
    if (this.ctx.forgetFunction < 0) return;
    this.call(this.ctx.forgetFunction);
  }

  private alu64(insn: Instruction, name: string, useReg: boolean): void {
    const { dst, src, imm } = insn;
    const operand = (): void => { if (useReg) this.reg(src); else this.i64s(imm); };
    const simple = SIMPLE_ALU[name];
    if (simple !== undefined) {
      this.reg(dst); operand(); this.op(simple.i64); this.setReg(dst);
      return;
    }
    switch (name) {
      case 'mov': case 'addr_space_cast': operand(); this.setReg(dst); return;
      case 'movsx':
        this.reg(src);
        this.op(insn.off === 8 ? Op.i64_extend8_s : insn.off === 16 ? Op.i64_extend16_s : Op.i64_extend32_s);
        this.setReg(dst);
        return;
      case 'neg': this.i64(0, 0); this.reg(dst); this.op(Op.i64_sub); this.setReg(dst); return;
      case 'le': case 'be': case 'bswap': return this.byteSwap(dst, name, imm);
      case 'div': case 'sdiv': case 'mod': case 'smod': return this.divide64(insn, name, useReg);
    }
    throw new JitCompileError('jit/unsupported', `ALU64 operation ${name}`);
  }

  private alu32(insn: Instruction, name: string, useReg: boolean): void {
    const { dst, src, imm } = insn;
    const operand = (): void => { if (useReg) this.reg32(src); else this.i32(imm); };
    const finish = (): void => { this.op(Op.i64_extend_i32_u); this.setReg(dst); };
    const simple = SIMPLE_ALU[name];
    if (simple !== undefined) {
      this.reg32(dst); operand(); this.op(simple.i32); finish();
      return;
    }
    switch (name) {
      case 'mov': case 'addr_space_cast': operand(); finish(); return;
      case 'movsx':
        this.reg32(src); this.op(insn.off === 8 ? Op.i32_extend8_s : Op.i32_extend16_s); finish();
        return;
      case 'neg': this.i32(0); this.reg32(dst); this.op(Op.i32_sub); finish(); return;
      case 'le': case 'be': case 'bswap': return this.byteSwap(dst, name, imm);
      case 'div': case 'sdiv': case 'mod': case 'smod': return this.divide32(insn, name, useReg);
    }
    throw new JitCompileError('jit/unsupported', `ALU32 operation ${name}`);
  }

  /** Division and modulo, with the eBPF answers where wasm would trap (x/0, INT_MIN/-1). */
  private divide64(insn: Instruction, name: string, useReg: boolean): void {
    const { dst, src, imm } = insn;
    const signed = name === 'sdiv' || name === 'smod';
    const isDiv = name === 'div' || name === 'sdiv';
    const opcode = isDiv ? (signed ? Op.i64_div_s : Op.i64_div_u) : (signed ? Op.i64_rem_s : Op.i64_rem_u);
    if (!useReg) {
      if (imm === 0) { if (isDiv) { this.i64(0, 0); this.setReg(dst); } return; }
      if (signed && imm === -1) {
        if (isDiv) { this.i64(0, 0); this.reg(dst); this.op(Op.i64_sub); } else this.i64(0, 0);
        this.setReg(dst);
        return;
      }
      this.reg(dst); this.i64s(imm); this.op(opcode); this.setReg(dst);
      return;
    }
    // divisor == 0 ? (div: 0, mod: dst) : divisor == -1 && signed ? (div: -dst, mod: 0) : dst op divisor
    this.reg(src); this.op(Op.i64_eqz);
    this.w.byte2(Op.if, I64_BLOCK);
    if (isDiv) this.i64(0, 0); else this.reg(dst);
    this.op(Op.else);
    if (signed) {
      this.reg(src); this.i64(-1, -1); this.op(Op.i64_eq);
      this.w.byte2(Op.if, I64_BLOCK);
      if (isDiv) { this.i64(0, 0); this.reg(dst); this.op(Op.i64_sub); } else this.i64(0, 0);
      this.op(Op.else);
      this.reg(dst); this.reg(src); this.op(opcode);
      this.op(Op.end);
    } else {
      this.reg(dst); this.reg(src); this.op(opcode);
    }
    this.op(Op.end);
    this.setReg(dst);
  }

  private divide32(insn: Instruction, name: string, useReg: boolean): void {
    const { dst, src, imm } = insn;
    const signed = name === 'sdiv' || name === 'smod';
    const isDiv = name === 'div' || name === 'sdiv';
    const opcode = isDiv ? (signed ? Op.i32_div_s : Op.i32_div_u) : (signed ? Op.i32_rem_s : Op.i32_rem_u);
    const finish = (): void => { this.op(Op.i64_extend_i32_u); this.setReg(dst); };
    if (!useReg) {
      if (imm === 0) { if (isDiv) this.i32(0); else this.reg32(dst); finish(); return; }
      if (signed && imm === -1) {
        if (isDiv) { this.i32(0); this.reg32(dst); this.op(Op.i32_sub); } else this.i32(0);
        finish();
        return;
      }
      this.reg32(dst); this.i32(imm); this.op(opcode); finish();
      return;
    }
    this.reg32(src); this.op(Op.i32_eqz);
    this.w.byte2(Op.if, ValType.i32);
    if (isDiv) this.i32(0); else this.reg32(dst);
    this.op(Op.else);
    if (signed) {
      this.reg32(src); this.i32(-1); this.op(Op.i32_eq);
      this.w.byte2(Op.if, ValType.i32);
      if (isDiv) { this.i32(0); this.reg32(dst); this.op(Op.i32_sub); } else this.i32(0);
      this.op(Op.else);
      this.reg32(dst); this.reg32(src); this.op(opcode);
      this.op(Op.end);
    } else {
      this.reg32(dst); this.reg32(src); this.op(opcode);
    }
    this.op(Op.end);
    finish();
  }

  /** Push bswap32 of the i32 on top of the stack (kept in t32a). */
  private bswap32(): void {
    this.tee(Local.t32a);
    this.i32(8); this.op(Op.i32_rotl); this.i32(0x00ff00ff); this.op(Op.i32_and);
    this.get(Local.t32a); this.i32(8); this.op(Op.i32_rotr); this.i32(0xff00ff00 | 0); this.op(Op.i32_and);
    this.op(Op.i32_or);
  }

  private byteSwap(dst: number, name: string, width: number): void {
    if (name === 'le') {
      if (width === 64) return;
      this.reg(dst); this.i64(width === 16 ? 0xffff : 0xffffffff, 0); this.op(Op.i64_and); this.setReg(dst);
      return;
    }
    if (width === 16) {
      this.reg32(dst); this.tee(Local.t32a);
      this.i32(8); this.op(Op.i32_shl); this.i32(0xff00); this.op(Op.i32_and);
      this.get(Local.t32a); this.i32(8); this.op(Op.i32_shr_u); this.i32(0xff); this.op(Op.i32_and);
      this.op(Op.i32_or);
      this.op(Op.i64_extend_i32_u); this.setReg(dst);
      return;
    }
    if (width === 32) {
      this.reg32(dst); this.bswap32(); this.op(Op.i64_extend_i32_u); this.setReg(dst);
      return;
    }
    // 64: swap each half and exchange them.
    this.reg(dst); this.set(Local.t64a);
    this.get(Local.t64a); this.op(Op.i32_wrap_i64); this.bswap32(); this.op(Op.i64_extend_i32_u);
    this.i64(32, 0); this.op(Op.i64_shl);
    this.get(Local.t64a); this.i64(32, 0); this.op(Op.i64_shr_u); this.op(Op.i32_wrap_i64); this.bswap32();
    this.op(Op.i64_extend_i32_u);
    this.op(Op.i64_or);
    this.setReg(dst);
  }

  /**
   * Atomics as plain load/modify/store: the memory is not shared between threads, so this is exact,
   * and unlike wasm atomics it does not trap on unaligned addresses.
   */
  private atomic(i: number, insn: Instruction, width: Width, name: string, fetch: boolean): void {
    const { dst, src, off } = insn;
    if (name === 'load_acq') {
      const memOff = this.address(src, off, width, false, i);
      this.mem(LOAD_U[width], memOff);
      this.setReg(dst);
      return;
    }
    if (name === 'store_rel') {
      const memOff = this.address(dst, off, width, true, i);
      this.reg(src);
      this.mem(STORE[width], memOff);
      return;
    }
    const load = LOAD_U[width];
    const store = STORE[width];
    // Address in t32a (checked as a write, which implies readable), old value in t64a.
    const memOff = this.address(dst, off, width, true, i);
    this.tee(Local.t32a);
    this.mem(load, memOff);
    this.set(Local.t64a);
    const mask = (): void => { if (width === 4) { this.i64(0xffffffff, 0); this.op(Op.i64_and); } };
    const storeValue = (push: () => void): void => { this.get(Local.t32a); push(); this.mem(store, memOff); };
    switch (name) {
      case 'add': case 'or': case 'and': case 'xor': {
        const opcode = name === 'add' ? Op.i64_add : name === 'or' ? Op.i64_or : name === 'and' ? Op.i64_and : Op.i64_xor;
        storeValue(() => { this.get(Local.t64a); this.reg(src); this.op(opcode); });
        if (fetch) { this.get(Local.t64a); this.setReg(src); }
        return;
      }
      case 'xchg':
        storeValue(() => this.reg(src));
        this.get(Local.t64a); this.setReg(src);
        return;
      case 'cmpxchg': {
        // if (old == r0) mem = src; r0 = old   (32-bit: compare the low halves)
        this.get(Local.t64a);
        this.reg(0); mask();
        this.op(Op.i64_eq);
        this.w.byte2(Op.if, VOID_BLOCK);
        storeValue(() => this.reg(src));
        this.op(Op.end);
        this.get(Local.t64a); this.setReg(0);
        return;
      }
    }
    throw new JitCompileError('jit/unsupported', `atomic ${name}`, i);
  }
}
