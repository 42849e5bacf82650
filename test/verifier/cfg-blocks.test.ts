import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classify, type Instruction, type Op } from '../../src/isa/instruction.js';
import { buildCfg } from '../../src/verifier/cfg.js';
import {
  K_ALU, K_ATOMIC, K_CALLX, K_CALL_HELPER, K_CALL_KFUNC, K_CALL_LOCAL, K_EXIT, K_JA, K_JCOND, K_LDX, K_LD_ABS, K_LD_IMM64,
  K_LD_IND, K_MAY_GOTO, K_ST, K_STX, opKind,
} from '../../src/verifier/op-kinds.js';

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const MOV0 = I(0xb7, 0, 0, 0, 0);
const jeqImm = (dst: number, imm: number, off: number): Instruction => I(0x15, dst, 0, off, imm);
const callLocal = (offset: number): Instruction => I(0x85, 0, 1, 0, offset);
const ldFunc = (dst: number, offset: number): Instruction[] => [I(0x18, dst, 4, 0, offset), I(0, 0, 0, 0, 0)];

function expectedKind(op: Op): number {
  switch (op.kind) {
    case 'alu': return K_ALU;
    case 'jcond': return K_JCOND;
    case 'ja': return K_JA;
    case 'may_goto': return K_MAY_GOTO;
    case 'call': return op.target === 'helper' ? K_CALL_HELPER : op.target === 'local' ? K_CALL_LOCAL : K_CALL_KFUNC;
    case 'callx': return K_CALLX;
    case 'exit': return K_EXIT;
    case 'ld_imm64': return K_LD_IMM64;
    case 'ld_abs': return K_LD_ABS;
    case 'ld_ind': return K_LD_IND;
    case 'ldx': return K_LDX;
    case 'st': return K_ST;
    case 'stx': return K_STX;
    case 'atomic': return K_ATOMIC;
  }
}

test('the kind read from an opcode is the kind classify gives, for every opcode it accepts', () => {
  const second = I(0);
  let checked = 0;
  for (let code = 0; code < 256; code++) {
    for (const [src, off, imm] of [[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 0, 16], [0, 1, 0], [0, 0, 1], [0, 0, 0xe1], [0, 0, 0x100]]) {
      const insn = I(code, 0, src!, off!, imm!);
      let op: Op;
      try {
        op = classify(insn, 0, second);
      } catch {
        continue;
      }
      assert.equal(opKind(insn), expectedKind(op), `opcode 0x${code.toString(16)} src ${src} off ${off} imm ${imm}`);
      checked++;
    }
  }
  assert.ok(checked > 150, `${checked} forms checked`);
});

test('a function referenced from the middle of a block is reachable, and its loops are found', () => {
  // 0-1: r1 = &func; 2: r0 = 0; 3: exit; 4: func: if r1 == 0 goto 4 (a loop on itself); 5: exit.
  const insns = [...ldFunc(1, 3), MOV0, EXIT, jeqImm(1, 0, -1), EXIT];
  const cfg = buildCfg(insns, false);
  assert.deepEqual(cfg.subprogs, [0, 4]);
  assert.equal(cfg.prunePoint[4], 1);
  assert.throws(() => buildCfg(insns, true), /back-edge from insn 4 to 4/);
  // Without the reference the function is never entered.
  assert.throws(() => buildCfg([MOV0, MOV0, MOV0, EXIT, jeqImm(1, 0, -1), EXIT], false), /unreachable insn 4/);
});

test('a back edge is found from the end of a block to its own start, and to a block still on the search path', () => {
  // 1-2 loops on itself; 3 goes back to 0, whose block is still being searched.
  const cfg = buildCfg([MOV0, MOV0, jeqImm(0, 0, -2), jeqImm(0, 1, -4), EXIT], false);
  assert.deepEqual([...cfg.prunePoint].flatMap((p, i) => (p ? [i] : [])), [0, 1, 2, 3]);
  assert.throws(() => buildCfg([MOV0, MOV0, jeqImm(0, 0, -2), EXIT], true), /back-edge from insn 2 to 1/);
});

test('calls end blocks: register liveness flows within a function, not through the call', () => {
  const cfg = buildCfg([
    I(0xbf, 6, 1),
    callLocal(2),
    I(0xbf, 0, 6),
    EXIT,
    I(0xbf, 0, 2),
    EXIT,
  ], false);
  const regs = (i: number): number[] => Array.from({ length: 11 }, (_, r) => r).filter((r) => (cfg.live[i]! >> r) & 1);
  assert.deepEqual(regs(0), [1, 2, 3, 4, 5]);
  assert.deepEqual(regs(2), [6]);
  assert.deepEqual(regs(4), [2]);
});

test('a stack offset pushed past 2^30 is no longer tracked: loads through it are left to exploration', () => {
  const cfg = buildCfg([
    I(0xbf, 2, 10),
    I(0x07, 2, 0, 0, 0x7fffffff),
    I(0x07, 2, 0, 0, 0x7fffffff),
    I(0x07, 2, 0, 0, -0x7fffffff),
    I(0x07, 2, 0, 0, -0x7fffffff),
    I(0x79, 0, 2, -8),
    EXIT,
  ], false);
  assert.equal(cfg.stack.observed[5], 1);
});
