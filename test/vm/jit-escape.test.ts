import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import type { Engine } from '../../src/vm/engine.js';
import { AddressSpace, MemoryAccessError } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit } from '../../src/vm/jit/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';

/**
 * Checked mode must not let any access escape its region, however the region checks are cached:
 * loops that walk off the end after many good iterations, accesses straddling a region's end, a
 * pointer hopping to another region at the same site, 64-bit pointers that wrap in 32 bits, writes to
 * read-only guards, stale pointers after a helper freed their region. Each must fault on the JIT at
 * the same instruction as on the interpreter.
 */

interface Fault { insn: number | undefined }

function faultOf(engine: Engine, text: string, mem: Uint8Array, extra: (space: AddressSpace) => number[] = () => []): Fault | bigint {
  const space = new AddressSpace();
  const region = space.allocateWith(mem, 'packet', 'mem');
  const program = engine.load(assemble(text), { space, checked: true, name: 'escape' });
  try {
    return program.run({ args: [region.start, mem.length, ...extra(space)] }).r0;
  } catch (error) {
    if (!(error instanceof MemoryAccessError)) throw error;
    return { insn: error.location.insn };
  }
}

function bothFault(text: string, size = 256, extra?: (space: AddressSpace) => number[]): void {
  const mem = new Uint8Array(size);
  const expected = faultOf(interpreter, text, mem, extra);
  assert.equal(typeof expected, 'object', 'the interpreter faults');
  assert.deepEqual(faultOf(jit, text, mem, extra), expected);
}

// r1 = region start, r2 = its length.
const WALK = (width: string, step: number, extra: number): string => `
    r3 = r1
    r4 = r2
    r4 += ${extra}
    r0 = 0
  loop:
    r5 = *(${width} *)(r3 + 0)
    *(${width} *)(r3 + 0) = r5
    r3 += ${step}
    r4 += -${step}
    if r4 s> 0 goto loop
    exit`;

test('loops that walk one element past the end fault after many good iterations', () => {
  bothFault(WALK('u8', 1, 1));
  bothFault(WALK('u32', 4, 4));
  bothFault(WALK('u64', 8, 8), 4096);
});

test('accesses straddling the end or the start of a region fault', () => {
  bothFault(`
    r3 = r1
    r3 += r2
    r0 = *(u64 *)(r3 - 4)
    exit`);
  bothFault(`
    r0 = *(u32 *)(r1 - 1)
    exit`);
  // First a good access at the site caches the region; then the same site straddles its end.
  bothFault(`
    r3 = r1
    r6 = 2
  again:
    r0 = *(u64 *)(r3 + 0)
    r3 += r2
    r3 += -4
    r6 += -1
    if r6 != 0 goto again
    exit`);
});

test('a pointer whose low 32 bits are in the region but high bits are not faults', () => {
  bothFault(`
    r3 = r1
    r6 = 2
  again:
    r0 = *(u8 *)(r3 + 0)
    r4 = 1
    r4 <<= 32
    r3 += r4
    r6 += -1
    if r6 != 0 goto again
    exit`);
});

test('a site that hops to another region is rechecked there (a read-only guard rejects the write)', () => {
  // r3 = the second region (read-only): the store site that cached the first region must fault.
  const readOnly = (space: AddressSpace): number[] => [space.allocate(64, 'scratch', 'read-only', false).start];
  bothFault(`
    r6 = 2
  again:
    *(u8 *)(r1 + 0) = r6
    r1 = r3
    r6 += -1
    if r6 != 0 goto again
    exit`, 256, readOnly);
});

test('a stale pointer into a freed map element faults at a site that cached it', () => {
  const program = assemble(`
    r6 = r1
    r1 = 1
    *(u32 *)(r10 - 4) = r1
    *(u64 *)(r10 - 16) = r1
    r1 = 0 ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call 2
    r1 = 0 ll
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
    r7 = r0
    r8 = 2
  again:
    r0 = *(u64 *)(r7 + 0)
    r1 = 0 ll
    r2 = r10
    r2 += -4
    call 3
    r8 += -1
    if r8 != 0 goto again
  out:
    r0 = 0
    exit`);
  const outcomes: string[] = [];
  for (const engine of [interpreter, jit] as Engine[]) {
    using runtime = new Runtime({ engine });
    const map = runtime.createMap({ name: 'h', type: MapType.hash, keySize: 4, valueSize: 8, maxEntries: 4 });
    const insns = program.map((insn) => (insn.code === 0x18 && insn.imm === 0 && insn.dst === 1 ? { ...insn, src: 1, imm: map.id } : { ...insn }));
    const loaded = runtime.loadProgram(insns, { name: 'stale', type: 'xdp', verify: false });
    try {
      loaded.testRun({ data: new Uint8Array(64) });
      outcomes.push('no fault');
    } catch (error) {
      outcomes.push(error instanceof MemoryAccessError ? `fault at ${error.location.insn}` : String(error));
    }
  }
  assert.match(outcomes[0]!, /^fault at/, 'the interpreter faults on the stale read');
  assert.equal(outcomes[1], outcomes[0]);
});

test('site caches kept from run to run are dropped when their region goes (released, reallocated read-only)', () => {
  const text = `
    r0 = *(u8 *)(r1 + 0)
    *(u8 *)(r1 + 0) = r0
    exit`;
  const space = new AddressSpace();
  const program = jit.load(assemble(text), { space, checked: true, name: 'reuse' });
  const first = space.allocate(256, 'packet', 'first');
  assert.equal(program.run({ args: [first.start] }).r0, 0n);
  assert.equal(program.run({ args: [first.start] }).r0, 0n);
  space.release(first);
  // The old address is no region now: the cached region must not let the load through.
  assert.throws(() => program.run({ args: [first.start] }), (e: unknown) => e instanceof MemoryAccessError && e.location.insn === 0);
  // A read-only region at the same place: the load passes, the store must not.
  const readOnly = space.allocate(256, 'scratch', 'read-only', false);
  assert.equal(readOnly.start, first.start, 'the allocator reuses the freed range');
  assert.throws(() => program.run({ args: [readOnly.start] }), (e: unknown) => e instanceof MemoryAccessError && e.location.insn === 1);
});
