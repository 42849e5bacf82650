import type { Instruction, Op } from '../isa/instruction.js';
import { helperProto, type ArgType } from '../helpers/prototypes.js';
import type { MapSpec } from '../maps/spec.js';

/**
 * Static liveness of a function's own stack slots, for state pruning: a slot that no path reads
 * before overwriting it may differ between states. Stack pointers are followed as "fp + K" through
 * moves and constant adds; anything less certain counts as reading every slot.
 */

const NOT_FP = Number.NaN;
const ANY_FP = Number.POSITIVE_INFINITY;

function join(a: number, b: number): number {
  if (Object.is(a, b)) return a;
  if (Number.isNaN(a) && Number.isNaN(b)) return NOT_FP;
  return ANY_FP;
}

/**
 * The one small solver both passes share: visit instructions from `seeds` until nothing changes;
 * `visit(i)` updates what it owns and returns the instructions whose facts that may change.
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

/** Forward pass: what each register holds relative to this frame's fp, before each insn. */
function fpOffsets(insns: readonly Instruction[], ops: readonly (Op | undefined)[], succ: readonly number[][], entries: readonly number[], fpStored: boolean): (Float64Array | undefined)[] {
  const n = insns.length;
  const at: (Float64Array | undefined)[] = new Array(n);
  // Every instruction's register set is a view into one buffer: one allocation, not one per insn.
  const all = new Float64Array(13 * n);
  const slotOf = (i: number): Float64Array => all.subarray(13 * i, 13 * i + 13);
  for (const e of entries) {
    const regs = slotOf(e).fill(NOT_FP);
    regs[10] = 0;
    regs[11] = 0;
    regs[12] = 0;
    at[e] = regs;
  }
  // One scratch register set: the visit copies into it, and successors get copies (no allocation per visit).
  const r = new Float64Array(13);
  fixpoint(n, entries, (i, add) => {
    const op = ops[i];
    if (!op) return;
    const insn = insns[i]!;
    r.set(at[i]!);
    switch (op.kind) {
      case 'alu':
        if (!op.is64) { r[insn.dst] = NOT_FP; break; }
        if (op.name === 'mov') r[insn.dst] = op.useReg ? r[insn.src]! : NOT_FP;
        else if ((op.name === 'add' || op.name === 'sub') && !op.useReg) {
          const v = r[insn.dst]!;
          if (Number.isFinite(v)) r[insn.dst] = op.name === 'add' ? v + insn.imm : v - insn.imm;
        } else if ((op.name === 'add' || op.name === 'sub') && op.useReg) {
          const d = r[insn.dst]!, s = r[insn.src]!;
          r[insn.dst] = Number.isNaN(d) && Number.isNaN(s) ? NOT_FP : ANY_FP;
        } else r[insn.dst] = NOT_FP;
        break;
      case 'ldx': {
        // A fill from a slot that may hold a stack pointer (or memory elsewhere, if one was stored there).
        const base = r[insn.src]!;
        let mayFp = false;
        if (op.width === 8) {
          if (Number.isNaN(base)) mayFp = fpStored;
          else if (!Number.isFinite(base)) mayFp = true;
          else {
            const a = base + insn.off;
            const slot = Math.floor((-a - 1) / 8);
            mayFp = slot < 0 || slot > 63 || (((slot < 32 ? r[11]! >>> slot : r[12]! >>> (slot - 32)) & 1) === 1);
          }
        }
        r[insn.dst] = mayFp ? ANY_FP : NOT_FP;
        break;
      }
      case 'stx': {
        const base = r[insn.dst]!;
        const value = r[insn.src]!;
        if (!Number.isNaN(value) && Number.isFinite(base)) {
          const a = base + insn.off;
          const slot = Math.floor((-a - 1) / 8);
          if (slot >= 0 && slot < 32) r[11] = r[11]! | (1 << slot);
          else if (slot >= 32 && slot < 64) r[12] = r[12]! | (1 << (slot - 32));
        } else if (!Number.isNaN(value) && !Number.isFinite(base)) {
          r[11] = -1;
          r[12] = -1;
        }
        break;
      }
      case 'atomic': if (op.fetch) r[op.op === 'cmpxchg' ? 0 : insn.src] = NOT_FP; break;
      case 'call':
      case 'callx':
        for (let k = 1; k <= 5; k++) r[k] = NOT_FP;
        r[0] = op.kind === 'call' && op.target === 'helper' ? NOT_FP : ANY_FP;
        break;
      case 'ld_imm64': r[insn.dst] = NOT_FP; break;
      case 'ld_abs':
      case 'ld_ind': for (let k = 0; k <= 5; k++) r[k] = NOT_FP; break;
      default: break;
    }
    for (const s of succ[i]!) {
      if (s >= n || !ops[s]) continue;
      const prev = at[s];
      if (!prev) {
        const copy = slotOf(s);
        copy.set(r);
        at[s] = copy;
        add(s);
        continue;
      }
      let grew = false;
      for (let k = 0; k < 11; k++) {
        const j = join(prev[k]!, r[k]!);
        if (!Object.is(j, prev[k]!)) { prev[k] = j; grew = true; }
      }
      for (let k = 11; k < 13; k++) {
        const j = prev[k]! | r[k]!;
        if (j !== prev[k]) { prev[k] = j; grew = true; }
      }
      if (grew) add(s);
    }
  });
  return at;
}

