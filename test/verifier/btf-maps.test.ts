import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assemble } from '../../src/isa/asm.js';
import type { MapSpec } from '../../src/maps/spec.js';
import { MapType } from '../../src/uapi/index.js';
import { verify } from '../../src/verifier/index.js';

/**
 * Maps whose value BTF places a bpf_spin_lock or a bpf_timer, and reads of the kernel's struct bpf_map
 * through a map pointer. Expected lines are Linux 6.18's, settled on this machine's kernel (clang-built
 * programs loaded with bpftool) and by the test_loader corpus verdicts.
 */

/** `struct val { int cnt; struct bpf_spin_lock l; }`. */
const lockMap: MapSpec = { name: 'm', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1, valueFields: [{ kind: 'spin_lock', offset: 4, size: 4 }] };
/** `struct tv { long x; struct bpf_timer t; }`. */
const timerMap: MapSpec = { name: 'tm', type: MapType.array, keySize: 4, valueSize: 24, maxEntries: 1, valueFields: [{ kind: 'timer', offset: 8, size: 16 }] };
const plainMap: MapSpec = { name: 'h', type: MapType.hash, keySize: 4, valueSize: 8, maxEntries: 4 };
const btfNoLock: MapSpec = { ...plainMap, name: 'b', valueFields: [] };

/** r0 = lookup(map_fd[MAP], key 0); r6 = r0 when not NULL; BODY; return 0. */
const lookupThen = (body: string, map = 0): string => `
  r1 = 0
  *(u32 *)(r10 - 4) = r1
  r2 = r10
  r2 += -4
  r1 = map_fd[${map}] ll
  call 1
  if r0 == 0 goto out
  r6 = r0
${body}
out:
  r0 = 0
  exit
`;
const LOCK = 'r1 = r6\n r1 += 4\n call 93';
const UNLOCK = 'r1 = r6\n r1 += 4\n call 94';

const check = (text: string, maps: MapSpec[], type = 'sched_cls'): string => {
  const r = verify({ insns: assemble(text), type, maps });
  return r.verdict === 'accept' ? 'accept' : r.error!.message;
};

test('bpf_spin_lock: a lock taken and released around map value updates is accepted', () => {
  assert.equal(check(lookupThen(`${LOCK}\n r1 = 1\n *(u32 *)(r6 + 0) = r1\n ${UNLOCK}`), [lockMap]), 'accept');
  assert.equal(check(lookupThen(`${LOCK}\n ${UNLOCK}`), [lockMap], 'xdp'), 'accept');
});

test('bpf_spin_lock: the kernel rules and lines', () => {
  assert.equal(check(lookupThen(LOCK), [lockMap]), 'BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region');
  assert.equal(check(lookupThen(`${LOCK}\n call 7\n ${UNLOCK}`), [lockMap]), 'function calls are not allowed while holding a lock');
  assert.equal(check(lookupThen(`${LOCK}\n ${LOCK}`), [lockMap]), 'function calls are not allowed while holding a lock');
  assert.equal(check(lookupThen(UNLOCK), [lockMap]), 'bpf_spin_unlock without taking a lock');
  assert.equal(check(lookupThen(`${LOCK}\n r1 = *(u32 *)(r6 + 4)\n ${UNLOCK}`), [lockMap]), 'bpf_spin_lock cannot be accessed directly by load/store');
  assert.equal(check(lookupThen(`${LOCK}\n *(u64 *)(r6 + 0) = 0\n ${UNLOCK}`), [lockMap]), 'bpf_spin_lock cannot be accessed directly by load/store');
  assert.equal(check(lookupThen('r1 = r6\n call 93'), [lockMap]), "off 0 doesn't point to 'struct bpf_spin_lock' that is at 4");
  assert.equal(check(lookupThen('r1 = r6\n r1 += 4\n call 93'), [plainMap]), "map 'h' has to have BTF in order to use bpf_spin_lock");
  assert.equal(check(lookupThen('r1 = r6\n r1 += 4\n call 93'), [btfNoLock]), "map 'b' has no valid bpf_spin_lock");
  assert.equal(check('r1 = r10\n r1 += -8\n call 93\n r0 = 0\n exit', [lockMap]), 'R1 type=fp expected=map_value, ptr_');
});

