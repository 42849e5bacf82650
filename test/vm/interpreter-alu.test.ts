import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXIT, MOV_R0_R1, insn, lddw, r0Of } from './support.js';

/**
 * Every ALU and JMP opcode against a BigInt model of the kernel's semantics, on edge values and
 * pseudo-random ones: each case loads r1 and r2 with lddw, applies the op, and returns r1 (ALU) or
 * whether the branch was taken (JMP).
 */

const MASK64 = (1n << 64n) - 1n;
const MASK32 = 0xffffffffn;
const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
const INT64_MIN = -(1n << 63n);
const INT32_MIN = -(1n << 31n);

const EDGES = [0n, 1n, 2n, 5n, 31n, 32n, 63n, 64n, 0x7fn, 0x80n, 0xffn, 0x7fffn, 0x8000n, 0xffffn, 0x7fffffffn, 0x80000000n,
  0xffffffffn, 0x100000000n, 0x123456789abcdef0n, 0x7fffffffffffffffn, 0x8000000000000000n, MASK64, MASK64 - 1n, 0xffffffff80000000n];

function randoms(n: number): bigint[] {
  let x = 0x9e3779b9;
  const next = (): bigint => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return BigInt(x); };
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(((next() << 32n) | next()) >> BigInt(Number(next() % 64n)));
  return out;
}
const VALUES = [...EDGES, ...randoms(12)];
const IMMS = [0, 1, -1, 2, 7, 31, 32, 63, 64, 0x7fffffff, -0x80000000, 0x1234, -7];

type Model = (a: bigint, b: bigint) => bigint;

/** ALU64 models: b is the register value or the sign-extended immediate. */
const ALU64: Record<string, { op: number; off?: number; model: Model }> = {
  add: { op: 0x00, model: (a, b) => a + b },
  sub: { op: 0x10, model: (a, b) => a - b },
  mul: { op: 0x20, model: (a, b) => a * b },
  div: { op: 0x30, model: (a, b) => (b === 0n ? 0n : a / b) },
  sdiv: { op: 0x30, off: 1, model: (a, b) => (b === 0n ? 0n : s64(a) === INT64_MIN && s64(b) === -1n ? a : s64(a) / s64(b)) },
  or: { op: 0x40, model: (a, b) => a | b },
  and: { op: 0x50, model: (a, b) => a & b },
  lsh: { op: 0x60, model: (a, b) => a << (b & 63n) },
  rsh: { op: 0x70, model: (a, b) => a >> (b & 63n) },
  mod: { op: 0x90, model: (a, b) => (b === 0n ? a : a % b) },
  smod: { op: 0x90, off: 1, model: (a, b) => (b === 0n ? a : s64(b) === -1n ? 0n : s64(a) % s64(b)) },
  xor: { op: 0xa0, model: (a, b) => a ^ b },
  mov: { op: 0xb0, model: (_a, b) => b },
  arsh: { op: 0xc0, model: (a, b) => s64(a) >> (b & 63n) },
};

/** ALU32 models on the low halves; the result is zero-extended. */
const ALU32: Record<string, { op: number; off?: number; model: Model }> = {
  add: { op: 0x00, model: (a, b) => a + b },
  sub: { op: 0x10, model: (a, b) => a - b },
  mul: { op: 0x20, model: (a, b) => a * b },
  div: { op: 0x30, model: (a, b) => (b === 0n ? 0n : a / b) },
  sdiv: { op: 0x30, off: 1, model: (a, b) => (b === 0n ? 0n : s32(a) === INT32_MIN && s32(b) === -1n ? a : s32(a) / s32(b)) },
  or: { op: 0x40, model: (a, b) => a | b },
  and: { op: 0x50, model: (a, b) => a & b },
  lsh: { op: 0x60, model: (a, b) => a << (b & 31n) },
  rsh: { op: 0x70, model: (a, b) => a >> (b & 31n) },
  mod: { op: 0x90, model: (a, b) => (b === 0n ? a : a % b) },
  smod: { op: 0x90, off: 1, model: (a, b) => (b === 0n ? a : s32(b) === -1n ? 0n : s32(a) % s32(b)) },
  xor: { op: 0xa0, model: (a, b) => a ^ b },
  mov: { op: 0xb0, model: (_a, b) => b },
  arsh: { op: 0xc0, model: (a, b) => s32(a) >> (b & 31n) },
};

