import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AluOp, Size } from '../../src/isa/index.js';
import { asm, BpfMap, BpfProgram, Helper, RingBuffer, XdpAction } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { skipReason } from './support.js';

/** XDP program: bpf_ringbuf_output(&rb, &(u64){0x1234 + packet length}, 8, 0); return PASS. */
function producer(ringFd: number) {
  return [
    asm.ldx(Size.W, 2, 1, 0), asm.ldx(Size.W, 3, 1, 4), asm.alu64Reg(AluOp.SUB, 3, 2),
    asm.alu64Imm(AluOp.ADD, 3, 0x1234), asm.stx(Size.DW, 10, -8, 3),
    ...asm.ldMapFd(1, ringFd), asm.mov64Reg(2, 10), asm.alu64Imm(AluOp.ADD, 2, -8), asm.mov64Imm(3, 8), asm.mov64Imm(4, 0),
    asm.call(Helper.ringbuf_output), asm.mov64Imm(0, XdpAction.PASS), asm.exit(),
  ];
}

test('ring buffer reader over mmap: records in order, consumer position advances', { skip: skipReason }, async () => {
  using ring = BpfMap.create({ type: 'RINGBUF', keySize: 0, valueSize: 0, maxEntries: 4096, name: 'events' });
  using prog = BpfProgram.load({ type: 'XDP', insns: producer(ring.fd) });
  using reader = new RingBuffer(ring);
  for (const len of [20, 30, 40]) prog.testRun({ data: new Uint8Array(len) });
  assert.equal(reader.pending, 3 * 16);
  const seen: number[] = [];
  assert.equal(reader.consume((r) => seen.push(Number(new DataView(r.buffer).getBigUint64(0, true)))), 3);
  assert.deepEqual(seen, [0x1234 + 20, 0x1234 + 30, 0x1234 + 40]);
  assert.equal(reader.pending, 0);
  // Wrap around the 4 KiB data area several times.
  let total = 0;
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 100; i++) prog.testRun({ data: new Uint8Array(14 + i) });
    total += reader.consume(() => {});
  }
  assert.equal(total, 1000);
  // poll: resolves on data (epoll readiness) or on timeout with nothing.
  assert.equal(await reader.poll(() => {}, 20), 0);
  setTimeout(() => prog.testRun({ data: new Uint8Array(64) }), 10);
  const got: number[] = [];
  assert.equal(await reader.poll((r) => got.push(r.byteLength), 2000), 1);
  assert.deepEqual(got, [8]);
});

test('ring buffer reader refuses other map types', { skip: skipReason }, () => {
  using map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => new RingBuffer(map), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/not-ringbuf');
});
