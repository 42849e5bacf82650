import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AluOp, Size } from '../../src/isa/index.js';
import { asm, BpfMap, BpfProgram, Helper, RingBuffer, XdpAction } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachProgram } from '../../src/linux/attach-object.js';
import { objectGlobals } from '../../src/linux/globals.js';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { repoRoot } from '../support/paths.js';
import { eventually, getpidSyscall, skipReason, sleep } from './support.js';

const STREAMS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'streams.bpf.o');

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
  assert.equal(await reader.poll((r) => got.push(r.byteLength), 30_000), 1);
  assert.deepEqual(got, [8]);
});

test('ring buffer reader refuses other map types', { skip: skipReason }, () => {
  using map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => new RingBuffer(map), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/not-ringbuf');
});

/** The streams fixture loaded for this process's getpid calls, its tracepoint attached. */
function streamGetpid() {
  const object = openObjectForKernel(new Uint8Array(readFileSync(STREAMS_OBJ)), { fileName: 'streams.bpf.o' });
  objectGlobals(object, '.rodata').set('target_tgid', process.pid);
  const kernel = loadObjectIntoKernel(object);
  const link = attachProgram(kernel, 'stream_getpid');
  return { kernel, [Symbol.dispose]: () => { link.close(); kernel.close(); } };
}

/** struct event { u32 tgid, pid; u64 seq } from this process's main thread (other threads call getpid too). */
function ownEvent(record: Uint8Array): bigint | undefined {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  return view.getUint32(0, true) === process.pid && view.getUint32(4, true) === process.pid ? view.getBigUint64(8, true) : undefined;
}

test('ring buffer async iterator: getpid tracepoint records in order; break loses none', { skip: skipReason }, async () => {
  using stream = streamGetpid();
  using reader = new RingBuffer(stream.kernel.map('ring_events'));
  setTimeout(() => { for (let i = 0; i < 30; i++) getpidSyscall(); }, 20);
  const seqs: bigint[] = [];
  for await (const record of reader.records({ signal: AbortSignal.timeout(30_000) })) {
    const seq = ownEvent(record);
    if (seq !== undefined) seqs.push(seq);
    if (seqs.length === 20) break;
  }
  assert.equal(seqs.length, 20);
  assert.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!));
  // The 10 records left behind are still there for the next loop.
  const rest: bigint[] = [];
  for await (const record of reader.records({ signal: AbortSignal.timeout(30_000) })) {
    const seq = ownEvent(record);
    if (seq !== undefined) rest.push(seq);
    if (rest.length === 10) break;
  }
  assert.ok(rest[0]! > seqs[19]!);
});

test('ring buffer async iterator: close() ends the loop, an abort throws its reason', { skip: skipReason }, async () => {
  using ring = BpfMap.create({ type: 'RINGBUF', keySize: 0, valueSize: 0, maxEntries: 4096, name: 'events' });
  using prog = BpfProgram.load({ type: 'XDP', insns: producer(ring.fd) });
  const reader = new RingBuffer(ring);
  setTimeout(() => prog.testRun({ data: new Uint8Array(20) }), 10);
  const seen: number[] = [];
  for await (const record of reader) {
    seen.push(record.byteLength);
    // Closed once the record is in: closing on a timer could beat the wakeup on a stalled event loop.
    setTimeout(() => reader.close(), 10);
  }
  assert.deepEqual(seen, [8]);

  using again = new RingBuffer(ring);
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(async () => {
    for await (const _record of again.records({ signal: controller.signal })) assert.fail('no records were written');
  }, { name: 'AbortError' });
  // poll() and an iterator may wait at the same time: both wake, one of them takes the record.
  const iterated = (async () => {
    let count = 0;
    for await (const _record of again) count++;
    return count;
  })();
  const polled = again.poll(() => {}, 30_000);
  setTimeout(() => prog.testRun({ data: new Uint8Array(30) }), 10);
  await sleep(20);
  // Closed once one of them took the record (a timer alone could fire before the wakeup).
  assert.ok(await eventually(() => again.pending === 0));
  again.close();
  assert.equal((await iterated) + (await polled), 1);
});
