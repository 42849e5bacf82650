import { imm64Parts, type Instruction, type Op } from '../../isa/index.js';
import { STACK_FRAME_BYTES } from '../engine.js';
import { analyse, type BasicBlock, type Subprogram, type Terminator } from './cfg.js';
import { MAX_RANGES_PER_LOOP } from './layout.js';

/**
 * Checked mode: loop versioning, so innermost loops run their accesses without per-access checks.
 *
 * In an innermost loop without calls, the address of most accesses is, at every point of one
 * iteration, the sum of one or two registers' values at the top of the iteration plus a constant
 * (`r3 = r1; r3 += r2; *(u8 *)(r3 + 4)` is r1 + r2 + 4). Accesses over the same registers form a
 * range [sum + low, sum + high). Each iteration starts at a test block that checks every such range
 * against a region the checked code already found (the cache of one of the range's access sites,
 * read on entry and after each checked iteration): when all fit, the iteration runs an unchecked copy
 * of the loop body; otherwise it runs the original, checked body, which faults exactly where the
 * interpreter does and refills the site caches. Site caches only ever hold live regions (helper calls
 * clear them, and the loop has none), so neither do the ranges.
 *
 * Shape: entry -> test; test -> unchecked copy (back edges: test) or, rarely, the checked body (back
 * edges: entry). The unchecked loop then has no call to `check` in it (unless some access is not
 * covered), so V8 keeps its values in registers: with the checked body's calls inside the same loop,
 * it spilled and reloaded them every iteration (checked memcpy 0.94 ms, against 0.60 ms this way).
 *
 * The unchecked copy is straight-line code, so a small loop's is emitted 16 times per wasm `loop` (an
 * unrolled trip, structure.ts); when every range is strided (or has no varying register), a second
 * bound per strided range is narrowed by the trip's strides and one test covers the whole trip (the
 * last iterations before a region's end run one at a time against the exact bound): checked memcpy
 * and strcmp_full 2-8% over unchecked (20% and 33% with one test per two iterations).
 *
 * The test is exact, not speculative: a range covers every address the iteration can touch through its
 * registers, so an access the test lets through is one the per-access check would let through. An
 * iteration whose test fails is fully checked, so faults keep their instruction and message.
 */

/** Loops larger than this (instruction slots) are not copied: compile time and code size. */
const MAX_LOOP_SLOTS = 256;
/** Constants past this size are not tracked (the sum stays an exact JS integer). */
const MAX_TRACKED_CONSTANT = 2 ** 40;

/** One range check of a loop's test block. */
export interface RangeGuard {
  /**
   * The range's base is the sum of these registers' values at the top of the iteration: `varying`
   * ones change from iteration to iteration, `invariant` ones keep their value through the loop (their
   * sum is folded into the region bounds on entry). Both may be empty.
   */
  varying: readonly number[];
  invariant: readonly number[];
  /**
   * Nonzero when the range has one varying register and every iteration adds this to it (|stride| <
   * 2^31): the region is checked once on entry and each iteration compares the register with one end.
   */
  stride: number;
  /** The range is [sum + low, sum + high). */
  low: number;
  high: number;
  /** Slot (0 .. MAX_RANGES_PER_LOOP - 1) of the two locals holding the region it is checked against. */
  slot: number;
  /**
   * The access site whose cached region the range is checked against (a write site when the range
   * has writes, so the region is writable): its instruction, offset and width.
   */
  source: { insn: number; off: number; width: number };
}

export interface LoopGuard {
  ranges: readonly RangeGuard[];
  /**
   * Every range is strided or has no varying register: strided bounds are narrowed by the strides of
   * an unrolled trip, so one test tells that all its iterations fit (structure.ts: one test per trip).
   */
  wholeTrip: boolean;
  /** Memory instructions the unchecked copy does not check: every range fits when it runs. */
  covered: ReadonlySet<number>;
}

/** What the versioning adds to a subprogram's blocks; plain blocks have no role. */
export type BlockRole =
  /**
   * Entered from outside the loop and after each checked iteration: take each range's region from its
   * source site's cache, go to the test.
   */
  | { kind: 'loop-entry'; guard: LoopGuard }
  /** Header of the unchecked loop: the jump (rarely taken) runs a checked iteration instead. */
  | { kind: 'loop-test'; guard: LoopGuard }
  /** A copy of a loop block whose covered accesses are not checked. */
  | { kind: 'unchecked'; guard: LoopGuard };

