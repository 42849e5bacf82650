import type { Instruction, Op } from '../isa/instruction.js';
import { helperProto } from '../helpers/prototypes.js';

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

/** Forward pass: what each register holds relative to this frame's fp, before each insn. */
function fpOffsets(insns: readonly Instruction[], ops: readonly (Op | undefined)[], succ: readonly number[][], entries: readonly number[], fpStored: boolean): (Float64Array | undefined)[] {
  const n = insns.length;
  const at: (Float64Array | undefined)[] = new Array(n);
  const work: number[] = [];
  for (const e of entries) {
    const regs = new Float64Array(13).fill(NOT_FP);
    regs[10] = 0;
    regs[11] = 0;
    regs[12] = 0;
    at[e] = regs;
    work.push(e);
  }
  while (work.length) {
    const i = work.pop()!;
    const op = ops[i];
    if (!op) continue;
    const insn = insns[i]!;
    const r = Float64Array.from(at[i]!);
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
        at[s] = r;
        work.push(s);
        continue;
      }
      let changed = false;
      for (let k = 0; k < 11; k++) {
        const j = join(prev[k]!, r[k]!);
        if (!Object.is(j, prev[k]!)) { prev[k] = j; changed = true; }
      }
      for (let k = 11; k < 13; k++) {
        const j = prev[k]! | r[k]!;
        if (j !== prev[k]) { prev[k] = j; changed = true; }
      }
      if (changed) work.push(s);
    }
  }
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

/** Bits per register: 1 the value may be the context pointer, 2 it may be another pointer. */
const CTX = 1, PTR = 2;

/** Forward pass: which registers may hold pointers before each insn (for add/sub precision). */
function mayPointers(
  insns: readonly Instruction[], ops: readonly (Op | undefined)[], succ: readonly number[][], entries: readonly number[],
  fpAt: readonly (Float64Array | undefined)[],
): (Int32Array | undefined)[] {
  const n = insns.length;
  // Registers 0..10, then two masks of stack slots that may hold a spilled pointer.
  const at: (Int32Array | undefined)[] = new Array(n);
  const work: number[] = [];
  entries.forEach((e, k) => {
    const regs = new Int32Array(13);
    regs[10] = PTR;
    if (k === 0) regs[1] = CTX;
    else for (let r = 1; r <= 5; r++) regs[r] = CTX | PTR;
    at[e] = regs;
    work.push(e);
  });
  while (work.length) {
    const i = work.pop()!;
    const op = ops[i];
    if (!op) continue;
    const insn = insns[i]!;
    const r = Int32Array.from(at[i]!);
    const fp = fpAt[i];
    const slotOf = (base: number, off: number): number => (fp && Number.isFinite(fp[base]!) ? Math.floor((-(fp[base]! + off) - 1) / 8) : -1);
    const fpKind = (base: number): 'no' | 'known' | 'any' => (!fp || Number.isNaN(fp[base]!) ? 'no' : Number.isFinite(fp[base]!) ? 'known' : 'any');
    switch (op.kind) {
      case 'stx': {
        if (!r[insn.src]) break;
        const kind = fpKind(insn.dst);
        const slot = slotOf(insn.dst, insn.off);
        if (kind === 'known' && slot >= 0 && slot < 64) {
          if (slot < 32) r[11] = r[11]! | (1 << slot); else r[12] = r[12]! | (1 << (slot - 32));
        } else if (kind !== 'no' || !fp) {
          r[11] = -1;
          r[12] = -1;
        }
        break;
      }
      case 'alu':
        if (!op.is64) r[insn.dst] = 0;
        else if (op.name === 'mov') r[insn.dst] = op.useReg ? r[insn.src]! : 0;
        else if (op.name === 'add' || op.name === 'sub') r[insn.dst] = r[insn.dst]! | (op.useReg ? r[insn.src]! : 0);
        else r[insn.dst] = 0;
        break;
      case 'ldx': {
        const base = r[insn.src]!;
        let may = (op.width === 4 || op.width === 8) && (base & CTX) !== 0;
        if (op.width === 8) {
          const kind = fpKind(insn.src);
          const slot = slotOf(insn.src, insn.off);
          if (kind === 'any' || (kind === 'known' && (slot < 0 || slot > 63))) may = true;
          else if (kind === 'known') may = may || (((slot < 32 ? r[11]! >>> slot : r[12]! >>> (slot - 32)) & 1) === 1);
        }
        r[insn.dst] = may ? CTX | PTR : 0;
        break;
      }
      case 'atomic':
        // An atomic may store a pointer anywhere it points.
        if (r[insn.src]) { r[11] = -1; r[12] = -1; }
        if (op.fetch) r[op.op === 'cmpxchg' ? 0 : insn.src] = CTX | PTR;
        break;
      case 'call':
      case 'callx': {
        for (let k = 1; k <= 5; k++) r[k] = 0;
        const proto = op.kind === 'call' && op.target === 'helper' ? helperProto(insn.imm) : undefined;
        // Subprograms and callbacks may spill pointers into this frame through pointer arguments.
        if (!proto || proto.args.includes('func')) { r[11] = -1; r[12] = -1; }
        const ret = proto?.ret;
        r[0] = ret === 'integer' || ret === 'void' ? 0 : CTX | PTR;
        break;
      }
      case 'ld_imm64': r[insn.dst] = op.pseudo === 0 ? 0 : PTR; break;
      case 'ld_abs':
      case 'ld_ind': for (let k = 0; k <= 5; k++) r[k] = 0; break;
      default: break;
    }
    for (const s of succ[i]!) {
      if (s >= n || !ops[s]) continue;
      const prev = at[s];
      if (!prev) {
        at[s] = r;
        work.push(s);
        continue;
      }
      let changed = false;
      for (let k = 0; k < 13; k++) {
        const j = prev[k]! | r[k]!;
        if (j !== prev[k]) { prev[k] = j; changed = true; }
      }
      if (changed) work.push(s);
    }
  }
  return at;
}

