import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode, type Instruction } from '../../src/isa/instruction.js';
import { corpus, missingCorpus } from '../support/paths.js';
import { ExecutionLimitError, type Engine } from '../../src/vm/engine.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit } from '../../src/vm/jit/index.js';
import { compileProgram } from '../../src/vm/jit/compile.js';

/**
 * Differential test against the interpreter: seeded random programs over every ALU operation (32 and
 * 64 bit, immediate and register, the division edge cases), sign-extending moves and loads, byte
 * swaps, loads and stores of each width, all atomics, and forward conditional jumps of every
 * condition. Each program loads r0..r8 from a buffer, computes, stores r0..r8 back; the buffers after
 * the run (and r0) must be identical under the interpreter and the JIT (checked and unchecked).
 */

const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

/** xorshift32: deterministic, so a failure names its seed. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s;
  };
}

const INTERESTING: readonly [number, number][] = [
  [0, 0], [1, 0], [0xffffffff, 0xffffffff], [0x7fffffff, 0], [0x80000000, 0], [0xffffffff, 0],
  [0, 0x80000000], [0xffffffff, 0x7fffffff], [2, 0], [0xfffffffe, 0xffffffff], [0x12345678, 0x9abcdef0],
  [0x80000000, 0xffffffff], [63, 0], [64, 0], [31, 0], [32, 0],
];
const IMMS = [0, 1, -1, 2, -2, 7, 31, 32, 63, 0x7fffffff, -0x80000000, 0x1234, -0x1234];

const REG_BYTES = 80;
const DATA_BYTES = 256;

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0];
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
const SIZES = [0x00, 0x08, 0x10, 0x18]; // W H B DW
const WIDTH: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };
const ATOMICS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];

function randomProgram(next: () => number, length: number): { insns: Instruction[]; mem: Uint8Array } {
  const pick = <T>(list: readonly T[]): T => list[next() % list.length]!;
  const reg = (): number => next() % 9;
  const imm = (): number => (next() % 3 === 0 ? next() | 0 : pick(IMMS));
  const body: Instruction[] = [];
  while (body.length < length) {
    const kind = next() % 10;
    if (kind < 5) {
      const is64 = next() % 2 === 0;
      const cls = is64 ? 0x07 : 0x04;
      const op = pick(ALU_OPS);
      const useReg = op !== 0x80 && next() % 2 === 0;
      let off = 0;
      if ((op === 0x30 || op === 0x90) && next() % 2 === 0) off = 1; // sdiv / smod
      if (op === 0xb0 && useReg && next() % 3 === 0) off = pick(is64 ? [8, 16, 32] : [8, 16]); // movsx
      const isShift = op === 0x60 || op === 0x70 || op === 0xc0;
      const immediate = op === 0x80 ? 0 : isShift ? next() % (is64 ? 64 : 32) : imm();
      body.push(insn(cls | op | (useReg ? 0x08 : 0), reg(), useReg ? reg() : 0, off, useReg ? 0 : immediate));
    } else if (kind === 5) {
      // le / be / bswap
      const form = next() % 3;
      const code = form === 0 ? 0xd4 : form === 1 ? 0xdc : 0xd7;
      body.push(insn(code, reg(), 0, 0, pick([16, 32, 64])));
    } else if (kind === 6) {
      const size = pick(SIZES);
      const width = WIDTH[size]!;
      const off = REG_BYTES + width * (next() % (DATA_BYTES / width - 1));
      const form = next() % 4;
      if (form === 0) body.push(insn(0x61 | size, reg(), 9, off));
      else if (form === 1 && size !== 0x18) body.push(insn(0x81 | size, reg(), 9, off)); // sign-extending
      else if (form === 2) body.push(insn(0x63 | size, 9, reg(), off));
      else body.push(insn(0x62 | size, 9, 0, off, imm()));
    } else if (kind === 7) {
      const size = next() % 2 === 0 ? 0x00 : 0x18;
      const width = WIDTH[size]!;
      const off = REG_BYTES + width * (next() % (DATA_BYTES / width - 1));
      body.push(insn(0xc3 | size, 9, reg(), off, pick(ATOMICS)));
    } else {
      // Forward conditional jump over 1..4 instructions (never past the epilogue).
      const is32 = next() % 2 === 0;
      const useReg = next() % 2 === 0;
      const code = (is32 ? 0x06 : 0x05) | pick(JMP_OPS) | (useReg ? 0x08 : 0);
      body.push(insn(code, reg(), useReg ? reg() : 0, 1 + (next() % 4), useReg ? 0 : imm()));
    }
  }
  // Clamp jumps that would land beyond the body.
  body.forEach((b, i) => {
    if ((b.code & 0x07) === 0x05 || (b.code & 0x07) === 0x06) b.off = Math.min(b.off, body.length - i - 1);
  });
  const prologue = [insn(0xbf, 9, 1)];
  for (let r = 0; r <= 8; r++) prologue.push(insn(0x79, r, 9, 8 * r));
  const epilogue: Instruction[] = [];
  for (let r = 0; r <= 8; r++) epilogue.push(insn(0x7b, 9, r, 8 * r));
  epilogue.push(insn(0x95));

  const mem = new Uint8Array(REG_BYTES + DATA_BYTES);
  const view = new DataView(mem.buffer);
  for (let r = 0; r < 10; r++) {
    const [lo, hi] = next() % 2 === 0 ? pick(INTERESTING) : [next(), next()];
    view.setUint32(8 * r, lo, true);
    view.setUint32(8 * r + 4, hi, true);
  }
  for (let i = REG_BYTES; i < mem.length; i++) mem[i] = next() & 0xff;
  return { insns: [...prologue, ...body, ...epilogue], mem };
}

function execute(engine: Engine, insns: Instruction[], mem: Uint8Array, checked: boolean): { r0: bigint; mem: Uint8Array } {
  const space = new AddressSpace();
  const region = space.allocateWith(mem, 'packet', 'mem');
  const program = engine.load(insns, { space, checked });
  const r0 = program.run({ args: [region.start, mem.length] }).r0;
  program.dispose();
  return { r0, mem: space.u8.slice(region.start, region.start + mem.length) };
}

test('random programs: the JIT agrees with the interpreter (r0 and memory)', () => {
  const PROGRAMS = 400;
  for (let seed = 1; seed <= PROGRAMS; seed++) {
    const { insns, mem } = randomProgram(rng(seed * 7919), 40);
    const expected = execute(interpreter, insns, mem, false);
    for (const checked of [false, true]) {
      const actual = execute(jit, insns, mem, checked);
      assert.equal(actual.r0, expected.r0, `seed ${seed} (checked ${checked}): r0`);
      assert.deepEqual(actual.mem, expected.mem, `seed ${seed} (checked ${checked}): memory`);
    }
  }
});

/**
 * Arbitrary control flow: random jumps anywhere (forward, backward, into loops from the side, so some
 * graphs are irreducible) and calls to a subprogram. Programs the interpreter finishes must give the
 * same result under the JIT; programs that never finish must stop with ExecutionLimitError.
 */
