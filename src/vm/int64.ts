/**
 * 64-bit integer arithmetic on (lo, hi) int32 pairs, without BigInt: the interpreter keeps its
 * registers as pairs in an Int32Array and calls these on its hot path. Every operation writes its
 * result into `out[at]` (low half) and `out[at + 1]` (high half), so callers pass the register array
 * itself and nothing is allocated. Operands are read before the result is written, so `out` may alias
 * an operand's storage.
 */

const TWO_32 = 4294967296;
/** Both operands below 2^52: their quotient and remainder are exact in doubles (with one correction). */
const DOUBLE_SAFE_HI = 0x100000;

/** High 32 bits (unsigned) of the 64-bit product of two unsigned 32-bit values. */
export function mulHigh32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const low = a0 * b0;
  const mid1 = a1 * b0;
  const mid2 = a0 * b1;
  // Each partial product < 2^32; sum the middle terms with the carry out of the low one.
  const carry = ((low >>> 16) + (mid1 & 0xffff) + (mid2 & 0xffff)) >>> 16;
  return (a1 * b1 + (mid1 >>> 16) + (mid2 >>> 16) + carry) | 0;
}

/** Low 64 bits of the product (signed and unsigned agree). */
export function mul64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  const hi = (mulHigh32(alo, blo) + Math.imul(alo, bhi) + Math.imul(ahi, blo)) | 0;
  out[at] = Math.imul(alo, blo);
  out[at + 1] = hi;
}

export function add64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  const lo = (alo >>> 0) + (blo >>> 0);
  out[at] = lo;
  out[at + 1] = (ahi + bhi + (lo > 0xffffffff ? 1 : 0)) | 0;
}

export function sub64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  const borrow = (alo >>> 0) < (blo >>> 0) ? 1 : 0;
  out[at] = (alo - blo) | 0;
  out[at + 1] = (ahi - bhi - borrow) | 0;
}

export function neg64(out: Int32Array, at: number, lo: number, hi: number): void {
  out[at] = -lo | 0;
  out[at + 1] = (~hi + (lo === 0 ? 1 : 0)) | 0;
}

/** Shift left by n (0..63; callers mask). */
export function shl64(out: Int32Array, at: number, lo: number, hi: number, n: number): void {
  if (n === 0) { out[at] = lo; out[at + 1] = hi; }
  else if (n < 32) { out[at + 1] = (hi << n) | (lo >>> (32 - n)); out[at] = lo << n; }
  else { out[at + 1] = lo << (n - 32); out[at] = 0; }
}

/** Logical shift right by n (0..63). */
export function shr64(out: Int32Array, at: number, lo: number, hi: number, n: number): void {
  if (n === 0) { out[at] = lo; out[at + 1] = hi; }
  else if (n < 32) { out[at] = (lo >>> n) | (hi << (32 - n)); out[at + 1] = hi >>> n; }
  else { out[at] = hi >>> (n - 32); out[at + 1] = 0; }
}

/** Arithmetic shift right by n (0..63). */
export function sar64(out: Int32Array, at: number, lo: number, hi: number, n: number): void {
  if (n === 0) { out[at] = lo; out[at + 1] = hi; }
  else if (n < 32) { out[at] = (lo >>> n) | (hi << (32 - n)); out[at + 1] = hi >> n; }
  else { out[at] = hi >> (n - 32); out[at + 1] = hi >> 31; }
}

/** Unsigned comparison: -1, 0 or 1. */
export function compareUnsigned(alo: number, ahi: number, blo: number, bhi: number): number {
  const ah = ahi >>> 0;
  const bh = bhi >>> 0;
  if (ah !== bh) return ah < bh ? -1 : 1;
  const al = alo >>> 0;
  const bl = blo >>> 0;
  return al === bl ? 0 : al < bl ? -1 : 1;
}

/** Signed comparison: -1, 0 or 1. */
export function compareSigned(alo: number, ahi: number, blo: number, bhi: number): number {
  const ah = ahi | 0;
  const bh = bhi | 0;
  if (ah !== bh) return ah < bh ? -1 : 1;
  const al = alo >>> 0;
  const bl = blo >>> 0;
  return al === bl ? 0 : al < bl ? -1 : 1;
}

/** Scratch for the division helpers: quotient at 0..1, remainder at 2..3. */
const divScratch = new Int32Array(4);

/**
 * Unsigned 64-bit division of a by b (b nonzero): quotient into divScratch[0..1], remainder into
 * divScratch[2..3]. Doubles when both fit in 52 bits, bitwise long division otherwise.
 */
