import type { Instruction, Op } from '../isa/instruction.js';
import { Size } from '../isa/opcodes.js';
import { helperProto, type ArgType } from '../helpers/prototypes.js';
import type { MapSpec } from '../maps/spec.js';
import type { Blocks } from './blocks.js';
import { scratchInt32, scratchUint8 } from './scratch.js';
import {
  K_ALU, K_ATOMIC, K_CALLX, K_CALL_HELPER, K_CALL_KFUNC, K_CALL_LOCAL, K_LDX, K_LD_ABS, K_LD_IMM64, K_LD_IND, K_NONE, K_ST, K_STX,
} from './op-kinds.js';

/**
 * Static liveness of a function's own stack slots, for state pruning: a slot that no path reads
 * before overwriting it may differ between states. Stack pointers are followed as "fp + K" through
 * moves and constant adds; an access through a pointer less certain is left to exploration
 * (`StackLiveness.observed`), and a call that may reach anywhere in the frame reads every slot.
 *
 * What a register may point to, at the start of each block (straight run), is one Int32 code:
 * - NOT_STACK: no stack at all. Loads from map values, packets, context and helper memory give
 *   scalars or non-stack pointers (the verifier tracks pointers only in stack slots), so a load
 *   through such a register gives NOT_STACK too.
 * - OTHER_STACK: perhaps another frame's stack (a callee's pointer arguments), never this one's.
 * - an offset K within ±2^30: this frame's fp + K.
 * - ANY_FP: perhaps this frame's stack, at an unknown offset.
 */

const NOT_STACK = -0x80000000;
const OTHER_STACK = -0x7fffffff;
const ANY_FP = 0x7fffffff;
const MAX_OFFSET = 0x40000000;

const isOwnFp = (v: number): boolean => v !== NOT_STACK && v !== OTHER_STACK;
const isOffset = (v: number): boolean => v > OTHER_STACK && v < ANY_FP;
const offsetOrAny = (v: number): number => (v >= -MAX_OFFSET && v <= MAX_OFFSET ? v : ANY_FP);

function join(a: number, b: number): number {
  if (a === b) return a;
  if (isOwnFp(a) || isOwnFp(b)) return ANY_FP;
  return OTHER_STACK;
}

/** Pointer + scalar, pointer - pointer and the like, when either side may be a stack pointer. */
function combine(a: number, b: number): number {
  if (isOwnFp(a) || isOwnFp(b)) return ANY_FP;
  return a === OTHER_STACK || b === OTHER_STACK ? OTHER_STACK : NOT_STACK;
}

/**
 * Facts: registers 0..10 as above, then two pairs of 32-bit slot masks: slots that may hold a
 * spilled pointer into this frame (OWN_LO/HI), and into another frame (OTHER_LO/HI).
 */
const OWN_LO = 11, OWN_HI = 12, OTHER_LO = 13, OTHER_HI = 14;
const FACTS = 15;

const slotBit = (lo: number, hi: number, slot: number): boolean => ((slot < 32 ? lo >>> slot : hi >>> (slot - 32)) & 1) === 1;

/** What an 8-byte load through `base + off` may give, with facts `r`: a spilled pointer comes back from stack only. */
function fill(r: Int32Array, base: number, off: number, width: number, fpStoredElsewhere: boolean): number {
  if (width !== 8 || base === NOT_STACK) return NOT_STACK;
  if (base === ANY_FP) return ANY_FP;
  if (base === OTHER_STACK) return fpStoredElsewhere ? ANY_FP : OTHER_STACK;
  const slot = Math.floor((-(base + off) - 1) / 8);
  if (slot < 0 || slot > 63) return ANY_FP;
  if (slotBit(r[OWN_LO]!, r[OWN_HI]!, slot)) return ANY_FP;
  return slotBit(r[OTHER_LO]!, r[OTHER_HI]!, slot) ? OTHER_STACK : NOT_STACK;
}

type AluOp = Extract<Op, { kind: 'alu' }>;
type AtomicOp = Extract<Op, { kind: 'atomic' }>;