function randomGraphProgram(next: () => number, length: number): { insns: Instruction[]; mem: Uint8Array } {
  const { insns: straight, mem } = randomProgram(next, length);
  // Keep the prologue (10 slots) and epilogue (10 slots); rewrite some body slots as jumps and calls.
  const bodyStart = 10;
  const bodyEnd = straight.length - 10;
  const insns = straight.map((x) => ({ ...x }));
  for (let i = bodyStart; i < bodyEnd; i++) {
    const roll = next() % 8;
    if (roll === 0 || roll === 1) {
      // Conditional jump to anywhere in the body or the epilogue.
      const target = bodyStart + (next() % (bodyEnd - bodyStart + 1));
      const useReg = next() % 2 === 0;
      const code = 0x05 | JMP_OPS[next() % JMP_OPS.length]! | (useReg ? 0x08 : 0);
      insns[i] = insn(code, next() % 9, useReg ? next() % 9 : 0, target - (i + 1), useReg ? 0 : IMMS[next() % IMMS.length]!);
    } else if (roll === 2 && next() % 3 === 0) {
      insns[i] = insn(0x05, 0, 0, bodyStart + (next() % (bodyEnd - bodyStart + 1)) - (i + 1));
    } else if (roll === 3 && next() % 2 === 0) {
      insns[i] = insn(0x85, 0, 1, 0, 0); // call local: patched below
    } else if (roll === 4) {
      insns[i] = insn(0x0f, 0, 0, 0, 0); // r0 += r0 keeps values moving
    }
    // Jumps must not land in the middle of an lddw (there are none) nor leave the body.
  }
  // The subprogram: r0 = (r1 * 3) ^ r2 + r5, reading only r1..r5 (whose values both engines pass).
  const subStart = insns.length;
  insns.push(insn(0xbf, 0, 1), insn(0x27, 0, 0, 0, 3), insn(0xaf, 0, 2), insn(0x0f, 0, 5), insn(0x95));
  insns.forEach((x, i) => { if (x.code === 0x85 && x.src === 1) x.imm = subStart - (i + 1); });
  return { insns, mem };
}

