import { ALL_ONES, add64, bitLength64, formatHex64, fromNumber, mul64, sar64, shl64, shr64, sub64, u64Out } from './u64.js';

/**
 * Tristate numbers: a 64-bit value where each bit is known 0, known 1 or unknown (mask bit set). The
 * kernel's `struct tnum`; the arithmetic follows the published tnum algebra. Value and mask are
 * (hi, lo) pairs of int32 words (see u64.ts). Operations write into `out`, which may be one of the operands.
 */
export interface Tnum {
  valueHi: number; valueLo: number;
  maskHi: number; maskLo: number;
}

export const newTnum = (): Tnum => ({ valueHi: 0, valueLo: 0, maskHi: 0, maskLo: 0 });

export function tnumSet(out: Tnum, valueHi: number, valueLo: number, maskHi: number, maskLo: number): void {
  out.valueHi = valueHi; out.valueLo = valueLo; out.maskHi = maskHi; out.maskLo = maskLo;
}

export const tnumSetConst = (out: Tnum, hi: number, lo: number): void => tnumSet(out, hi, lo, 0, 0);
export const tnumSetUnknown = (out: Tnum): void => tnumSet(out, 0, 0, ALL_ONES, ALL_ONES);
export const tnumCopy = (out: Tnum, a: Tnum): void => tnumSet(out, a.valueHi, a.valueLo, a.maskHi, a.maskLo);

export const tnumIsConst = (a: Tnum): boolean => a.maskHi === 0 && a.maskLo === 0;

/** Smallest tnum covering [min, max] (unsigned). */
export function tnumRange(out: Tnum, minHi: number, minLo: number, maxHi: number, maxLo: number): void {
  const bits = bitLength64(minHi ^ maxHi, minLo ^ maxLo);
  if (bits === 0) return tnumSetConst(out, minHi, minLo);
  if (bits > 63) return tnumSetUnknown(out);
  // delta = 2^bits - 1
  const deltaHi = bits > 32 ? ALL_ONES >>> (64 - bits) : 0;
  const deltaLo = bits >= 32 ? ALL_ONES : ALL_ONES >>> (32 - bits);
  tnumSet(out, minHi & ~deltaHi, minLo & ~deltaLo, deltaHi, deltaLo);
}

/** The tnum sum on raw words (kernel tnum_add). */
function addWords(out: Tnum, avHi: number, avLo: number, amHi: number, amLo: number, bvHi: number, bvLo: number, bmHi: number, bmLo: number): void {
  add64(amHi, amLo, bmHi, bmLo);
  const smHi = u64Out.hi, smLo = u64Out.lo;
  add64(avHi, avLo, bvHi, bvLo);
  const svHi = u64Out.hi, svLo = u64Out.lo;
  add64(smHi, smLo, svHi, svLo);
  const muHi = (u64Out.hi ^ svHi) | amHi | bmHi, muLo = (u64Out.lo ^ svLo) | amLo | bmLo;
  tnumSet(out, svHi & ~muHi, svLo & ~muLo, muHi, muLo);
}

export function tnumAdd(out: Tnum, a: Tnum, b: Tnum): void {
  addWords(out, a.valueHi, a.valueLo, a.maskHi, a.maskLo, b.valueHi, b.valueLo, b.maskHi, b.maskLo);
}

export function tnumSub(out: Tnum, a: Tnum, b: Tnum): void {
  sub64(a.valueHi, a.valueLo, b.valueHi, b.valueLo);
  const dvHi = u64Out.hi, dvLo = u64Out.lo;
  add64(dvHi, dvLo, a.maskHi, a.maskLo);
  const alphaHi = u64Out.hi, alphaLo = u64Out.lo;
  sub64(dvHi, dvLo, b.maskHi, b.maskLo);
  const muHi = (alphaHi ^ u64Out.hi) | a.maskHi | b.maskHi, muLo = (alphaLo ^ u64Out.lo) | a.maskLo | b.maskLo;
  tnumSet(out, dvHi & ~muHi, dvLo & ~muLo, muHi, muLo);
}

export function tnumAnd(out: Tnum, a: Tnum, b: Tnum): void {
  const vHi = a.valueHi & b.valueHi, vLo = a.valueLo & b.valueLo;
  const mHi = (a.valueHi | a.maskHi) & (b.valueHi | b.maskHi) & ~vHi;
  const mLo = (a.valueLo | a.maskLo) & (b.valueLo | b.maskLo) & ~vLo;
  tnumSet(out, vHi, vLo, mHi, mLo);
}

export function tnumOr(out: Tnum, a: Tnum, b: Tnum): void {
  const vHi = a.valueHi | b.valueHi, vLo = a.valueLo | b.valueLo;
  tnumSet(out, vHi, vLo, (a.maskHi | b.maskHi) & ~vHi, (a.maskLo | b.maskLo) & ~vLo);
}

export function tnumXor(out: Tnum, a: Tnum, b: Tnum): void {
  const muHi = a.maskHi | b.maskHi, muLo = a.maskLo | b.maskLo;
  tnumSet(out, (a.valueHi ^ b.valueHi) & ~muHi, (a.valueLo ^ b.valueLo) & ~muLo, muHi, muLo);
}

const mulAcc = newTnum();

