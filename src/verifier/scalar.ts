import {
  newTnum, tnumAdd, tnumAnd, tnumArshift, tnumCast, tnumIntersect, tnumIsConst, tnumLshift,
  tnumMul, tnumOr, tnumRange, tnumRshift, tnumSub, tnumSubreg, tnumWithSubreg, tnumXor, type Tnum,
} from './tnum.js';
import {
  ALL_ONES, SIGN_BIT, add64, addOverflowsS, bitLength64, formatHex64, formatS64, fromNumber, leS, leU, ltS, ltU, mul64,
  mulOverflowsS, mulWide64, sar64, shl64, shr64, sub64, subOverflowsS, toNumberS, toNumberU, u64Out,
} from './u64.js';

/**
 * The value-range domain of a scalar (and of a pointer's variable offset): a tnum (the object's own
 * value/mask words: `var_off`) plus signed and unsigned bounds for the full 64 bits, as (hi, lo) pairs
 * of int32 words (u64.ts), and for the low 32-bit subregister: s32min/s32max as int32 numbers,
 * u32min/u32max as int32 words (read them `>>> 0`). Every field an int32, so the engine stores them
 * unboxed. Kept consistent with each other the way the kernel's reg_bounds_sync does.
 */
export interface Bounds extends Tnum {
  sminHi: number; sminLo: number; smaxHi: number; smaxLo: number;
  uminHi: number; uminLo: number; umaxHi: number; umaxLo: number;
  s32min: number; s32max: number; u32min: number; u32max: number;
}

export const S32_MIN = -0x80000000;
export const S32_MAX = 0x7fffffff;
/** The largest u32 as a number (its word is ALL_ONES). */
const MAX_U32 = 0xffffffff;

/** Every field set, always in this order (one object shape for the engine). */
function makeBounds(
  valueHi: number, valueLo: number, maskHi: number, maskLo: number,
  sminHi: number, sminLo: number, smaxHi: number, smaxLo: number,
  uminHi: number, uminLo: number, umaxHi: number, umaxLo: number,
  s32min: number, s32max: number, u32min: number, u32max: number,
): Bounds {
  return { valueHi, valueLo, maskHi, maskLo, sminHi, sminLo, smaxHi, smaxLo, uminHi, uminLo, umaxHi, umaxLo, s32min, s32max, u32min, u32max };
}

export const unknownBounds = (): Bounds =>
  makeBounds(0, 0, ALL_ONES, ALL_ONES, SIGN_BIT, 0, S32_MAX, ALL_ONES, 0, 0, ALL_ONES, ALL_ONES, S32_MIN, S32_MAX, 0, ALL_ONES);

export const copyBounds = (b: Bounds): Bounds =>
  makeBounds(b.valueHi, b.valueLo, b.maskHi, b.maskLo, b.sminHi, b.sminLo, b.smaxHi, b.smaxLo,
    b.uminHi, b.uminLo, b.umaxHi, b.umaxLo, b.s32min, b.s32max, b.u32min, b.u32max);

/** The 64-bit constant (hi, lo). */
export function constBounds(hi: number, lo: number): Bounds {
  hi |= 0;
  lo |= 0;
  return makeBounds(hi, lo, 0, 0, hi, lo, hi, lo, hi, lo, hi, lo, lo, lo, lo, lo);
}

/** A constant given as a safe integer (negative ones sign-extended to 64 bits). */
export function constBoundsOf(n: number): Bounds {
  fromNumber(n);
  return constBounds(u64Out.hi, u64Out.lo);
}

/** A 32-bit value zero-extended into 64 bits, given only its 32-bit facts. */
export function zext32(b: Bounds): Bounds {
  const out = makeBounds(0, b.valueLo, 0, b.maskLo, 0, b.u32min, 0, b.u32max, 0, b.u32min, 0, b.u32max,
    b.s32min, b.s32max, b.u32min, b.u32max);
  sync(out);
  return out;
}

export const isConst = (b: Bounds): boolean => tnumIsConst(b);
export const isConst32 = (b: Bounds): boolean => b.maskLo === 0;
/** A known zero. */
export const isZeroConst = (b: Bounds): boolean => isConst(b) && b.valueHi === 0 && b.valueLo === 0;

