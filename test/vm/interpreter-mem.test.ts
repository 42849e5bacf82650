import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter, type InterpreterRunOptions } from '../../src/vm/interpreter.js';
import { EXIT, insn, lddw, r0Of, runProgram } from './support.js';

/** Loads, stores, sign-extending loads, atomics and LD_ABS/LD_IND. */

const MEM = Uint8Array.from([0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x80]);

test('ldx b/h/w/dw zero-extend, ldxs b/h/w sign-extend', () => {
  const load = (code: number, off: number): bigint => r0Of([insn(code, 0, 1, off), EXIT], { mem: MEM });
  assert.equal(load(0x71, 0), 0x11n);
  assert.equal(load(0x69, 0), 0x2211n);
  assert.equal(load(0x61, 0), 0x44332211n);
  assert.equal(load(0x79, 0), 0x8877665544332211n);
  assert.equal(load(0x79, 8), 0x80ffeeddccbbaa99n);
  assert.equal(load(0x91, 7), 0xffffffffffffff88n);
  assert.equal(load(0x89, 14), 0xffffffffffff80ffn);
  assert.equal(load(0x81, 12), 0x80ffeeddn | 0xffffffff00000000n);
  assert.equal(load(0x91, 0), 0x11n);
});

test('st and stx of every width write little-endian at the offset', () => {
  const { space, result } = runProgram([
    insn(0x72, 1, 0, 0, 0x1ff),
    insn(0x6a, 1, 0, 2, 0x12345),
    insn(0x62, 1, 0, 4, -2),
    ...lddw(2, 0x0102030405060708n),
    insn(0x7b, 1, 2, 8, 0),
    insn(0xbf, 0, 1),
    EXIT,
  ], { mem: new Uint8Array(16), keep: true });
  const at = Number(result.r0);
  assert.deepEqual([...space.u8.subarray(at, at + 16)], [0xff, 0, 0x45, 0x23, 0xfe, 0xff, 0xff, 0xff, 8, 7, 6, 5, 4, 3, 2, 1]);
  const stdw = runProgram([insn(0x7a, 1, 0, 0, -1), insn(0x73, 1, 1, 8), insn(0x6b, 1, 1, 10), insn(0x63, 1, 1, 12), insn(0xbf, 0, 1), EXIT], { mem: new Uint8Array(16), keep: true });
  const b = Number(stdw.result.r0);
  assert.deepEqual([...stdw.space.u8.subarray(b, b + 8)], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  assert.equal(stdw.space.view.getUint8(b + 8), b & 0xff);
  assert.equal(stdw.space.view.getUint32(b + 12, true), b);
});

/** Atomic `imm` values. */
const A = { ADD: 0x00, OR: 0x40, AND: 0x50, XOR: 0xa0, FETCH: 0x01, XCHG: 0xe1, CMPXCHG: 0xf1, LOAD_ACQ: 0x100, STORE_REL: 0x110 };

/**
 * Memory word (8 bytes) starts as `initial`; r2 = operand; r0 = `r0`; runs the atomic on [r1+0] and
 * returns [memory after, r2 after, r0 after].
 */
function atomic(code: number, imm: number, initial: bigint, operand: bigint, r0 = 0n): [bigint, bigint, bigint] {
  const mem = new Uint8Array(8);
  new DataView(mem.buffer).setBigUint64(0, initial, true);
  const { space, result } = runProgram([
    ...lddw(2, operand),
    ...lddw(0, r0),
    insn(code, 1, 2, 0, imm),
    insn(0x7b, 10, 0, -8),
    insn(0x7b, 10, 2, -16),
    insn(0x79, 0, 1, 0),
    EXIT,
  ], { mem, keep: true });
  const region = space.listRegions().find((r) => r.name === 'mem')!;
  const stack = space.listRegions().find((r) => r.kind === 'stack')!;
  const top = stack.start + stack.size;
  return [result.r0, space.view.getBigUint64(top - 16, true), space.view.getBigUint64(top - 8, true)].map((v, i) => (i === 0 ? space.view.getBigUint64(region.start, true) : v)) as [bigint, bigint, bigint];
}

test('atomic add/or/and/xor, 64-bit, with and without fetch', () => {
  const init = 0x00000000ffffffffn;
  assert.deepEqual(atomic(0xdb, A.ADD, init, 1n), [0x100000000n, 1n, 0n]);
  assert.deepEqual(atomic(0xdb, A.ADD | A.FETCH, init, 1n), [0x100000000n, init, 0n]);
  assert.deepEqual(atomic(0xdb, A.OR | A.FETCH, init, 0xf00000000n), [0xfffffffffn, init, 0n]);
  assert.deepEqual(atomic(0xdb, A.AND | A.FETCH, init, 0xff00n), [0xff00n, init, 0n]);
  assert.deepEqual(atomic(0xdb, A.XOR, init, 0xffn), [0xffffff00n, 0xffn, 0n]);
});

test('atomic 32-bit forms touch 4 bytes and fetch zero-extended', () => {
  const init = 0x11111111ffffffffn;
  assert.deepEqual(atomic(0xc3, A.ADD | A.FETCH, init, 0x0000000500000001n), [0x1111111100000000n, 0xffffffffn, 0n]);
  assert.deepEqual(atomic(0xc3, A.XCHG, init, 0xaaaaaaaa12345678n), [0x1111111112345678n, 0xffffffffn, 0n]);
  // cmpxchg32 compares the low half of r0 only.
  assert.deepEqual(atomic(0xc3, A.CMPXCHG, init, 7n, 0xdeadbeefffffffffn), [0x1111111100000007n, 7n, 0xffffffffn]);
  assert.deepEqual(atomic(0xc3, A.CMPXCHG, init, 7n, 1n), [init, 7n, 0xffffffffn]);
});

test('atomic xchg and cmpxchg, 64-bit', () => {
  assert.deepEqual(atomic(0xdb, A.XCHG, 5n, 9n), [9n, 5n, 0n]);
  assert.deepEqual(atomic(0xdb, A.CMPXCHG, 5n, 9n, 5n), [9n, 9n, 5n]);
  assert.deepEqual(atomic(0xdb, A.CMPXCHG, 5n, 9n, 6n), [5n, 9n, 5n]);
});

test('load-acquire and store-release', () => {
  assert.equal(r0Of([insn(0xdb, 0, 1, 0, A.LOAD_ACQ), EXIT], { mem: MEM }), 0x8877665544332211n);
  assert.equal(r0Of([insn(0xd3, 0, 1, 1, A.LOAD_ACQ), EXIT], { mem: MEM }), 0x22n);
  assert.equal(r0Of([insn(0xcb, 0, 1, 2, A.LOAD_ACQ), EXIT], { mem: MEM }), 0x4433n);
  assert.equal(r0Of([insn(0xb7, 2, 0, 0, -1), insn(0xc3, 1, 2, 0, A.STORE_REL), insn(0x79, 0, 1, 0), EXIT], { mem: new Uint8Array(8) }), 0xffffffffn);
  assert.equal(r0Of([insn(0xb7, 2, 0, 0, -1), insn(0xdb, 1, 2, 0, A.STORE_REL), insn(0x79, 0, 1, 0), EXIT], { mem: new Uint8Array(8) }), 0xffffffffffffffffn);
});

test('LD_ABS / LD_IND: big-endian from the packet, out of bounds ends the program with 0', () => {
  const packet = (program: ReturnType<typeof insn>[]): bigint => {
    return runProgram(program, { mem: MEM, packet: undefined }).result.r0;
  };
  // Default packet window: the region r6 points into.
  const withCtx = (rest: ReturnType<typeof insn>[]): ReturnType<typeof insn>[] => [insn(0xbf, 6, 1), ...rest];
  assert.equal(packet(withCtx([insn(0x30, 0, 0, 0, 1), EXIT])), 0x22n);
  assert.equal(packet(withCtx([insn(0x28, 0, 0, 0, 2), EXIT])), 0x3344n);
  assert.equal(packet(withCtx([insn(0x20, 0, 0, 0, 12), EXIT])), 0xddeeff80n);
  assert.equal(packet(withCtx([insn(0xb7, 7, 0, 0, 4), insn(0x50, 0, 7, 0, 3), EXIT])), 0x88n);
  assert.equal(packet(withCtx([insn(0xb7, 0, 0, 0, 9), insn(0x20, 0, 0, 0, 13), insn(0xb7, 0, 0, 0, 9), EXIT])), 0n);
  assert.equal(packet(withCtx([insn(0xb7, 7, 0, 0, -8), insn(0x50, 0, 7, 0, 0), insn(0xb7, 0, 0, 0, 9), EXIT])), 0n);
  // No window and r6 pointing nowhere: an error, not a silent read.
  assert.throws(() => runProgram([insn(0x30, 0, 0, 0, 0), EXIT], { mem: MEM }), { name: 'ExecutionError', code: 'vm/no-packet' });
  // An explicit window (the conformance runner's): r6 plays no part.
  const space = new AddressSpace();
  const region = space.allocateWith(MEM, 'packet', 'mem');
  const program = interpreter.load([insn(0x28, 0, 0, 0, 14), EXIT], { space });
  assert.equal(program.run({ packet: { start: region.start, length: 16 } } as InterpreterRunOptions).r0, 0xff80n);
  assert.equal(program.run({ packet: { start: region.start, length: 15 } } as InterpreterRunOptions).r0, 0n);
});
