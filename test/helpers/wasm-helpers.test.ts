import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromPacket, H, INIT_RESULTS, PUBLISH, rawFrame, RESULTS, runtimeOnly, save } from './harness.js';
import { random } from '../support/random.js';

/**
 * The JIT answers bpf_csum_diff, bpf_skb_load_bytes and updates of present hash-map keys in
 * WebAssembly for unchecked programs (src/vm/jit/wasm-helpers.ts); the interpreter calls the JS
 * helpers. Runtime only (no kernel needed): the engines must agree on random bytes, every size shape
 * (words, halves, odd tails, empty sides), seeds with carries, offsets in and out of the packet, a
 * packet a helper moved, and update flags on present and absent keys.
 */

/** A tc program: packet bytes 14..77 onto the stack at r10 - 200, one csum_diff, the result published. */
const program = (fromSize: number, toSize: number, seed: number): string => fromPacket(`
  ${fromSize ? 'r1 = r10\n  r1 += -200' : 'r1 = 0'}
  r2 = ${fromSize}
  ${toSize ? 'r3 = r10\n  r3 += -168' : 'r3 = 0'}
  r4 = ${toSize}
  r5 = ${seed | 0}
  call ${H.csum_diff}
  ${save(0)}`);

test('csum_diff in wasm (JIT, unchecked) agrees with the JS helper (interpreter)', () => {
  const next = random(0xc0ffee);
  const shapes = [[0, 0], [0, 4], [4, 0], [4, 4], [1, 3], [2, 5], [13, 7], [32, 32], [0, 1], [6, 0], [31, 29]];
  for (const [fromSize, toSize] of shapes) {
    for (const seed of [0, 0xffff, 0xffffffff, 0x80000001]) {
      const payload = new Uint8Array(64).map(() => (next() < 0.3 ? 0xff : Math.floor(next() * 256)));
      runtimeOnly({ type: 'sched_cls', maps: [RESULTS], asm: program(fromSize!, toSize!, seed) }, { data: rawFrame(payload) });
    }
  }
});

/** skb_load_bytes(offset, len) into r10 - 200, the result and the first two loaded words published. */
const loadBytes = (offset: number, len: number, before = ''): string => `
  r6 = r1
  ${INIT_RESULTS}
  ${before}
  r1 = r6
  r2 = ${offset}
  r3 = r10
  r3 += -200
  r4 = ${len}
  call ${H.skb_load_bytes}
  ${save(0)}
  r1 = *(u64 *)(r10 - 200)
  ${save(1, 'r1')}
  r1 = *(u64 *)(r10 - 192)
  ${save(2, 'r1')}
  ${PUBLISH}
  r0 = 0
  exit`;

test('skb_load_bytes in wasm (JIT, unchecked) agrees with the JS helper (interpreter)', () => {
  const next = random(0x10adb);
  const frame = new Uint8Array(78).map(() => Math.floor(next() * 256));
  frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  // Stale bytes at the destination show whether a failed load zeroed it.
  const dirty = `r1 = -1\n  *(u64 *)(r10 - 200) = r1\n  *(u64 *)(r10 - 192) = r1`;
  for (const [offset, len] of [[0, 1], [0, 16], [3, 13], [62, 16], [63, 16], [77, 1], [78, 1], [100, 4], [-1, 4]]) {
    for (const type of ['sched_cls', 'socket_filter'] as const) {
      runtimeOnly({ type, maps: [RESULTS], asm: loadBytes(offset!, len!, dirty) }, { data: frame });
    }
  }
  // After skb_change_head moved the packet, loads read the new data.
  const grow = `r1 = r6\n  r2 = 8\n  r3 = 0\n  call ${H.skb_change_head}`;
  runtimeOnly({ type: 'sched_cls', maps: [RESULTS], asm: loadBytes(0, 16, grow) }, { data: frame });
});

test('map_update_elem in wasm (JIT, unchecked) agrees with the JS helper (interpreter)', () => {
  const counters = { name: 'counters', type: 'hash', keySize: 4, valueSize: 12, maxEntries: 2 } as const;
  // update(key, low word of the value, flags) into results slot n, then the lookups after them.
  const update = (k: number, v: number, flags: number, slot: number): string => `
  r1 = ${k}
  *(u32 *)(r10 - 72) = r1
  r1 = ${v}
  *(u32 *)(r10 - 88) = r1
  *(u32 *)(r10 - 84) = r1
  *(u32 *)(r10 - 80) = r1
  r1 = map(counters) ll
  r2 = r10
  r2 += -72
  r3 = r10
  r3 += -88
  r4 = ${flags}
  call ${H.map_update_elem}
  ${save(slot)}`;
  const lookup = (k: number, slot: number): string => `
  r1 = ${k}
  *(u32 *)(r10 - 72) = r1
  r1 = map(counters) ll
  r2 = r10
  r2 += -72
  call ${H.map_lookup_elem}
  r1 = -1
  if r0 == 0 goto +1
  r1 = *(u32 *)(r0 + 8)
  ${save(slot, 'r1')}`;
  const asm = `
  r6 = r1
  ${INIT_RESULTS}
  ${update(7, 1, 0, 0)}
  ${update(7, 2, 0, 1)}
  ${update(7, 3, 2, 2)}
  ${update(7, 4, 1, 3)}
  ${update(7, 5, 3, 4)}
  ${update(8, 6, 2, 5)}
  ${lookup(7, 6)}
  ${lookup(8, 7)}
  ${PUBLISH}
  r0 = 0
  exit`;
  const frame = new Uint8Array(64);
  frame.set([0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  const { results } = runtimeOnly({ type: 'sched_cls', maps: [RESULTS, counters], asm }, { data: frame });
  // ANY inserts then overwrites, EXIST overwrites, NOEXIST and flags 3 fail, EXIST on an absent key fails.
  assert.deepEqual(results, [0n, 0n, 0n, -17n, -22n, -2n, 3n, -1n]);
});