/** The value of a constant, signed (exact within ±2^53). */
export const constValue = (b: Bounds): number => toNumberS(b.valueHi, b.valueLo);
/** The bounds as numbers: exact within ±2^53, otherwise rounded with their order kept. */
export const sminValue = (b: Bounds): number => toNumberS(b.sminHi, b.sminLo);
export const smaxValue = (b: Bounds): number => toNumberS(b.smaxHi, b.smaxLo);
export const uminValue = (b: Bounds): number => toNumberU(b.uminHi, b.uminLo);
export const umaxValue = (b: Bounds): number => toNumberU(b.umaxHi, b.umaxLo);
/** smin is the most negative 64-bit value: no lower bound. */
export const sminUnbounded = (b: Bounds): boolean => b.sminHi === SIGN_BIT && b.sminLo === 0;

/** Bounds are self-contradictory: the state cannot happen. */
export function isEmpty(b: Bounds): boolean {
  return ltU(b.umaxHi, b.umaxLo, b.uminHi, b.uminLo) || ltS(b.smaxHi, b.smaxLo, b.sminHi, b.sminLo)
    || b.u32min >>> 0 > b.u32max >>> 0 || b.s32min > b.s32max;
}

// Narrowing steps: a bound moves only inwards.
function raiseSmin(b: Bounds, hi: number, lo: number): void {
  if (ltS(b.sminHi, b.sminLo, hi, lo)) { b.sminHi = hi; b.sminLo = lo; }
}
function lowerSmax(b: Bounds, hi: number, lo: number): void {
  if (ltS(hi, lo, b.smaxHi, b.smaxLo)) { b.smaxHi = hi; b.smaxLo = lo; }
}
function raiseUmin(b: Bounds, hi: number, lo: number): void {
  if (ltU(b.uminHi, b.uminLo, hi, lo)) { b.uminHi = hi; b.uminLo = lo; }
}
function lowerUmax(b: Bounds, hi: number, lo: number): void {
  if (ltU(hi, lo, b.umaxHi, b.umaxLo)) { b.umaxHi = hi; b.umaxLo = lo; }
}
function raiseU32min(b: Bounds, word: number): void {
  if (b.u32min >>> 0 < word >>> 0) b.u32min = word | 0;
}
function lowerU32max(b: Bounds, word: number): void {
  if (word >>> 0 < b.u32max >>> 0) b.u32max = word | 0;
}

function updateFromTnum(b: Bounds): void {
  const vHi = b.valueHi, vLo = b.valueLo, mHi = b.maskHi, mLo = b.maskLo;
  raiseSmin(b, vHi | (mHi & SIGN_BIT), vLo);
  lowerSmax(b, vHi | (mHi & S32_MAX), vLo | mLo);
  raiseUmin(b, vHi, vLo);
  lowerUmax(b, vHi | mHi, vLo | mLo);
  b.s32min = Math.max(b.s32min, vLo | (mLo & SIGN_BIT));
  b.s32max = Math.min(b.s32max, vLo | (mLo & S32_MAX));
  raiseU32min(b, vLo);
  lowerU32max(b, vLo | mLo);
}

function deduce32(b: Bounds): void {
  if (b.uminHi === b.umaxHi) {
    raiseU32min(b, b.uminLo);
    lowerU32max(b, b.umaxLo);
    if ((b.uminLo | 0) <= (b.umaxLo | 0)) {
      b.s32min = Math.max(b.s32min, b.uminLo | 0);
      b.s32max = Math.min(b.s32max, b.umaxLo | 0);
    }
  }
  if (b.sminHi === b.smaxHi) {
    raiseU32min(b, b.sminLo);
    lowerU32max(b, b.smaxLo);
    if ((b.sminLo | 0) <= (b.smaxLo | 0)) {
      b.s32min = Math.max(b.s32min, b.sminLo | 0);
      b.s32max = Math.min(b.s32max, b.smaxLo | 0);
    }
  }
  if (b.u32min <= b.u32max) {
    b.s32min = Math.max(b.s32min, b.u32min);
    b.s32max = Math.min(b.s32max, b.u32max);
  }
  if (b.s32min >>> 0 <= b.s32max >>> 0) {
    raiseU32min(b, b.s32min);
    lowerU32max(b, b.s32max);
  }
}