function aluProgram(code: number, off: number, a: bigint, b: bigint | number): ReturnType<typeof lddw> {
  const useImm = typeof b === 'number';
  return [
    ...lddw(1, a),
    ...lddw(2, useImm ? 0n : b),
    insn(code, 1, useImm ? 0 : 2, off, useImm ? b : 0),
    MOV_R0_R1,
    EXIT,
  ];
}

const hex = (v: bigint): string => '0x' + BigInt.asUintN(64, v).toString(16);

for (const [is64, table] of [[true, ALU64], [false, ALU32]] as const) {
  for (const [name, { op, off = 0, model }] of Object.entries(table)) {
    test(`${is64 ? 'alu64' : 'alu32'} ${name}: register and immediate forms`, () => {
      const cls = is64 ? 0x07 : 0x04;
      for (const a of VALUES) {
        for (const b of VALUES) {
          const want = is64 ? model(a, b) & MASK64 : model(a & MASK32, b & MASK32) & MASK32;
          const got = r0Of(aluProgram(cls | op | 0x08, off, a, b));
          if (got !== want) assert.fail(`${name}(${hex(a)}, r ${hex(b)}) = ${hex(got)}, want ${hex(want)}`);
        }
        for (const imm of IMMS) {
          const b = BigInt(imm);
          const want = is64 ? model(a, b & MASK64) & MASK64 : model(a & MASK32, b & MASK32) & MASK32;
          const got = r0Of(aluProgram(cls | op, off, a, imm));
          if (got !== want) assert.fail(`${name}(${hex(a)}, imm ${imm}) = ${hex(got)}, want ${hex(want)}`);
        }
      }
    });
  }
}

test('neg: 64-bit and 32-bit (zero-extended), INT_MIN stays INT_MIN', () => {
  for (const a of VALUES) {
    assert.equal(r0Of([...lddw(1, a), insn(0x87, 1), MOV_R0_R1, EXIT]), -a & MASK64);
    assert.equal(r0Of([...lddw(1, a), insn(0x84, 1), MOV_R0_R1, EXIT]), -(a & MASK32) & MASK32);
  }
  assert.equal(r0Of([...lddw(1, 0x8000000000000000n), insn(0x87, 1), MOV_R0_R1, EXIT]), 0x8000000000000000n);
  assert.equal(r0Of([...lddw(1, 0xffffffff80000000n), insn(0x84, 1), MOV_R0_R1, EXIT]), 0x80000000n);
});

test('movsx: 8/16/32 into 64 bits, 8/16 into 32 bits (zero-extended)', () => {
  for (const a of VALUES) {
    for (const [off, bits] of [[8, 8n], [16, 16n], [32, 32n]] as const) {
      const want = BigInt.asUintN(64, BigInt.asIntN(Number(bits), a));
      assert.equal(r0Of([...lddw(2, a), insn(0xbf, 1, 2, off), MOV_R0_R1, EXIT]), want, `movsx64 ${off} ${hex(a)}`);
      if (off !== 32) {
        assert.equal(r0Of([...lddw(2, a), insn(0xbc, 1, 2, off), MOV_R0_R1, EXIT]), BigInt.asUintN(32, BigInt.asIntN(Number(bits), a)));
      }
    }
  }
});

test('byte order: le truncates, be and bswap swap (to the width, zero-extended)', () => {
  const v = 0x0123456789abcdefn;
  const run = (code: number, imm: number): bigint => r0Of([...lddw(1, v), insn(code, 1, 0, 0, imm), MOV_R0_R1, EXIT]);
  assert.equal(run(0xd4, 16), 0xcdefn);
  assert.equal(run(0xd4, 32), 0x89abcdefn);
  assert.equal(run(0xd4, 64), v);
  assert.equal(run(0xdc, 16), 0xefcdn);
  assert.equal(run(0xdc, 32), 0xefcdab89n);
  assert.equal(run(0xdc, 64), 0xefcdab8967452301n);
  assert.equal(run(0xd7, 16), 0xefcdn);
  assert.equal(run(0xd7, 32), 0xefcdab89n);
  assert.equal(run(0xd7, 64), 0xefcdab8967452301n);
});

