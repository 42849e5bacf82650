import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as branch from '../../src/verifier/branch.js';
import * as scalar from '../../src/verifier/scalar.js';
import * as tnum from '../../src/verifier/tnum.js';
import { fromBig, toBigS, toBigU, u64Out } from '../../src/verifier/u64.js';
import * as refBranch from './reference/branch.js';
import * as refScalar from './reference/scalar.js';
import * as refTnum from './reference/tnum.js';

/**
 * The (hi, lo) pair scalar domain against the BigInt one it replaced (test/verifier/reference/): every
 * exported operation, on random and edge-value tnums and bounds, gives the same bits.
 */

const U64 = (1n << 64n) - 1n;

/** Deterministic 32-bit generator (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const EDGES: readonly bigint[] = [
  0n, 1n, 2n, 3n, 7n, 8n, 255n, 256n, 0x7fffn, 0x8000n, 0xffffn,
  (1n << 31n) - 1n, 1n << 31n, (1n << 31n) + 1n, (1n << 32n) - 1n, 1n << 32n, (1n << 32n) + 1n,
  (1n << 63n) - 1n, 1n << 63n, (1n << 63n) + 1n, U64, U64 - 1n,
  -2n, -(1n << 31n), -(1n << 31n) - 1n, -(1n << 32n), -(1n << 32n) - 1n, -(1n << 63n) + 1n,
].map((v) => BigInt.asUintN(64, v));

function randomU64(next: () => number): bigint {
  switch (next() % 6) {
    case 0: return EDGES[next() % EDGES.length]!;
    case 1: return BigInt(next() % 64);
    case 2: return BigInt(next() & 0xffff);
    case 3: return BigInt(next());
    case 4: return BigInt.asUintN(64, EDGES[next() % EDGES.length]! + BigInt((next() % 9) - 4));
    default: return (BigInt(next()) << 32n) | BigInt(next());
  }
}

function randomRefTnum(next: () => number): refTnum.Tnum {
  const choice = next() % 4;
  if (choice === 0) return refTnum.tnumConst(randomU64(next));
  if (choice === 1) return refTnum.TNUM_UNKNOWN;
  const mask = choice === 2 ? randomU64(next) : BigInt(next() & 0xff) << BigInt(next() % 57);
  return { value: randomU64(next) & ~mask & U64, mask };
}

const ordered = (a: bigint, b: bigint): [bigint, bigint] => (a <= b ? [a, b] : [b, a]);

/** Random bounds: some fields narrowed, then synced by the reference (as the verifier only holds synced ones). */
function randomRefBounds(next: () => number): refScalar.Bounds {
  const b = refScalar.unknownBounds();
  b.var = randomRefTnum(next);
  if (next() % 2) [b.umin, b.umax] = ordered(randomU64(next), randomU64(next));
  if (next() % 2) [b.smin, b.smax] = ordered(BigInt.asIntN(64, randomU64(next)), BigInt.asIntN(64, randomU64(next)));
  if (next() % 3 === 0) [b.u32min, b.u32max] = ordered(randomU64(next) & 0xffffffffn, randomU64(next) & 0xffffffffn);
  if (next() % 3 === 0) [b.s32min, b.s32max] = ordered(BigInt.asIntN(32, randomU64(next)), BigInt.asIntN(32, randomU64(next)));
  refScalar.sync(b);
  return b;
}

function nonEmptyRefBounds(next: () => number): refScalar.Bounds {
  for (;;) {
    const b = randomRefBounds(next);
    if (!refScalar.isEmpty(b)) return b;
  }
}

function toNewTnum(t: refTnum.Tnum): tnum.Tnum {
  const out = tnum.newTnum();
  fromBig(t.value);
  out.valueHi = u64Out.hi; out.valueLo = u64Out.lo;
  fromBig(t.mask);
  out.maskHi = u64Out.hi; out.maskLo = u64Out.lo;
  return out;
}

/** Every word is stored as an int32 (the representation equality and the engine's unboxed fields rely on). */
function assertWords(x: object): void {
  for (const [key, v] of Object.entries(x)) assert.ok(typeof v === 'number' && Object.is(v, v | 0), `${key} = ${Object.is(v, -0) ? '-0' : String(v)} is not an int32`);
}

function fromNewTnum(t: tnum.Tnum): refTnum.Tnum {
  assertWords(t);
  return { value: toBigU(t.valueHi, t.valueLo), mask: toBigU(t.maskHi, t.maskLo) };
}

