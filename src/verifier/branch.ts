import type { JmpCond } from '../isa/opcodes.js';
import { isConst, isConst32, sync, type Bounds } from './scalar.js';
import { newTnum, tnumAnd, tnumCopy, tnumIntersect, tnumOr, tnumSetConst, tnumSubreg, tnumWithSubreg } from './tnum.js';
import { ALL_ONES, add64, leS, leU, ltS, ltU, sub64, u64Out } from './u64.js';

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

/**
 * One operand at the comparison's width, as (hi, lo) pairs: a 32-bit view holds its values zero- or
 * sign-extended, so the 64-bit pair comparisons order both widths.
 */
class View {
  sminHi = 0; sminLo = 0; smaxHi = 0; smaxLo = 0;
  uminHi = 0; uminLo = 0; umaxHi = 0; umaxLo = 0;
  valueHi = 0; valueLo = 0; maskHi = 0; maskLo = 0;
  known = false;
}

const signHi = (v: number): number => (v < 0 ? ALL_ONES : 0);

function fill(v: View, b: Bounds, is32: boolean): View {
  if (is32) {
    v.sminHi = signHi(b.s32min); v.sminLo = b.s32min | 0; v.smaxHi = signHi(b.s32max); v.smaxLo = b.s32max | 0;
    v.uminHi = 0; v.uminLo = b.u32min; v.umaxHi = 0; v.umaxLo = b.u32max;
    v.valueHi = 0; v.valueLo = b.valueLo; v.maskHi = 0; v.maskLo = b.maskLo;
    v.known = isConst32(b);
  } else {
    v.sminHi = b.sminHi; v.sminLo = b.sminLo; v.smaxHi = b.smaxHi; v.smaxLo = b.smaxLo;
    v.uminHi = b.uminHi; v.uminLo = b.uminLo; v.umaxHi = b.umaxHi; v.umaxLo = b.umaxLo;
    v.valueHi = b.valueHi; v.valueLo = b.valueLo; v.maskHi = b.maskHi; v.maskLo = b.maskLo;
    v.known = isConst(b);
  }
  return v;
}

// Scratch views: filled afresh by every call, read before any recursive call refills them.
const viewA = new View();
const viewB = new View();

/** 1: always taken, 0: never, -1: unknown. */
export function branchTaken(a: Bounds, b: Bounds, cond: Cond, is32: boolean): 1 | 0 | -1 {
  const x = fill(viewA, a, is32), y = fill(viewB, b, is32);
  switch (cond) {
    case 'jeq':
      if (x.known && y.known) return x.valueHi === y.valueHi && x.valueLo === y.valueLo ? 1 : 0;
      if (ltU(y.umaxHi, y.umaxLo, x.uminHi, x.uminLo) || ltU(x.umaxHi, x.umaxLo, y.uminHi, y.uminLo)
        || ltS(y.smaxHi, y.smaxLo, x.sminHi, x.sminLo) || ltS(x.smaxHi, x.smaxLo, y.sminHi, y.sminLo)) return 0;
      if (((x.valueHi ^ y.valueHi) & ~(x.maskHi | y.maskHi)) !== 0 || ((x.valueLo ^ y.valueLo) & ~(x.maskLo | y.maskLo)) !== 0) return 0;
      return -1;
    case 'jne': {
      const r = branchTaken(a, b, 'jeq', is32);
      return r === -1 ? -1 : r === 1 ? 0 : 1;
    }
    case 'jset':
      if ((x.valueHi & y.valueHi) !== 0 || (x.valueLo & y.valueLo) !== 0) return 1;
      if (((x.valueHi | x.maskHi) & (y.valueHi | y.maskHi)) === 0 && ((x.valueLo | x.maskLo) & (y.valueLo | y.maskLo)) === 0) return 0;
      return -1;
    case 'jset_not': {
      const r = branchTaken(a, b, 'jset', is32);
      return r === -1 ? -1 : r === 1 ? 0 : 1;
    }
    case 'jgt':
      if (ltU(y.umaxHi, y.umaxLo, x.uminHi, x.uminLo)) return 1;
      if (leU(x.umaxHi, x.umaxLo, y.uminHi, y.uminLo)) return 0;
      return -1;
    case 'jge':
      if (leU(y.umaxHi, y.umaxLo, x.uminHi, x.uminLo)) return 1;
      if (ltU(x.umaxHi, x.umaxLo, y.uminHi, y.uminLo)) return 0;
      return -1;
    case 'jsgt':
      if (ltS(y.smaxHi, y.smaxLo, x.sminHi, x.sminLo)) return 1;
      if (leS(x.smaxHi, x.smaxLo, y.sminHi, y.sminLo)) return 0;
      return -1;
    case 'jsge':
      if (leS(y.smaxHi, y.smaxLo, x.sminHi, x.sminLo)) return 1;
      if (ltS(x.smaxHi, x.smaxLo, y.sminHi, y.sminLo)) return 0;
      return -1;
    default:
      return branchTaken(b, a, SWAP[cond], is32);
  }
}

// Narrow one bound of the bounds' 64- or 32-bit fields to a view value (a bound only moves inwards).
function putSmin(b: Bounds, is32: boolean, hi: number, lo: number): void {
  if (is32) b.s32min = Math.max(b.s32min, lo | 0);
  else if (ltS(b.sminHi, b.sminLo, hi, lo)) { b.sminHi = hi; b.sminLo = lo; }
}
function putSmax(b: Bounds, is32: boolean, hi: number, lo: number): void {
  if (is32) b.s32max = Math.min(b.s32max, lo | 0);
  else if (ltS(hi, lo, b.smaxHi, b.smaxLo)) { b.smaxHi = hi; b.smaxLo = lo; }
}
function putUmin(b: Bounds, is32: boolean, hi: number, lo: number): void {
  if (is32) { if (b.u32min >>> 0 < lo >>> 0) b.u32min = lo | 0; }
  else if (ltU(b.uminHi, b.uminLo, hi, lo)) { b.uminHi = hi; b.uminLo = lo; }
}
function putUmax(b: Bounds, is32: boolean, hi: number, lo: number): void {
  if (is32) { if (lo >>> 0 < b.u32max >>> 0) b.u32max = lo | 0; }
  else if (ltU(hi, lo, b.umaxHi, b.umaxLo)) { b.umaxHi = hi; b.umaxLo = lo; }
}

