import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble } from '../../src/isa/asm.js';
import type { MapSpec } from '../../src/maps/spec.js';
import { Runtime } from '../../src/runtime/index.js';
import { MapType } from '../../src/uapi/index.js';
import { onEachEngine } from '../support/engines.js';

/**
 * The userspace runtime on programs that lock and time through map value BTF: bpf_spin_lock works on
 * the value's lock word (1 while held, 0 when free); timers are refused at load time, as the runtime
 * has no clock that fires callbacks outside a test run.
 */

/** `struct val { int cnt; struct bpf_spin_lock l; }`. */
const LOCKED: MapSpec = { name: 'm', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1, valueFields: [{ kind: 'spin_lock', offset: 4, size: 4 }] };
const TIMED: MapSpec = { name: 'tm', type: MapType.array, keySize: 4, valueSize: 16, maxEntries: 1, valueFields: [{ kind: 'timer', offset: 0, size: 16 }] };

/** Look up key 0, then BODY with the value in r6; return r7. */
const program = (mapId: number, body: string): string => `
  r7 = 0
  r1 = 0
  *(u32 *)(r10 - 4) = r1
  r2 = r10
  r2 += -4
  r1 = map_fd[${mapId}] ll
  call 1
  if r0 == 0 goto out
  r6 = r0
${body}
out:
  r0 = r7
  exit
`;

test('bpf_spin_lock and bpf_spin_unlock around an update leave the lock free for the next run', () => {
  onEachEngine((engine) => {
    const rt = new Runtime();
    try {
      const map = rt.createMap(LOCKED);
      const prog = rt.loadProgram(assemble(program(map.id, `
  r1 = r6
  r1 += 4
  call 93
  r1 = *(u32 *)(r6 + 0)
  r1 += 1
  *(u32 *)(r6 + 0) = r1
  r1 = r6
  r1 += 4
  call 94
  r7 = *(u32 *)(r6 + 0)`)), { type: 'sched_cls', engine });
      assert.equal(rt.testRun(prog, { data: new Uint8Array(64) }).retval, 1);
      assert.equal(rt.testRun(prog, { data: new Uint8Array(64) }).retval, 2);
      assert.deepEqual([...map.lookup(new Uint8Array(4))!], [2, 0, 0, 0, 0, 0, 0, 0]);
    } finally {
      rt.close();
    }
  });
});

test('the lock word says whether the lock is held: a second lock or a stray unlock faults (unverified programs)', () => {
  onEachEngine((engine) => {
    const rt = new Runtime();
    try {
      const map = rt.createMap(LOCKED);
      const stray = rt.loadProgram(assemble(program(map.id, 'r1 = r6\n r1 += 4\n call 94')), { type: 'sched_cls', engine, verify: false });
      assert.throws(() => rt.testRun(stray, { data: new Uint8Array(64) }), /bpf_spin_unlock of a lock not held/);
      const twice = rt.loadProgram(assemble(program(map.id, 'r1 = r6\n r1 += 4\n call 93\n r1 = r6\n r1 += 4\n call 93')), { type: 'sched_cls', engine, verify: false });
      assert.throws(() => rt.testRun(twice, { data: new Uint8Array(64) }), /bpf_spin_lock of a lock already held/);
    } finally {
      rt.close();
    }
  });
});

test('timer helpers are refused at load time by the userspace runtime', () => {
  const rt = new Runtime();
  try {
    const map = rt.createMap(TIMED);
    const insns = assemble(program(map.id, `
  r1 = r6
  r2 = map_fd[${map.id}] ll
  r3 = 1
  call 169`));
    assert.throws(() => rt.loadProgram(insns, { type: 'sched_cls' }), /bpf_timer_init#169, which the userspace runtime does not implement/);
  } finally {
    rt.close();
  }
});
