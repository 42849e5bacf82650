/**
 * TEST-ONLY ORACLE: the verifier's BigInt scalar domain as it was before the (hi, lo) pair rewrite (issue #4),
 * kept verbatim so test/verifier/scalar-differential.test.ts can check the new domain bit for bit.
 * Never import it from src/.
 */
import {
  TNUM_UNKNOWN, U32, U64, tnumAdd, tnumAnd, tnumArshift, tnumCast, tnumConst, tnumIntersect, tnumIsConst,
  tnumLshift, tnumMul, tnumOr, tnumRange, tnumRshift, tnumSub, tnumSubreg, tnumWithSubreg, tnumXor, type Tnum,
} from './tnum.js';

/**
 * The value-range domain of a scalar (and of a pointer's variable offset): a tnum plus signed and
 * unsigned bounds for the full 64 bits and for the low 32-bit subregister, kept consistent with each
 * other the way the kernel's reg_bounds_sync does. All fields are bigints (signed ones signed).
 */
export interface Bounds {
  var: Tnum;
  smin: bigint; smax: bigint; umin: bigint; umax: bigint;
  s32min: bigint; s32max: bigint; u32min: bigint; u32max: bigint;
}

export const S64_MIN = -(1n << 63n);
export const S64_MAX = (1n << 63n) - 1n;
export const S32_MIN = -(1n << 31n);
export const S32_MAX = (1n << 31n) - 1n;

export const toS64 = (u: bigint): bigint => BigInt.asIntN(64, u);
export const toU64 = (s: bigint): bigint => BigInt.asUintN(64, s);
export const toS32 = (u: bigint): bigint => BigInt.asIntN(32, u);
export const toU32 = (s: bigint): bigint => BigInt.asUintN(32, s);

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

export function unknownBounds(): Bounds {
  return { var: TNUM_UNKNOWN, smin: S64_MIN, smax: S64_MAX, umin: 0n, umax: U64, s32min: S32_MIN, s32max: S32_MAX, u32min: 0n, u32max: U32 };
}

export function constBounds(value: bigint): Bounds {
  const u = toU64(value);
  const s = toS64(u);
  const u32 = u & U32;
  const s32 = toS32(u32);
  return { var: tnumConst(u), smin: s, smax: s, umin: u, umax: u, s32min: s32, s32max: s32, u32min: u32, u32max: u32 };
}

/** A 32-bit value zero-extended into 64 bits, given only its 32-bit facts. */
export function zext32(b: Bounds): Bounds {
  const out: Bounds = {
    var: tnumSubreg(b.var), smin: b.u32min, smax: b.u32max, umin: b.u32min, umax: b.u32max,
    s32min: b.s32min, s32max: b.s32max, u32min: b.u32min, u32max: b.u32max,
  };
  sync(out);
  return out;
}

export const isConst = (b: Bounds): boolean => tnumIsConst(b.var);
export const isConst32 = (b: Bounds): boolean => (b.var.mask & U32) === 0n;

/** Bounds are self-contradictory: the state cannot happen. */
export function isEmpty(b: Bounds): boolean {
  return b.umin > b.umax || b.smin > b.smax || b.u32min > b.u32max || b.s32min > b.s32max;
}

function updateFromTnum(b: Bounds): void {
  const v = b.var;
  b.smin = max(b.smin, toS64(v.value | (v.mask & (1n << 63n))));
  b.smax = min(b.smax, toS64(v.value | (v.mask & S64_MAX)));
  b.umin = max(b.umin, v.value);
  b.umax = min(b.umax, v.value | v.mask);
  const v32 = tnumSubreg(v);
  b.s32min = max(b.s32min, toS32(v32.value | (v32.mask & 0x80000000n)));
  b.s32max = min(b.s32max, toS32(v32.value | (v32.mask & 0x7fffffffn)));
  b.u32min = max(b.u32min, v32.value);
  b.u32max = min(b.u32max, v32.value | v32.mask);
}

function deduce32(b: Bounds): void {
  if (b.umin >> 32n === b.umax >> 32n) {
    b.u32min = max(b.u32min, b.umin & U32);
    b.u32max = min(b.u32max, b.umax & U32);
    if (toS32(b.umin) <= toS32(b.umax)) {
      b.s32min = max(b.s32min, toS32(b.umin));
      b.s32max = min(b.s32max, toS32(b.umax));
    }
  }
  if (b.smin >> 32n === b.smax >> 32n) {
    b.u32min = max(b.u32min, toU32(b.smin));
    b.u32max = min(b.u32max, toU32(b.smax));
    if (toS32(b.smin) <= toS32(b.smax)) {
      b.s32min = max(b.s32min, toS32(b.smin));
      b.s32max = min(b.s32max, toS32(b.smax));
    }
  }
  if (toS32(b.u32min) <= toS32(b.u32max)) {
    b.s32min = max(b.s32min, toS32(b.u32min));
    b.s32max = min(b.s32max, toS32(b.u32max));
  }
  if (toU32(b.s32min) <= toU32(b.s32max)) {
    b.u32min = max(b.u32min, toU32(b.s32min));
    b.u32max = min(b.u32max, toU32(b.s32max));
  }
}

