/**
 * TEST-ONLY ORACLE: the verifier's BigInt branch refinement as it was before the (hi, lo) pair rewrite (issue #4),
 * kept verbatim (but for its import paths) so test/verifier/scalar-differential.test.ts can check the new one.
 * Never import it from src/.
 */
import type { JmpCond } from '../../../src/isa/opcodes.js';
import { isConst, isConst32, sync, toS32, type Bounds } from './scalar.js';
import { U32, tnumAnd, tnumConst, tnumIntersect, tnumOr, tnumSubreg, tnumWithSubreg } from './tnum.js';

/**
 * Conditional-branch reasoning on scalars: whether a comparison is decided by what is known, and how
 * each outcome narrows both operands (kernel is_branch_taken / regs_refine_cond_op).
 */

/** The condition that holds on the fall-through path. `jset_not` is "no common bit". */
export type Cond = JmpCond | 'jset_not';

export const NEGATE: Readonly<Record<Cond, Cond>> = {
  jeq: 'jne', jne: 'jeq', jgt: 'jle', jle: 'jgt', jge: 'jlt', jlt: 'jge',
  jsgt: 'jsle', jsle: 'jsgt', jsge: 'jslt', jslt: 'jsge', jset: 'jset_not', jset_not: 'jset',
};

/** a OP b  <=>  b SWAPPED(OP) a. */
export const SWAP: Readonly<Record<Cond, Cond>> = {
  jeq: 'jeq', jne: 'jne', jgt: 'jlt', jlt: 'jgt', jge: 'jle', jle: 'jge',
  jsgt: 'jslt', jslt: 'jsgt', jsge: 'jsle', jsle: 'jsge', jset: 'jset', jset_not: 'jset_not',
};

interface View { smin: bigint; smax: bigint; umin: bigint; umax: bigint; value: bigint; mask: bigint; known: boolean }

function view(b: Bounds, is32: boolean): View {
  if (is32) {
    const v = tnumSubreg(b.var);
    return { smin: b.s32min, smax: b.s32max, umin: b.u32min, umax: b.u32max, value: v.value, mask: v.mask, known: isConst32(b) };
  }
  return { smin: b.smin, smax: b.smax, umin: b.umin, umax: b.umax, value: b.var.value, mask: b.var.mask, known: isConst(b) };
}

/** 1: always taken, 0: never, -1: unknown. */
export function branchTaken(a: Bounds, b: Bounds, cond: Cond, is32: boolean): 1 | 0 | -1 {
  const x = view(a, is32), y = view(b, is32);
  switch (cond) {
    case 'jeq':
      if (x.known && y.known) return x.value === y.value ? 1 : 0;
      if (x.umin > y.umax || x.umax < y.umin || x.smin > y.smax || x.smax < y.smin) return 0;
      if ((x.value ^ y.value) & ~(x.mask | y.mask) & (is32 ? U32 : (1n << 64n) - 1n)) return 0;
      return -1;
    case 'jne': {
      const r = branchTaken(a, b, 'jeq', is32);
      return r === -1 ? -1 : r === 1 ? 0 : 1;
    }
    case 'jset':
      if (x.value & y.value) return 1;
      if (((x.value | x.mask) & (y.value | y.mask)) === 0n) return 0;
      return -1;
    case 'jset_not': {
      const r = branchTaken(a, b, 'jset', is32);
      return r === -1 ? -1 : r === 1 ? 0 : 1;
    }
    case 'jgt':
      if (x.umin > y.umax) return 1;
      if (x.umax <= y.umin) return 0;
      return -1;
    case 'jge':
      if (x.umin >= y.umax) return 1;
      if (x.umax < y.umin) return 0;
      return -1;
    case 'jsgt':
      if (x.smin > y.smax) return 1;
      if (x.smax <= y.smin) return 0;
      return -1;
    case 'jsge':
      if (x.smin >= y.smax) return 1;
      if (x.smax < y.smin) return 0;
      return -1;
    default:
      return branchTaken(b, a, SWAP[cond], is32);
  }
}