function toNew(b: refScalar.Bounds): scalar.Bounds {
  const out = scalar.unknownBounds();
  Object.assign(out, toNewTnum(b.var));
  fromBig(b.smin); out.sminHi = u64Out.hi; out.sminLo = u64Out.lo;
  fromBig(b.smax); out.smaxHi = u64Out.hi; out.smaxLo = u64Out.lo;
  fromBig(b.umin); out.uminHi = u64Out.hi; out.uminLo = u64Out.lo;
  fromBig(b.umax); out.umaxHi = u64Out.hi; out.umaxLo = u64Out.lo;
  out.s32min = Number(b.s32min); out.s32max = Number(b.s32max); out.u32min = Number(b.u32min) | 0; out.u32max = Number(b.u32max) | 0;
  return out;
}

function fromNew(b: scalar.Bounds): refScalar.Bounds {
  return {
    var: fromNewTnum(b),
    smin: toBigS(b.sminHi, b.sminLo), smax: toBigS(b.smaxHi, b.smaxLo),
    umin: toBigU(b.uminHi, b.uminLo), umax: toBigU(b.umaxHi, b.umaxLo),
    s32min: BigInt(b.s32min), s32max: BigInt(b.s32max), u32min: BigInt(b.u32min >>> 0), u32max: BigInt(b.u32max >>> 0),
  };
}

const show = (x: unknown): string => JSON.stringify(x, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));

const ITERATIONS = 4000;

test('u64 pairs: conversions and formatting round-trip the edge values', () => {
  for (const v of EDGES) {
    fromBig(v);
    assert.equal(toBigU(u64Out.hi, u64Out.lo), v);
    const b = scalar.constBounds(u64Out.hi, u64Out.lo);
    assert.equal(scalar.formatBounds(b), refScalar.formatBounds(refScalar.constBounds(v)));
    assert.deepEqual(fromNew(b), refScalar.constBounds(v));
  }
  for (const n of [0, 1, -1, 2 ** 31, -(2 ** 31), 2 ** 32 + 5, -(2 ** 40), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]) {
    assert.deepEqual(fromNew(scalar.constBoundsOf(n)), refScalar.constBounds(BigInt(n)), `constBoundsOf(${n})`);
  }
});

test('tnum operations equal the BigInt reference', () => {
  const next = rng(1);
  for (let i = 0; i < ITERATIONS; i++) {
    const a = randomRefTnum(next), b = randomRefTnum(next);
    const na = toNewTnum(a), nb = toNewTnum(b);
    const out = tnum.newTnum();
    const binary: [string, (o: tnum.Tnum, x: tnum.Tnum, y: tnum.Tnum) => void, (x: refTnum.Tnum, y: refTnum.Tnum) => refTnum.Tnum][] = [
      ['add', tnum.tnumAdd, refTnum.tnumAdd], ['sub', tnum.tnumSub, refTnum.tnumSub], ['and', tnum.tnumAnd, refTnum.tnumAnd],
      ['or', tnum.tnumOr, refTnum.tnumOr], ['xor', tnum.tnumXor, refTnum.tnumXor], ['mul', tnum.tnumMul, refTnum.tnumMul],
      ['intersect', tnum.tnumIntersect, refTnum.tnumIntersect], ['withSubreg', tnum.tnumWithSubreg, refTnum.tnumWithSubreg],
    ];
    for (const [name, op, ref] of binary) {
      op(out, na, nb);
      assert.deepEqual(fromNewTnum(out), ref(a, b), `${name} ${show(a)} ${show(b)}`);
    }
    // Results written over an operand.
    const alias = toNewTnum(a);
    tnum.tnumAdd(alias, alias, nb);
    assert.deepEqual(fromNewTnum(alias), refTnum.tnumAdd(a, b));
    const k = next() % 64;
    tnum.tnumLshift(out, na, k);
    assert.deepEqual(fromNewTnum(out), refTnum.tnumLshift(a, k), `lsh ${k}`);
    tnum.tnumRshift(out, na, k);
    assert.deepEqual(fromNewTnum(out), refTnum.tnumRshift(a, k), `rsh ${k}`);
    tnum.tnumArshift(out, na, k, 64);
    assert.deepEqual(fromNewTnum(out), refTnum.tnumArshift(a, k, 64), `arsh64 ${k}`);
    const a32 = refTnum.tnumSubreg(a);
    tnum.tnumArshift(out, toNewTnum(a32), k % 32, 32);
    assert.deepEqual(fromNewTnum(out), refTnum.tnumArshift(a32, k % 32, 32), `arsh32 ${k % 32}`);
    const size = [1, 2, 4, 8][next() % 4]!;
    tnum.tnumCast(out, na, size);
    assert.deepEqual(fromNewTnum(out), refTnum.tnumCast(a, size), `cast ${size}`);
    const [lo, hi] = ordered(randomU64(next), randomU64(next));
    const nlo = toNewTnum(refTnum.tnumConst(lo)), nhi = toNewTnum(refTnum.tnumConst(hi));
    tnum.tnumRange(out, nlo.valueHi, nlo.valueLo, nhi.valueHi, nhi.valueLo);
    assert.deepEqual(fromNewTnum(out), refTnum.tnumRange(lo, hi), `range ${lo} ${hi}`);
    assert.equal(tnum.tnumIn(na, nb), refTnum.tnumIn(a, b));
    assert.equal(tnum.tnumIn(na, na), true);
    assert.equal(tnum.tnumEq(na, nb), refTnum.tnumEq(a, b));
    assert.equal(tnum.tnumIsConst(na), refTnum.tnumIsConst(a));
    assert.equal(tnum.tnumFormat(na), refTnum.tnumFormat(a));
  }
});