/** A value as registers' values at the top of the iteration plus a constant, or unknown (null). */
type Affine = { registers: readonly number[]; constant: number } | null;

interface Access { insn: number; base: number; off: number; width: number; write: boolean }

interface LoopPlan { header: number; body: readonly number[]; guard: LoopGuard }

export interface HoistOptions {
  /** No instruction writes r10, so stack accesses through it need no check at all. */
  frameIsFixed: boolean;
}

/**
 * The subprogram with each innermost loop it can guard split into a test block, a checked and an
 * unchecked copy (the same subprogram when there is none).
 */
export function versionLoops(
  sub: Subprogram, insns: readonly Instruction[], ops: readonly (Op | undefined)[], options: HoistOptions,
): Subprogram {
  if (!sub.reducible) return sub;
  const plans = planLoops(sub, insns, ops, options);
  if (plans.length === 0) return sub;
  const versioned = rebuild(sub, plans);
  // The copies only duplicate single-entry loops, so the graph stays reducible; never trade a
  // structured function for a dispatch loop.
  return versioned.reducible ? versioned : sub;
}

/** The guard of each innermost loop that has one (for tests and diagnostics). */
export function planLoops(
  sub: Subprogram, insns: readonly Instruction[], ops: readonly (Op | undefined)[], options: HoistOptions,
): LoopPlan[] {
  const plans: LoopPlan[] = [];
  for (const [header, body] of innermostLoops(sub)) {
    const guard = guardLoop(sub, header, body, insns, ops, options);
    if (guard !== undefined) plans.push({ header, body, guard });
  }
  return plans;
}

/** Natural loops by header (blocks in reverse postorder) that contain no other loop, entry excluded. */
function innermostLoops(sub: Subprogram): Map<number, number[]> {
  const { blocks, order, rpo, loopHeader } = sub;
  const loops = new Map<number, number[]>();
  const preds: number[][] = blocks.map(() => []);
  for (const b of order) for (const s of blocks[b]!.successors) preds[s]!.push(b);
  for (const header of order) {
    if (!loopHeader[header] || header === 0) continue;
    const inLoop = new Set<number>([header]);
    const stack = preds[header]!.filter((p) => rpo[p]! >= rpo[header]!);
    let nested = false;
    while (stack.length > 0 && !nested) {
      const b = stack.pop()!;
      if (inLoop.has(b)) continue;
      inLoop.add(b);
      if (loopHeader[b]) nested = true;
      for (const p of preds[b]!) if (!inLoop.has(p)) stack.push(p);
    }
    if (nested) continue;
    loops.set(header, order.filter((b) => inLoop.has(b)));
  }
  return loops;
}

