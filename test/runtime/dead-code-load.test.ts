import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Instruction } from '../../src/isa/instruction.js';
import { MapType } from '../../src/uapi/map-types.js';
import { Runtime } from '../../src/runtime/index.js';
import { loadableInstructions } from '../../src/runtime/verify-load.js';
import { verify } from '../../src/verifier/index.js';
import { onEachEngine } from '../support/engines.js';
import { skipReason } from '../linux/support.js';

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

/** r1 = map (LD_IMM64 with pseudo source `pseudo`: 1 map fd, 2 map value; `ref` is the fd, or the runtime's id). */
const LOAD_MAP = (pseudo: number, ref: number): Instruction[] => [insn(0x18, { dst: 1, src: pseudo, imm: ref }), insn(0)];

/**
 * Maps named only in dead code first (an fd and a value reference), then one the program reaches:
 * the kernel binds every map before it verifies, so all three stay in the program's used_maps.
 */
const MAPS_IN_DEAD_CODE = [
  { name: 'dead_fd', pseudo: 1 },
  { name: 'dead_value', pseudo: 2 },
  { name: 'live', pseudo: 1 },
] as const;

function withDeadMapReferences(refs: readonly number[]): Instruction[] {
  const dead = [...LOAD_MAP(MAPS_IN_DEAD_CODE[0].pseudo, refs[0]!), ...LOAD_MAP(MAPS_IN_DEAD_CODE[1].pseudo, refs[1]!)];
  return [MOV_R0(7), SKIP_IF_R0_NONZERO(dead.length), ...dead, ...LOAD_MAP(MAPS_IN_DEAD_CODE[2].pseudo, refs[2]!), EXIT];
}

const mapSpec = (name: string) => ({ name, type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 });

test('a map named only in dead code stays among the program\'s maps (the kernel\'s used_maps)', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const maps = MAPS_IN_DEAD_CODE.map(({ name }) => runtime.createMap(mapSpec(name)));
    const program = runtime.loadProgram(withDeadMapReferences(maps.map((m) => m.id)), { type: 'socket_filter' });
    assert.deepEqual(program.maps.map((m) => m.name), MAPS_IN_DEAD_CODE.map((m) => m.name));
    assert.equal(program.testRun({ data: new Uint8Array(14) }).r0, 7n);
    // The dead references are gone from the code that runs; only the live one is relocated.
    assert.equal(program.insns.filter((i) => i.code === 0x18).length, 1);
  });
});

test('kernel vs runtime: the same maps per program (bpf_prog_info.map_ids) when maps are named only in dead code', { skip: skipReason }, async () => {
  const linux = await import('../../src/linux/index.js');
  using runtime = new Runtime();
  const userMaps = MAPS_IN_DEAD_CODE.map(({ name }) => runtime.createMap(mapSpec(name)));
  const user = runtime.loadProgram(withDeadMapReferences(userMaps.map((m) => m.id)), { type: 'socket_filter' });
  const kernelMaps = MAPS_IN_DEAD_CODE.map(({ name }) => linux.BpfMap.create({ ...mapSpec(name), type: 'ARRAY' }));
  try {
    using kern = linux.BpfProgram.load({ type: 'SOCKET_FILTER', insns: withDeadMapReferences(kernelMaps.map((m) => m.fd)) });
    const nameOfId = new Map(kernelMaps.map((m) => [m.id, m.name]));
    assert.deepEqual(kern.info().mapIds.map((id) => nameOfId.get(id)), user.maps.map((m) => m.name));
  } finally {
    for (const map of kernelMaps) map.close();
  }
});
