import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { argNumber, setReturn, type Helper, type HelperCall } from '../../src/vm/abi.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { jit } from '../../src/vm/jit/index.js';
import { compileProgram } from '../../src/vm/jit/compile.js';
import { CSUM_DIFF_HELPER_ID } from '../../src/vm/jit/wasm-helpers.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { PACKET_HELPERS } from '../../src/helpers/packet.js';

/**
 * Helpers answered in wasm (wasm-helpers.ts) are functions of the program's own module, called
 * directly with r1..r5; what they do not answer reaches the JS helper with the same registers, and
 * its r0 comes back. Checked programs always call the JS helper. (The answers themselves are compared
 * with the runtime's JS helpers in test/helpers/wasm-helpers.test.ts.)
 */

/** csum_diff(r10 - 16, 8 or `fromSize`, 0, 0, seed 0x1234): r6..r9 survive the call. */
const program = (fromSize: number): string => `
  mov %r1, 0x01020304
  stxdw [%r10-16], %r1
  stxdw [%r10-8], %r1
  mov %r6, 6
  mov %r7, 7
  mov %r1, %r10
  add %r1, -16
  mov %r2, ${fromSize}
  mov %r3, 0
  mov %r4, 0
  mov %r5, 0x1234
  call ${CSUM_DIFF_HELPER_ID}
  add %r0, %r6
  add %r0, %r7
  exit`;

/** A JS stand-in named as the runtime's helper (which is what the JIT recognises): records its calls. */
function stand_in(): { helper: Helper; calls: number[][] } {
  const calls: number[][] = [];
  const csum_diff = (call: HelperCall): void => {
    calls.push([1, 2, 3, 4, 5].map((r) => argNumber(call, r)));
    setReturn(call, 1000, 0);
  };
  return { helper: csum_diff, calls };
}

function runCsum(fromSize: number, checked: boolean): { r0: bigint; calls: number[][] } {
  const { helper, calls } = stand_in();
  const helpers: Helper[] = [];
  helpers[CSUM_DIFF_HELPER_ID] = helper;
  const loaded = jit.load(assemble(program(fromSize)), { space: new AddressSpace(), helpers, checked });
  try {
    return { r0: loaded.run().r0, calls };
  } finally {
    loaded.dispose();
  }
}

test('wasm helpers: csum_diff answered inside the module, the JS helper only past its limits', () => {
  // The words of `from` are 0x01020304 and 0: ~0x01020304 + seed, folded to 16 bits, then + r6 + r7.
  let sum = 0x1234 + (~0x01020304 >>> 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  const fast = runCsum(8, false);
  assert.deepEqual(fast.calls, []);
  assert.equal(fast.r0, BigInt(sum + 13));
  // 600 bytes exceed csum_diff's scratch buffer: the JS helper decides (r1..r5 as the program set them).
  const slow = runCsum(600, false);
  assert.equal(slow.calls.length, 1);
  assert.deepEqual(slow.calls[0]!.slice(1), [600, 0, 0, 0x1234]);
  assert.equal(slow.r0, 1013n);
  // Checked mode keeps the JS helper's region checks.
  assert.equal(runCsum(8, true).calls.length, 1);
});

test('wasm helpers: only chosen helpers become functions, and checked modules get none', () => {
  const insns = assemble(program(8));
  const choice = { csumDiff: true, loadBytes: false, mapUpdate: false };
  const plain = compileProgram(insns, false).bytes.length;
  assert.ok(compileProgram(insns, false, undefined, choice).bytes.length > plain + 100);
  assert.equal(compileProgram(insns, true, undefined, choice).bytes.length, compileProgram(insns, true).bytes.length);
});

test('wasm helpers: csum_diff(from, 0, to, 4, seed) inline at the call site agrees with the runtime helper', () => {
  const helpers: Helper[] = [];
  helpers[CSUM_DIFF_HELPER_ID] = PACKET_HELPERS.csum_diff as Helper;
  const words = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x01020304];
  const seeds = ['0', '1', '0xffff', '0xfffffffe', '0xffffffff', '-1', '0x123456789', '0x80000001'];
  for (const word of words) {
    for (const seed of seeds) {
      // The word at r10 - 8, r5 = seed (lddw: high halves too, which csum_diff ignores), r1 = NULL.
      const insns = assemble(`
        mov32 %r1, ${word | 0}
        stxw [%r10-8], %r1
        mov %r1, 0
        mov %r2, 0
        mov %r3, %r10
        add %r3, -8
        mov %r4, 4
        lddw %r5, ${seed}
        call ${CSUM_DIFF_HELPER_ID}
        exit`);
      const results = [jit, interpreter].map((engine) => {
        const loaded = engine.load(insns, { space: new AddressSpace(), helpers });
        try {
          return loaded.run().r0;
        } finally {
          loaded.dispose();
        }
      });
      assert.equal(results[0], results[1], `word 0x${word.toString(16)}, seed ${seed}`);
    }
  }
});
