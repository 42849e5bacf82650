import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import { AddressSpace, MemoryAccessError } from '../../src/vm/memory.js';
import { setReturnNumber, type Helper } from '../../src/vm/abi.js';
import { jit } from '../../src/vm/jit/index.js';
import { compileProgram } from '../../src/vm/jit/compile.js';
import { IMPORT_TABLE_NAME } from '../../src/vm/jit/layout.js';

/**
 * Program modules reach the JS side through an imported table (import-table.ts), not through function
 * imports, for which V8 compiles wrappers for every module: what a load costs depends on it.
 */

const PROGRAM = `
    r1 = 7
    *(u64 *)(r10 - 8) = r1
    r0 = *(u64 *)(r10 - 8)
    call 7
    r1 = *(u64 *)(r10 - 8)
    r0 += r1
    exit`;

test('modules that search no maps import a table, memory and globals, and no function', () => {
  for (const checked of [false, true]) {
    const module = new WebAssembly.Module(compileProgram(assemble(PROGRAM), checked).bytes);
    const kinds = WebAssembly.Module.imports(module).map((entry) => entry.kind);
    assert.ok(!kinds.includes('function'), `checked ${checked}: ${kinds.join(', ')}`);
    assert.ok(WebAssembly.Module.imports(module).some((entry) => entry.kind === 'table' && entry.name === IMPORT_TABLE_NAME));
  }
});

test('helpers, faults and checks still reach the JS side through the table', () => {
  const space = new AddressSpace();
  let calls = 0;
  const helpers: Helper[] = [];
  helpers[7] = (call): void => { calls++; setReturnNumber(call, 35); };
  for (const checked of [false, true]) {
    const program = jit.load(assemble(PROGRAM), { space, helpers, checked });
    assert.equal(program.run().r0, 42n, 'the helper returned 35 and the stack slot kept 7');
    program.dispose();
  }
  assert.equal(calls, 2);
  // A checked access outside any region: the `check` import throws the interpreter's error.
  const stray = jit.load(assemble('r1 = 16\nr0 = *(u8 *)(r1 + 0)\nexit'), { space, checked: true });
  assert.throws(() => stray.run(), (error: unknown) => error instanceof MemoryAccessError && error.location.insn === 1);
  stray.dispose();
});