/** Does any store put a possibly-fp register into memory? */
function storesFp(insns: readonly Instruction[], ops: readonly (Op | undefined)[], at: readonly (Float64Array | undefined)[]): boolean {
  for (let i = 0; i < insns.length; i++) {
    const op = ops[i];
    const regs = at[i];
    if (!op || !regs) continue;
    if ((op.kind === 'stx' || op.kind === 'atomic') && !Number.isNaN(regs[insns[i]!.src]!) && Number.isNaN(regs[insns[i]!.dst]!)) return true;
  }
  return false;
}

const ALL = [-1, -1] as const;

/** Instructions that start a straight run: entries, jump targets, and those after a jump, call or exit. */
function runStarts(ops: readonly (Op | undefined)[], succ: readonly number[][], entries: readonly number[]): Uint8Array {
  const starts = new Uint8Array(ops.length + 1);
  for (const e of entries) starts[e] = 1;
  ops.forEach((op, i) => {
    if (!op) return;
    const next = op.kind === 'ld_imm64' ? i + 2 : i + 1;
    for (const s of succ[i]!) if (s !== next) starts[s] = 1;
    if (op.kind === 'jcond' || op.kind === 'ja' || op.kind === 'call' || op.kind === 'callx' || op.kind === 'exit' || op.kind === 'may_goto') starts[next] = 1;
  });
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
    case 'mem': {
      const next = args[k + 1];
      const size = next === 'const_size' || next === 'const_size_or_zero' ? immediate(k + 2) : undefined;
      return size !== undefined && size >= 0 ? size : undefined;
    }
    default:
      return undefined;
  }
}

/** Per insn: live slots of the insn's own frame as two 32-bit masks (slot i covers fp-8(i+1)). */
export function stackLiveness(
  insns: readonly Instruction[], ops: readonly (Op | undefined)[], succ: readonly number[][], entries: readonly number[],
  mapAt?: (insn: number) => MapSpec | undefined,
): { lo: Int32Array; hi: Int32Array } {
  const n = insns.length;
  const starts = runStarts(ops, succ, entries);
  let at = fpOffsets(insns, ops, succ, entries, false);
  if (storesFp(insns, ops, at)) at = fpOffsets(insns, ops, succ, entries, true);
  const lo = new Int32Array(n), hi = new Int32Array(n);
  /** Slots holding any of the bytes [offset, offset + size) below fp. */
  const slotsFrom = (offset: number, size: number): [number, number] => {
    const start = Math.max(offset, -512), end = Math.min(offset + size, 0);
    let l = 0, h = 0;
    for (let slot = Math.floor(-end / 8); start < end && slot <= Math.floor((-start - 1) / 8); slot++) {
      if (slot < 32) l |= 1 << slot; else h |= 1 << (slot - 32);
    }
    return [l, h];
  };
  const readVia = (regs: Float64Array, base: number, off: number, size: number): readonly [number, number] => {
    const v = regs[base]!;
    if (Number.isNaN(v)) return [0, 0];
    if (!Number.isFinite(v)) return ALL;
    return slotsFrom(v + off, size);
  };
  const preds: number[][] = Array.from({ length: n }, () => []);
  succ.forEach((out, i) => { for (const s of out) if (s < n) preds[s]!.push(i); });
  // Seeded with every reachable insn, highest first (the worklist pops from the end).
  const reachable = [...at.keys()].filter((i) => ops[i] && at[i]);
  fixpoint(n, reachable, (i, add) => {
    const op = ops[i];
    const regs = at[i];
    if (!op || !regs) return;
    const insn = insns[i]!;
    let outLo = 0, outHi = 0;
    for (const s of succ[i]!) {
      if (s >= n) continue;
      outLo |= lo[s]!;
      outHi |= hi[s]!;
    }
    let useLo = 0, useHi = 0, killLo = 0, killHi = 0;
    const use = (m: readonly [number, number]): void => { useLo |= m[0]; useHi |= m[1]; };
    switch (op.kind) {
      case 'ldx': use(readVia(regs, insn.src, insn.off, op.width)); break;
      case 'atomic': use(readVia(regs, insn.dst, insn.off, op.width)); break;
      case 'stx':
      case 'st': {
        const v = regs[insn.dst]!;
        if (Number.isFinite(v) && op.width === 8 && (v + insn.off) % 8 === 0) {
          const [l, h] = slotsFrom(v + insn.off, 8);
          killLo = l;
          killHi = h;
        }
        break;
      }
      case 'call':
      case 'callx': {
        if (op.kind === 'call' && op.target === 'helper') {
          const args = helperProto(insn.imm)?.args;
          for (let k = 1; k <= (args?.length ?? 5); k++) {
            const v = regs[k]!;
            if (Number.isNaN(v)) continue;
            if (!Number.isFinite(v)) use(ALL);
            else use(slotsFrom(v, (args && helperReadSize(args, k - 1, i, insns, ops, starts, mapAt)) ?? -v));
          }
        } else use(ALL);
        break;
      }
      default: break;
    }
    const inLo = useLo | (outLo & ~killLo), inHi = useHi | (outHi & ~killHi);
    if (inLo === lo[i] && inHi === hi[i]) return;
    lo[i] = inLo;
    hi[i] = inHi;
    for (const p of preds[i]!) add(p);
  });
  return { lo, hi };
}