/** Per insn: live slots of the insn's own frame as two 32-bit masks (slot i covers fp-8(i+1)). */
export function stackLiveness(
  insns: readonly Instruction[], ops: readonly (Op | undefined)[], succ: readonly number[][], entries: readonly number[],
  precision?: { exitNeedsR0: boolean; inSubprog: (insn: number) => boolean },
): { lo: Int32Array; hi: Int32Array; neededRegs: Int32Array; neededLo: Int32Array; neededHi: Int32Array } {
  const n = insns.length;
  let at = fpOffsets(insns, ops, succ, entries, false);
  if (storesFp(insns, ops, at)) at = fpOffsets(insns, ops, succ, entries, true);
  const lo = new Int32Array(n), hi = new Int32Array(n);
  const slotsFrom = (offset: number, size: number): [number, number] => {
    let l = 0, h = 0;
    for (let a = offset; a < offset + size; a++) {
      if (a >= 0 || a < -512) continue;
      const slot = Math.floor((-a - 1) / 8);
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
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const op = ops[i];
      const regs = at[i];
      if (!op || !regs) continue;
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
            const nargs = helperProto(insn.imm)?.args.length ?? 5;
            for (let k = 1; k <= nargs; k++) {
              const v = regs[k]!;
              if (Number.isNaN(v)) continue;
              if (!Number.isFinite(v)) use(ALL);
              else use(slotsFrom(v, -v));
            }
          } else use(ALL);
          break;
        }
        default: break;
      }
      const inLo = useLo | (outLo & ~killLo), inHi = useHi | (outHi & ~killHi);
      if (inLo !== lo[i] || inHi !== hi[i]) {
        lo[i] = inLo;
        hi[i] = inHi;
        changed = true;
      }
    }
  }
  // Registers and slots whose values may reach a precision sink: a joint backward fixpoint.
  const neededRegs = new Int32Array(n);
  const neededLo = new Int32Array(n), neededHi = new Int32Array(n);
  if (!precision) {
    neededRegs.fill(-1);
    neededLo.fill(-1);
    neededHi.fill(-1);
    return { lo, hi, neededRegs, neededLo, neededHi };
  }
  const bit = (r: number): number => 1 << r;
  const pointers = mayPointers(insns, ops, succ, entries, at);
  changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      const op = ops[i];
      const regs = at[i];
      if (!op) continue;
      const insn = insns[i]!;
      let outLo = 0, outHi = 0, after = 0;
      for (const s of succ[i]!) {
        if (s >= n) continue;
        outLo |= neededLo[s]!;
        outHi |= neededHi[s]!;
        after |= neededRegs[s]!;
      }
      let useLo = 0, useHi = 0, killLo = 0, killHi = 0;
      const use = (m: readonly [number, number]): void => { useLo |= m[0]; useHi |= m[1]; };
      let sink = 0, def = 0;
      const dstNeeded = (after & bit(insn.dst)) !== 0;
      switch (op.kind) {
        case 'alu': {
          const src = op.useReg ? bit(insn.src) : 0;
          def = bit(insn.dst);
          if (op.name === 'mov' || op.name === 'movsx' || op.name === 'addr_space_cast') {
            if (dstNeeded) sink |= src;
          } else {
            // add/sub between registers may be pointer arithmetic: the scalar side becomes an offset.
            const ptrs = pointers[i];
            const mayBePointerMath = !ptrs || ptrs[insn.dst] !== 0 || ptrs[insn.src] !== 0;
            if ((op.name === 'add' || op.name === 'sub') && op.useReg && mayBePointerMath) sink |= src | bit(insn.dst);
            if (dstNeeded) sink |= src | bit(insn.dst);
          }
          break;
        }
        case 'ldx':
          sink |= bit(insn.src);
          def = bit(insn.dst);
          if (dstNeeded && regs) use(readVia(regs, insn.src, insn.off, op.width));
          break;
        case 'st':
        case 'stx': {
          sink |= bit(insn.dst);
          const base = regs ? regs[insn.dst]! : ANY_FP;
          if (Number.isFinite(base)) {
            const [l, h] = slotsFrom(base + insn.off, op.width);
            if (op.kind === 'stx' && ((l & outLo) || (h & outHi))) sink |= bit(insn.src);
            if (op.width === 8 && (base + insn.off) % 8 === 0) { killLo = l; killHi = h; }
          } else if (!Number.isNaN(base) && op.kind === 'stx') {
            sink |= bit(insn.src);
          }
          break;
        }
        case 'atomic':
          sink |= bit(insn.dst) | bit(insn.src) | 1;
          def = op.fetch ? (op.op === 'cmpxchg' ? 1 : bit(insn.src)) : 0;
          if (regs) use(readVia(regs, insn.dst, insn.off, op.width));
          break;
        case 'jcond':
          sink |= bit(insn.dst) | (op.useReg ? bit(insn.src) : 0);
          break;
        case 'call': {
          def = 0x3f;
          const helper = op.target === 'helper' ? helperProto(insn.imm) : undefined;
          if (!helper || helper.args.includes('func')) {
            sink |= 0x3e;
            use(ALL);
          } else {
            helper.args.forEach((arg, k) => {
              if (arg !== 'anything' || helper.name === 'tail_call') sink |= bit(k + 1);
            });
          }
          break;
        }
        case 'callx': sink |= 0x3e | bit(insn.dst); def = 0x3f; use(ALL); break;
        case 'exit': if (precision.exitNeedsR0 || precision.inSubprog(i)) sink |= 1; break;
        case 'ld_abs': sink |= bit(6); def = 0x3f; break;
        case 'ld_ind': sink |= bit(6) | bit(insn.src); def = 0x3f; break;
        case 'ld_imm64': def = bit(insn.dst); break;
        default: break;
      }
      const inRegs = sink | (after & ~def);
      const inLo = useLo | (outLo & ~killLo), inHi = useHi | (outHi & ~killHi);
      if (inRegs !== neededRegs[i] || inLo !== neededLo[i] || inHi !== neededHi[i]) {
        neededRegs[i] = inRegs;
        neededLo[i] = inLo;
        neededHi[i] = inHi;
        changed = true;
      }
    }
  }
  return { lo, hi, neededRegs, neededLo, neededHi };
}