test('shifts by 63 and 64 (masked) in both widths', () => {
  const one = 1n;
  const run = (code: number, a: bigint, imm: number): bigint => r0Of([...lddw(1, a), insn(code, 1, 0, 0, imm), MOV_R0_R1, EXIT]);
  assert.equal(run(0x67, one, 63), 0x8000000000000000n);
  assert.equal(run(0x67, one, 64), 1n);
  assert.equal(run(0xc7, 0x8000000000000000n, 63), MASK64);
  assert.equal(run(0x64, one, 32), 1n);
  assert.equal(run(0xc4, 0x80000000n, 31), 0xffffffffn);
});

/** JMP conditions: opcode nibble, model on 64-bit unsigned operands. */
const CONDS: Record<string, { op: number; model: (a: bigint, b: bigint, s: (v: bigint) => bigint) => boolean }> = {
  jeq: { op: 0x10, model: (a, b) => a === b },
  jgt: { op: 0x20, model: (a, b) => a > b },
  jge: { op: 0x30, model: (a, b) => a >= b },
  jset: { op: 0x40, model: (a, b) => (a & b) !== 0n },
  jne: { op: 0x50, model: (a, b) => a !== b },
  jsgt: { op: 0x60, model: (a, b, s) => s(a) > s(b) },
  jsge: { op: 0x70, model: (a, b, s) => s(a) >= s(b) },
  jlt: { op: 0xa0, model: (a, b) => a < b },
  jle: { op: 0xb0, model: (a, b) => a <= b },
  jslt: { op: 0xc0, model: (a, b, s) => s(a) < s(b) },
  jsle: { op: 0xd0, model: (a, b, s) => s(a) <= s(b) },
};

for (const [name, { op, model }] of Object.entries(CONDS)) {
  test(`${name} and ${name}32: register and immediate forms`, () => {
    const taken = (code: number, a: bigint, b: bigint | number): boolean => {
      const useImm = typeof b === 'number';
      const program = [
        ...lddw(1, a), ...lddw(2, useImm ? 0n : b),
        insn(0xb7, 0, 0, 0, 1),
        insn(code, 1, useImm ? 0 : 2, 1, useImm ? b : 0),
        insn(0xb7, 0, 0, 0, 0),
        EXIT,
      ];
      return r0Of(program) === 1n;
    };
    for (const a of VALUES) {
      for (const b of VALUES) {
        assert.equal(taken(0x05 | op | 0x08, a, b), model(a, b, s64), `${name} ${hex(a)} ${hex(b)}`);
        assert.equal(taken(0x06 | op | 0x08, a, b), model(a & MASK32, b & MASK32, s32), `${name}32 ${hex(a)} ${hex(b)}`);
      }
      for (const imm of IMMS) {
        assert.equal(taken(0x05 | op, a, imm), model(a, BigInt(imm) & MASK64, s64), `${name} ${hex(a)} imm ${imm}`);
        assert.equal(taken(0x06 | op, a, imm), model(a & MASK32, BigInt(imm) & MASK32, s32), `${name}32 ${hex(a)} imm ${imm}`);
      }
    }
  });
}

test('ja, gotol (JMP32 ja with imm) and lddw', () => {
  assert.equal(r0Of([insn(0xb7, 0, 0, 0, 1), insn(0x05, 0, 0, 1), insn(0xb7, 0, 0, 0, 2), EXIT]), 1n);
  assert.equal(r0Of([insn(0xb7, 0, 0, 0, 1), insn(0x06, 0, 0, 0, 1), insn(0xb7, 0, 0, 0, 2), EXIT]), 1n);
  assert.equal(r0Of([...lddw(0, 0xfedcba9876543210n), EXIT]), 0xfedcba9876543210n);
});