function deduce64(b: Bounds): void {
  if (toS64(b.umin) <= toS64(b.umax)) {
    b.smin = max(b.smin, toS64(b.umin));
    b.smax = min(b.smax, toS64(b.umax));
  }
  if (toU64(b.smin) <= toU64(b.smax)) {
    b.umin = max(b.umin, toU64(b.smin));
    b.umax = min(b.umax, toU64(b.smax));
  }
}

function deduceMixed(b: Bounds): void {
  // The low 32 bits' range narrows the full range within the same upper half.
  b.umin = max(b.umin, (b.umin & ~U32) | b.u32min);
  b.umax = min(b.umax, (b.umax & ~U32) | b.u32max);
  b.smin = max(b.smin, (b.smin & ~U32) | b.u32min);
  b.smax = min(b.smax, (b.smax & ~U32) | b.u32max);
  deduce64(b);
}

/** Make every field agree with the others (kernel reg_bounds_sync). Mutates `b`. */
export function sync(b: Bounds): void {
  updateFromTnum(b);
  deduce32(b);
  deduce64(b);
  deduceMixed(b);
  deduce32(b);
  b.var = tnumIntersect(b.var, tnumRange(b.umin, b.umax));
  const v32 = tnumIntersect(tnumSubreg(b.var), tnumRange(b.u32min, b.u32max));
  b.var = tnumWithSubreg(b.var, v32);
  updateFromTnum(b);
}

interface Range { smin: bigint; smax: bigint; umin: bigint; umax: bigint }

const range64 = (b: Bounds): Range => ({ smin: b.smin, smax: b.smax, umin: b.umin, umax: b.umax });
const range32 = (b: Bounds): Range => ({ smin: b.s32min, smax: b.s32max, umin: b.u32min, umax: b.u32max });

function limits(bits: 32 | 64): { smin: bigint; smax: bigint; umax: bigint } {
  return bits === 64 ? { smin: S64_MIN, smax: S64_MAX, umax: U64 } : { smin: S32_MIN, smax: S32_MAX, umax: U32 };
}

/** Range arithmetic for the ops whose result bits of a width depend only on the operands' bits of that width. */
function rangeOp(op: string, a: Range, b: Range, bits: 32 | 64, result: Tnum): Range {
  const L = limits(bits);
  const sOk = (v: bigint): boolean => v >= L.smin && v <= L.smax;
  const unboundedS = { smin: L.smin, smax: L.smax };
  const unboundedU = { umin: 0n, umax: L.umax };
  switch (op) {
    case 'add': {
      const smin = a.smin + b.smin, smax = a.smax + b.smax;
      const umin = a.umin + b.umin, umax = a.umax + b.umax;
      return {
        ...(sOk(smin) && sOk(smax) ? { smin, smax } : unboundedS),
        ...(umax <= L.umax ? { umin, umax } : unboundedU),
      };
    }
    case 'sub': {
      const smin = a.smin - b.smax, smax = a.smax - b.smin;
      return {
        ...(sOk(smin) && sOk(smax) ? { smin, smax } : unboundedS),
        ...(a.umin >= b.umax ? { umin: a.umin - b.umax, umax: a.umax - b.umin } : unboundedU),
      };
    }
    case 'mul': {
      const umax = a.umax * b.umax;
      const products = [a.smin * b.smin, a.smin * b.smax, a.smax * b.smin, a.smax * b.smax];
      const smin = products.reduce(min), smax = products.reduce(max);
      return {
        ...(sOk(smin) && sOk(smax) ? { smin, smax } : unboundedS),
        ...(umax <= L.umax ? { umin: a.umin * b.umin, umax } : unboundedU),
      };
    }
    case 'and': {
      const umin = result.value, umax = min(a.umax, b.umax);
      return a.smin >= 0n && b.smin >= 0n ? { smin: umin, smax: umax, umin, umax } : { ...unboundedS, umin, umax };
    }
    case 'or': {
      const umin = max(a.umin, b.umin), umax = result.value | result.mask;
      return a.smin >= 0n && b.smin >= 0n ? { smin: umin, smax: umax, umin, umax } : { ...unboundedS, umin, umax };
    }
    case 'xor': {
      const umin = result.value, umax = result.value | result.mask;
      return a.smin >= 0n && b.smin >= 0n ? { smin: umin, smax: umax, umin, umax } : { ...unboundedS, umin, umax };
    }
    default:
      return { ...unboundedS, ...unboundedU };
  }
}

