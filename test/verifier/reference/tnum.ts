/**
 * TEST-ONLY ORACLE: the verifier's BigInt tnum domain as it was before the (hi, lo) pair rewrite (issue #4),
 * kept verbatim so test/verifier/scalar-differential.test.ts can check the new domain bit for bit.
 * Never import it from src/.
 */
/**
 * Tristate numbers: a 64-bit value where each bit is known 0, known 1 or unknown (mask bit set). The
 * kernel's `struct tnum`; the arithmetic follows the published tnum algebra. Values are unsigned
 * 64-bit bigints.
 */
export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

export const U64 = (1n << 64n) - 1n;
export const U32 = 0xffffffffn;

export const tnumConst = (v: bigint): Tnum => ({ value: v & U64, mask: 0n });
export const TNUM_UNKNOWN: Tnum = { value: 0n, mask: U64 };

export const tnumIsConst = (a: Tnum): boolean => a.mask === 0n;

/** Smallest tnum covering [min, max] (unsigned). */
export function tnumRange(min: bigint, max: bigint): Tnum {
  const chi = min ^ max;
  if (chi === 0n) return tnumConst(min);
  const bits = BigInt(chi.toString(2).length);
  if (bits > 63n) return TNUM_UNKNOWN;
  const delta = (1n << bits) - 1n;
  return { value: min & ~delta & U64, mask: delta };
}

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  const sm = (a.mask + b.mask) & U64;
  const sv = (a.value + b.value) & U64;
  const sigma = (sm + sv) & U64;
  const chi = sigma ^ sv;
  const mu = chi | a.mask | b.mask;
  return { value: sv & ~mu & U64, mask: mu & U64 };
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  const dv = (a.value - b.value) & U64;
  const alpha = (dv + a.mask) & U64;
  const beta = (dv - b.mask) & U64;
  const chi = alpha ^ beta;
  const mu = chi | a.mask | b.mask;
  return { value: dv & ~mu & U64, mask: mu & U64 };
}

export function tnumAnd(a: Tnum, b: Tnum): Tnum {
  const alpha = a.value | a.mask;
  const beta = b.value | b.mask;
  const v = a.value & b.value;
  return { value: v, mask: alpha & beta & ~v & U64 };
}

export function tnumOr(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask | b.mask;
  return { value: v, mask: mu & ~v & U64 };
}

export function tnumXor(a: Tnum, b: Tnum): Tnum {
  const v = a.value ^ b.value;
  const mu = a.mask | b.mask;
  return { value: v & ~mu & U64, mask: mu };
}

export function tnumMul(a: Tnum, b: Tnum): Tnum {
  let acc_v = (a.value * b.value) & U64;
  let acc_m: Tnum = { value: 0n, mask: 0n };
  let x = a;
  let y = b;
  while (x.value !== 0n || x.mask !== 0n) {
    if (x.value & 1n) acc_m = tnumAdd(acc_m, { value: 0n, mask: y.mask });
    else if (x.mask & 1n) acc_m = tnumAdd(acc_m, { value: 0n, mask: (y.value | y.mask) & U64 });
    x = tnumRshift(x, 1);
    y = tnumLshift(y, 1);
  }
  return tnumAdd({ value: acc_v, mask: 0n }, acc_m);
}

export const tnumLshift = (a: Tnum, shift: number): Tnum =>
  ({ value: (a.value << BigInt(shift)) & U64, mask: (a.mask << BigInt(shift)) & U64 });
export const tnumRshift = (a: Tnum, shift: number): Tnum =>
  ({ value: a.value >> BigInt(shift), mask: a.mask >> BigInt(shift) });

/** Arithmetic right shift of a `bits`-wide tnum (64 or 32). */
export function tnumArshift(a: Tnum, shift: number, bits: 32 | 64): Tnum {
  const width = BigInt(bits);
  const lim = (1n << width) - 1n;
  const sext = (v: bigint): bigint => (v & (1n << (width - 1n)) ? v - (1n << width) : v);
  const s = BigInt(shift);
  return { value: (sext(a.value) >> s) & lim, mask: (sext(a.mask) >> s) & lim };
}

export function tnumIntersect(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask & b.mask;
  return { value: v & ~mu & U64, mask: mu };
}

/** Truncate to the low `size` bytes. */
export function tnumCast(a: Tnum, size: number): Tnum {
  if (size >= 8) return a;
  const lim = (1n << BigInt(size * 8)) - 1n;
  return { value: a.value & lim, mask: a.mask & lim };
}

export const tnumSubreg = (a: Tnum): Tnum => tnumCast(a, 4);
export const tnumClearSubreg = (a: Tnum): Tnum => tnumLshift(tnumRshift(a, 32), 32);
export const tnumWithSubreg = (a: Tnum, sub: Tnum): Tnum => tnumOr(tnumClearSubreg(a), tnumSubreg(sub));

/** Is every value of `b` also a value of `a`? */
export function tnumIn(a: Tnum, b: Tnum): boolean {
  if (b.mask & ~a.mask) return false;
  return (b.value & ~a.mask & U64) === a.value;
}

export const tnumEq = (a: Tnum, b: Tnum): boolean => a.value === b.value && a.mask === b.mask;

/** `(0x0; 0xff)` as the kernel prints var_off. */
export const tnumFormat = (a: Tnum): string => `(0x${a.value.toString(16)}; 0x${a.mask.toString(16)})`;