function deduce64(b: Bounds): void {
  if (leS(b.uminHi, b.uminLo, b.umaxHi, b.umaxLo)) {
    raiseSmin(b, b.uminHi, b.uminLo);
    lowerSmax(b, b.umaxHi, b.umaxLo);
  }
  if (leU(b.sminHi, b.sminLo, b.smaxHi, b.smaxLo)) {
    raiseUmin(b, b.sminHi, b.sminLo);
    lowerUmax(b, b.smaxHi, b.smaxLo);
  }
}

function deduceMixed(b: Bounds): void {
  // The low 32 bits' range narrows the full range within the same upper half.
  raiseUmin(b, b.uminHi, b.u32min);
  lowerUmax(b, b.umaxHi, b.u32max);
  raiseSmin(b, b.sminHi, b.u32min);
  lowerSmax(b, b.smaxHi, b.u32max);
  deduce64(b);
}

const syncRange = newTnum();
const syncSub = newTnum();

/** Make every field agree with the others (kernel reg_bounds_sync). Mutates `b`. */
export function sync(b: Bounds): void {
  updateFromTnum(b);
  deduce32(b);
  deduce64(b);
  deduceMixed(b);
  deduce32(b);
  tnumRange(syncRange, b.uminHi, b.uminLo, b.umaxHi, b.umaxLo);
  tnumIntersect(b, b, syncRange);
  tnumSubreg(syncSub, b);
  tnumRange(syncRange, 0, b.u32min, 0, b.u32max);
  tnumIntersect(syncSub, syncSub, syncRange);
  tnumWithSubreg(b, b, syncSub);
  updateFromTnum(b);
}

function setS64Unbounded(out: Bounds): void {
  out.sminHi = SIGN_BIT; out.sminLo = 0; out.smaxHi = S32_MAX; out.smaxLo = ALL_ONES;
}
function setU64Unbounded(out: Bounds): void {
  out.uminHi = 0; out.uminLo = 0; out.umaxHi = ALL_ONES; out.umaxLo = ALL_ONES;
}
function setS64(out: Bounds, minHi: number, minLo: number, maxHi: number, maxLo: number): void {
  out.sminHi = minHi; out.sminLo = minLo; out.smaxHi = maxHi; out.smaxLo = maxLo;
}
function setU64(out: Bounds, minHi: number, minLo: number, maxHi: number, maxLo: number): void {
  out.uminHi = minHi; out.uminLo = minLo; out.umaxHi = maxHi; out.umaxLo = maxLo;
}

/**
 * 64-bit range arithmetic for add/sub/mul/and/or/xor into `out`'s 64-bit bounds; `out`'s tnum already
 * holds the result's known bits.
 */