function shiftRange(op: string, a: Range, k: bigint, bits: 32 | 64): Range {
  const L = limits(bits);
  const w = BigInt(bits);
  switch (op) {
    case 'lsh':
      if (a.umax >> (w - k) === 0n || k === 0n) return { smin: L.smin, smax: L.smax, umin: a.umin << k, umax: a.umax << k };
      return { smin: L.smin, smax: L.smax, umin: 0n, umax: L.umax };
    case 'rsh':
      return { smin: L.smin, smax: L.smax, umin: a.umin >> k, umax: a.umax >> k };
    case 'arsh':
      return { smin: a.smin >> k, smax: a.smax >> k, umin: 0n, umax: L.umax };
  }
  return { smin: L.smin, smax: L.smax, umin: 0n, umax: L.umax };
}

const TRACKED = new Set(['add', 'sub', 'mul', 'and', 'or', 'xor', 'lsh', 'rsh', 'arsh']);

function tnumOp(op: string, a: Tnum, b: Tnum, k: number, bits: 32 | 64): Tnum {
  switch (op) {
    case 'add': return tnumAdd(a, b);
    case 'sub': return tnumSub(a, b);
    case 'mul': return tnumMul(a, b);
    case 'and': return tnumAnd(a, b);
    case 'or': return tnumOr(a, b);
    case 'xor': return tnumXor(a, b);
    case 'lsh': return tnumLshift(a, k);
    case 'rsh': return tnumRshift(a, k);
    case 'arsh': return tnumArshift(a, k, bits);
  }
  return TNUM_UNKNOWN;
}

/** Fold an operation on two known constants the way the ISA defines it. */
function foldConst(op: string, a: bigint, b: bigint, bits: 32 | 64): bigint | undefined {
  const w = BigInt(bits);
  const mask = bits === 64 ? U64 : U32;
  const ua = a & mask, ub = b & mask;
  const sa = BigInt.asIntN(bits, ua), sb = BigInt.asIntN(bits, ub);
  const sh = ub & (w - 1n);
  switch (op) {
    case 'add': return (ua + ub) & mask;
    case 'sub': return (ua - ub) & mask;
    case 'mul': return (ua * ub) & mask;
    case 'div': return ub === 0n ? 0n : ua / ub;
    case 'sdiv': return sb === 0n ? 0n : BigInt.asUintN(bits, sa / sb);
    case 'mod': return ub === 0n ? ua : ua % ub;
    case 'smod': return sb === 0n ? ua : BigInt.asUintN(bits, sa % sb);
    case 'or': return ua | ub;
    case 'and': return ua & ub;
    case 'xor': return ua ^ ub;
    case 'lsh': return (ua << sh) & mask;
    case 'rsh': return ua >> sh;
    case 'arsh': return BigInt.asUintN(bits, sa >> sh);
  }
  return undefined;
}

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
  if (!TRACKED.has(op) || (isShift && (!srcConst || src.umax >= BigInt(bits)))) return unknownBounds();
  if (srcConst && dstConst) {
    const folded = foldConst(op, dst.var.value, src.var.value, bits);
    if (folded !== undefined) return constBounds(folded);
  }
  const k = isShift ? Number(src.var.value & BigInt(bits - 1)) : 0;
  if (bits === 64) {
    const v = tnumOp(op, dst.var, src.var, k, 64);
    const r64 = isShift ? shiftRange(op, range64(dst), BigInt(k), 64) : rangeOp(op, range64(dst), range64(src), 64, v);
    if (op === 'lsh' && k === 32) {
      // `<<32 s>>32` sign-extends a subregister: non-negative 32-bit bounds carry over (kernel __scalar64_min_max_lsh).
      if (dst.s32max >= 0n) r64.smax = dst.s32max << 32n;
      if (dst.s32min >= 0n) r64.smin = dst.s32min << 32n;
    }
    // The low half of add/sub/mul/and/or/xor depends only on the low halves.
    const v32 = tnumSubreg(v);
    const r32 = isShift ? { smin: S32_MIN, smax: S32_MAX, umin: 0n, umax: U32 } : rangeOp(op, range32(dst), range32(src), 32, v32);
    const out: Bounds = { var: v, ...r64, s32min: r32.smin, s32max: r32.smax, u32min: r32.umin, u32max: r32.umax };
    sync(out);
    return out;
  }
  const a32 = tnumSubreg(dst.var), b32 = tnumSubreg(src.var);
  const v = tnumCast(tnumOp(op, a32, b32, k, 32), 4);
  const r32 = isShift ? shiftRange(op, range32(dst), BigInt(k), 32) : rangeOp(op, range32(dst), range32(src), 32, v);
  const out: Bounds = { ...unknownBounds(), var: v, s32min: r32.smin, s32max: r32.smax, u32min: r32.umin, u32max: r32.umax };
  sync(out);
  return zext32(out);
}

