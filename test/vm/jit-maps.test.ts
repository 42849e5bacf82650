import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import { PseudoLdImm64 } from '../../src/isa/opcodes.js';
import { argU32, setReturn, type Helper, type HelperCall } from '../../src/vm/abi.js';
import type { Engine, InlineMapLayout } from '../../src/vm/engine.js';
import { AddressSpace } from '../../src/vm/memory.js';
import { interpreter } from '../../src/vm/interpreter.js';
import { jit } from '../../src/vm/jit/index.js';
import { compileProgram } from '../../src/vm/jit/compile.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/map-types.js';

/**
 * map_lookup_elem on a constant array-map handle runs inline in the JIT's wasm (no helper call):
 * in range, out of range, per-CPU, and the cases that must still take the helper.
 */

const HANDLE = 0x1000;

/** r1 = index: looks up the index in the map at HANDLE; r0 = the value's address or 0. */
const LOOKUP = `
  stxw [%r10-4], %r1
  lddw %r1, ${HANDLE}
  mov %r2, %r10
  add %r2, -4
  call 1
  exit`;

interface Fixture {
  space: AddressSpace;
  layout: InlineMapLayout;
  helperCalls: number;
  helpers: Helper<{ cpu: number }>[];
}

/** A fake array map (`cpus` slots per entry) and a helper 1 that counts its calls and does the same lookup. */
function fixture(maxEntries: number, cpus: number): Fixture {
  const space = new AddressSpace();
  const slot = 16;
  const values = space.allocate(maxEntries * slot * cpus, 'map', 'values');
  const layout: InlineMapLayout = {
    kind: cpus > 1 ? 'percpu_array' : 'array', values: values.start, valueSize: 12,
    elemStride: slot * cpus, cpuStride: cpus > 1 ? slot : 0, maxEntries,
  };
  const f: Fixture = { space, layout, helperCalls: 0, helpers: [] };
  f.helpers[1] = (call: HelperCall<{ cpu: number }>) => {
    f.helperCalls++;
    if (argU32(call, 1) !== HANDLE) throw new Error('not the map');
    const index = call.space.view.getUint32(argU32(call, 2), true);
    setReturn(call, index < maxEntries ? layout.values + index * layout.elemStride + call.env.cpu * layout.cpuStride : 0, 0);
  };
  return f;
}

function load(f: Fixture, program: string | readonly Instruction[], checked: boolean) {
  return jit.load<{ cpu: number }>(typeof program === 'string' ? assemble(program) : program, {
    space: f.space, helpers: f.helpers, checked, name: 'lookup',
    describeMap: (handle) => (handle === HANDLE ? f.layout : undefined),
    cpuOf: (env) => env.cpu,
  });
}

test('inlined array lookup: in range gives the entry address, out of range 0, no helper call', () => {
  for (const checked of [false, true]) {
    const f = fixture(4, 1);
    const program = load(f, LOOKUP, checked);
    for (const index of [0, 1, 3]) {
      assert.equal(program.run({ args: [index], env: { cpu: 0 } }).r0, BigInt(f.layout.values + 16 * index));
    }
    for (const index of [4, 5, 0x7fffffff, 0x80000000, 0xffffffff]) {
      assert.equal(program.run({ args: [index], env: { cpu: 0 } }).r0, 0n, `index ${index}`);
    }
    assert.equal(f.helperCalls, 0, 'the lookup ran inline');
    program.dispose();
  }
});

test('inlined per-CPU array lookup: the run\'s CPU picks the slot', () => {
  for (const checked of [false, true]) {
    const f = fixture(3, 4);
    const program = load(f, LOOKUP, checked);
    for (const cpu of [0, 1, 3]) {
      for (const index of [0, 2]) {
        const expected = f.layout.values + index * 64 + cpu * 16;
        assert.equal(program.run({ args: [index], env: { cpu } }).r0, BigInt(expected), `cpu ${cpu} index ${index}`);
      }
      assert.equal(program.run({ args: [3], env: { cpu } }).r0, 0n);
    }
    assert.equal(f.helperCalls, 0);
    program.dispose();
  }
});

test('lookups the JIT leaves to the helper: no layout, handle from another block, key pointer above 4 GiB', () => {
  const f = fixture(4, 1);
  const other = load(f, LOOKUP.replace(String(HANDLE), String(HANDLE + 8)), false);
  assert.throws(() => other.run({ args: [0], env: { cpu: 0 } }), /not the map/);
  assert.equal(f.helperCalls, 1);
  // A jump target between the lddw and the call: r1 is not known there.
  const split = load(f, `
    stxw [%r10-4], %r1
    lddw %r1, ${HANDLE}
    ja next
  next:
    mov %r2, %r10
    add %r2, -4
    call 1
    exit`, false);
  assert.equal(split.run({ args: [2], env: { cpu: 0 } }).r0, BigInt(f.layout.values + 32));
  assert.equal(f.helperCalls, 2);
  const high = load(f, `
    lddw %r1, ${HANDLE}
    lddw %r2, 0x100000000
    call 1
    exit`, false);
  // (This test helper reads r2's low half; the runtime's rejects such a pointer.)
  high.run({ env: { cpu: 0 } });
  assert.equal(f.helperCalls, 3);
});