/** Moves facts `r` from before `insn` (of kind `kind`, `op-kinds.ts`) to after it. */
function step(insn: Instruction, kind: number, op: Op, r: Int32Array, fpStoredElsewhere: boolean): void {
  switch (kind) {
    case K_ALU: {
      const alu = op as AluOp;
      if (!alu.is64) { r[insn.dst] = NOT_STACK; break; }
      if (alu.name === 'mov') r[insn.dst] = alu.useReg ? r[insn.src]! : NOT_STACK;
      else if ((alu.name === 'add' || alu.name === 'sub') && !alu.useReg) {
        const v = r[insn.dst]!;
        if (isOffset(v)) r[insn.dst] = offsetOrAny(alu.name === 'add' ? v + insn.imm : v - insn.imm);
      } else if ((alu.name === 'add' || alu.name === 'sub') && alu.useReg) r[insn.dst] = combine(r[insn.dst]!, r[insn.src]!);
      else r[insn.dst] = NOT_STACK;
      break;
    }
    case K_LDX: r[insn.dst] = fill(r, r[insn.src]!, insn.off, (op as Extract<Op, { kind: 'ldx' }>).width, fpStoredElsewhere); break;
    case K_STX: {
      const base = r[insn.dst]!;
      const value = r[insn.src]!;
      if (value === NOT_STACK) break;
      const lo = value === OTHER_STACK ? OTHER_LO : OWN_LO, hi = lo + 1;
      if (isOffset(base)) {
        const slot = Math.floor((-(base + insn.off) - 1) / 8);
        if (slot >= 0 && slot < 32) r[lo] = r[lo]! | (1 << slot);
        else if (slot >= 32 && slot < 64) r[hi] = r[hi]! | (1 << (slot - 32));
      } else if (base === ANY_FP) {
        r[lo] = -1;
        r[hi] = -1;
      }
      break;
    }
    case K_ATOMIC: {
      // A fetch is a fill of the old value (a spilled pointer stays one); load-acquire is a load.
      const atomic = op as AtomicOp;
      if (atomic.op === 'load_acq') r[insn.dst] = fill(r, r[insn.src]!, insn.off, atomic.width, fpStoredElsewhere);
      else if (atomic.fetch) r[atomic.op === 'cmpxchg' ? 0 : insn.src] = fill(r, r[insn.dst]!, insn.off, atomic.width, fpStoredElsewhere);
      break;
    }
    case K_CALL_HELPER:
    case K_CALL_LOCAL:
    case K_CALL_KFUNC:
    case K_CALLX:
      for (let k = 1; k <= 5; k++) r[k] = NOT_STACK;
      // Helpers return no stack pointers; a function may return one into its caller's stack.
      r[0] = kind === K_CALL_HELPER ? NOT_STACK : ANY_FP;
      break;
    case K_LD_IMM64: r[insn.dst] = NOT_STACK; break;
    case K_LD_ABS:
    case K_LD_IND: for (let k = 0; k <= 5; k++) r[k] = NOT_STACK; break;
    default: break;
  }
}

/** Copies the FACTS numbers at `from` in `src` to `at` in `dst` (no subarray views: they allocate). */
function copyFacts(dst: Int32Array, at: number, src: Int32Array, from: number): void {
  for (let k = 0; k < FACTS; k++) dst[at + k] = src[from + k]!;
}

/** Joins facts `r` into `all` at `at`; returns whether they grew. */
function joinInto(all: Int32Array, at: number, r: Int32Array): boolean {
  let grew = false;
  for (let k = 0; k < 11; k++) {
    const j = join(all[at + k]!, r[k]!);
    if (j !== all[at + k]) { all[at + k] = j; grew = true; }
  }
  for (let k = OWN_LO; k < FACTS; k++) {
    const j = all[at + k]! | r[k]!;
    if (j !== all[at + k]) { all[at + k] = j; grew = true; }
  }
  return grew;
}