function rangeOp64(op: string, out: Bounds, a: Bounds, b: Bounds): void {
  switch (op) {
    case 'add': {
      if (addOverflowsS(a.sminHi, a.sminLo, b.sminHi, b.sminLo)) setS64Unbounded(out);
      else {
        const minHi = u64Out.hi, minLo = u64Out.lo;
        if (addOverflowsS(a.smaxHi, a.smaxLo, b.smaxHi, b.smaxLo)) setS64Unbounded(out);
        else setS64(out, minHi, minLo, u64Out.hi, u64Out.lo);
      }
      if (add64(a.umaxHi, a.umaxLo, b.umaxHi, b.umaxLo)) setU64Unbounded(out);
      else {
        const maxHi = u64Out.hi, maxLo = u64Out.lo;
        add64(a.uminHi, a.uminLo, b.uminHi, b.uminLo);
        setU64(out, u64Out.hi, u64Out.lo, maxHi, maxLo);
      }
      return;
    }
    case 'sub': {
      if (subOverflowsS(a.sminHi, a.sminLo, b.smaxHi, b.smaxLo)) setS64Unbounded(out);
      else {
        const minHi = u64Out.hi, minLo = u64Out.lo;
        if (subOverflowsS(a.smaxHi, a.smaxLo, b.sminHi, b.sminLo)) setS64Unbounded(out);
        else setS64(out, minHi, minLo, u64Out.hi, u64Out.lo);
      }
      if (ltU(a.uminHi, a.uminLo, b.umaxHi, b.umaxLo)) setU64Unbounded(out);
      else {
        sub64(a.uminHi, a.uminLo, b.umaxHi, b.umaxLo);
        const minHi = u64Out.hi, minLo = u64Out.lo;
        sub64(a.umaxHi, a.umaxLo, b.uminHi, b.uminLo);
        setU64(out, minHi, minLo, u64Out.hi, u64Out.lo);
      }
      return;
    }
    case 'mul':
      mulSigned64(out, a, b);
      if (mulWide64(a.umaxHi, a.umaxLo, b.umaxHi, b.umaxLo)) setU64Unbounded(out);
      else {
        const maxHi = u64Out.hi, maxLo = u64Out.lo;
        mul64(a.uminHi, a.uminLo, b.uminHi, b.uminLo);
        setU64(out, u64Out.hi, u64Out.lo, maxHi, maxLo);
      }
      return;
    case 'and':
      setU64(out, out.valueHi, out.valueLo, a.umaxHi, a.umaxLo);
      lowerUmax(out, b.umaxHi, b.umaxLo);
      break;
    case 'or':
      setU64(out, a.uminHi, a.uminLo, out.valueHi | out.maskHi, out.valueLo | out.maskLo);
      raiseUmin(out, b.uminHi, b.uminLo);
      break;
    case 'xor':
      setU64(out, out.valueHi, out.valueLo, out.valueHi | out.maskHi, out.valueLo | out.maskLo);
      break;
    default:
      setS64Unbounded(out);
      setU64Unbounded(out);
      return;
  }
  // and/or/xor: on two non-negative operands the signed range is the unsigned one.
  if (a.sminHi >= 0 && b.sminHi >= 0) setS64(out, out.uminHi, out.uminLo, out.umaxHi, out.umaxLo);
  else setS64Unbounded(out);
}

/** The signed range of a 64-bit product: the extremes of the corner products, unbounded if one overflows. */
function mulSigned64(out: Bounds, a: Bounds, b: Bounds): void {
  let minHi = 0, minLo = 0, maxHi = 0, maxLo = 0;
  for (let corner = 0; corner < 4; corner++) {
    const xHi = corner < 2 ? a.sminHi : a.smaxHi, xLo = corner < 2 ? a.sminLo : a.smaxLo;
    const yHi = corner % 2 === 0 ? b.sminHi : b.smaxHi, yLo = corner % 2 === 0 ? b.sminLo : b.smaxLo;
    if (mulOverflowsS(xHi, xLo, yHi, yLo)) { setS64Unbounded(out); return; }
    if (corner === 0 || ltS(u64Out.hi, u64Out.lo, minHi, minLo)) { minHi = u64Out.hi; minLo = u64Out.lo; }
    if (corner === 0 || ltS(maxHi, maxLo, u64Out.hi, u64Out.lo)) { maxHi = u64Out.hi; maxLo = u64Out.lo; }
  }
  setS64(out, minHi, minLo, maxHi, maxLo);
}

const fitsS32 = (v: number): boolean => v >= S32_MIN && v <= S32_MAX;

/**
 * 32-bit range arithmetic into `out`'s 32-bit bounds; `result` holds the result's low 32 known bits.
 * Plain numbers: sums and differences are exact, products exact whenever they are in range.
 */