const bigMax = (p: bigint, q: bigint): bigint => (p > q ? p : q);
const bigMin = (p: bigint, q: bigint): bigint => (p < q ? p : q);

/** Write a narrowed view back into the bounds' 64- or 32-bit fields. */
function put(b: Bounds, is32: boolean, v: { smin?: bigint; smax?: bigint; umin?: bigint; umax?: bigint }): void {
  if (is32) {
    if (v.smin !== undefined) b.s32min = bigMax(b.s32min, v.smin);
    if (v.smax !== undefined) b.s32max = bigMin(b.s32max, v.smax);
    if (v.umin !== undefined) b.u32min = bigMax(b.u32min, v.umin);
    if (v.umax !== undefined) b.u32max = bigMin(b.u32max, v.umax);
  } else {
    if (v.smin !== undefined) b.smin = bigMax(b.smin, v.smin);
    if (v.smax !== undefined) b.smax = bigMin(b.smax, v.smax);
    if (v.umin !== undefined) b.umin = bigMax(b.umin, v.umin);
    if (v.umax !== undefined) b.umax = bigMin(b.umax, v.umax);
  }
}

/** Narrow `a` and `b` (mutated) given that `a COND b` holds. */
export function refine(a: Bounds, b: Bounds, cond: Cond, is32: boolean): void {
  const x = view(a, is32), y = view(b, is32);
  switch (cond) {
    case 'jeq': {
      const s = { smin: bigMax(x.smin, y.smin), smax: bigMin(x.smax, y.smax), umin: bigMax(x.umin, y.umin), umax: bigMin(x.umax, y.umax) };
      put(a, is32, s);
      put(b, is32, s);
      if (is32) {
        const t = tnumIntersect(tnumSubreg(a.var), tnumSubreg(b.var));
        a.var = tnumWithSubreg(a.var, t);
        b.var = tnumWithSubreg(b.var, t);
      } else {
        const t = tnumIntersect(a.var, b.var);
        a.var = t;
        b.var = t;
      }
      break;
    }
    case 'jne': {
      const shave = (target: Bounds, tv: View, c: View): void => {
        if (!c.known) return;
        const val = c.value;
        const sval = is32 ? toS32(val) : BigInt.asIntN(64, val);
        if (tv.umin === val) put(target, is32, { umin: val + 1n });
        if (tv.umax === val) put(target, is32, { umax: val - 1n });
        if (tv.smin === sval) put(target, is32, { smin: sval + 1n });
        if (tv.smax === sval) put(target, is32, { smax: sval - 1n });
      };
      shave(a, x, y);
      shave(b, y, x);
      break;
    }
    case 'jset':
      if (y.known && y.value !== 0n && (y.value & (y.value - 1n)) === 0n) {
        if (is32) a.var = tnumWithSubreg(a.var, tnumOr(tnumSubreg(a.var), tnumConst(y.value)));
        else a.var = tnumOr(a.var, tnumConst(y.value));
      }
      break;
    case 'jset_not':
      if (y.known) {
        const notMask = ~y.value & (is32 ? U32 : (1n << 64n) - 1n);
        if (is32) a.var = tnumWithSubreg(a.var, tnumAnd(tnumSubreg(a.var), tnumConst(notMask)));
        else a.var = tnumAnd(a.var, tnumConst(notMask));
      }
      break;
    case 'jge':
      put(a, is32, { umin: y.umin });
      put(b, is32, { umax: x.umax });
      break;
    case 'jgt':
      put(a, is32, { umin: y.umin + 1n });
      put(b, is32, { umax: x.umax - 1n });
      break;
    case 'jsge':
      put(a, is32, { smin: y.smin });
      put(b, is32, { smax: x.smax });
      break;
    case 'jsgt':
      put(a, is32, { smin: y.smin + 1n });
      put(b, is32, { smax: x.smax - 1n });
      break;
    default:
      refine(b, a, SWAP[cond], is32);
      return;
  }
  sync(a);
  sync(b);
}
