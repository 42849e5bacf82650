import type { Instruction, Op } from '../isa/instruction.js';
import { helperProto, type ArgType } from '../helpers/prototypes.js';
import type { MapSpec } from '../maps/spec.js';

/**
 * Static liveness of a function's own stack slots, for state pruning: a slot that no path reads
 * before overwriting it may differ between states. Stack pointers are followed as "fp + K" through
 * moves and constant adds; an access through a pointer less certain is left to exploration
 * (`StackLiveness.observed`), and a call that may reach anywhere in the frame reads every slot.
 *
 * What a register may point to, before each instruction, is one number:
 * - NOT_STACK (NaN): no stack at all. Loads from map values, packets, context and helper memory give
 *   scalars or non-stack pointers (the verifier tracks pointers only in stack slots), so a load
 *   through such a register gives NOT_STACK too.
 * - OTHER_STACK (-Infinity): perhaps another frame's stack (a callee's pointer arguments), never this one's.
 * - a finite K: this frame's fp + K.
 * - ANY_FP (+Infinity): perhaps this frame's stack, at an unknown offset.
 */

const NOT_STACK = Number.NaN;
const OTHER_STACK = Number.NEGATIVE_INFINITY;
const ANY_FP = Number.POSITIVE_INFINITY;

const isOwnFp = (v: number): boolean => v === v && v !== OTHER_STACK;

function join(a: number, b: number): number {
  if (Object.is(a, b)) return a;
  if (isOwnFp(a) || isOwnFp(b)) return ANY_FP;
  return OTHER_STACK;
}

/** Pointer + scalar, pointer - pointer and the like, when either side may be a stack pointer. */
function combine(a: number, b: number): number {
  if (isOwnFp(a) || isOwnFp(b)) return ANY_FP;
  return a === OTHER_STACK || b === OTHER_STACK ? OTHER_STACK : NOT_STACK;
}

/**
 * The forward pass's solver: visit instructions from `seeds` until nothing changes; `visit(i)`
 * updates its successors' facts and `add`s those that changed.
 */
function fixpoint(n: number, seeds: Iterable<number>, visit: (i: number, add: (j: number) => void) => void): void {
  const queued = new Uint8Array(n);
  const work: number[] = [];
  const add = (i: number): void => {
    if (i < n && !queued[i]) {
      queued[i] = 1;
      work.push(i);
    }
  };
  for (const i of seeds) add(i);
  while (work.length) {
    const i = work.pop()!;
    queued[i] = 0;
    visit(i, add);
  }
}

/**
 * Per instruction: registers 0..10 as above, then two pairs of 32-bit slot masks: slots that may hold
 * a spilled pointer into this frame (OWN_LO/HI), and into another frame (OTHER_LO/HI).
 */
const OWN_LO = 11, OWN_HI = 12, OTHER_LO = 13, OTHER_HI = 14;
const FACTS = 15;

const slotBit = (lo: number, hi: number, slot: number): boolean => ((slot < 32 ? lo >>> slot : hi >>> (slot - 32)) & 1) === 1;

/** The forward pass's result: FACTS numbers per instruction in one buffer; `reached[i]` once insn i has any. */
interface Facts {
  all: Float64Array;
  reached: Uint8Array;
}