function udivmod(alo: number, ahi: number, blo: number, bhi: number): void {
  const ah = ahi >>> 0;
  const bh = bhi >>> 0;
  if (ah < DOUBLE_SAFE_HI && bh < DOUBLE_SAFE_HI) {
    const a = ah * TWO_32 + (alo >>> 0);
    const b = bh * TWO_32 + (blo >>> 0);
    let q = Math.floor(a / b);
    let r = a - q * b;
    // Rounding of a / b can be off by one either way; fix it exactly.
    if (r < 0) { q -= 1; r += b; } else if (r >= b) { q += 1; r -= b; }
    divScratch[0] = q % TWO_32;
    divScratch[1] = Math.floor(q / TWO_32);
    divScratch[2] = r % TWO_32;
    divScratch[3] = Math.floor(r / TWO_32);
    return;
  }
  // Restoring long division, one quotient bit per step.
  let qlo = 0, qhi = 0, rlo = 0, rhi = 0;
  const bl = blo >>> 0;
  for (let i = 63; i >= 0; i--) {
    // r = (r << 1) | bit i of a; a bit shifted out of r means r >= 2^64 > b.
    const overflow = rhi >>> 31;
    rhi = ((rhi << 1) | (rlo >>> 31)) >>> 0;
    const bit = i >= 32 ? (ah >>> (i - 32)) & 1 : (alo >>> i) & 1;
    rlo = ((rlo << 1) | bit) >>> 0;
    qhi = ((qhi << 1) | (qlo >>> 31)) >>> 0;
    qlo = (qlo << 1) >>> 0;
    if (overflow === 1 || rhi > bh || (rhi === bh && rlo >= bl)) {
      const borrow = rlo < bl ? 1 : 0;
      rlo = (rlo - bl) >>> 0;
      rhi = (rhi - bh - borrow) >>> 0;
      qlo = (qlo | 1) >>> 0;
    }
  }
  divScratch[0] = qlo;
  divScratch[1] = qhi;
  divScratch[2] = rlo;
  divScratch[3] = rhi;
}

/** Unsigned division; division by zero gives 0 (BPF semantics). */
export function udiv64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) { out[at] = 0; out[at + 1] = 0; return; }
  if (ahi === 0 && bhi === 0) { out[at] = (alo >>> 0) / (blo >>> 0); out[at + 1] = 0; return; }
  udivmod(alo, ahi, blo, bhi);
  out[at] = divScratch[0]!;
  out[at + 1] = divScratch[1]!;
}

/** Unsigned modulo; modulo by zero leaves the dividend (BPF semantics). */
export function umod64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) { out[at] = alo; out[at + 1] = ahi; return; }
  if (ahi === 0 && bhi === 0) { out[at] = (alo >>> 0) % (blo >>> 0); out[at + 1] = 0; return; }
  udivmod(alo, ahi, blo, bhi);
  out[at] = divScratch[2]!;
  out[at + 1] = divScratch[3]!;
}

/** |x| of a signed pair into divScratch-free locals: returns the low half, high half via absHi. */
let absHi = 0;
function abs64(lo: number, hi: number): number {
  if (hi >= 0) { absHi = hi; return lo; }
  absHi = (~hi + (lo === 0 ? 1 : 0)) | 0;
  return -lo | 0;
}

/** Signed division truncating toward zero; by zero gives 0; INT64_MIN / -1 gives INT64_MIN. */
export function sdiv64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) { out[at] = 0; out[at + 1] = 0; return; }
  const negative = (ahi ^ bhi) < 0;
  const ualo = abs64(alo, ahi | 0);
  const uahi = absHi;
  const ublo = abs64(blo, bhi | 0);
  const ubhi = absHi;
  udivmod(ualo, uahi, ublo, ubhi);
  if (negative) neg64(out, at, divScratch[0]!, divScratch[1]!);
  else { out[at] = divScratch[0]!; out[at + 1] = divScratch[1]!; }
}

/** Signed modulo (sign of the dividend); by zero leaves the dividend; INT64_MIN % -1 gives 0. */
export function smod64(out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number): void {
  if (blo === 0 && bhi === 0) { out[at] = alo; out[at + 1] = ahi; return; }
  const negative = (ahi | 0) < 0;
  const ualo = abs64(alo, ahi | 0);
  const uahi = absHi;
  const ublo = abs64(blo, bhi | 0);
  const ubhi = absHi;
  udivmod(ualo, uahi, ublo, ubhi);
  if (negative) neg64(out, at, divScratch[2]!, divScratch[3]!);
  else { out[at] = divScratch[2]!; out[at + 1] = divScratch[3]!; }
}

/** Byte-swap a 32-bit value. */
export function bswap32(x: number): number {
  return ((x >>> 24) | ((x >>> 8) & 0xff00) | ((x & 0xff00) << 8) | (x << 24)) | 0;
}

/** Byte-swap the low 16 bits (result zero-extended). */
export function bswap16(x: number): number {
  return ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
}

/** A pair from a JavaScript value: safe integers (negatives as two's complement) or bigint. */
export function splitValue(value: number | bigint): { lo: number; hi: number } {
  if (typeof value === 'bigint') {
    const v = BigInt.asUintN(64, value);
    return { lo: Number(v & 0xffffffffn) | 0, hi: Number(v >> 32n) | 0 };
  }
  return { lo: (value % TWO_32) | 0, hi: Math.floor(value / TWO_32) | 0 };
}

/** A pair as an unsigned bigint (not for hot paths). */
export function joinBigInt(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}