function rangeOp32(op: string, out: Bounds, a: Bounds, b: Bounds, result: Tnum): void {
  const aUmin = a.u32min >>> 0, aUmax = a.u32max >>> 0, bUmin = b.u32min >>> 0, bUmax = b.u32max >>> 0;
  let smin = S32_MIN, smax = S32_MAX, umin = 0, umax = MAX_U32;
  switch (op) {
    case 'add': {
      const sLo = a.s32min + b.s32min, sHi = a.s32max + b.s32max;
      if (fitsS32(sLo) && fitsS32(sHi)) { smin = sLo; smax = sHi; }
      if (aUmax + bUmax <= MAX_U32) { umin = aUmin + bUmin; umax = aUmax + bUmax; }
      break;
    }
    case 'sub': {
      const sLo = a.s32min - b.s32max, sHi = a.s32max - b.s32min;
      if (fitsS32(sLo) && fitsS32(sHi)) { smin = sLo; smax = sHi; }
      if (aUmin >= bUmax) { umin = aUmin - bUmax; umax = aUmax - bUmin; }
      break;
    }
    case 'mul': {
      const p0 = a.s32min * b.s32min, p1 = a.s32min * b.s32max, p2 = a.s32max * b.s32min, p3 = a.s32max * b.s32max;
      const sLo = Math.min(p0, p1, p2, p3), sHi = Math.max(p0, p1, p2, p3);
      if (fitsS32(sLo) && fitsS32(sHi)) { smin = sLo; smax = sHi; }
      if (aUmax * bUmax <= MAX_U32) { umin = aUmin * bUmin; umax = aUmax * bUmax; }
      break;
    }
    case 'and':
      umin = result.valueLo >>> 0; umax = Math.min(aUmax, bUmax);
      break;
    case 'or':
      umin = Math.max(aUmin, bUmin); umax = (result.valueLo | result.maskLo) >>> 0;
      break;
    case 'xor':
      umin = result.valueLo >>> 0; umax = (result.valueLo | result.maskLo) >>> 0;
      break;
  }
  // and/or/xor: on two non-negative operands the signed range is the unsigned one.
  if ((op === 'and' || op === 'or' || op === 'xor') && a.s32min >= 0 && b.s32min >= 0) { smin = umin; smax = umax; }
  // `| 0` also turns a -0 product into 0: fields hold int32 values only.
  out.s32min = smin | 0; out.s32max = smax | 0; out.u32min = umin | 0; out.u32max = umax | 0;
}

/** 64-bit shift ranges into `out` (k a constant below 64). */
function shiftRange64(op: string, out: Bounds, a: Bounds, k: number): void {
  setS64Unbounded(out);
  setU64Unbounded(out);
  if (op === 'lsh') {
    if (k === 0 || bitLength64(a.umaxHi, a.umaxLo) + k <= 64) {
      shl64(a.uminHi, a.uminLo, k);
      const minHi = u64Out.hi, minLo = u64Out.lo;
      shl64(a.umaxHi, a.umaxLo, k);
      setU64(out, minHi, minLo, u64Out.hi, u64Out.lo);
    }
  } else if (op === 'rsh') {
    shr64(a.uminHi, a.uminLo, k);
    const minHi = u64Out.hi, minLo = u64Out.lo;
    shr64(a.umaxHi, a.umaxLo, k);
    setU64(out, minHi, minLo, u64Out.hi, u64Out.lo);
  } else {
    sar64(a.sminHi, a.sminLo, k);
    const minHi = u64Out.hi, minLo = u64Out.lo;
    sar64(a.smaxHi, a.smaxLo, k);
    setS64(out, minHi, minLo, u64Out.hi, u64Out.lo);
  }
}

/** 32-bit shift ranges into `out` (k a constant below 32). */
function shiftRange32(op: string, out: Bounds, a: Bounds, k: number): void {
  out.s32min = S32_MIN; out.s32max = S32_MAX; out.u32min = 0; out.u32max = ALL_ONES;
  if (op === 'lsh') {
    if (k === 0 || (a.u32max >>> 0) / 2 ** (32 - k) < 1) { out.u32min = a.u32min << k; out.u32max = a.u32max << k; }
  } else if (op === 'rsh') {
    out.u32min = (a.u32min >>> k) | 0; out.u32max = (a.u32max >>> k) | 0;
  } else {
    out.s32min = a.s32min >> k; out.s32max = a.s32max >> k;
  }
}

const TRACKED = new Set(['add', 'sub', 'mul', 'and', 'or', 'xor', 'lsh', 'rsh', 'arsh']);