/** Sign-extend the low `fromBits` of a scalar into 64 (or 32, zero-extended) bits. */
export function scalarMovsx(src: Bounds, fromBits: 8 | 16 | 32, bits: 32 | 64): Bounds {
  if (isConst(src)) {
    const v = BigInt.asIntN(fromBits, src.var.value);
    return bits === 64 ? constBounds(v) : constBounds(toU32(v));
  }
  const half = 1n << BigInt(fromBits - 1);
  let out: Bounds;
  if (src.umax < half) {
    out = { ...src };
  } else if (src.smin >= -half && src.smax < half) {
    out = { ...src };
  } else {
    out = { ...unknownBounds(), smin: -half, smax: half - 1n };
    sync(out);
  }
  return bits === 64 ? out : zext32({ ...out, s32min: max(out.smin, S32_MIN), s32max: min(out.smax, S32_MAX) });
}

/** Bounds of a value loaded with a `size`-byte unsigned load: 0..2^(8*size)-1. */
export function loadedBounds(size: number, signed = false): Bounds {
  if (size >= 8) return unknownBounds();
  const bitsN = BigInt(size * 8);
  if (signed) {
    const half = 1n << (bitsN - 1n);
    const out = { ...unknownBounds(), smin: -half, smax: half - 1n };
    sync(out);
    return out;
  }
  const out = { ...unknownBounds(), umax: (1n << bitsN) - 1n };
  sync(out);
  return out;
}

/** [lo, hi] unsigned, as a scalar. */
export function rangeBounds(lo: bigint, hi: bigint): Bounds {
  const out = { ...unknownBounds(), umin: lo, umax: hi };
  sync(out);
  return out;
}

export function boundsEqual(a: Bounds, b: Bounds): boolean {
  return a.var.value === b.var.value && a.var.mask === b.var.mask && a.smin === b.smin && a.smax === b.smax
    && a.umin === b.umin && a.umax === b.umax && a.s32min === b.s32min && a.s32max === b.s32max
    && a.u32min === b.u32min && a.u32max === b.u32max;
}

/** Every value `cur` allows, `old` allows too (range containment and tnum subsumption). */
export function boundsWithin(old: Bounds, cur: Bounds): boolean {
  return old.umin <= cur.umin && old.umax >= cur.umax && old.smin <= cur.smin && old.smax >= cur.smax
    && old.u32min <= cur.u32min && old.u32max >= cur.u32max && old.s32min <= cur.s32min && old.s32max >= cur.s32max
    && (cur.var.mask & ~old.var.mask) === 0n && ((cur.var.value & ~old.var.mask) & U64) === old.var.value;
}

/** The kernel's `scalar(...)` text (only the fields that say something). */
/** Linux 6.18's number forms: decimal within 16 bits (signed or unsigned), else the 64 bits in hex. */
const snum = (v: bigint): string => (v >= -0x8000n && v <= 0x7fffn ? String(v) : `0x${BigInt.asUintN(64, v).toString(16)}`);
const unum = (v: bigint): string => (v <= 0xffffn ? String(v) : `0x${v.toString(16)}`);

export function formatBounds(b: Bounds): string {
  if (isConst(b)) return snum(toS64(b.var.value));
  // The kernel's order; a bound is joined by later ones two, four or six places on with the same value and sign.
  const list = [
    { name: 'smin', v: b.smin, omit: b.smin === S64_MIN }, { name: 'smax', v: b.smax, omit: b.smax === S64_MAX },
    { name: 'umin', v: b.umin, omit: b.umin === 0n }, { name: 'umax', v: b.umax, omit: b.umax === U64 },
    { name: 'smin32', v: b.s32min, omit: b.s32min === S32_MIN }, { name: 'smax32', v: b.s32max, omit: b.s32max === S32_MAX },
    { name: 'umin32', v: b.u32min, omit: b.u32min === 0n }, { name: 'umax32', v: b.u32max, omit: b.u32max === U32 },
  ];
  const parts: string[] = [];
  list.forEach((m, i) => {
    if (m.omit) return;
    const names = [m.name];
    for (let j = i + 2; j < list.length; j += 2) {
      const o = list[j]!;
      if (!o.omit && BigInt.asUintN(64, o.v) === BigInt.asUintN(64, m.v) && (o.name[0] === 's' && o.v < 0n) === (m.name[0] === 's' && m.v < 0n)) {
        names.push(o.name);
        o.omit = true;
      }
    }
    parts.push(`${names.join('=')}=${m.name[0] === 's' ? snum(m.v) : unum(m.v)}`);
  });
  if (b.var.mask !== U64) parts.push(`var_off=(0x${b.var.value.toString(16)}; 0x${b.var.mask.toString(16)})`);
  return parts.join(',');
}
