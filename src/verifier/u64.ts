/**
 * 64-bit integers as pairs of 32-bit words (hi, lo), for the verifier's hot paths: no BigInt, no
 * allocation. Words are stored as int32 numbers (`x | 0`), which the engine keeps unboxed in object
 * fields; a pair is a bit pattern that "signed" functions read as two's complement and "unsigned" ones
 * word by word with `>>> 0`. Functions that produce a 64-bit value write it into `u64Out` (read it
 * before the next call). Inputs may be int32 or uint32 words; outputs are always int32.
 */

export const TWO32 = 4294967296;

/** The last 64-bit result of `add64`, `sub64`, `mul64`, `mulWide64`, the shifts and `fromNumber`. */
export const u64Out = { hi: 0, lo: 0 };

/** Every bit set: the word of 0xffffffff. */
export const ALL_ONES = -1;
/** Only the top bit set: the word of 0x80000000. */
export const SIGN_BIT = -0x80000000;

export const ltU = (ahi: number, alo: number, bhi: number, blo: number): boolean =>
  (ahi >>> 0) < (bhi >>> 0) || ((ahi | 0) === (bhi | 0) && (alo >>> 0) < (blo >>> 0));
export const leU = (ahi: number, alo: number, bhi: number, blo: number): boolean =>
  (ahi >>> 0) < (bhi >>> 0) || ((ahi | 0) === (bhi | 0) && (alo >>> 0) <= (blo >>> 0));
export const ltS = (ahi: number, alo: number, bhi: number, blo: number): boolean =>
  (ahi | 0) < (bhi | 0) || ((ahi | 0) === (bhi | 0) && (alo >>> 0) < (blo >>> 0));
export const leS = (ahi: number, alo: number, bhi: number, blo: number): boolean =>
  (ahi | 0) < (bhi | 0) || ((ahi | 0) === (bhi | 0) && (alo >>> 0) <= (blo >>> 0));

/** a + b mod 2^64; returns the carry out (1 when the unsigned sum overflowed). */
export function add64(ahi: number, alo: number, bhi: number, blo: number): number {
  const lo = (alo >>> 0) + (blo >>> 0);
  const hi = (ahi >>> 0) + (bhi >>> 0) + (lo >= TWO32 ? 1 : 0);
  u64Out.lo = lo | 0;
  u64Out.hi = hi | 0;
  return hi >= TWO32 ? 1 : 0;
}

/** a - b mod 2^64; returns the borrow (1 when b > a unsigned). */
export function sub64(ahi: number, alo: number, bhi: number, blo: number): number {
  const lo = (alo >>> 0) - (blo >>> 0);
  const hi = (ahi >>> 0) - (bhi >>> 0) - (lo < 0 ? 1 : 0);
  u64Out.lo = lo | 0;
  u64Out.hi = hi | 0;
  return hi < 0 ? 1 : 0;
}

/** a + b as signed 64-bit values: writes the (wrapped) sum, returns true when the exact sum does not fit. */
export function addOverflowsS(ahi: number, alo: number, bhi: number, blo: number): boolean {
  add64(ahi, alo, bhi, blo);
  const signA = ahi >>> 31, signB = bhi >>> 31;
  return signA === signB && u64Out.hi >>> 31 !== signA;
}

/** a - b as signed 64-bit values: writes the (wrapped) difference, returns true when the exact one does not fit. */
export function subOverflowsS(ahi: number, alo: number, bhi: number, blo: number): boolean {
  sub64(ahi, alo, bhi, blo);
  const signA = ahi >>> 31, signB = bhi >>> 31;
  return signA !== signB && u64Out.hi >>> 31 !== signA;
}

/** a * b mod 2^64. */
export function mul64(ahi: number, alo: number, bhi: number, blo: number): void {
  const a0 = alo & 0xffff, a1 = alo >>> 16, b0 = blo & 0xffff, b1 = blo >>> 16;
  const mid = a1 * b0 + a0 * b1;
  const low = a0 * b0 + (mid % 65536) * 65536;
  const cross = Math.imul(ahi, blo) + Math.imul(alo, bhi);
  u64Out.lo = low | 0;
  u64Out.hi = (a1 * b1 + Math.floor(mid / 65536) + Math.floor(low / TWO32) + cross) | 0;
}

// 16-bit limbs, least significant first: limb products and column sums stay exact in doubles.
const limbsA = new Float64Array(4);
const limbsB = new Float64Array(4);
const productLimbs = new Float64Array(8);

function splitLimbs(limbs: Float64Array, hi: number, lo: number): void {
  limbs[0] = lo & 0xffff; limbs[1] = lo >>> 16; limbs[2] = hi & 0xffff; limbs[3] = hi >>> 16;
}