/** Forward pass: what each register may point to, before each insn. */
function fpOffsets(insns: readonly Instruction[], ops: readonly (Op | undefined)[], succ: Int32Array, entries: readonly number[], fpStoredElsewhere: boolean): Facts {
  const n = insns.length;
  const all = new Float64Array(FACTS * n);
  const reached = new Uint8Array(n);
  for (const e of entries) {
    const at = FACTS * e;
    all.fill(NOT_STACK, at, at + 11);
    // A function's arguments may point into its callers' stacks (the main program's r1 is its context).
    if (e !== 0) all.fill(OTHER_STACK, at + 1, at + 6);
    all[at + 10] = 0;
    reached[e] = 1;
  }
  // One scratch set of facts: the visit copies into it, then joins it into its successors.
  const r = new Float64Array(FACTS);
  /** What an 8-byte load through `base + off` may give: a spilled pointer comes back from stack only. */
  const fill = (base: number, off: number, width: number): number => {
    if (width !== 8 || base !== base) return NOT_STACK;
    if (base === ANY_FP) return ANY_FP;
    if (base === OTHER_STACK) return fpStoredElsewhere ? ANY_FP : OTHER_STACK;
    const slot = Math.floor((-(base + off) - 1) / 8);
    if (slot < 0 || slot > 63) return ANY_FP;
    if (slotBit(r[OWN_LO]!, r[OWN_HI]!, slot)) return ANY_FP;
    return slotBit(r[OTHER_LO]!, r[OTHER_HI]!, slot) ? OTHER_STACK : NOT_STACK;
  };
  const joinInto = (s: number, add: (j: number) => void): void => {
    if (s < 0 || s >= n || !ops[s]) return;
    const at = FACTS * s;
    if (!reached[s]) {
      reached[s] = 1;
      all.set(r, at);
      add(s);
      return;
    }
    let grew = false;
    for (let k = 0; k < 11; k++) {
      const j = join(all[at + k]!, r[k]!);
      if (!Object.is(j, all[at + k]!)) { all[at + k] = j; grew = true; }
    }
    for (let k = OWN_LO; k < FACTS; k++) {
      const j = all[at + k]! | r[k]!;
      if (j !== all[at + k]) { all[at + k] = j; grew = true; }
    }
    if (grew) add(s);
  };
  fixpoint(n, entries, (i, add) => {
    const op = ops[i];
    if (!op) return;
    const insn = insns[i]!;
    for (let k = 0; k < FACTS; k++) r[k] = all[FACTS * i + k]!;
    switch (op.kind) {
      case 'alu':
        if (!op.is64) { r[insn.dst] = NOT_STACK; break; }
        if (op.name === 'mov') r[insn.dst] = op.useReg ? r[insn.src]! : NOT_STACK;
        else if ((op.name === 'add' || op.name === 'sub') && !op.useReg) {
          const v = r[insn.dst]!;
          if (Number.isFinite(v)) r[insn.dst] = op.name === 'add' ? v + insn.imm : v - insn.imm;
        } else if ((op.name === 'add' || op.name === 'sub') && op.useReg) r[insn.dst] = combine(r[insn.dst]!, r[insn.src]!);
        else r[insn.dst] = NOT_STACK;
        break;
      case 'ldx': r[insn.dst] = fill(r[insn.src]!, insn.off, op.width); break;
      case 'stx': {
        const base = r[insn.dst]!;
        const value = r[insn.src]!;
        if (value !== value) break;
        const lo = value === OTHER_STACK ? OTHER_LO : OWN_LO, hi = lo + 1;
        if (Number.isFinite(base)) {
          const slot = Math.floor((-(base + insn.off) - 1) / 8);
          if (slot >= 0 && slot < 32) r[lo] = r[lo]! | (1 << slot);
          else if (slot >= 32 && slot < 64) r[hi] = r[hi]! | (1 << (slot - 32));
        } else if (base === ANY_FP) {
          r[lo] = -1;
          r[hi] = -1;
        }
        break;
      }
      case 'atomic':
        // A fetch is a fill of the old value (a spilled pointer stays one); load-acquire is a load.
        if (op.op === 'load_acq') r[insn.dst] = fill(r[insn.src]!, insn.off, op.width);
        else if (op.fetch) r[op.op === 'cmpxchg' ? 0 : insn.src] = fill(r[insn.dst]!, insn.off, op.width);
        break;
      case 'call':
      case 'callx':
        for (let k = 1; k <= 5; k++) r[k] = NOT_STACK;
        // Helpers return no stack pointers; a function may return one into its caller's stack.
        r[0] = op.kind === 'call' && op.target === 'helper' ? NOT_STACK : ANY_FP;
        break;
      case 'ld_imm64': r[insn.dst] = NOT_STACK; break;
      case 'ld_abs':
      case 'ld_ind': for (let k = 0; k <= 5; k++) r[k] = NOT_STACK; break;
      default: break;
    }
    joinInto(succ[2 * i]!, add);
    joinInto(succ[2 * i + 1]!, add);
  });
  return { all, reached };
}