/** A stack of block numbers, each at most once. */
class BlockQueue {
  size = 0;
  /** Both `count` long and zeroed. */
  constructor(private readonly queued: Uint8Array, private readonly items: Int32Array) {}
  push(b: number): void {
    if (this.queued[b]) return;
    this.queued[b] = 1;
    this.items[this.size++] = b;
  }
  pop(): number {
    const b = this.items[--this.size]!;
    this.queued[b] = 0;
    return b;
  }
}

/**
 * Forward pass: what each register may point to at each block's start, in `facts` (FACTS numbers
 * per block); `reached[b]` once block b has any. Returns whether a store may put a pointer into this
 * frame where it is not tracked (into another frame's stack, or anywhere): facts only grow, so a
 * store seen so on the way still is at the end.
 */
function fpOffsets(
  insns: readonly Instruction[], ops: readonly (Op | undefined)[], kinds: Uint8Array, blocks: Blocks, entries: readonly number[],
  fpStoredElsewhere: boolean, facts: Int32Array, reached: Uint8Array,
): boolean {
  let storesFpElsewhere = false;
  facts.fill(0);
  reached.fill(0);
  const queue = new BlockQueue(scratchUint8(blocks.count), scratchInt32(blocks.count));
  for (const e of entries) {
    const b = blocks.blockOf[e]!;
    const at = FACTS * b;
    facts.fill(NOT_STACK, at, at + 11);
    // A function's arguments may point into its callers' stacks (the main program's r1 is its context).
    if (e !== 0) facts.fill(OTHER_STACK, at + 1, at + 6);
    facts[at + 10] = 0;
    reached[b] = 1;
    queue.push(b);
  }
  const r = new Int32Array(FACTS);
  while (queue.size) {
    const b = queue.pop();
    copyFacts(r, 0, facts, FACTS * b);
    for (let i = blocks.first[b]!; i <= blocks.last[b]!; i++) {
      const kind = kinds[i]!;
      if (kind === K_NONE) continue;
      const insn = insns[i]!;
      if (kind === K_STX && isOwnFp(r[insn.src]!) && (r[insn.dst] === OTHER_STACK || r[insn.dst] === ANY_FP)) storesFpElsewhere = true;
      step(insn, kind, ops[i]!, r, fpStoredElsewhere);
    }
    for (let e = 0; e < 2; e++) {
      const s = blocks.succ[2 * b + e]!;
      if (s < 0) continue;
      if (!reached[s]) {
        reached[s] = 1;
        copyFacts(facts, FACTS * s, r, 0);
        queue.push(s);
      } else if (joinInto(facts, FACTS * s, r)) queue.push(s);
    }
  }
  return storesFpElsewhere;
}

/**
 * The instruction that last set `reg` before `at` in the same straight run, if it did: how helper
 * arguments are usually made (`r1 = map`, `r4 = 8` right before the call).
 */
function setterInRun(insns: readonly Instruction[], ops: readonly (Op | undefined)[], kinds: Uint8Array, starts: Uint8Array, at: number, reg: number): number | undefined {
  for (let j = at - 1; j >= 0; j--) {
    const kind = kinds[j]!;
    if (kind !== K_NONE) {
      const writes = (kind === K_ALU || kind === K_LDX || kind === K_LD_IMM64) && insns[j]!.dst === reg;
      if (writes) return j;
      if (kind === K_ATOMIC && ((ops[j] as AtomicOp).fetch || (ops[j] as AtomicOp).op === 'load_acq')) return undefined;
      if (kind === K_LD_ABS || kind === K_LD_IND) return undefined;
    }
    if (starts[j]) return undefined;
  }
  return undefined;
}

/**
 * Bytes a helper may read through pointer argument `k` (0-based), when the call site says: what the
 * helper only writes is not read; map keys and values have their map's size; a memory argument the
 * size of an immediate set just before. Undefined: anything from the pointer up to the frame's top.
 */