test('sync, predicates and formatting equal the BigInt reference', () => {
  const next = rng(2);
  for (let i = 0; i < ITERATIONS; i++) {
    // Unsynced bounds, straight from random fields.
    const raw = refScalar.unknownBounds();
    raw.var = randomRefTnum(next);
    [raw.umin, raw.umax] = ordered(randomU64(next), randomU64(next));
    if (next() % 2) [raw.smin, raw.smax] = ordered(BigInt.asIntN(64, randomU64(next)), BigInt.asIntN(64, randomU64(next)));
    if (next() % 2) [raw.u32min, raw.u32max] = ordered(randomU64(next) & 0xffffffffn, randomU64(next) & 0xffffffffn);
    const synced = toNew(raw);
    scalar.sync(synced);
    refScalar.sync(raw);
    assert.deepEqual(fromNew(synced), raw, `sync ${show(raw)}`);
    const a = randomRefBounds(next), b = next() % 4 === 0 ? a : randomRefBounds(next);
    const na = toNew(a), nb = toNew(b);
    assert.equal(scalar.isEmpty(na), refScalar.isEmpty(a));
    assert.equal(scalar.isConst(na), refScalar.isConst(a));
    assert.equal(scalar.isConst32(na), refScalar.isConst32(a));
    assert.equal(scalar.boundsEqual(na, nb), refScalar.boundsEqual(a, b));
    assert.equal(scalar.boundsWithin(na, nb), refScalar.boundsWithin(a, b), `within ${show(a)} ${show(b)}`);
    assert.equal(scalar.formatBounds(na), refScalar.formatBounds(a));
    assert.deepEqual(fromNew(scalar.zext32(na)), refScalar.zext32(a));
  }
  for (const size of [1, 2, 4, 8]) {
    assert.deepEqual(fromNew(scalar.loadedBounds(size)), refScalar.loadedBounds(size));
    assert.deepEqual(fromNew(scalar.loadedBounds(size, true)), refScalar.loadedBounds(size, true));
  }
  for (const [lo, hi] of [[0, 255], [0, 0xffffffff], [5, 2 ** 40], [0, 0]] as const) {
    assert.deepEqual(fromNew(scalar.rangeBounds(lo, hi)), refScalar.rangeBounds(BigInt(lo), BigInt(hi)));
  }
});

const OPS = ['add', 'sub', 'mul', 'and', 'or', 'xor', 'lsh', 'rsh', 'arsh', 'div', 'mod', 'sdiv', 'smod'];

test('scalarAlu and scalarMovsx equal the BigInt reference', () => {
  const next = rng(3);
  for (let i = 0; i < ITERATIONS * 2; i++) {
    const a = nonEmptyRefBounds(next);
    // Shifts need a constant amount to be tracked: give them one often.
    const b = next() % 3 === 0 ? refScalar.constBounds(BigInt(next() % 70)) : nonEmptyRefBounds(next);
    const na = toNew(a), nb = toNew(b);
    const before = [show(fromNew(na)), show(fromNew(nb))];
    for (const op of OPS) {
      for (const bits of [64, 32] as const) {
        const got = fromNew(scalar.scalarAlu(op, na, nb, bits));
        assert.deepEqual(got, refScalar.scalarAlu(op, a, b, bits), `${op}${bits} ${show(a)} ${show(b)}`);
      }
    }
    assert.deepEqual([show(fromNew(na)), show(fromNew(nb))], before, 'inputs untouched');
    for (const from of [8, 16, 32] as const) {
      for (const bits of [64, 32] as const) {
        if (bits === 32 && from === 32) continue;
        assert.deepEqual(fromNew(scalar.scalarMovsx(na, from, bits)), refScalar.scalarMovsx(a, from, bits), `movsx${from}/${bits} ${show(a)}`);
      }
    }
  }
});