function guardLoop(
  sub: Subprogram, header: number, body: readonly number[], insns: readonly Instruction[],
  ops: readonly (Op | undefined)[], options: HoistOptions,
): LoopGuard | undefined {
  const { blocks } = sub;
  let slots = 0;
  for (const b of body) {
    const block = blocks[b]!;
    slots += block.end - block.start;
    for (let i = block.start; i < block.end; i++) {
      const kind = ops[i]?.kind;
      // Helpers may release regions; local calls run code of their own; LD_ABS ends the program.
      if (kind === 'call' || kind === 'callx' || kind === 'ld_abs' || kind === 'ld_ind') return undefined;
    }
  }
  if (slots > MAX_LOOP_SLOTS) return undefined;

  // Symbolic registers through one iteration: blocks in reverse postorder, back edges left out.
  const inLoop = new Set(body);
  const forwardPreds = new Map<number, number[]>(body.map((b) => [b, []]));
  for (const b of body) {
    for (const s of blocks[b]!.successors) if (s !== header && inLoop.has(s)) forwardPreds.get(s)!.push(b);
  }
  const atEnd = new Map<number, Affine[]>();
  const ranges = new Map<string, { registers: readonly number[]; accesses: { access: Access; start: number }[] }>();
  for (const b of body) {
    let state: Affine[];
    if (b === header) state = Array.from({ length: 11 }, (_, r) => ({ registers: [r], constant: 0 }));
    else state = meet(forwardPreds.get(b)!.map((p) => atEnd.get(p)!));
    const block = blocks[b]!;
    for (let i = block.start; i < block.end; i++) {
      const op = ops[i];
      if (op === undefined) continue;
      const access = accessOf(insns[i]!, op, i);
      if (access !== undefined && needsCheck(access, options)) {
        const base = state[access.base]!;
        if (base !== null) {
          const key = base.registers.join(',');
          const entry = ranges.get(key) ?? { registers: base.registers, accesses: [] };
          entry.accesses.push({ access, start: base.constant + access.off });
          ranges.set(key, entry);
        }
      }
      step(state, insns, op, i);
    }
    atEnd.set(b, state);
  }

  // What one iteration adds to a register: the same constant on every back edge, or undefined.
  const latches = body.filter((b) => blocks[b]!.successors.includes(header));
  const strideOf = (r: number): number | undefined => {
    const first = atEnd.get(latches[0]!)![r]!;
    if (first === null || first.registers.length !== 1 || first.registers[0] !== r) return undefined;
    return latches.every((b) => sameValue(atEnd.get(b)![r]!, first)) ? first.constant : undefined;
  };
  const unchanged = (r: number): boolean => strideOf(r) === 0;
  const guards: RangeGuard[] = [];
  const covered = new Set<number>();
  for (const { registers, accesses } of ranges.values()) {
    if (guards.length === MAX_RANGES_PER_LOOP) break;
    const low = Math.min(...accesses.map((a) => a.start));
    const high = Math.max(...accesses.map((a) => a.start + a.access.width));
    if (high - low > 2 ** 32) continue;
    // The first write (or the first access) in reverse postorder: near the header, so it runs in
    // most checked iterations and its cache holds the region the range lies in.
    const source = (accesses.find((a) => a.access.write) ?? accesses[0]!).access;
    const varying = registers.filter((r) => !unchanged(r));
    const stride = varying.length === 1 ? strideOf(varying[0]!) ?? 0 : 0;
    guards.push({
      varying, invariant: registers.filter(unchanged), stride: Math.abs(stride) < 2 ** 31 ? stride : 0,
      low, high, slot: guards.length, source: { insn: source.insn, off: source.off, width: source.width },
    });
    for (const { access } of accesses) covered.add(access.insn);
  }
  if (guards.length === 0) return undefined;
  const wholeTrip = guards.every((range) => range.stride !== 0 || range.varying.length === 0);
  return { ranges: guards, wholeTrip, covered };
}

/** Registers that agree on every incoming path keep their value; the others become unknown. */
function meet(states: Affine[][]): Affine[] {
  if (states.length === 0) return new Array<Affine>(11).fill(null);
  return states[0]!.map((value, r) => {
    for (let k = 1; k < states.length; k++) if (!sameValue(value, states[k]![r]!)) return null;
    return value;
  });
}

function sameValue(a: Affine, b: Affine): boolean {
  if (a === null || b === null) return a === b;
  return a.constant === b.constant && a.registers.join(',') === b.registers.join(',');
}

const affine = (registers: readonly number[], constant: number): Affine =>
  Math.abs(constant) > MAX_TRACKED_CONSTANT ? null : { registers, constant };

/** Update the symbolic registers for one instruction. */
function step(state: Affine[], insns: readonly Instruction[], op: Op, i: number): void {
  const insn = insns[i]!;
  switch (op.kind) {
    case 'alu': {
      state[insn.dst] = op.is64 ? alu64(state, insn, op.name, op.useReg) : null;
      return;
    }
    case 'ld_imm64': {
      const { lo, hi } = imm64Parts(insn, insns[i + 1]!);
      state[insn.dst] = hi === 0 ? affine([], lo >>> 0) : null;
      return;
    }
    case 'ldx': state[insn.dst] = null; return;
    case 'atomic':
      if (op.op === 'load_acq') state[insn.dst] = null;
      else if (op.op === 'cmpxchg') state[0] = null;
      else if (op.fetch || op.op === 'xchg') state[insn.src] = null;
      return;
    default: return;
  }
}

