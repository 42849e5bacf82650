import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  add64, bswap16, bswap32, compareSigned, compareUnsigned, mul64, mulHigh32, neg64, sar64, sdiv64, shl64, shr64,
  smod64, splitValue, sub64, udiv64, umod64,
} from '../../src/vm/int64.js';

const MASK = (1n << 64n) - 1n;
const u64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const pair = (v: bigint): [number, number] => [Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0];

/** Deterministic xorshift so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x;
  };
}

const EDGES = [0n, 1n, 2n, 3n, 7n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x1fffffffffffffn,
  0x20000000000000n, 0x7fffffffffffffffn, 0x8000000000000000n, 0xfffffffffffffffen, MASK, 0x123456789abcdefn];

function values(count: number, seed: number): bigint[] {
  const next = rng(seed);
  const out = [...EDGES];
  for (let i = 0; i < count; i++) {
    const v = u64(next(), next());
    // Mix in small and 52-bit values so every division path runs.
    const shift = BigInt(next() % 64);
    out.push(next() % 3 === 0 ? v >> shift : v);
  }
  return out;
}

type Op = (out: Int32Array, at: number, alo: number, ahi: number, blo: number, bhi: number) => void;
function check(name: string, op: Op, reference: (a: bigint, b: bigint) => bigint): void {
  const vs = values(60, name.length * 7919);
  const out = new Int32Array(2);
  for (const a of vs) {
    for (const b of vs) {
      const [alo, ahi] = pair(a);
      const [blo, bhi] = pair(b);
      op(out, 0, alo, ahi, blo, bhi);
      const want = reference(a, b) & MASK;
      const got = u64(out[0]!, out[1]!);
      if (got !== want) assert.fail(`${name}(0x${a.toString(16)}, 0x${b.toString(16)}) = 0x${got.toString(16)}, want 0x${want.toString(16)}`);
    }
  }
}

test('add, sub and mul match BigInt on edge and random values', () => {
  check('add', add64, (a, b) => a + b);
  check('sub', sub64, (a, b) => a - b);
  check('mul', mul64, (a, b) => a * b);
});

test('unsigned division: by zero gives 0, modulo by zero keeps the dividend', () => {
  check('udiv', udiv64, (a, b) => (b === 0n ? 0n : a / b));
  check('umod', umod64, (a, b) => (b === 0n ? a : a % b));
});

test('signed division truncates toward zero; INT64_MIN / -1 and % -1', () => {
  check('sdiv', sdiv64, (a, b) => (b === 0n ? 0n : s64(a) === -(1n << 63n) && s64(b) === -1n ? a : s64(a) / s64(b)));
  check('smod', smod64, (a, b) => (b === 0n ? a : s64(b) === -1n ? 0n : s64(a) % s64(b)));
  const out = new Int32Array(2);
  sdiv64(out, 0, 0, 0x80000000 | 0, -1, -1);
  assert.equal(u64(out[0]!, out[1]!), 0x8000000000000000n);
  smod64(out, 0, 0, 0x80000000 | 0, -1, -1);
  assert.equal(u64(out[0]!, out[1]!), 0n);
});

test('shifts for every count 0..63', () => {
  const out = new Int32Array(2);
  for (const v of values(20, 42)) {
    const [lo, hi] = pair(v);
    for (let n = 0; n < 64; n++) {
      shl64(out, 0, lo, hi, n);
      assert.equal(u64(out[0]!, out[1]!), (v << BigInt(n)) & MASK, `shl ${n}`);
      shr64(out, 0, lo, hi, n);
      assert.equal(u64(out[0]!, out[1]!), v >> BigInt(n), `shr ${n}`);
      sar64(out, 0, lo, hi, n);
      assert.equal(u64(out[0]!, out[1]!), (s64(v) >> BigInt(n)) & MASK, `sar ${n}`);
    }
  }
});

test('negation, comparisons, byte swaps, mulHigh32 and splitValue', () => {
  const out = new Int32Array(2);
  const vs = values(30, 7);
  for (const a of vs) {
    const [alo, ahi] = pair(a);
    neg64(out, 0, alo, ahi);
    assert.equal(u64(out[0]!, out[1]!), -a & MASK);
    for (const b of vs) {
      const [blo, bhi] = pair(b);
      assert.equal(compareUnsigned(alo, ahi, blo, bhi), a === b ? 0 : a < b ? -1 : 1);
      assert.equal(compareSigned(alo, ahi, blo, bhi), s64(a) === s64(b) ? 0 : s64(a) < s64(b) ? -1 : 1);
    }
  }
  assert.equal(bswap32(0x12345678) >>> 0, 0x78563412);
  assert.equal(bswap16(0xabcd1234), 0x3412);
  assert.equal(mulHigh32(0xffffffff, 0xffffffff) >>> 0, 0xfffffffe);
  assert.deepEqual(splitValue(-1), { lo: -1, hi: -1 });
  assert.deepEqual(splitValue(2 ** 52 + 5), { lo: 5, hi: 0x100000 });
  assert.deepEqual(splitValue(0xffffffffffffffffn), { lo: -1, hi: -1 });
  assert.deepEqual(splitValue(-(2 ** 32) - 1), { lo: -1, hi: -2 });
});