const CONDS: readonly branch.Cond[] = ['jeq', 'jne', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle', 'jset', 'jset_not'];

test('branchTaken and refine equal the BigInt reference', () => {
  const next = rng(4);
  for (let i = 0; i < ITERATIONS; i++) {
    const a = nonEmptyRefBounds(next);
    const b = next() % 3 === 0 ? refScalar.constBounds(randomU64(next)) : next() % 5 === 0 ? a : nonEmptyRefBounds(next);
    for (const cond of CONDS) {
      for (const is32 of [false, true]) {
        const taken = branch.branchTaken(toNew(a), toNew(b), cond, is32);
        assert.equal(taken, refBranch.branchTaken(a, b, cond, is32), `taken ${cond}${is32 ? '32' : ''} ${show(a)} ${show(b)}`);
        // The verifier refines only undecided branches.
        if (taken !== -1) continue;
        const ra = { ...a }, rb = { ...b };
        refBranch.refine(ra, rb, cond, is32);
        const na = toNew(a), nb = toNew(b);
        branch.refine(na, nb, cond, is32);
        assert.deepEqual([fromNew(na), fromNew(nb)], [ra, rb], `refine ${cond}${is32 ? '32' : ''} ${show(a)} ${show(b)}`);
      }
    }
  }
});

test('range arithmetic at the overflow boundaries equals the BigInt reference', () => {
  const U32 = 0xffffffffn, S64_MIN = -(1n << 63n);
  const make = (field: 'u' | 's' | 'u32' | 's32', lo: bigint, hi: bigint): refScalar.Bounds => {
    const b = refScalar.unknownBounds();
    if (field === 'u') [b.umin, b.umax] = ordered(BigInt.asUintN(64, lo), BigInt.asUintN(64, hi));
    else if (field === 's') [b.smin, b.smax] = ordered(BigInt.asIntN(64, lo), BigInt.asIntN(64, hi));
    else if (field === 'u32') [b.u32min, b.u32max] = ordered(BigInt.asUintN(32, lo), BigInt.asUintN(32, hi));
    else [b.s32min, b.s32max] = ordered(BigInt.asIntN(32, lo), BigInt.asIntN(32, hi));
    refScalar.sync(b);
    return b;
  };
  const pairs: [refScalar.Bounds, refScalar.Bounds][] = [];
  for (const p of EDGES) {
    for (const d of [-1n, 0n, 1n]) {
      pairs.push([make('u', p - 1n, p), make('u', 0n, U64 - p + d)]);
      pairs.push([make('u', p, p + 2n), make('u', p + d, p + 5n)]);
      pairs.push([make('u32', p - 1n, p), make('u32', 0n, U32 - (p & U32) + d)]);
      pairs.push([make('u32', p, p + 2n), make('u32', p + d, p + 5n)]);
      pairs.push([make('s', S64_MIN + p, 0n), make('s', -p + d, 0n)]);
      pairs.push([make('s32', -(1n << 31n) + p, 0n), make('s32', -p + d, 0n)]);
      if (p > 1n) {
        pairs.push([make('u', 1n, p), make('u', 1n, U64 / p + d)]);
        pairs.push([make('u32', 1n, p), make('u32', 1n, U32 / (p & U32 || 1n) + d)]);
        pairs.push([make('s', -p, 1n), make('s', -1n, (1n << 63n) / p + d)]);
      }
    }
  }
  for (const [a, b] of pairs) {
    if (refScalar.isEmpty(a) || refScalar.isEmpty(b)) continue;
    for (const op of OPS) {
      for (const bits of [64, 32] as const) {
        assert.deepEqual(fromNew(scalar.scalarAlu(op, toNew(a), toNew(b), bits)), refScalar.scalarAlu(op, a, b, bits), `${op}${bits} ${show(a)} ${show(b)}`);
      }
    }
  }
});
