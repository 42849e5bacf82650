import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import { buildCfg, type Cfg } from '../../src/verifier/cfg.js';
import { MapType } from '../../src/uapi/index.js';
import { verify } from '../../src/verifier/index.js';

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const MOV0 = I(0xb7, 0, 0, 0, 0);
const movReg = (dst: number, src: number): Instruction => I(0xbf, dst, src);
const addImm = (dst: number, imm: number): Instruction => I(0x07, dst, 0, 0, imm);
const ldx64 = (dst: number, src: number, off: number): Instruction => I(0x79, dst, src, off);
const stx64 = (dst: number, off: number, src: number): Instruction => I(0x7b, dst, src, off);
const st64 = (dst: number, off: number, imm: number): Instruction => I(0x7a, dst, 0, off, imm);
const call = (helper: number): Instruction => I(0x85, 0, 0, 0, helper);
const callLocal = (offset: number): Instruction => I(0x85, 0, 1, 0, offset);
const ldFunc = (dst: number, offset: number): Instruction[] => [I(0x18, dst, 4, 0, offset), I(0, 0, 0, 0, 0)];

/** Live own-frame slots before insn `i`, as fp offsets (-8 is slot 0). */
function liveSlots(cfg: Cfg, i: number): number[] {
  const out: number[] = [];
  for (let slot = 0; slot < 64; slot++) {
    const bit = slot < 32 ? cfg.slotsLo[i]! >>> slot : cfg.slotsHi[i]! >>> (slot - 32);
    if (bit & 1) out.push(-8 * (slot + 1));
  }
  return out;
}

const ALL_SLOTS = Array.from({ length: 64 }, (_, slot) => -8 * (slot + 1));

test('a stack pointer stored into context memory does not come back from it: loads there read no stack', () => {
  const cfg = buildCfg([
    movReg(6, 1),
    movReg(2, 10), addImm(2, -8),
    stx64(6, 0, 2),
    st64(10, -16, 0),
    ldx64(3, 6, 0),
    ldx64(0, 3, 0),
    EXIT,
  ], false);
  assert.deepEqual(liveSlots(cfg, 5), []);
  assert.deepEqual(liveSlots(cfg, 4), []);
  assert.equal(cfg.stack.observed[6], 0);
});

test('a fill of a spilled stack pointer is left to exploration', () => {
  const cfg = buildCfg([
    st64(10, -24, 0),
    movReg(2, 10), addImm(2, -24),
    stx64(10, -8, 2),
    ldx64(3, 10, -8),
    ldx64(0, 3, 0),
    EXIT,
  ], false);
  assert.deepEqual(liveSlots(cfg, 4), [-8]);
  assert.equal(cfg.stack.observed[5], 1, 'the fill may give any stack pointer: exploration says which');
});

test('a pointer that is the stack on one path only is left to exploration, which makes what it reads live', () => {
  // r3 = fp-16 or fp-32; then r0 = *(r3 + 0).
  const insns = [
    st64(10, -16, 7),
    st64(10, -32, 7),
    movReg(3, 10), addImm(3, -16),
    I(0x15, 1, 0, 2, 0),
    movReg(3, 10), addImm(3, -32),
    ldx64(0, 3, 0),
    EXIT,
  ];
  const cfg = buildCfg(insns, false);
  assert.equal(cfg.stack.observed[7], 1);
  assert.deepEqual(liveSlots(cfg, 7), []);
  cfg.stack.observe(7, -16, 8);
  assert.deepEqual(liveSlots(cfg, 7), [-16]);
  assert.deepEqual(liveSlots(cfg, 1), [-16]);
  assert.deepEqual(liveSlots(cfg, 0), [], 'the store overwrites the slot whole');
  // And the verifier reports it while exploring.
  const r = verify({ insns, type: 'socket_filter' });
  assert.equal(r.verdict, 'accept');
});

test('a function reads its caller\'s stack through its arguments, never its own', () => {
  const cfg = buildCfg([
    movReg(1, 10), addImm(1, -8),
    st64(10, -8, 0),
    callLocal(1),
    EXIT,
    // callee: r0 = *(r1 + 0); its own fp-8 is written first, so nothing of its own is live.
    st64(10, -8, 1),
    ldx64(0, 1, 0),
    EXIT,
  ], false);
  assert.deepEqual(liveSlots(cfg, 6), []);
  assert.deepEqual(liveSlots(cfg, 3), ALL_SLOTS, 'a call may read anywhere in the caller\'s frame');
  assert.equal(cfg.stack.observed[6], 0);
});