function tnumOp(op: string, out: Tnum, a: Tnum, b: Tnum, k: number, bits: 32 | 64): void {
  switch (op) {
    case 'add': return tnumAdd(out, a, b);
    case 'sub': return tnumSub(out, a, b);
    case 'mul': return tnumMul(out, a, b);
    case 'and': return tnumAnd(out, a, b);
    case 'or': return tnumOr(out, a, b);
    case 'xor': return tnumXor(out, a, b);
    case 'lsh': return tnumLshift(out, a, k);
    case 'rsh': return tnumRshift(out, a, k);
    case 'arsh': return tnumArshift(out, a, k, bits);
  }
}

/** Fold a tracked operation on two 64-bit constants the way the ISA defines it. */
function foldConst64(op: string, a: Bounds, b: Bounds): Bounds {
  const aHi = a.valueHi, aLo = a.valueLo, bHi = b.valueHi, bLo = b.valueLo;
  const shift = bLo & 63;
  switch (op) {
    case 'add': add64(aHi, aLo, bHi, bLo); break;
    case 'sub': sub64(aHi, aLo, bHi, bLo); break;
    case 'mul': mul64(aHi, aLo, bHi, bLo); break;
    case 'and': return constBounds(aHi & bHi, aLo & bLo);
    case 'or': return constBounds(aHi | bHi, aLo | bLo);
    case 'xor': return constBounds(aHi ^ bHi, aLo ^ bLo);
    case 'lsh': shl64(aHi, aLo, shift); break;
    case 'rsh': shr64(aHi, aLo, shift); break;
    default: sar64(aHi, aLo, shift); break;
  }
  return constBounds(u64Out.hi, u64Out.lo);
}

/** Fold a tracked operation on two 32-bit constants (the low words), into a word. */
function foldConst32(op: string, a: number, b: number): number {
  const shift = b & 31;
  switch (op) {
    case 'add': return (a + b) | 0;
    case 'sub': return (a - b) | 0;
    case 'mul': return Math.imul(a, b);
    case 'and': return a & b;
    case 'or': return a | b;
    case 'xor': return a ^ b;
    case 'lsh': return a << shift;
    case 'rsh': return (a >>> shift) | 0;
    default: return a >> shift;
  }
}

const subregA = newTnum();
const subregB = newTnum();

/**
 * dst = dst OP src on scalars. `bits` is the operation width; a 32-bit result is zero-extended.
 * Returns fresh bounds (inputs untouched).
 */
export function scalarAlu(op: string, dst: Bounds, src: Bounds, bits: 32 | 64): Bounds {
  const srcConst = bits === 64 ? isConst(src) : isConst32(src);
  const dstConst = bits === 64 ? isConst(dst) : isConst32(dst);
  // Linux 6.18 leaves div/mod results, and shifts by anything but a constant below the width, unknown
  // in all 64 bits, constants and 32-bit operations included (is_safe_to_compute_dst_reg_range).
  const isShift = op === 'lsh' || op === 'rsh' || op === 'arsh';
  if (!TRACKED.has(op) || (isShift && (!srcConst || src.umaxHi !== 0 || src.umaxLo >>> 0 >= bits))) return unknownBounds();
  if (srcConst && dstConst) {
    return bits === 64 ? foldConst64(op, dst, src) : constBounds(0, foldConst32(op, dst.valueLo, src.valueLo));
  }
  const k = isShift ? src.valueLo & (bits - 1) : 0;
  const out = unknownBounds();
  if (bits === 64) {
    tnumOp(op, out, dst, src, k, 64);
    if (isShift) shiftRange64(op, out, dst, k);
    else rangeOp64(op, out, dst, src);
    if (op === 'lsh' && k === 32) {
      // `<<32 s>>32` sign-extends a subregister: non-negative 32-bit bounds carry over (kernel __scalar64_min_max_lsh).
      if (dst.s32max >= 0) { out.smaxHi = dst.s32max; out.smaxLo = 0; }
      if (dst.s32min >= 0) { out.sminHi = dst.s32min; out.sminLo = 0; }
    }
    // The low half of add/sub/mul/and/or/xor depends only on the low halves.
    if (!isShift) {
      tnumSubreg(subregA, out);
      rangeOp32(op, out, dst, src, subregA);
    }
    sync(out);
    return out;
  }
  tnumSubreg(subregA, dst);
  tnumSubreg(subregB, src);
  tnumOp(op, out, subregA, subregB, k, 32);
  tnumCast(out, out, 4);
  if (isShift) shiftRange32(op, out, dst, k);
  else rangeOp32(op, out, dst, src, out);
  sync(out);
  return zext32(out);
}