type Outcome = { r0: bigint; mem: Uint8Array } | 'limit';

function attempt(engine: Engine, insns: Instruction[], mem: Uint8Array, checked: boolean, budget: number): Outcome {
  const space = new AddressSpace();
  const region = space.allocateWith(mem, 'packet', 'mem');
  const program = engine.load(insns, { space, checked });
  try {
    const r0 = program.run({ args: [region.start, mem.length], budget }).r0;
    return { r0, mem: space.u8.slice(region.start, region.start + mem.length) };
  } catch (error) {
    if (error instanceof ExecutionLimitError) return 'limit';
    throw error;
  } finally {
    program.dispose();
  }
}

test('random control-flow graphs (loops, irreducible regions, calls): the JIT agrees with the interpreter', (t) => {
  const PROGRAMS = 300;
  const BUDGET = 20_000;
  let finished = 0;
  let infinite = 0;
  let irreducible = 0;
  for (let seed = 1; seed <= PROGRAMS; seed++) {
    const { insns, mem } = randomGraphProgram(rng(seed * 104729), 30);
    if (compileProgram(insns, false).irreducible) irreducible++;
    let expected = attempt(interpreter, insns, mem, false, BUDGET);
    if (expected === 'limit') expected = attempt(interpreter, insns, mem, false, 20 * BUDGET);
    for (const checked of [false, true]) {
      if (expected === 'limit') {
        assert.equal(attempt(jit, insns, mem, checked, BUDGET), 'limit', `seed ${seed}: runs forever, must hit the budget`);
        continue;
      }
      // The JIT charges loop spans, which can exceed what ran: give it room.
      const actual = attempt(jit, insns, mem, checked, insns.length * 20 * BUDGET);
      assert.notEqual(actual, 'limit', `seed ${seed}: finished under the interpreter`);
      if (actual === 'limit') continue;
      assert.equal(actual.r0, expected.r0, `seed ${seed} (checked ${checked}): r0`);
      assert.deepEqual(actual.mem, expected.mem, `seed ${seed} (checked ${checked}): memory`);
    }
    if (expected === 'limit') infinite++; else finished++;
  }
  t.diagnostic(`${finished} finished, ${infinite} ran forever, ${irreducible} irreducible`);
  assert.ok(irreducible > 0, 'the generator should produce some irreducible graphs');
});

test('bpf-benchmark programs: same r0 and memory as the interpreter (the slow-to-interpret memcpy and strcmp_full sampled out)', (t) => {
  const dir = corpus('bench', 'bpf-benchmark');
  if (!dir) return t.skip(missingCorpus('bench/bpf-benchmark'));
  for (const name of ['prime', 'switch', 'log2_int', 'simple', 'memory_a_plus_b', 'strcmp_fail']) {
    const bin = join(dir, `${name}.bpf.bin`);
    if (!existsSync(bin)) continue;
    const memPath = join(dir, `${name}.mem`);
    const mem = existsSync(memPath) ? new Uint8Array(readFileSync(memPath)) : new Uint8Array(8);
    const insns = decode(new Uint8Array(readFileSync(bin)));
    const expected = execute(interpreter, insns, mem, false);
    for (const checked of [false, true]) {
      const actual = execute(jit, insns, mem, checked);
      assert.equal(actual.r0, expected.r0, `${name} (checked ${checked})`);
      assert.deepEqual(actual.mem, expected.mem, `${name} (checked ${checked}): memory`);
    }
  }
});