test('a function that stores its own stack pointer through an argument may get it back from there', () => {
  const cfg = buildCfg([
    movReg(1, 10), addImm(1, -8),
    st64(10, -8, 0),
    callLocal(1),
    EXIT,
    movReg(2, 10), addImm(2, -16),
    stx64(1, 0, 2),
    ldx64(3, 1, 0),
    ldx64(0, 3, 0),
    EXIT,
  ], false);
  assert.equal(cfg.stack.observed[9], 1);
});

test('a helper that calls back may reach the whole frame through the stack pointer it is given', () => {
  const cfg = buildCfg([
    st64(10, -8, 0),
    st64(10, -32, 0),
    I(0xb7, 1, 0, 0, 4),
    ...ldFunc(2, 6),
    movReg(3, 10), addImm(3, -8),
    I(0xb7, 4, 0, 0, 0),
    call(181),
    EXIT,
    // the callback
    MOV0,
    EXIT,
  ], false);
  assert.deepEqual(liveSlots(cfg, 8), ALL_SLOTS);
});

test('helper memory arguments read the size set just before', () => {
  // bpf_csum_diff(fp-16, 8, NULL, 0, 0): reads fp-16 only.
  const cfg = buildCfg([
    st64(10, -8, 0),
    st64(10, -16, 0),
    movReg(1, 10), addImm(1, -16),
    I(0xb7, 2, 0, 0, 8),
    I(0xb7, 3, 0, 0, 0),
    I(0xb7, 4, 0, 0, 0),
    I(0xb7, 5, 0, 0, 0),
    call(28),
    EXIT,
  ], false);
  assert.deepEqual(liveSlots(cfg, 8), [-16]);
  assert.deepEqual(liveSlots(cfg, 1), [], 'fp-16 is written whole before the call');
  assert.deepEqual(liveSlots(cfg, 0), [], 'fp-8 is never read');
});

test('load-acquire reads the slot its source points to', () => {
  const cfg = buildCfg([
    st64(10, -8, 0),
    movReg(2, 10),
    I(0xdb, 0, 2, -8, 0x100),
    EXIT,
  ], false);
  assert.deepEqual(liveSlots(cfg, 2), [-8]);
});

test('a slot read only through a pointer the static pass cannot place stays live: the unsafe path is not pruned', () => {
  const hash8 = { name: 'h', type: MapType.hash, keySize: 8, valueSize: 8, maxEntries: 1 };
  const insns = [
    st64(10, -24, 0),
    // r6 = lookup(&zero key), null-checked; r7 = its first 8 bytes.
    st64(10, -8, 0), movReg(2, 10), addImm(2, -8), I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), call(1),
    I(0x55, 0, 0, 2, 0), MOV0, EXIT,
    movReg(6, 0),
    ldx64(7, 6, 0),
    // fp-16 = 0, or 100 when r7 == 1.
    st64(10, -16, 0),
    I(0xb7, 8, 0, 0, 0), I(0xb7, 8, 0, 0, 0), I(0xb7, 8, 0, 0, 0), I(0xb7, 8, 0, 0, 0),
    I(0x15, 7, 0, 1, 1),
    I(0x05, 0, 0, 1, 0),
    st64(10, -16, 100),
    // Both ways meet here (insn 20). r3 = fp-16, or fp-24 when r7 == 2: the static pass only knows "some slot".
    movReg(3, 10), addImm(3, -16),
    I(0x55, 7, 0, 2, 2),
    movReg(3, 10), addImm(3, -24),
    ldx64(4, 3, 0),
    // The value read is an offset into the 8-byte map value: 100 is out of bounds.
    I(0x0f, 6, 4),
    I(0x71, 0, 6, 0),
    MOV0,
    EXIT,
  ];
  const cfg = buildCfg(insns, false);
  assert.equal(cfg.stack.observed[25], 1);
  const r = verify({ insns, type: 'socket_filter', maps: [hash8] });
  assert.equal(r.verdict, 'reject');
  assert.equal(r.error!.message, 'R6 min value is outside of the allowed memory range');
  assert.match(r.log, /invalid access to map value, value_size=8 off=100 size=1\n/);
});
