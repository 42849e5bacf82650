import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryAccessError } from '../../src/vm/memory.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { EXIT, insn, lddw, runProgram } from './support.js';

/** Checked mode: every load and store inside one region, writes only to writable ones. */

function trap(program: ReturnType<typeof insn>[], mem = new Uint8Array(8)): MemoryAccessError {
  try {
    runProgram(program, { mem, checked: true });
  } catch (err) {
    if (err instanceof MemoryAccessError) return err;
    throw err;
  }
  return assert.fail('expected a MemoryAccessError');
}

test('out-of-bounds load names the instruction and the region', () => {
  const err = trap([insn(0xb7, 0, 0, 0, 0), insn(0x79, 0, 1, 4), EXIT]);
  assert.equal(err.code, 'vm/bad-access');
  assert.equal(err.location.insn, 1);
  assert.match(err.message, /insn 1: 8-byte read .* runs past the end of mem/);
});

test('NULL dereference and pointers with upper bits set', () => {
  const err = trap([insn(0xb7, 1, 0, 0, 0), insn(0x61, 0, 1, 0), EXIT]);
  assert.match(err.message, /NULL pointer dereference/);
  assert.equal(err.location.insn, 1);
  const high = trap([...lddw(2, 0x100000000n), insn(0x0f, 1, 2), insn(0x71, 0, 1, 0), EXIT]);
  assert.equal(high.location.insn, 3);
  // An offset that wraps the 64-bit address (uBPF's err-address-overflow-offset).
  const wrap = trap([insn(0xb7, 6, 0, 0, -16), insn(0x72, 6, 0, 16, 0), EXIT]);
  assert.equal(wrap.location.insn, 1);
  assert.ok(wrap.write);
});

test('stores to read-only regions and past the stack are caught', () => {
  const space = new AddressSpace();
  const ctx = space.allocate(16, 'ctx', 'context', false);
  const program = interpreter.load([insn(0x79, 0, 1, 0), insn(0x7a, 1, 0, 0, 1), EXIT], { space, checked: true });
  assert.throws(() => program.run({ args: [ctx.start] }), (err: MemoryAccessError) => err.location.insn === 1 && /read-only context/.test(err.message));
  const above = trap([insn(0x72, 10, 0, 0, 0), EXIT]);
  assert.equal(above.location.insn, 0);
  const below = trap([insn(0x7a, 10, 0, -4096 - 8, 0), EXIT]);
  assert.equal(below.location.insn, 0);
});

test('atomics are checked too; in-bounds accesses pass', () => {
  const err = trap([insn(0xb7, 2, 0, 0, 1), insn(0xdb, 1, 2, 8, 0x00), EXIT]);
  assert.equal(err.location.insn, 1);
  const ok = runProgram([insn(0xb7, 2, 0, 0, 1), insn(0xdb, 1, 2, 0, 0x01), insn(0x7b, 10, 2, -8), insn(0x79, 0, 10, -8), EXIT], { mem: new Uint8Array(8), checked: true });
  assert.equal(ok.result.r0, 0n);
});

test('unchecked mode: an address outside linear memory still fails cleanly', () => {
  assert.throws(() => runProgram([insn(0xb7, 1, 0, 0, -8), insn(0x79, 0, 1, 0), EXIT]), (err: MemoryAccessError) => err.code === 'vm/bad-access' && err.location.insn === 1);
});