function helperReadSize(
  args: readonly ArgType[], k: number, at: number, insns: readonly Instruction[], ops: readonly (Op | undefined)[], kinds: Uint8Array,
  starts: Uint8Array, mapAt: ((insn: number) => MapSpec | undefined) | undefined,
): number | undefined {
  const immediate = (reg: number): number | undefined => {
    const j = setterInRun(insns, ops, kinds, starts, at, reg);
    if (j === undefined || kinds[j] !== K_ALU) return undefined;
    const alu = ops[j] as AluOp;
    return alu.name === 'mov' && !alu.useReg ? insns[j]!.imm : undefined;
  };
  switch (args[k]) {
    case 'uninit_mem':
    case 'map_value_uninit':
      return 0;
    case 'long_ptr': return 8;
    case 'int_ptr': return 4;
    case 'map_key':
    case 'map_value': {
      const j = setterInRun(insns, ops, kinds, starts, at, 1);
      const map = j !== undefined && kinds[j] === K_LD_IMM64 ? mapAt?.(j) : undefined;
      return map ? (args[k] === 'map_key' ? map.keySize : map.valueSize) : undefined;
    }
    case 'mem':
    case 'mem_or_null': {
      const next = args[k + 1];
      const size = next === 'const_size' || next === 'const_size_or_zero' ? immediate(k + 2) : undefined;
      return size !== undefined && size >= 0 ? size : undefined;
    }
    default:
      return undefined;
  }
}

/** Slots holding any of the bytes [offset, offset + size) below fp, as two masks in `out`. */
function slotsFrom(offset: number, size: number, out: Int32Array, at: number): void {
  const start = Math.max(offset, -512), end = Math.min(offset + size, 0);
  let l = 0, h = 0;
  for (let slot = Math.floor(-end / 8); start < end && slot <= Math.floor((-start - 1) / 8); slot++) {
    if (slot < 32) l |= 1 << slot; else h |= 1 << (slot - 32);
  }
  out[2 * at] = l;
  out[2 * at + 1] = h;
}

/**
 * Live own-frame stack slots per insn (bit i of `lo`/`hi`: slot fp-8(i+1), low and high 32 slots).
 * Where the static pass cannot tell which slots an access reads (a pointer that is this frame's
 * stack on some paths only), the instruction is `observed`: exploration reports the slots each of its
 * executions reads and liveness grows from there, as the kernel's own liveness grows from the
 * accesses it records. A state is only pruned against one whose every continuation was explored, so
 * those continuations' reads have been reported by then.
 */
export class StackLiveness {
  readonly lo: Int32Array;
  readonly hi: Int32Array;
  /** 1: this instruction's reads come from exploration (`observe`), not from the static pass. */
  readonly observed: Uint8Array;
  /** Per insn, pairs (lo, hi): slots read, slots overwritten whole. */
  private readonly use: Int32Array;
  private readonly kill: Int32Array;
  /** Per block, pairs (lo, hi): slots read before overwritten in it, slots it overwrites, slots live at its start. */
  private readonly blockUse: Int32Array;
  private readonly blockKill: Int32Array;
  private readonly liveIn: Int32Array;
  private readonly queue: BlockQueue;
  /** Blocks the last solve visited: their instructions' slots are spread again. */
  private readonly visited: Int32Array;
  private visitedCount = 0;
  private readonly visitedMark: Uint8Array;
  private readonly scratch = new Int32Array(2);

  constructor(
    private readonly insns: readonly Instruction[], private readonly ops: readonly (Op | undefined)[], private readonly kinds: Uint8Array,
    private readonly blocks: Blocks,
    entries: readonly number[], private readonly mapAt?: (insn: number) => MapSpec | undefined,
  ) {
    const n = insns.length, count = blocks.count;
    this.lo = new Int32Array(n);
    this.hi = new Int32Array(n);
    this.observed = new Uint8Array(n);
    this.use = new Int32Array(2 * n);
    this.kill = new Int32Array(2 * n);
    this.blockUse = new Int32Array(2 * count);
    this.blockKill = new Int32Array(2 * count);
    this.liveIn = new Int32Array(2 * count);
    this.queue = new BlockQueue(new Uint8Array(count), new Int32Array(count));
    this.visited = new Int32Array(count);
    this.visitedMark = new Uint8Array(count);
    const facts = scratchInt32(FACTS * count);
    const reached = scratchUint8(count);
    const fpStoredElsewhere = fpOffsets(insns, ops, kinds, blocks, entries, false, facts, reached);
    if (fpStoredElsewhere) fpOffsets(insns, ops, kinds, blocks, entries, true, facts, reached);
    this.transferAll(facts, reached, fpStoredElsewhere);
    // Seeded with every reached block, highest first (the queue pops from the end).
    for (let b = 0; b < count; b++) if (reached[b]) this.queue.push(b);
    this.solve();
  }