/** Kernel tnum_mul: the known product plus, per bit of `a`, the uncertainty it adds. */
export function tnumMul(out: Tnum, a: Tnum, b: Tnum): void {
  mul64(a.valueHi, a.valueLo, b.valueHi, b.valueLo);
  const accHi = u64Out.hi, accLo = u64Out.lo;
  tnumSet(mulAcc, 0, 0, 0, 0);
  let xvHi = a.valueHi, xvLo = a.valueLo, xmHi = a.maskHi, xmLo = a.maskLo;
  let yvHi = b.valueHi, yvLo = b.valueLo, ymHi = b.maskHi, ymLo = b.maskLo;
  while ((xvHi | xvLo | xmHi | xmLo) !== 0) {
    if (xvLo & 1) addWords(mulAcc, mulAcc.valueHi, mulAcc.valueLo, mulAcc.maskHi, mulAcc.maskLo, 0, 0, ymHi, ymLo);
    else if (xmLo & 1) addWords(mulAcc, mulAcc.valueHi, mulAcc.valueLo, mulAcc.maskHi, mulAcc.maskLo, 0, 0, yvHi | ymHi, yvLo | ymLo);
    xvLo = (xvLo >>> 1) | (xvHi << 31); xvHi >>>= 1;
    xmLo = (xmLo >>> 1) | (xmHi << 31); xmHi >>>= 1;
    yvHi = (yvHi << 1) | (yvLo >>> 31); yvLo <<= 1;
    ymHi = (ymHi << 1) | (ymLo >>> 31); ymLo <<= 1;
  }
  addWords(out, accHi, accLo, 0, 0, mulAcc.valueHi, mulAcc.valueLo, mulAcc.maskHi, mulAcc.maskLo);
}

/** Shifts by 0..63. */
export function tnumLshift(out: Tnum, a: Tnum, shift: number): void {
  shl64(a.maskHi, a.maskLo, shift);
  const mHi = u64Out.hi, mLo = u64Out.lo;
  shl64(a.valueHi, a.valueLo, shift);
  tnumSet(out, u64Out.hi, u64Out.lo, mHi, mLo);
}

export function tnumRshift(out: Tnum, a: Tnum, shift: number): void {
  shr64(a.maskHi, a.maskLo, shift);
  const mHi = u64Out.hi, mLo = u64Out.lo;
  shr64(a.valueHi, a.valueLo, shift);
  tnumSet(out, u64Out.hi, u64Out.lo, mHi, mLo);
}

/** Arithmetic right shift of a `bits`-wide tnum (64, or 32 for a subregister: high words zero). */
export function tnumArshift(out: Tnum, a: Tnum, shift: number, bits: 32 | 64): void {
  if (bits === 32) {
    tnumSet(out, 0, a.valueLo >> shift, 0, a.maskLo >> shift);
    return;
  }
  sar64(a.maskHi, a.maskLo, shift);
  const mHi = u64Out.hi, mLo = u64Out.lo;
  sar64(a.valueHi, a.valueLo, shift);
  tnumSet(out, u64Out.hi, u64Out.lo, mHi, mLo);
}

export function tnumIntersect(out: Tnum, a: Tnum, b: Tnum): void {
  const muHi = a.maskHi & b.maskHi, muLo = a.maskLo & b.maskLo;
  tnumSet(out, (a.valueHi | b.valueHi) & ~muHi, (a.valueLo | b.valueLo) & ~muLo, muHi, muLo);
}

/** Truncate to the low `size` bytes. */
export function tnumCast(out: Tnum, a: Tnum, size: number): void {
  if (size >= 8) return tnumCopy(out, a);
  const keep = size >= 4 ? ALL_ONES : ALL_ONES >>> (32 - size * 8);
  tnumSet(out, 0, a.valueLo & keep, 0, a.maskLo & keep);
}

export const tnumSubreg = (out: Tnum, a: Tnum): void => tnumCast(out, a, 4);

/** `a`'s upper half with `sub`'s lower half (kernel tnum_with_subreg). */
export function tnumWithSubreg(out: Tnum, a: Tnum, sub: Tnum): void {
  tnumSet(out, a.valueHi, sub.valueLo, a.maskHi & ~a.valueHi, sub.maskLo & ~sub.valueLo);
}

const offsetTnum = newTnum();
const offsetSum = newTnum();

/** Is every value of `t` plus the constant `off` (a safe integer) a multiple of `size`, a power of two? */
export function tnumAlignedAt(t: Tnum, off: number, size: number): boolean {
  fromNumber(off);
  tnumSetConst(offsetTnum, u64Out.hi, u64Out.lo);
  tnumAdd(offsetSum, t, offsetTnum);
  return ((offsetSum.valueLo | offsetSum.maskLo) & (size - 1)) === 0;
}

/** Is every value of `b` also a value of `a`? */
export function tnumIn(a: Tnum, b: Tnum): boolean {
  if ((b.maskHi & ~a.maskHi) !== 0 || (b.maskLo & ~a.maskLo) !== 0) return false;
  return (b.valueHi & ~a.maskHi) === a.valueHi && (b.valueLo & ~a.maskLo) === a.valueLo;
}

export const tnumEq = (a: Tnum, b: Tnum): boolean =>
  a.valueHi === b.valueHi && a.valueLo === b.valueLo && a.maskHi === b.maskHi && a.maskLo === b.maskLo;

/** `(0x0; 0xff)` as the kernel prints var_off. */
export const tnumFormat = (a: Tnum): string => `(0x${formatHex64(a.valueHi, a.valueLo)}; 0x${formatHex64(a.maskHi, a.maskLo)})`;