test('bpf_spin_unlock must release the lock taken, known by the value pointer it came through', () => {
  // A second lookup (before locking) gives another pointer, another id, though the key is the same.
  const second = `
  r1 = 0
  *(u32 *)(r10 - 8) = r1
  r2 = r10
  r2 += -8
  r1 = map_fd[0] ll
  call 1
  if r0 == 0 goto out
  r7 = r0
  ${LOCK}
  r1 = r7
  r1 += 4
  call 94`;
  assert.equal(check(lookupThen(second), [lockMap]), 'bpf_spin_unlock of different lock');
  const sameCopy = `${LOCK}\n r7 = r6\n r1 = r7\n r1 += 4\n call 94`;
  assert.equal(check(lookupThen(sameCopy), [lockMap]), 'accept');
});

test('bpf_spin_lock maps: socket filters and tracing programs may not use them', () => {
  const text = lookupThen(`${LOCK}\n ${UNLOCK}`);
  assert.equal(check(text, [lockMap], 'socket_filter'), 'socket filter progs cannot use bpf_spin_lock yet');
  assert.equal(check(text, [lockMap], 'kprobe'), 'tracing progs cannot use bpf_spin_lock yet');
});

/** Timer program: init (with MAP as the map argument), set the callback at insn 30, start, cancel. */
const timerProgram = (initMap: number, callbackReturn: number): string => `
  r1 = 0
  *(u32 *)(r10 - 4) = r1
  r2 = r10
  r2 += -4
  r1 = map_fd[0] ll
  call 1
  if r0 == 0 goto out
  r6 = r0
  r1 = r0
  r1 += 8
  r2 = map_fd[${initMap}] ll
  r3 = 1
  call 169
  r1 = r6
  r1 += 8
  r2 = func[12] ll
  call 170
  r1 = r6
  r1 += 8
  r2 = 1000
  r3 = 0
  call 171
  r1 = r6
  r1 += 8
  call 172
out:
  r0 = 0
  exit
  r0 = ${callbackReturn}
  exit
`;

test('bpf_timer: init, set_callback, start and cancel; the callback is verified and must return 0', () => {
  assert.equal(check(timerProgram(0, 0), [timerMap, lockMap]), 'accept');
  assert.equal(check(timerProgram(0, 1), [timerMap, lockMap]), 'At async callback return the register R0 has smin=1 smax=1 should have been in [0, 0]');
  assert.equal(check(timerProgram(1, 0), [timerMap, lockMap]), "timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0");
  assert.equal(check(lookupThen('r1 = r6\n r2 = map_fd[0] ll\n r3 = 1\n call 169'), [timerMap]), "off 0 doesn't point to 'struct bpf_timer' that is at 8");
  assert.equal(check(lookupThen('r0 = *(u32 *)(r6 + 12)'), [timerMap]), 'bpf_timer cannot be accessed directly by load/store');
  assert.equal(check(lookupThen('r1 = r6\n r1 += 8\n r2 = map_fd[0] ll\n r3 = 1\n call 169'), [timerMap], 'tracepoint'), 'tracing progs cannot use bpf_timer yet');
});

test('bpf_get_func_ip outside kprobe and fentry-like programs: the kernel line names the program type', () => {
  assert.equal(check('call 173\n r0 = 0\n exit', [], 'tracepoint'), 'func bpf_get_func_ip#173 not supported for program type 5');
  assert.equal(check('call 173\n r0 = 0\n exit', [], 'kprobe'), 'accept');
  assert.equal(check('call 173\n r0 = 0\n exit', [], 'socket_filter'), 'program of this type cannot use helper bpf_get_func_ip#173');
});

test('map pointers: struct bpf_map fields read as scalars, whole pointer members as kernel pointers', () => {
  const read = (load: string, map: MapSpec = plainMap): string => check(`r1 = map_fd[0] ll\n ${load}\n r0 = 0\n exit`, [map], 'socket_filter');
  assert.equal(read('r2 = *(u32 *)(r1 + 76)'), 'accept');
  assert.equal(read('r2 = *(u64 *)(r1 + 40)'), 'accept');
  assert.equal(read('r2 = *(u32 *)(r1 + 44)'), 'cannot access ptr member ops with moff 40 in struct bpf_map with off 44 size 4');
  assert.equal(read('r2 = *(u64 *)(r1 - 8)'), 'R1 is bpf_htab invalid negative access: off=-8');
  assert.equal(read('*(u32 *)(r1 + 76) = 1'), 'only read from bpf_htab is supported');
  assert.equal(read('r2 = *(u64 *)(r1 - 8)', { ...plainMap, type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 }), 'R1 is bpf_ringbuf_map invalid negative access: off=-8');
});