test('modules with inlined maps are cached per map layout', () => {
  const insns = assemble(LOOKUP);
  const a = fixture(4, 1);
  const plain = compileProgram(insns, false);
  const inlined = compileProgram(insns, false, { arrays: new Map([[HANDLE, a.layout]]), lookupSlots: new Map() });
  assert.equal(plain.usesCpu, false);
  assert.equal(inlined.usesCpu, false);
  assert.notDeepEqual(plain.bytes, inlined.bytes);
  const perCpu = compileProgram(insns, false, { arrays: new Map([[HANDLE, fixture(4, 2).layout]]), lookupSlots: new Map() });
  assert.equal(perCpu.usesCpu, true);
  // Two maps at different addresses: each program sees its own.
  const b = fixture(4, 1);
  const pa = load(a, LOOKUP, false);
  const pb = load(b, LOOKUP, false);
  assert.equal(pa.run({ args: [1], env: { cpu: 0 } }).r0, BigInt(a.layout.values + 16));
  assert.equal(pb.run({ args: [1], env: { cpu: 0 } }).r0, BigInt(b.layout.values + 16));
});

/** Counts per index (and per CPU) in the runtime: both engines leave the same map contents. */
test('runtime: array and per-CPU array counters agree with the interpreter', () => {
  const text = (index: number): string => `
    stw [%r10-4], ${index}
    lddw %r1, 0
    mov %r2, %r10
    add %r2, -4
    call 1
    jeq %r0, 0, miss
    ldxdw %r1, [%r0]
    add %r1, 1
    stxdw [%r0], %r1
    mov %r0, %r1
    exit
  miss:
    mov %r0, 99
    exit`;
  const bind = (insns: Instruction[], id: number): Instruction[] =>
    insns.map((insn) => (insn.code === 0x18 && insn.dst === 1 ? { ...insn, src: PseudoLdImm64.MAP_FD, imm: id } : insn));
  const data = new Uint8Array(64);
  const outcome = (engine: Engine, type: number): string[] => {
    using runtime = new Runtime({ engine, cpus: 3 });
    const map = runtime.createMap({ name: 'counts', type, keySize: 4, valueSize: 8, maxEntries: 4 });
    const seen: string[] = [];
    for (const index of [0, 3, 4, 1, 3]) {
      const program = runtime.loadProgram(bind(assemble(text(index)), map.id), { type: 'xdp', checked: index !== 1 });
      for (const cpu of [0, 2, 2]) seen.push(`${index}@${cpu}:${program.testRun({ data, cpu, repeat: 2 }).retval}`);
    }
    for (const [key, value] of map.entries()) seen.push(`${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`);
    return seen;
  };
  for (const type of [MapType.array, MapType.percpu_array]) {
    assert.deepEqual(outcome(jit, type), outcome(interpreter, type), `map type ${type}`);
  }
});

test('direct lookups: a known hash map\'s lookup is called without the helper, with the run\'s CPU', () => {
  const f = fixture(4, 1);
  const seen: string[] = [];
  const program = jit.load<{ cpu: number }>(assemble(LOOKUP), {
    space: f.space, helpers: f.helpers, checked: true, name: 'direct',
    describeMap: (handle) => (handle === HANDLE ? {
      kind: 'lookup',
      lookup: (key, cpu) => { seen.push(`${f.space.view.getUint32(key, true)}@${cpu}`); return key === 0 ? 0 : 0x80000010; },
    } : undefined),
    cpuOf: (env) => env.cpu,
  });
  // Addresses above 2^31 come back unsigned.
  assert.equal(program.run({ args: [7], env: { cpu: 2 } }).r0, 0x80000010n);
  assert.deepEqual(seen, ['7@2']);
  assert.equal(f.helperCalls, 0);
});

