import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.js';
import { Runtime } from '../../src/runtime/index.js';
import { loadableInstructions } from '../../src/runtime/verify-load.js';
import { verify } from '../../src/verifier/index.js';
import { onEachEngine } from '../support/engines.js';

/**
 * What the verifier accepts, the runtime loads: instructions exploration never reached may hold
 * anything the kernel lets through there (reserved fields, a kfunc placeholder, a helper the type
 * may not call), and EXIT's off is never checked. A verified load runs the program as the kernel
 * does after verification (dead code as `ja -1`, EXIT.off cleared); an unverified load still
 * refuses such instructions.
 */

const insn = (code: number, fields: Partial<Omit<Instruction, 'code'>> = {}): Instruction => ({ code, dst: 0, src: 0, off: 0, imm: 0, ...fields });
const MOV_R0 = (imm: number): Instruction => insn(0xb7, { imm });
const EXIT = insn(0x95);
/** if r0 != 0 goto +skip */
const SKIP_IF_R0_NONZERO = (skip: number): Instruction => insn(0x55, { off: skip });
const JA_SELF: Instruction = insn(0x05, { off: -1 });

/** Dead instructions, and what an unverified load says of them (the engines load a kfunc call and fail only if it runs). */
const DEAD_CODE: Record<string, { dead: Instruction[]; unverified?: RegExp }> = {
  'an ALU instruction with a reserved offset': { dead: [insn(0x07, { off: 5, imm: 1 })], unverified: /ALU with nonzero offset 5/ },
  'a kfunc call placeholder (imm 0, off 0)': { dead: [insn(0x85, { src: 2 })] },
  'a call of a helper socket_filter may not use (xdp_adjust_head)': { dead: [insn(0x85, { imm: 44 })], unverified: /cannot use helper bpf_xdp_adjust_head#44/ },
  'an EXIT with reserved fields': { dead: [insn(0x95, { dst: 3, off: 7 })], unverified: /exit with nonzero fields/ },
  'an LD_IMM64 with an offset': { dead: [insn(0x18, { dst: 1, off: 3, imm: 1 }), insn(0)], unverified: /lddw with nonzero offset/ },
};

for (const [what, { dead, unverified }] of Object.entries(DEAD_CODE)) {
  const program = [MOV_R0(7), SKIP_IF_R0_NONZERO(dead.length), ...dead, EXIT];
  const deadAt = dead.map((_, i) => 2 + i);

  test(`dead code: ${what}`, () => {
    const result = verify({ insns: program, type: 'socket_filter' });
    assert.equal(result.verdict, 'accept', result.error?.message);
    assert.deepEqual(result.deadInsns, deadAt);
    assert.deepEqual(loadableInstructions(program, result), [...program.slice(0, 2), ...dead.map(() => JA_SELF), EXIT]);
    onEachEngine((engine) => {
      const runtime = new Runtime({ engine });
      try {
        assert.equal(runtime.loadProgram(program, { type: 'socket_filter' }).testRun({ data: new Uint8Array(14) }).r0, 7n);
        if (unverified) assert.throws(() => runtime.loadProgram(program, { type: 'socket_filter', verify: false }), unverified);
      } finally {
        runtime.close();
      }
    });
  });
}

test("a reached EXIT's off is ignored, as the kernel ignores it; unverified loads still refuse it", () => {
  const program = [MOV_R0(3), insn(0x95, { off: 9 })];
  const result = verify({ insns: program, type: 'xdp' });
  assert.equal(result.verdict, 'accept', result.error?.message);
  assert.deepEqual(result.deadInsns, []);
  assert.deepEqual(loadableInstructions(program, result), [MOV_R0(3), EXIT]);
  onEachEngine((engine) => {
    const runtime = new Runtime({ engine });
    try {
      assert.equal(runtime.loadProgram(program, { type: 'xdp' }).testRun({ data: new Uint8Array(14) }).r0, 3n);
      assert.throws(() => runtime.loadProgram(program, { type: 'xdp', verify: false }), { code: 'isa/invalid-instruction', message: /exit with nonzero fields/ });
    } finally {
      runtime.close();
    }
  });
});

test('both slots of a reached LD_IMM64 count as reached', () => {
  const program = [insn(0x18, { imm: 5 }), insn(0), EXIT];
  assert.deepEqual(verify({ insns: program, type: 'xdp' }).deadInsns, []);
});
