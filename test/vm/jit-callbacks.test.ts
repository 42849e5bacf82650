import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import { argNumber, setReturnNumber, type Helper } from '../../src/vm/abi.js';
import type { Engine } from '../../src/vm/engine.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit } from '../../src/vm/jit/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';

/**
 * Callbacks under the JIT (issue 6): bpf_loop (inlined as a wasm loop when the callback is a known
 * constant and flags are 0, else through the helper's `invoke`), for_each_map_elem (always through
 * `invoke`), their limits and faults, each compared with the interpreter.
 */

const PSEUDO_FUNC = 4;

/**
 * Assemble `text` and point the `nth` lddw at the callback starting `fromEnd` slots before the end
 * (a pseudo-func lddw, which the runtime relocates to the callback's absolute slot).
 */
function withCallback(text: string, fromEnd: number, nth = 0): Instruction[] {
  const insns = assemble(text);
  const target = insns.length - fromEnd;
  let seen = 0;
  for (let i = 0; i < insns.length; i++) {
    if (insns[i]!.code === 0x18 && seen++ === nth) {
      insns[i]!.src = PSEUDO_FUNC;
      insns[i]!.imm = target - (i + 1);
      return insns;
    }
  }
  throw new Error('no lddw');
}

const frame = new Uint8Array(64);

/** testRun on both engines (checked and unchecked): same r0; returns it. */
function agree(insns: Instruction[], setup?: (runtime: Runtime) => void): number {
  const results: number[] = [];
  for (const engine of [interpreter, jit] as Engine[]) {
    for (const checked of [true, false]) {
      using runtime = new Runtime({ engine });
      setup?.(runtime);
      const program = runtime.loadProgram(insns.map((i) => ({ ...i })), { name: 'cb', type: 'xdp', checked, verify: false });
      results.push(Number(BigInt.asIntN(64, program.testRun({ data: frame }).r0)));
    }
  }
  assert.deepEqual(results, results.map(() => results[0]), `interp checked/unchecked, jit checked/unchecked: ${results.join(', ')}`);
  return results[0]!;
}

// Sum i for i in 0..r1-1 into a stack slot with bpf_loop; r0 = the sum * 1000 + bpf_loop's return.
const SUM_LOOP = (count: string, flags = 0, stopAt = -1): string => `
    r6 = r1
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    ${count}
    r2 = 0 ll
    r3 = r10
    r3 += -8
    r4 = ${flags}
    call 181
    r1 = *(u64 *)(r10 - 8)
    r1 *= 1000
    r0 += r1
    exit
  callback:
    r3 = *(u64 *)(r2 + 0)
    r3 += r1
    *(u64 *)(r2 + 0) = r3
    r0 = 0
    if r1 != ${stopAt} goto out
    r0 = 1
  out:
    exit`;
const SUM_CALLBACK_SLOTS = 7;

test('bpf_loop: inlined loop, helper path (flags), early stop, E2BIG, dynamic count', () => {
  assert.equal(agree(withCallback(SUM_LOOP('r1 = 10'), SUM_CALLBACK_SLOTS)), 45 * 1000 + 10);
  assert.equal(agree(withCallback(SUM_LOOP('r1 = 10', 0, 3), SUM_CALLBACK_SLOTS)), 6 * 1000 + 4);
  assert.equal(agree(withCallback(SUM_LOOP('r1 = 0'), SUM_CALLBACK_SLOTS)), 0);
  // Nonzero flags: the helper returns -EINVAL without calling back.
  assert.equal(agree(withCallback(SUM_LOOP('r1 = 10', 1), SUM_CALLBACK_SLOTS)), -22);
  // More than BPF_MAX_LOOPS: -E2BIG as a 32-bit value.
  assert.equal(agree(withCallback(SUM_LOOP('r1 = 8388609'), SUM_CALLBACK_SLOTS)), 0xfffffff9);
  // The count from memory (the packet length), not a constant.
  const fromPacket = SUM_LOOP('r1 = *(u32 *)(r6 + 4)\n    r0 = *(u32 *)(r6 + 0)\n    r1 -= r0');
  assert.equal(agree(withCallback(fromPacket, SUM_CALLBACK_SLOTS)), (64 * 63) / 2 * 1000 + 64);
});

test('bpf_loop: a callback that loops forever runs out of budget on both engines', () => {
  const insns = withCallback(SUM_LOOP('r1 = 1000'), SUM_CALLBACK_SLOTS);
  // Replace the callback body's first instruction with a jump to itself.
  insns[insns.length - SUM_CALLBACK_SLOTS] = { code: 0x05, dst: 0, src: 0, off: -1, imm: 0 };
  for (const engine of [interpreter, jit] as Engine[]) {
    using runtime = new Runtime({ engine });
    const program = runtime.loadProgram(insns, { name: 'spin', type: 'xdp', verify: false });
    assert.throws(() => program.testRun({ data: frame, budget: 100_000 }), (e: Error & { code?: string }) => e.code === 'vm/budget', engine.name);
  }
});

