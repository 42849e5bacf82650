import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RingBufMap } from '../../src/maps/ringbuf.js';
import { H, INIT_RESULTS, PUBLISH, RESULTS, hex, linux, save, skipReason, udpFrame, withPair, type MapDecl } from './harness.js';

/**
 * Ring buffer helpers against the kernel: reserve/submit/discard/output, record order as a consumer
 * reads it, ringbuf_query's four answers, and the flag and size errors.
 */

const options = { skip: skipReason };
const RING: MapDecl = { name: 'rb', type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 };

/** Reserve `size` bytes, fill the first 8 with `tag`, then submit or discard; r0 (0 on failure) into `slot`. */
const reserve = (size: number, tag: number, commit: 'submit' | 'discard', slot: number, flags = 0): string => `
  r1 = map(rb) ll
  r2 = ${size}
  r3 = ${flags}
  call ${H.ringbuf_reserve}
  r7 = r0
  if r7 == 0 goto skip_${slot}
  r1 = ${tag}
  *(u64 *)(r7 + 0) = r1
  r1 = r7
  r2 = 0
  call ${commit === 'submit' ? H.ringbuf_submit : H.ringbuf_discard}
  r7 = 1
skip_${slot}:
  ${save(slot, 'r7')}`;

const output = (tag: number, size: number, flags: number, slot: number): string => `
  r1 = ${tag}
  *(u64 *)(r10 - 96) = r1
  *(u64 *)(r10 - 88) = r1
  r1 = map(rb) ll
  r2 = r10
  r2 += -96
  r3 = ${size}
  r4 = ${flags}
  call ${H.ringbuf_output}
  ${save(slot)}`;

const query = (flag: number, slot: number): string => `
  r1 = map(rb) ll
  r2 = ${flag}
  call ${H.ringbuf_query}
  ${save(slot)}`;

test('ringbuf: record order, discard, output, query, flag and size errors', options, () => {
  const body = [
    reserve(16, 0x11, 'submit', 0), reserve(24, 0x22, 'discard', 1), output(0x33, 16, 0, 2), output(0x44, 12, 1, 3),
    query(0, 4), query(1, 5), query(3, 6),
    reserve(8, 0x55, 'submit', 7, 1),
  ].join('\n');
  const errors = [
    output(0x66, 8, 4, 0), reserve(4096, 0x77, 'submit', 1), reserve(4088, 0x77, 'submit', 2), output(0x88, 8, 2, 3), query(2, 4), query(9, 5),
    output(0x99, 0, 0, 6), query(3, 7),
  ].join('\n');
  for (const [name, asm] of [['order', body], ['errors', errors]] as const) {
    withPair({ type: 'xdp', maps: [RESULTS, RING], asm: `r6 = r1\n${INIT_RESULTS}\n${asm}\n${PUBLISH}\nr0 = 2\nexit` }, (p) => {
      p.agree({ data: udpFrame(8) }, `${name} run 1`);
      p.agree({ data: udpFrame(8) }, `${name} run 2`);
      const user = (p.userMaps.get('rb') as RingBufMap).drain().map(hex);
      const reader = new linux!.RingBuffer(p.kernMaps.get('rb')!);
      const kern: string[] = [];
      try {
        reader.consume((r) => kern.push(hex(r)));
      } finally {
        reader.close();
      }
      assert.deepEqual(user, kern, `${name}: records as a consumer reads them`);
    });
  }
});