/** Does any store put a pointer into this frame where it is not tracked: into another frame's stack, or anywhere? */
function storesFpElsewhere(insns: readonly Instruction[], ops: readonly (Op | undefined)[], facts: Facts): boolean {
  for (let i = 0; i < insns.length; i++) {
    if (ops[i]?.kind !== 'stx' || !facts.reached[i]) continue;
    const base = facts.all[FACTS * i + insns[i]!.dst]!;
    if (isOwnFp(facts.all[FACTS * i + insns[i]!.src]!) && (base === OTHER_STACK || base === ANY_FP)) return true;
  }
  return false;
}

/** Instructions that start a straight run: entries, jump targets, and those after a jump, call or exit. */
function runStarts(ops: readonly (Op | undefined)[], succ: Int32Array, entries: readonly number[]): Uint8Array {
  const n = ops.length;
  const starts = new Uint8Array(n + 1);
  for (const e of entries) starts[e] = 1;
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    if (!op) continue;
    const next = op.kind === 'ld_imm64' ? i + 2 : i + 1;
    for (let k = 2 * i; k < 2 * i + 2; k++) if (succ[k]! >= 0 && succ[k] !== next) starts[succ[k]!] = 1;
    if (op.kind === 'jcond' || op.kind === 'ja' || op.kind === 'call' || op.kind === 'callx' || op.kind === 'exit' || op.kind === 'may_goto') starts[next] = 1;
  }
  return starts;
}

/**
 * The instruction that last set `reg` before `at` in the same straight run, if it did: how helper
 * arguments are usually made (`r1 = map`, `r4 = 8` right before the call).
 */
