import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { HelperStatus, type Helper, type HelperCall } from '../../src/vm/abi.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { onEachEngine } from '../support/engines.js';

/**
 * `runRepeated` (BPF_PROG_TEST_RUN's repeat loop inside the engine) behaves as that many `run` calls
 * on every engine: arguments back in place after helpers overwrote the register file, per-run tail
 * call limits, `beforeRun` before each run that calls a helper, the last run's result
 * (jit-repeat.test.ts compares repeated and single runs case by case).
 */

/** Counts runs in the u64 at r1; a helper call with r1 = 0 in between; r0 = the count. */
const COUNTER = `
  ldxdw %r2, [%r1]
  add %r2, 1
  stxdw [%r1], %r2
  mov %r6, %r1
  mov %r1, 0
  call 1
  ldxdw %r0, [%r6]
  exit`;

test('runRepeated: as many runs as asked, arguments restored each run, beforeRun before each (all call helpers)', () => {
  onEachEngine((engine) => {
    const space = new AddressSpace();
    const helpers: Helper[] = [];
    helpers[1] = (call: HelperCall) => { call.space.view.setUint32(call.regfile + 8, 0, true); };
    const counter = space.allocate(8, 'ctx', 'counter');
    const program = engine.load(assemble(COUNTER), { space, helpers });
    let before = 0;
    const result = program.runRepeated({ args: [counter.start] }, 5, () => { before++; });
    assert.equal(result.r0, 5n);
    assert.equal(before, 5);
    assert.equal(program.runRepeated({ args: [counter.start] }, 1).r0, 6n);
    assert.equal(program.run({ args: [counter.start] }).r0, 7n);
    program.dispose();
  });
});

test('runRepeated: each run gets its own tail-call limit (1 + 33 programs per run)', () => {
  onEachEngine((engine) => {
    const space = new AddressSpace();
    let target: unknown;
    const helpers: Helper[] = [];
    helpers[12] = (call: HelperCall) => { call.tailCallTarget = target; return HelperStatus.TAIL_CALL; };
    const counter = space.allocate(8, 'ctx', 'counter');
    const self = engine.load(assemble(`
      ldxdw %r2, [%r1]
      add %r2, 1
      stxdw [%r1], %r2
      call 12
      mov %r0, 42
      exit`), { space, helpers });
    target = self;
    assert.equal(self.runRepeated({ args: [counter.start] }, 3).r0, 42n);
    assert.equal(space.view.getUint32(counter.start, true), 3 * 34);
    self.dispose();
  });
});

test('runRepeated: a fault ends the repeat and leaves the program runnable', () => {
  onEachEngine((engine) => {
    const space = new AddressSpace();
    const program = engine.load(assemble('mov %r0, 1\nja -1\nexit'), { space, helpers: [] });
    assert.throws(() => program.runRepeated({ budget: 1000 }, 3), (e: unknown) => e instanceof Error && /budget/.test(e.message));
    const fine = engine.load(assemble('mov %r0, 3\nexit'), { space, helpers: [] });
    assert.equal(fine.runRepeated({}, 4).r0, 3n);
    assert.throws(() => program.run({ budget: 10 }), /budget/);
    program.dispose();
    fine.dispose();
  });
});