/** Sign-extend the low `fromBits` of a scalar into 64 (or 32, zero-extended) bits. */
export function scalarMovsx(src: Bounds, fromBits: 8 | 16 | 32, bits: 32 | 64): Bounds {
  if (isConst(src)) {
    const shift = 32 - fromBits;
    const low = fromBits === 32 ? src.valueLo | 0 : (src.valueLo << shift) >> shift;
    return bits === 64 ? constBoundsOf(low) : constBounds(0, low);
  }
  const half = 2 ** (fromBits - 1);
  let out: Bounds;
  if (ltU(src.umaxHi, src.umaxLo, 0, half)) {
    out = copyBounds(src);
  } else if (leS(ALL_ONES, -half, src.sminHi, src.sminLo) && ltS(src.smaxHi, src.smaxLo, 0, half)) {
    out = copyBounds(src);
  } else {
    out = unknownBounds();
    setS64(out, ALL_ONES, -half | 0, 0, (half - 1) | 0);
    sync(out);
  }
  if (bits === 64) return out;
  out.s32min = Math.max(sminValue(out), S32_MIN) | 0;
  out.s32max = Math.min(smaxValue(out), S32_MAX) | 0;
  return zext32(out);
}

/** Bounds of a value loaded with a `size`-byte load: 0..2^(8*size)-1, or signed -2^(8*size-1)..2^(8*size-1)-1. */
export function loadedBounds(size: number, signed = false): Bounds {
  if (size >= 8) return unknownBounds();
  const out = unknownBounds();
  if (signed) {
    const half = 2 ** (size * 8 - 1);
    setS64(out, ALL_ONES, -half | 0, 0, (half - 1) | 0);
  } else {
    out.umaxHi = 0; out.umaxLo = (2 ** (size * 8) - 1) | 0;
  }
  sync(out);
  return out;
}

/** [lo, hi] unsigned (safe integers), as a scalar. */
export function rangeBounds(lo: number, hi: number): Bounds {
  const out = unknownBounds();
  fromNumber(lo);
  out.uminHi = u64Out.hi; out.uminLo = u64Out.lo;
  fromNumber(hi);
  out.umaxHi = u64Out.hi; out.umaxLo = u64Out.lo;
  sync(out);
  return out;
}

/** Unknown but for a signed 64-bit range (hi/lo pairs), synced. */
export function signedRangeBounds(minHi: number, minLo: number, maxHi: number, maxLo: number): Bounds {
  const out = unknownBounds();
  setS64(out, minHi, minLo, maxHi, maxLo);
  sync(out);
  return out;
}

export function boundsEqual(a: Bounds, b: Bounds): boolean {
  return a.valueHi === b.valueHi && a.valueLo === b.valueLo && a.maskHi === b.maskHi && a.maskLo === b.maskLo
    && a.sminHi === b.sminHi && a.sminLo === b.sminLo && a.smaxHi === b.smaxHi && a.smaxLo === b.smaxLo
    && a.uminHi === b.uminHi && a.uminLo === b.uminLo && a.umaxHi === b.umaxHi && a.umaxLo === b.umaxLo
    && a.s32min === b.s32min && a.s32max === b.s32max && a.u32min === b.u32min && a.u32max === b.u32max;
}

/** Every value `cur` allows, `old` allows too (range containment and tnum subsumption). */
export function boundsWithin(old: Bounds, cur: Bounds): boolean {
  return leU(old.uminHi, old.uminLo, cur.uminHi, cur.uminLo) && leU(cur.umaxHi, cur.umaxLo, old.umaxHi, old.umaxLo)
    && leS(old.sminHi, old.sminLo, cur.sminHi, cur.sminLo) && leS(cur.smaxHi, cur.smaxLo, old.smaxHi, old.smaxLo)
    && old.u32min >>> 0 <= cur.u32min >>> 0 && old.u32max >>> 0 >= cur.u32max >>> 0
    && old.s32min <= cur.s32min && old.s32max >= cur.s32max
    && (cur.maskHi & ~old.maskHi) === 0 && (cur.maskLo & ~old.maskLo) === 0
    && (cur.valueHi & ~old.maskHi) === old.valueHi && (cur.valueLo & ~old.maskLo) === old.valueLo;
}