test('bpf_loop: callbacks nest one frame deeper each, up to the 8-frame limit', () => {
  // The callback calls bpf_loop on itself, once per level, counting levels in the context.
  const nest = withCallback(`
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = 1
    r2 = 0 ll
    r3 = r10
    r3 += -8
    r4 = 0
    call 181
    r0 = *(u64 *)(r10 - 8)
    exit
  callback:
    r1 = *(u64 *)(r2 + 0)
    r1 += 1
    *(u64 *)(r2 + 0) = r1
    r0 = 0
    if r1 >= LIMIT goto out
    r3 = r2
    r1 = 1
    r2 = 0 ll
    r4 = 0
    call 181
    r0 = 0
  out:
    exit`.replace("LIMIT", "5"), 13);
  // Patch the callback's own lddw (the second) to point at itself too.
  const inner = nest.findIndex((insn, i) => i > 4 && insn.code === 0x18);
  nest[inner]!.src = PSEUDO_FUNC;
  nest[inner]!.imm = nest.length - 13 - (inner + 1);
  assert.equal(agree(nest), 5);
  const tooDeep = nest.map((insn) => ({ ...insn }));
  const limit = tooDeep.findIndex((insn) => insn.code === 0x35 && insn.imm === 5);
  tooDeep[limit]!.imm = 50;
  for (const engine of [interpreter, jit] as Engine[]) {
    using runtime = new Runtime({ engine });
    const program = runtime.loadProgram(tooDeep, { name: 'deep', type: 'xdp', verify: false });
    assert.throws(() => program.testRun({ data: frame }), (e: Error & { code?: string }) => e.code === 'vm/call-depth', engine.name);
  }
});

test('for_each_map_elem: the callback sees every element, through invoke()', () => {
  const insns = withCallback(`
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = 0 ll
    r2 = 0 ll
    r3 = r10
    r3 += -8
    r4 = 0
    call 164
    r1 = *(u64 *)(r10 - 8)
    r1 <<= 8
    r0 += r1
    exit
  callback:
    r1 = *(u32 *)(r3 + 0)
    r5 = *(u64 *)(r4 + 0)
    r5 += r1
    *(u64 *)(r4 + 0) = r5
    r0 = 0
    exit`, 6, 1);
  const setup = (runtime: Runtime): void => {
    const map = runtime.createMap({ name: 'values', type: MapType.hash, keySize: 4, valueSize: 4, maxEntries: 16 });
    for (let k = 1; k <= 5; k++) map.update(new Uint8Array([k, 0, 0, 0]), new Uint8Array([k * 10, 0, 0, 0]));
    insns[2]!.src = 1;
    insns[2]!.imm = map.id;
  };
  assert.equal(agree(insns, setup), (150 << 8) + 5);
});

test('invoke(): a target that is not the start of a function is an ExecutionError', () => {
  const callSomewhere: Helper = (call) => setReturnNumber(call, call.invoke!(argNumber(call, 1), []));
  const insns = assemble(`
    r1 = 2
    call 0
    exit`);
  const program = jit.load(insns, { space: new AddressSpace(), helpers: [callSomewhere], name: 'bad' });
  assert.throws(() => program.run(), (e: Error & { code?: string }) => e.code === 'vm/bad-callback');
});

test('bpf_loop with a constant callback runs inline (no helper call) only when helper 181 is the runtime loop', () => {
  // Relocated as the runtime does: the lddw holds the callback's absolute slot.
  const insns = withCallback(SUM_LOOP('r1 = 10'), SUM_CALLBACK_SLOTS);
  const lddw = insns.findIndex((insn) => insn.src === PSEUDO_FUNC);
  insns[lddw] = { ...insns[lddw]!, src: 0, imm: lddw + 1 + insns[lddw]!.imm };
  let called = 0;
  const helpers: Helper[] = [];
  // Named `loop`, as the runtime's bpf_loop: the JIT trusts the name and never calls it.
  helpers[181] = function loop(): void { called++; };
  const space = new AddressSpace();
  const ctx = space.allocate(64, 'scratch', 'ctx');
  assert.equal(jit.load(insns, { space, helpers }).run({ args: [ctx.start] }).r0, 45n * 1000n + 10n);
  assert.equal(called, 0);
  // Any other helper at 181 is called like every helper.
  helpers[181] = (call) => { called++; setReturnNumber(call, 7); };
  assert.equal(jit.load(insns, { space, helpers }).run({ args: [ctx.start] }).r0, 7n);
  assert.equal(called, 1);
});