function setterInRun(insns: readonly Instruction[], ops: readonly (Op | undefined)[], starts: Uint8Array, at: number, reg: number): number | undefined {
  for (let j = at - 1; j >= 0; j--) {
    const op = ops[j];
    if (op) {
      const writes = (op.kind === 'alu' || op.kind === 'ldx' || op.kind === 'ld_imm64') && insns[j]!.dst === reg;
      if (writes) return j;
      if ((op.kind === 'atomic' && (op.fetch || op.op === 'load_acq')) || op.kind === 'ld_abs' || op.kind === 'ld_ind') return undefined;
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
  args: readonly ArgType[], k: number, at: number, insns: readonly Instruction[], ops: readonly (Op | undefined)[], starts: Uint8Array,
  mapAt: ((insn: number) => MapSpec | undefined) | undefined,
): number | undefined {
  const immediate = (reg: number): number | undefined => {
    const j = setterInRun(insns, ops, starts, at, reg);
    const op = j === undefined ? undefined : ops[j];
    return op?.kind === 'alu' && op.name === 'mov' && !op.useReg ? insns[j!]!.imm : undefined;
  };
  switch (args[k]) {
    case 'uninit_mem':
    case 'map_value_uninit':
      return 0;
    case 'long_ptr': return 8;
    case 'int_ptr': return 4;
    case 'map_key':
    case 'map_value': {
      const j = setterInRun(insns, ops, starts, at, 1);
      const map = j !== undefined && ops[j]?.kind === 'ld_imm64' ? mapAt?.(j) : undefined;
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
  /** Predecessors, flat: those of insn i are predList[predStart[i] .. predStart[i + 1]). */
  private readonly predStart: Int32Array;
  private readonly predList: Int32Array;
  private readonly queued: Uint8Array;
  private readonly work: number[] = [];
  private readonly scratch = new Int32Array(2);
  /** Instructions that start a straight run (where helper arguments set just before are looked for). */
  private readonly starts: Uint8Array;

  constructor(
    private readonly insns: readonly Instruction[], private readonly ops: readonly (Op | undefined)[], private readonly succ: Int32Array,
    entries: readonly number[], private readonly mapAt?: (insn: number) => MapSpec | undefined,
  ) {
    const n = insns.length;
    this.lo = new Int32Array(n);
    this.hi = new Int32Array(n);
    this.observed = new Uint8Array(n);
    this.use = new Int32Array(2 * n);
    this.kill = new Int32Array(2 * n);
    this.queued = new Uint8Array(n);
    this.starts = runStarts(ops, succ, entries);
    let facts = fpOffsets(insns, ops, succ, entries, false);
    if (storesFpElsewhere(insns, ops, facts)) facts = fpOffsets(insns, ops, succ, entries, true);
    const counts = new Int32Array(n + 1);
    for (let k = 0; k < 2 * n; k++) if (succ[k]! >= 0 && succ[k]! < n) counts[succ[k]! + 1]!++;
    for (let i = 0; i < n; i++) counts[i + 1]! += counts[i]!;
    this.predStart = counts;
    this.predList = new Int32Array(counts[n]!);
    const fillAt = counts.slice(0, n);
    for (let k = 0; k < 2 * n; k++) if (succ[k]! >= 0 && succ[k]! < n) this.predList[fillAt[succ[k]!]!++] = k >> 1;
    for (let i = 0; i < n; i++) if (ops[i] && facts.reached[i]) this.transfer(i, facts.all, FACTS * i);
    // Seeded with every reachable insn, highest first (the worklist pops from the end).
    for (let i = 0; i < n; i++) if (ops[i] && facts.reached[i]) this.enqueue(i);
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
    this.observe(insn, offset, helperReadSize(args, reg - 1, insn, this.insns, this.ops, this.starts, this.mapAt) ?? -offset);
  }

  private grow(insn: number, lo: number, hi: number): void {
    const l = this.use[2 * insn]! | lo, h = this.use[2 * insn + 1]! | hi;
    if (l === this.use[2 * insn] && h === this.use[2 * insn + 1]) return;
    this.use[2 * insn] = l;
    this.use[2 * insn + 1] = h;
    this.enqueue(insn);
    this.solve();
  }

  /** Static reads and whole-slot writes of insn `i`, given what its registers may point to. */
  private transfer(i: number, facts: Float64Array, at: number): void {
    const op = this.ops[i]!;
    const insn = this.insns[i]!;
    switch (op.kind) {
      case 'ldx':
      case 'atomic': {
        const v = facts[at + (op.kind === 'ldx' || op.op === 'load_acq' ? insn.src : insn.dst)]!;
        if (v === ANY_FP) this.observed[i] = 1;
        else if (isOwnFp(v)) slotsFrom(v + insn.off, op.width, this.use, i);
        break;
      }
      case 'stx':
      case 'st': {
        const v = facts[at + insn.dst]!;
        if (Number.isFinite(v) && op.width === 8 && (v + insn.off) % 8 === 0) slotsFrom(v + insn.off, 8, this.kill, i);
        break;
      }
      case 'call':
      case 'callx': {
        if (op.kind !== 'call' || op.target !== 'helper') {
          // A called function may read anywhere in this frame through the pointers it is given.
          this.use[2 * i] = -1;
          this.use[2 * i + 1] = -1;
          break;
        }
        const args = helperProto(insn.imm)?.args;
        for (let k = 1; k <= (args?.length ?? 5); k++) {
          const v = facts[at + k]!;
          if (v === ANY_FP) this.observed[i] = 1;
          else if (!isOwnFp(v)) continue;
          else if (!args || args.includes('func')) {
            // A callback may reach anywhere in this frame through the stack pointer it is given.
            this.use[2 * i] = -1;
            this.use[2 * i + 1] = -1;
          } else {
            slotsFrom(v, helperReadSize(args, k - 1, i, this.insns, this.ops, this.starts, this.mapAt) ?? -v, this.scratch, 0);
            this.use[2 * i]! |= this.scratch[0]!;
            this.use[2 * i + 1]! |= this.scratch[1]!;
          }
        }
        break;
      }
      default: break;
    }
  }

  private enqueue(i: number): void {
    if (!this.queued[i]) {
      this.queued[i] = 1;
      this.work.push(i);
    }
  }

  /** Backward fixpoint: live-in = use | (live-out & ~kill). */
  private solve(): void {
    const { lo, hi, use, kill, succ, work } = this;
    const n = lo.length;
    while (work.length) {
      const i = work.pop()!;
      this.queued[i] = 0;
      let outLo = 0, outHi = 0;
      for (let k = 2 * i; k < 2 * i + 2; k++) {
        const s = succ[k]!;
        if (s < 0 || s >= n) continue;
        outLo |= lo[s]!;
        outHi |= hi[s]!;
      }
      const inLo = use[2 * i]! | (outLo & ~kill[2 * i]!), inHi = use[2 * i + 1]! | (outHi & ~kill[2 * i + 1]!);
      if (inLo === lo[i] && inHi === hi[i]) continue;
      lo[i] = inLo;
      hi[i] = inHi;
      for (let p = this.predStart[i]!; p < this.predStart[i + 1]!; p++) this.enqueue(this.predList[p]!);
    }
  }
}