  /** Exploration executed `insn` reading `size` bytes at this frame's fp + `offset` (undefined: anywhere in it). */
  observe(insn: number, offset: number | undefined, size: number): void {
    if (offset === undefined) this.scratch.fill(-1);
    else slotsFrom(offset, size, this.scratch, 0);
    this.grow(insn, this.scratch[0]!, this.scratch[1]!);
  }

  /** Exploration called the helper at `insn` with this frame's fp + `offset` in argument register `reg`. */
  observeHelperArg(insn: number, reg: number, offset: number): void {
    const args = helperProto(this.insns[insn]!.imm)?.args;
    if (args && reg > args.length) return;
    if (!args || args.includes('func')) return this.observe(insn, undefined, 0);
    this.observe(insn, offset, helperReadSize(args, reg - 1, insn, this.insns, this.ops, this.kinds, this.blocks.starts, this.mapAt) ?? -offset);
  }

  private grow(insn: number, lo: number, hi: number): void {
    const l = this.use[2 * insn]! | lo, h = this.use[2 * insn + 1]! | hi;
    if (l === this.use[2 * insn] && h === this.use[2 * insn + 1]) return;
    this.use[2 * insn] = l;
    this.use[2 * insn + 1] = h;
    const b = this.blocks.blockOf[insn]!;
    this.summarise(b);
    this.queue.push(b);
    this.solve();
  }

  /** The static reads and whole-slot writes of every reached instruction, from its block's facts, and each block's sums of them. */
  private transferAll(facts: Int32Array, reached: Uint8Array, fpStoredElsewhere: boolean): void {
    const { blocks, ops, kinds, insns } = this;
    const r = new Int32Array(FACTS);
    for (let b = 0; b < blocks.count; b++) {
      if (!reached[b]) continue;
      copyFacts(r, 0, facts, FACTS * b);
      for (let i = blocks.first[b]!; i <= blocks.last[b]!; i++) {
        const kind = kinds[i]!;
        if (kind === K_NONE) continue;
        this.transfer(i, kind, r);
        step(insns[i]!, kind, ops[i]!, r, fpStoredElsewhere);
      }
      this.summarise(b);
    }
  }

  /** Static reads and whole-slot writes of insn `i`, given what its registers may point to (`r`). */
  private transfer(i: number, kind: number, r: Int32Array): void {
    const insn = this.insns[i]!;
    switch (kind) {
      case K_LDX:
      case K_ATOMIC: {
        const op = this.ops[i] as Extract<Op, { kind: 'ldx' | 'atomic' }>;
        const v = r[op.kind === 'ldx' || op.op === 'load_acq' ? insn.src : insn.dst]!;
        if (v === ANY_FP) this.observed[i] = 1;
        else if (isOwnFp(v)) slotsFrom(v + insn.off, op.width, this.use, i);
        break;
      }
      case K_STX:
      case K_ST: {
        const v = r[insn.dst]!;
        if (isOffset(v) && (insn.code & 0x18) === Size.DW && (v + insn.off) % 8 === 0) slotsFrom(v + insn.off, 8, this.kill, i);
        break;
      }
      case K_CALL_LOCAL:
      case K_CALL_KFUNC:
      case K_CALLX:
        // A called function may read anywhere in this frame through the pointers it is given.
        this.use[2 * i] = -1;
        this.use[2 * i + 1] = -1;
        break;
      case K_CALL_HELPER: {
        const args = helperProto(insn.imm)?.args;
        for (let k = 1; k <= (args?.length ?? 5); k++) {
          const v = r[k]!;
          if (v === ANY_FP) this.observed[i] = 1;
          else if (!isOwnFp(v)) continue;
          else if (!args || args.includes('func')) {
            // A callback may reach anywhere in this frame through the stack pointer it is given.
            this.use[2 * i] = -1;
            this.use[2 * i + 1] = -1;
          } else {
            slotsFrom(v, helperReadSize(args, k - 1, i, this.insns, this.ops, this.kinds, this.blocks.starts, this.mapAt) ?? -v, this.scratch, 0);
            this.use[2 * i]! |= this.scratch[0]!;
            this.use[2 * i + 1]! |= this.scratch[1]!;
          }
        }
        break;
      }
      default: break;
    }
  }