function alu64(state: readonly Affine[], insn: Instruction, name: string, useReg: boolean): Affine {
  const dst = state[insn.dst]!;
  const operand: Affine = useReg ? state[insn.src]! : { registers: [], constant: insn.imm };
  switch (name) {
    case 'mov': return operand;
    case 'add':
      if (dst === null || operand === null || dst.registers.length + operand.registers.length > 2) return null;
      return affine([...dst.registers, ...operand.registers].sort((a, b) => a - b), dst.constant + operand.constant);
    case 'sub':
      if (dst === null || operand === null || operand.registers.length > 0) return null;
      return affine(dst.registers, dst.constant - operand.constant);
    default: return null;
  }
}

function accessOf(insn: Instruction, op: Op, i: number): Access | undefined {
  switch (op.kind) {
    case 'ldx': return { insn: i, base: insn.src, off: insn.off, width: op.width, write: false };
    case 'st': case 'stx': return { insn: i, base: insn.dst, off: insn.off, width: op.width, write: true };
    case 'atomic':
      if (op.op === 'load_acq') return { insn: i, base: insn.src, off: insn.off, width: op.width, write: false };
      return { insn: i, base: insn.dst, off: insn.off, width: op.width, write: true };
    default: return undefined;
  }
}

/** Whether checked mode checks the access (stack accesses through a fixed r10 never are). */
export function needsCheck(access: { base: number; off: number; width: number }, options: HoistOptions): boolean {
  return !(access.base === 10 && options.frameIsFixed && access.off >= -STACK_FRAME_BYTES && access.off + access.width <= 0);
}

/**
 * New blocks per loop: an entry block (edges from outside the loop and back edges of the checked body
 * go there), the test block (back edges of the unchecked copy), an unchecked copy of every loop block.
 */
function rebuild(sub: Subprogram, plans: readonly LoopPlan[]): Subprogram {
  const blocks: BasicBlock[] = sub.blocks.map((block) => ({ ...block }));
  const loopOf = new Int32Array(sub.blocks.length + plans.reduce((n, p) => n + p.body.length + 2, 0)).fill(-1);
  const copyOf = new Map<number, number>();
  const entryOf: number[] = [];
  const testOf: number[] = [];
  plans.forEach((plan, k) => {
    const header = sub.blocks[plan.header]!;
    const entry = blocks.length;
    const testBlock = entry + 1;
    entryOf.push(entry);
    testOf.push(testBlock);
    blocks.push({
      start: header.start, end: header.start, terminator: { kind: 'goto', insn: -1, target: testBlock },
      successors: [testBlock], role: { kind: 'loop-entry', guard: plan.guard },
    });
    blocks.push({
      start: header.start, end: header.start,
      terminator: { kind: 'cond', insn: -1, taken: plan.header, fallthrough: -1 },
      successors: [], role: { kind: 'loop-test', guard: plan.guard },
    });
    for (const b of plan.body) {
      loopOf[b] = k;
      copyOf.set(b, blocks.length);
      loopOf[blocks.length] = k;
      blocks.push({ ...sub.blocks[b]!, role: { kind: 'unchecked', guard: plan.guard } });
    }
    const test = blocks[testBlock]!;
    const fast = copyOf.get(plan.header)!;
    test.terminator = { kind: 'cond', insn: -1, taken: plan.header, fallthrough: fast };
    test.successors = [plan.header, fast];
  });
  const headerLoop = new Map(plans.map((plan, k) => [plan.header, k]));
  blocks.forEach((block, b) => {
    if (block.role?.kind === 'loop-entry' || block.role?.kind === 'loop-test') return;
    const own = loopOf[b]!;
    const unchecked = block.role?.kind === 'unchecked';
    const retarget = (to: number): number => {
      const k = headerLoop.get(to);
      if (k !== undefined) return k === own && unchecked ? testOf[k]! : entryOf[k]!;
      if (unchecked && loopOf[to] === own) return copyOf.get(to)!;
      return to;
    };
    block.terminator = retargetTerminator(block.terminator, retarget);
    block.successors = block.successors.map(retarget);
  });
  return analyse(sub.start, sub.end, blocks);
}

function retargetTerminator(t: Terminator, retarget: (to: number) => number): Terminator {
  switch (t.kind) {
    case 'goto': return { ...t, target: retarget(t.target) };
    case 'cond': return { ...t, taken: retarget(t.taken), fallthrough: retarget(t.fallthrough) };
    default: return t;
  }
}
