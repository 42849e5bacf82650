import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import { buildCfg } from '../../src/verifier/cfg.js';

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const MOV0 = I(0xb7, 0, 0, 0, 0);
const jeqImm = (dst: number, imm: number, off: number): Instruction => I(0x15, dst, 0, off, imm);
const ja = (off: number): Instruction => I(0x05, 0, 0, off);
const callLocal = (offset: number): Instruction => I(0x85, 0, 1, 0, offset);

test('prune points: a conditional jump and its target, the instruction after a call, a loop head', () => {
  const cfg = buildCfg([
    MOV0,
    jeqImm(1, 0, 1),
    MOV0,
    callLocal(2),
    I(0x07, 0, 0, 0, 1),
    ja(-6),
    MOV0,
    EXIT,
  ], false);
  assert.deepEqual([...cfg.prunePoint].flatMap((p, i) => (p ? [i] : [])), [0, 1, 3, 4]);
  assert.deepEqual(cfg.subprogs, [0, 6]);
  assert.deepEqual([...cfg.subprogOf], [0, 0, 0, 0, 0, 0, 1, 1]);
});

test('unprivileged programs may not jump back; calls into a function on the stack are not back-edges', () => {
  assert.throws(() => buildCfg([MOV0, jeqImm(0, 0, -2), EXIT], true), /back-edge from insn 1 to 0/);
  assert.doesNotThrow(() => buildCfg([MOV0, jeqImm(0, 0, -2), EXIT], false));
  // A function calling itself: rejected later (recursion), not here.
  assert.doesNotThrow(() => buildCfg([callLocal(1), EXIT, jeqImm(1, 0, 1), callLocal(-2), MOV0, EXIT], true));
});

test('reachability and jump range are checked', () => {
  assert.throws(() => buildCfg([MOV0, EXIT, MOV0, EXIT], false), /unreachable insn 2/);
  assert.throws(() => buildCfg([MOV0, ja(5), EXIT], false), /jump out of range from insn 1 to 7/);
  assert.throws(() => buildCfg([MOV0, MOV0], false), /last insn is not an exit or jmp/);
});

test('register liveness: read before written, per instruction', () => {
  const cfg = buildCfg([
    I(0xbf, 6, 1),
    I(0xb7, 2, 0, 0, 1),
    jeqImm(6, 0, 1),
    I(0xbf, 0, 2),
    I(0xbf, 0, 6),
    EXIT,
  ], false);
  const regs = (i: number): number[] => Array.from({ length: 11 }, (_, r) => r).filter((r) => (cfg.live[i]! >> r) & 1);
  assert.deepEqual(regs(0), [1]);
  assert.deepEqual(regs(2), [2, 6]);
  assert.deepEqual(regs(3), [2, 6]);
  assert.deepEqual(regs(4), [6]);
  assert.deepEqual(regs(5), [0]);
});