/** a * b unsigned: writes the low 64 bits, returns true when the high 64 bits are not all zero. */
export function mulWide64(ahi: number, alo: number, bhi: number, blo: number): boolean {
  const a = limbsA, b = limbsB;
  splitLimbs(a, ahi, alo);
  splitLimbs(b, bhi, blo);
  productLimbs.fill(0);
  for (let i = 0; i < 4; i++) {
    let carry = 0;
    for (let j = 0; j < 4; j++) {
      const t = productLimbs[i + j]! + a[i]! * b[j]! + carry;
      productLimbs[i + j] = t % 65536;
      carry = Math.floor(t / 65536);
    }
    productLimbs[i + 4] = carry;
  }
  u64Out.lo = (productLimbs[0]! + productLimbs[1]! * 65536) | 0;
  u64Out.hi = (productLimbs[2]! + productLimbs[3]! * 65536) | 0;
  return productLimbs[4]! + productLimbs[5]! + productLimbs[6]! + productLimbs[7]! !== 0;
}

/** Two's-complement negation. */
export const neg64 = (hi: number, lo: number): void => { sub64(0, 0, hi, lo); };

/** a * b as signed 64-bit values: returns true when the exact product does not fit, else writes it. */
export function mulOverflowsS(ahi: number, alo: number, bhi: number, blo: number): boolean {
  const negA = (ahi | 0) < 0, negB = (bhi | 0) < 0;
  let mhi = ahi, mlo = alo;
  if (negA) { neg64(ahi, alo); mhi = u64Out.hi; mlo = u64Out.lo; }
  let nhi = bhi, nlo = blo;
  if (negB) { neg64(bhi, blo); nhi = u64Out.hi; nlo = u64Out.lo; }
  if (mulWide64(mhi, mlo, nhi, nlo)) return true;
  const phi = u64Out.hi, plo = u64Out.lo;
  if (negA !== negB) {
    // The most negative value, -2^63, is the one negative magnitude past 2^63 - 1.
    if (phi >>> 0 > 0x80000000 || (phi === SIGN_BIT && plo !== 0)) return true;
    neg64(phi, plo);
    return false;
  }
  return phi < 0;
}

/** Logical left shift by 0..63. */
export function shl64(hi: number, lo: number, k: number): void {
  if (k === 0) { u64Out.hi = hi | 0; u64Out.lo = lo | 0; } else if (k < 32) {
    u64Out.hi = (hi << k) | (lo >>> (32 - k));
    u64Out.lo = lo << k;
  } else {
    u64Out.hi = lo << (k - 32);
    u64Out.lo = 0;
  }
}

/** Logical right shift by 0..63. */
export function shr64(hi: number, lo: number, k: number): void {
  if (k === 0) { u64Out.hi = hi | 0; u64Out.lo = lo | 0; } else if (k < 32) {
    u64Out.lo = (lo >>> k) | (hi << (32 - k));
    u64Out.hi = hi >>> k;
  } else {
    u64Out.lo = (hi >>> (k - 32)) | 0;
    u64Out.hi = 0;
  }
}

/** Arithmetic right shift by 0..63. */
export function sar64(hi: number, lo: number, k: number): void {
  if (k === 0) { u64Out.hi = hi | 0; u64Out.lo = lo | 0; } else if (k < 32) {
    u64Out.lo = (lo >>> k) | (hi << (32 - k));
    u64Out.hi = hi >> k;
  } else {
    u64Out.lo = hi >> (k - 32);
    u64Out.hi = hi >> 31;
  }
}

/** Number of significant bits (0 for zero). */
export const bitLength64 = (hi: number, lo: number): number => (hi !== 0 ? 64 - Math.clz32(hi) : 32 - Math.clz32(lo));

/** The pair of a safe integer (negative ones in two's complement). */
export function fromNumber(n: number): void {
  u64Out.lo = n | 0;
  u64Out.hi = Math.floor(n / TWO32) | 0;
}

/** Unsigned value as a number: exact below 2^53, otherwise rounded (order kept). */
export const toNumberU = (hi: number, lo: number): number => (hi >>> 0) * TWO32 + (lo >>> 0);
/** Signed value as a number: exact within ±2^53, otherwise rounded (order kept). */
export const toNumberS = (hi: number, lo: number): number => (hi | 0) * TWO32 + (lo >>> 0);

/** Below this high word a value is a safe integer. */
const SAFE_HI = 0x200000;

export const formatU64 = (hi: number, lo: number): string =>
  (hi >>> 0 < SAFE_HI ? String(toNumberU(hi, lo)) : toBigU(hi, lo).toString());
export const formatS64 = (hi: number, lo: number): string =>
  ((hi | 0) >= -SAFE_HI && (hi | 0) < SAFE_HI ? String(toNumberS(hi, lo)) : toBigS(hi, lo).toString());
export const formatHex64 = (hi: number, lo: number): string =>
  (hi === 0 ? (lo >>> 0).toString(16) : (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, '0'));

/** Conversions at the API edges (options, tests). */
export const toBigU = (hi: number, lo: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
export const toBigS = (hi: number, lo: number): bigint => BigInt.asIntN(64, toBigU(hi, lo));
export function fromBig(v: bigint): void {
  const u = BigInt.asUintN(64, v);
  u64Out.hi = Number(u >> 32n) | 0;
  u64Out.lo = Number(u & 0xffffffffn) | 0;
}