  /** Block b's reads before overwrites, and overwrites, from its instructions'. */
  private summarise(b: number): void {
    const { use, kill, kinds, blocks } = this;
    let useLo = 0, useHi = 0, killLo = 0, killHi = 0;
    for (let i = blocks.last[b]!; i >= blocks.first[b]!; i--) {
      if (kinds[i] === K_NONE) continue;
      useLo = use[2 * i]! | (useLo & ~kill[2 * i]!);
      useHi = use[2 * i + 1]! | (useHi & ~kill[2 * i + 1]!);
      killLo |= kill[2 * i]!;
      killHi |= kill[2 * i + 1]!;
    }
    this.blockUse[2 * b] = useLo;
    this.blockUse[2 * b + 1] = useHi;
    this.blockKill[2 * b] = killLo;
    this.blockKill[2 * b + 1] = killHi;
  }

  /**
   * Backward fixpoint over the queued blocks (live-in = use | (live-out & ~kill)), then the slots
   * before each instruction of every block it visited.
   */
  private solve(): void {
    const { liveIn, blockUse, blockKill, blocks, queue } = this;
    while (queue.size) {
      const b = queue.pop();
      if (!this.visitedMark[b]) {
        this.visitedMark[b] = 1;
        this.visited[this.visitedCount++] = b;
      }
      const s0 = blocks.succ[2 * b]!, s1 = blocks.succ[2 * b + 1]!;
      const outLo = (s0 >= 0 ? liveIn[2 * s0]! : 0) | (s1 >= 0 ? liveIn[2 * s1]! : 0);
      const outHi = (s0 >= 0 ? liveIn[2 * s0 + 1]! : 0) | (s1 >= 0 ? liveIn[2 * s1 + 1]! : 0);
      const inLo = blockUse[2 * b]! | (outLo & ~blockKill[2 * b]!), inHi = blockUse[2 * b + 1]! | (outHi & ~blockKill[2 * b + 1]!);
      if (inLo === liveIn[2 * b] && inHi === liveIn[2 * b + 1]) continue;
      liveIn[2 * b] = inLo;
      liveIn[2 * b + 1] = inHi;
      for (let p = blocks.predStart[b]!; p < blocks.predStart[b + 1]!; p++) queue.push(blocks.predList[p]!);
    }
    for (let k = 0; k < this.visitedCount; k++) {
      const b = this.visited[k]!;
      this.visitedMark[b] = 0;
      this.spread(b);
    }
    this.visitedCount = 0;
  }

  /** The live slots before each instruction of block b, from those live after it. */
  private spread(b: number): void {
    const { liveIn, use, kill, lo, hi, kinds, blocks } = this;
    const s0 = blocks.succ[2 * b]!, s1 = blocks.succ[2 * b + 1]!;
    let l = (s0 >= 0 ? liveIn[2 * s0]! : 0) | (s1 >= 0 ? liveIn[2 * s1]! : 0);
    let h = (s0 >= 0 ? liveIn[2 * s0 + 1]! : 0) | (s1 >= 0 ? liveIn[2 * s1 + 1]! : 0);
    for (let i = blocks.last[b]!; i >= blocks.first[b]!; i--) {
      if (kinds[i] === K_NONE) continue;
      l = use[2 * i]! | (l & ~kill[2 * i]!);
      h = use[2 * i + 1]! | (h & ~kill[2 * i + 1]!);
      lo[i] = l;
      hi[i] = h;
    }
  }
}