test('runtime: hash, LRU, per-CPU hash and LPM lookups agree with the interpreter', () => {
  // r1 = key (u32, or the LPM key's address bytes); counts hits in the value, 99 on a miss.
  const text = (key: number, lpm: boolean): string => `
    stw [%r10-8], ${lpm ? 32 : key}
    stw [%r10-4], ${key}
    lddw %r1, 0
    mov %r2, %r10
    add %r2, ${lpm ? -8 : -4}
    call 1
    jeq %r0, 0, miss
    ldxdw %r1, [%r0]
    add %r1, 1
    stxdw [%r0], %r1
    mov %r0, %r1
    exit
  miss:
    mov %r0, 99
    exit`;
  const bind = (insns: Instruction[], id: number): Instruction[] =>
    insns.map((insn) => (insn.code === 0x18 && insn.dst === 1 ? { ...insn, src: PseudoLdImm64.MAP_FD, imm: id } : insn));
  const data = new Uint8Array(64);
  const outcome = (engine: Engine, type: number): string[] => {
    using runtime = new Runtime({ engine, cpus: 2 });
    const lpm = type === MapType.lpm_trie;
    const map = runtime.createMap({
      name: 'm', type, keySize: lpm ? 8 : 4, valueSize: 8, maxEntries: 2, ...(lpm ? { flags: 1 } : {}),
    });
    const key = (k: number): Uint8Array => (lpm ? new Uint8Array([24, 0, 0, 0, k & 0xff, 0, 0, 0]) : new Uint8Array([k, 0, 0, 0]));
    for (const k of [1, 2]) map.update(key(k), new Uint8Array(lpm ? 8 : 8 * (type === MapType.percpu_hash ? 2 : 1)).fill(k));
    const seen: string[] = [];
    for (const k of [1, 2, 3, 1]) {
      const program = runtime.loadProgram(bind(assemble(text(k, lpm)), map.id), { type: 'xdp', checked: k !== 2 });
      for (const cpu of [0, 1]) seen.push(`${k}@${cpu}:${program.testRun({ data, cpu, repeat: 2 }).retval}`);
    }
    for (const [k, v] of map.entries()) seen.push(`${Buffer.from(k).toString('hex')}=${Buffer.from(v).toString('hex')}`);
    return seen;
  };
  for (const type of [MapType.hash, MapType.lru_hash, MapType.percpu_hash, MapType.lpm_trie]) {
    const compiled = outcome(jit, type);
    assert.deepEqual(compiled, outcome(interpreter, type), `map type ${type}`);
    assert.ok(compiled.some((s) => s.startsWith('1@') && !s.endsWith(':99')), `a hit in map type ${type}`);
    assert.ok(compiled.includes('3@0:99'), `a miss in map type ${type}`);
  }
});

/**
 * The wasm search of published indexes (wasm-lookup.ts) against the maps' own JS lookups, on random
 * contents: hash maps with awkward key sizes, LPM tries with prefixes of every alignment, keys
 * present, absent and deleted, and a map with no published index (LRU) that must go to JS.
 */
test('wasm lookups of published hash and LPM indexes agree with the maps', async () => {
  const { createMap } = await import('../../src/maps/index.js');
  const { wasmLookup } = await import('../../src/vm/jit/wasm-lookup.js');
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const byte = (): number => Math.floor(next() * 256);
  const space = new AddressSpace();
  const specs = [
    { type: MapType.hash, keySize: 4 }, { type: MapType.hash, keySize: 13 }, { type: MapType.hash, keySize: 16 },
    { type: MapType.lpm_trie, keySize: 8, flags: 1 }, { type: MapType.lpm_trie, keySize: 20, flags: 1 }, { type: MapType.lru_hash, keySize: 4 },
  ];
  const maps = specs.map((s, i) => createMap({ name: `m${i}`, valueSize: 8, maxEntries: 200, flags: 0, ...s }, { space, cpus: 1 }));
  const handles = space.allocate(4 * maps.length, 'scratch', 'handles');
  maps.forEach((m, slot) => space.view.setUint32(handles.start + 4 * slot, m.handle, true));
  let jsCalls = 0;
  const { lookupMap: lookup } = wasmLookup(space.memory, handles.start, (slot, key) => {
    jsCalls++;
    return maps[slot]!.lookupElem(key, 0);
  });
  const key = space.allocate(32, 'scratch', 'key');
  const lpmKey = (size: number, length: number): Uint8Array => {
    const k = new Uint8Array(size).map(byte);
    new DataView(k.buffer).setUint32(0, length, true);
    return k;
  };
  maps.forEach((map, slot) => {
    const isLpm = map.spec.type === MapType.lpm_trie;
    const bits = (map.spec.keySize - 4) * 8;
    const keys = Array.from({ length: 150 }, () => (isLpm ? lpmKey(map.spec.keySize, Math.floor(next() * (bits + 1))) : new Uint8Array(map.spec.keySize).map(byte)));
    for (const k of keys) map.update(k, new Uint8Array(8).map(byte));
    // Random LPM keys may name the same prefix twice: the second delete finds nothing.
    for (const k of keys.slice(0, 40)) {
      space.u8.set(k, key.start);
      map.deleteElem(key.start);
    }
    const probes = [...keys, ...keys.map((k) => (isLpm ? lpmKey(map.spec.keySize, bits) : k.map((b) => b ^ 1)))];
    for (const probe of probes) {
      space.u8.set(probe, key.start);
      assert.equal(lookup(slot, key.start), map.lookupElem(key.start, 0), `${map.typeName} ${Buffer.from(probe).toString('hex')}`);
    }
  });
  assert.ok(jsCalls > 0 && jsCalls <= 2 * 300, 'only the LRU map went to JS');
});
