/**
 * Fuzz: random 8-byte words and word pairs either classify and survive disassemble -> assemble in both
 * syntaxes byte for byte, or raise InvalidInstructionError; formatInstruction never throws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { formatInstruction, UNKNOWN } from '../../src/isa/disasm.js';
import { classify, encode, InvalidInstructionError, type Instruction } from '../../src/isa/instruction.js';
import { randomU32 } from '../support/random.js';

/** Opcodes that are valid with some field values: most random words use one of these. */
const VALID_CODES: readonly number[] = Array.from({ length: 256 }, (_, code) => code).filter((code) =>
  [0, 1, 16, 0x100].some((imm) => {
    try {
      classify({ code, dst: 0, src: 0, off: 0, imm }, 0, { code: 0, dst: 0, src: 0, off: 0, imm: 0 });
      return true;
    } catch {
      return false;
    }
  }));

/** Random fields, biased towards valid opcodes and small values so that many words are valid. */
function randomSlot(next: () => number): Instruction {
  const r = next();
  const small = (r & 3) !== 0;
  const pickOff = (): number => {
    const v = next();
    return (v & 7) === 0 ? ((v >>> 3) & 0xffff) << 16 >> 16 : (v & 1 ? [0, 1, 8, 16, 32][(v >>> 1) % 5]! : ((v >>> 4) % 64) - 32);
  };
  const pickImm = (): number => {
    const v = next();
    if ((v & 3) === 0) return next() | 0;
    if ((v & 12) === 0) return 0;
    return [0, 1, 16, 32, 64, 0x41, 0xe1, 0xf1, 0x100, 0x110, -1][(v >>> 4) % 11]!;
  };
  return {
    code: next() % 4 === 0 ? next() & 0xff : VALID_CODES[next() % VALID_CODES.length]!,
    dst: small ? next() % 11 : next() & 0xf,
    src: small ? (next() & 1 ? 0 : next() % 11) : next() & 0xf,
    off: small ? (next() & 1 ? 0 : pickOff()) : (next() & 0xffff) << 16 >> 16,
    imm: small ? (next() & 1 ? 0 : pickImm()) : next() | 0,
  };
}

const hex = (insns: readonly Instruction[]): string => Buffer.from(encode(insns)).toString('hex');

function check(program: Instruction[], stats: { valid: number; invalid: number }): void {
  let ok = false;
  try {
    classify(program[0]!, 0, program[1]);
    ok = true;
  } catch (err) {
    if (!(err instanceof InvalidInstructionError)) throw err;
  }
  for (const syntax of ['llvm', 'ubpf'] as const) {
    const text = formatInstruction(program, 0, syntax);
    if (!ok) {
      assert.equal(text, UNKNOWN);
      continue;
    }
    const width = program[0]!.code === 0x18 ? 2 : 1;
    const again = assemble(text);
    assert.equal(hex(again), hex(program.slice(0, width)), `${syntax}: ${text} ${JSON.stringify(program)}`);
  }
  if (ok) stats.valid++;
  else stats.invalid++;
}

test('fuzz: 100k random words classify+round-trip or raise InvalidInstructionError', (t) => {
  const next = randomU32(0x5eed);
  const stats = { valid: 0, invalid: 0 };
  for (let i = 0; i < 100_000; i++) check([randomSlot(next)], stats);
  t.diagnostic(`${stats.valid} valid, ${stats.invalid} invalid`);
  assert.ok(stats.valid > 15_000);
});

test('fuzz: 20k random pairs (LD_IMM64 and its second slot)', (t) => {
  const next = randomU32(0xb0ff);
  const stats = { valid: 0, invalid: 0 };
  for (let i = 0; i < 20_000; i++) {
    const first = randomSlot(next);
    if (i % 2 === 0) first.code = 0x18;
    const second = randomSlot(next);
    if (i % 3 !== 0) Object.assign(second, { code: 0, dst: 0, src: 0, off: 0 });
    check([first, second], stats);
  }
  t.diagnostic(`${stats.valid} valid, ${stats.invalid} invalid`);
  assert.ok(stats.valid > 2_000);
});