/** Both operands are equal: each lies in the intersection of their ranges. */
function putIntersection(target: Bounds, x: View, y: View, is32: boolean): void {
  const smin = ltS(x.sminHi, x.sminLo, y.sminHi, y.sminLo) ? y : x;
  const smax = ltS(x.smaxHi, x.smaxLo, y.smaxHi, y.smaxLo) ? x : y;
  const umin = ltU(x.uminHi, x.uminLo, y.uminHi, y.uminLo) ? y : x;
  const umax = ltU(x.umaxHi, x.umaxLo, y.umaxHi, y.umaxLo) ? x : y;
  putSmin(target, is32, smin.sminHi, smin.sminLo);
  putSmax(target, is32, smax.smaxHi, smax.smaxLo);
  putUmin(target, is32, umin.uminHi, umin.uminLo);
  putUmax(target, is32, umax.umaxHi, umax.umaxLo);
}

/** Exactly one bit set. */
const isSingleBit = (hi: number, lo: number): boolean =>
  (hi === 0) !== (lo === 0) && (hi & (hi - 1)) === 0 && (lo & (lo - 1)) === 0;

/** `target` is not `c`'s value: a bound equal to it moves one step in (kernel: regs_refine_cond_op, BPF_JNE). */
function shave(target: Bounds, tv: View, c: View, is32: boolean): void {
  if (!c.known) return;
  // A 32-bit signed view holds the value sign-extended.
  const sHi = is32 ? signHi(c.valueLo | 0) : c.valueHi, lo = c.valueLo;
  if (tv.uminHi === c.valueHi && tv.uminLo === lo) { add64(c.valueHi, lo, 0, 1); putUmin(target, is32, u64Out.hi, u64Out.lo); }
  if (tv.umaxHi === c.valueHi && tv.umaxLo === lo) { sub64(c.valueHi, lo, 0, 1); putUmax(target, is32, u64Out.hi, u64Out.lo); }
  if (tv.sminHi === sHi && tv.sminLo === lo) { add64(sHi, lo, 0, 1); putSmin(target, is32, u64Out.hi, u64Out.lo); }
  if (tv.smaxHi === sHi && tv.smaxLo === lo) { sub64(sHi, lo, 0, 1); putSmax(target, is32, u64Out.hi, u64Out.lo); }
}

const subA = newTnum();
const subB = newTnum();
const bitTnum = newTnum();

/** Narrow `a` and `b` (mutated) given that `a COND b` holds. */
export function refine(a: Bounds, b: Bounds, cond: Cond, is32: boolean): void {
  const x = fill(viewA, a, is32), y = fill(viewB, b, is32);
  switch (cond) {
    case 'jeq': {
      putIntersection(a, x, y, is32);
      putIntersection(b, x, y, is32);
      if (is32) {
        tnumSubreg(subA, a);
        tnumSubreg(subB, b);
        tnumIntersect(subA, subA, subB);
        tnumWithSubreg(a, a, subA);
        tnumWithSubreg(b, b, subA);
      } else {
        tnumIntersect(a, a, b);
        tnumCopy(b, a);
      }
      break;
    }
    case 'jne':
      shave(a, x, y, is32);
      shave(b, y, x, is32);
      break;
    case 'jset':
      // A single known bit: it is set.
      if (y.known && isSingleBit(y.valueHi, y.valueLo)) {
        tnumSetConst(bitTnum, y.valueHi, y.valueLo);
        if (is32) {
          tnumSubreg(subA, a);
          tnumOr(subA, subA, bitTnum);
          tnumWithSubreg(a, a, subA);
        } else tnumOr(a, a, bitTnum);
      }
      break;
    case 'jset_not':
      if (y.known) {
        tnumSetConst(bitTnum, is32 ? 0 : ~y.valueHi, ~y.valueLo);
        if (is32) {
          tnumSubreg(subA, a);
          tnumAnd(subA, subA, bitTnum);
          tnumWithSubreg(a, a, subA);
        } else tnumAnd(a, a, bitTnum);
      }
      break;
    case 'jge':
      putUmin(a, is32, y.uminHi, y.uminLo);
      putUmax(b, is32, x.umaxHi, x.umaxLo);
      break;
    case 'jgt':
      add64(y.uminHi, y.uminLo, 0, 1);
      putUmin(a, is32, u64Out.hi, u64Out.lo);
      sub64(x.umaxHi, x.umaxLo, 0, 1);
      putUmax(b, is32, u64Out.hi, u64Out.lo);
      break;
    case 'jsge':
      putSmin(a, is32, y.sminHi, y.sminLo);
      putSmax(b, is32, x.smaxHi, x.smaxLo);
      break;
    case 'jsgt':
      add64(y.sminHi, y.sminLo, 0, 1);
      putSmin(a, is32, u64Out.hi, u64Out.lo);
      sub64(x.smaxHi, x.smaxLo, 0, 1);
      putSmax(b, is32, u64Out.hi, u64Out.lo);
      break;
    default:
      refine(b, a, SWAP[cond], is32);
      return;
  }
  sync(a);
  sync(b);
}
