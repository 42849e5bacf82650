import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HelperStatus, argU32, type Helper } from '../../src/vm/abi.js';
import { OP_MASK, PseudoOp, WORDS_PER_SLOT, decodeProgram } from '../../src/vm/interpreter-decode.js';
import { PRIME_HELPER_IDS, PRIME_NEST_HELPER_ID, PRIME_PACKET_BYTES, primingProgram } from '../../src/vm/interpreter-prime.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { repoRoot } from '../support/paths.js';

/**
 * The priming program (interpreter-prime.ts) must reach every case of the run loop, or V8 compiles
 * the loop without feedback for the missing ones and deopts when a program first uses them.
 */

test('the priming program decodes to every op the run loop has a case for (but kfunc calls)', () => {
  const source = readFileSync(join(repoRoot, 'src', 'vm', 'interpreter.ts'), 'utf8');
  const cases = new Set([...source.matchAll(/case (0x[0-9a-f]+):/g)].map((m) => Number(m[1])));
  const { code } = decodeProgram(primingProgram().insns);
  const primed = new Set<number>();
  for (let k = 0; k < code.length; k += WORDS_PER_SLOT) primed.add(code[k]! & OP_MASK);
  const missing = [...cases].filter((op) => !primed.has(op) && op !== PseudoOp.CALL_KFUNC);
  assert.ok(cases.size > 100, `found ${cases.size} cases`);
  assert.deepEqual(missing.map((op) => `0x${op.toString(16)}`), []);
});

test('the priming program runs to its exit, its callbacks two deep, in both modes', () => {
  const { insns, callbackSlot } = primingProgram();
  let callbacks = 0;
  const helpers: Helper[] = [];
  helpers[PRIME_HELPER_IDS[0]] = () => HelperStatus.CONTINUE;
  helpers[PRIME_HELPER_IDS[1]] = () => HelperStatus.CONTINUE;
  helpers[PRIME_NEST_HELPER_ID] = (call) => {
    const n = argU32(call, 1);
    if (n > 0) { callbacks++; call.invoke?.(callbackSlot, [n - 1]); }
  };
  for (const checked of [false, true]) {
    callbacks = 0;
    const space = new AddressSpace();
    const packet = space.allocate(PRIME_PACKET_BYTES, 'packet', 'packet');
    const program = interpreter.load(insns, { space, helpers, checked });
    const result = program.run({ packet: { start: packet.start, length: packet.size } });
    program.dispose();
    assert.equal(result.r0, 0n);
    // Every slot once but the lddw second halves, and the callback's three once more (it runs twice).
    const lddwHalves = insns.filter((insn) => insn.code === 0x18).length;
    assert.equal(result.executed, insns.length - lddwHalves + 3);
    assert.equal(callbacks, 2);
  }
});