/** Does the 64-bit pattern (hi, lo) equal the safe integer `n`? */

/** The kernel's `scalar(...)` text (only the fields that say something). */
/** A signed value as the kernel's log prints it: decimal when small, else the 64 bits in hex. */
export function kernelSnum(hi: number, lo: number): string {
  const small = (hi === 0 && lo >>> 0 <= 0x7fff) || (hi === -1 && lo >>> 0 >= 0xffff8000);
  return small ? formatS64(hi, lo) : `0x${formatHex64(hi >>> 0, lo >>> 0)}`;
}

/** An unsigned value the same way. */
const kernelUnum = (hi: number, lo: number): string => (hi === 0 && lo >>> 0 <= 0xffff ? String(lo >>> 0) : `0x${formatHex64(hi >>> 0, lo >>> 0)}`);

/** One bound of the kernel's list: its name, 64-bit value (32-bit ones widened), and whether it says nothing. */
interface NamedBound { name: string; hi: number; lo: number; omit: boolean }

/**
 * A scalar's bounds as Linux 6.18 prints them: a constant as its value; else each bound that says
 * something, with later bounds of the same value and sign joined to it (`smin=umin=smin32=0`), then
 * `var_off` unless nothing is known.
 */
export function formatBounds(b: Bounds): string {
  if (isConst(b)) return kernelSnum(b.valueHi | 0, b.valueLo | 0);
  const list: NamedBound[] = [
    { name: 'smin', hi: b.sminHi | 0, lo: b.sminLo | 0, omit: sminUnbounded(b) },
    { name: 'smax', hi: b.smaxHi | 0, lo: b.smaxLo | 0, omit: b.smaxHi === S32_MAX && b.smaxLo === ALL_ONES },
    { name: 'umin', hi: b.uminHi | 0, lo: b.uminLo | 0, omit: b.uminHi === 0 && b.uminLo === 0 },
    { name: 'umax', hi: b.umaxHi | 0, lo: b.umaxLo | 0, omit: b.umaxHi === ALL_ONES && b.umaxLo === ALL_ONES },
    { name: 'smin32', hi: b.s32min < 0 ? -1 : 0, lo: b.s32min | 0, omit: b.s32min === S32_MIN },
    { name: 'smax32', hi: b.s32max < 0 ? -1 : 0, lo: b.s32max | 0, omit: b.s32max === S32_MAX },
    { name: 'umin32', hi: 0, lo: b.u32min | 0, omit: b.u32min === 0 },
    { name: 'umax32', hi: 0, lo: b.u32max | 0, omit: b.u32max === ALL_ONES },
  ];
  const parts: string[] = [];
  for (let i = 0; i < list.length; i++) {
    const m = list[i]!;
    if (m.omit) continue;
    const signed = m.name[0] === 's';
    const negative = signed && m.hi < 0;
    let names = m.name;
    // Bounds two apart in the list pair a signed with a signed, an unsigned with an unsigned.
    for (let j = i + 2; j < list.length; j += 2) {
      const o = list[j]!;
      if (o.omit || (o.name[0] === 's' && o.hi < 0) !== negative || o.hi !== m.hi || o.lo !== m.lo) continue;
      names += `=${o.name}`;
      o.omit = true;
    }
    parts.push(`${names}=${signed ? kernelSnum(m.hi, m.lo) : kernelUnum(m.hi, m.lo)}`);
  }
  if (b.maskHi !== ALL_ONES || b.maskLo !== ALL_ONES) parts.push(`var_off=(0x${formatHex64(b.valueHi, b.valueLo)}; 0x${formatHex64(b.maskHi, b.maskLo)})`);
  return parts.join(',');
}
