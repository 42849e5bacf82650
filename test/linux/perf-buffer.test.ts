import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import koffi from 'koffi';
import { AluOp, Size } from '../../src/isa/index.js';
import { asm, BpfMap, BpfProgram, PerfBuffer, XdpAction, possibleCpuCount } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { join } from 'node:path';
import { attachProgram } from '../../src/linux/attach-object.js';
import { objectGlobals } from '../../src/linux/globals.js';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { repoRoot } from '../support/paths.js';
import { getpidSyscall, skipReason } from './support.js';

const STREAMS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'streams.bpf.o');

const PERF_EVENT_OUTPUT = 25;

/** XDP: bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &(u64){0x5000 + packet length}, 8); PASS. */
function producer(mapFd: number) {
  return [
    asm.ldx(Size.W, 2, 1, 0), asm.ldx(Size.W, 3, 1, 4), asm.alu64Reg(AluOp.SUB, 3, 2),
    asm.alu64Imm(AluOp.ADD, 3, 0x5000), asm.stx(Size.DW, 10, -8, 3),
    ...asm.ldMapFd(2, mapFd), ...asm.ldImm64(3, -1, 0), // flags: BPF_F_CURRENT_CPU (u32 all ones)
    asm.mov64Reg(4, 10), asm.alu64Imm(AluOp.ADD, 4, -8), asm.mov64Imm(5, 8),
    asm.call(PERF_EVENT_OUTPUT), asm.mov64Imm(0, XdpAction.PASS), asm.exit(),
  ];
}

/**
 * Test-run writes to the CPU it runs on; pin this thread to one CPU meanwhile so the records
 * all land in one ring and keep their order. Returns the undo.
 */
function pinToOneCpu(): () => void {
  const lib = koffi.load('libc.so.6');
  const getAffinity = lib.func('sched_getaffinity', 'int', ['int', 'size_t', 'void *']) as (pid: number, size: number, mask: Uint8Array) => number;
  const setAffinity = lib.func('sched_setaffinity', 'int', ['int', 'size_t', 'void *']) as (pid: number, size: number, mask: Uint8Array) => number;
  const saved = new Uint8Array(128);
  assert.equal(getAffinity(0, saved.length, saved), 0);
  const first = saved.findIndex((byte) => byte !== 0);
  const one = new Uint8Array(128);
  one[first] = saved[first]! & -saved[first]!; // lowest allowed CPU only
  assert.equal(setAffinity(0, one.length, one), 0);
  return () => void setAffinity(0, saved.length, saved);
}

const payload = (data: Uint8Array): number => Number(new DataView(data.buffer, data.byteOffset).getBigUint64(0, true));

function perfMap(): BpfMap {
  return BpfMap.create({ type: 'PERF_EVENT_ARRAY', keySize: 4, valueSize: 4, maxEntries: possibleCpuCount(), name: 'events' });
}

test('perf buffer: samples from bpf_perf_event_output in order, poll wakes on data', { skip: skipReason }, async () => {
  using events = perfMap();
  using prog = BpfProgram.load({ type: 'XDP', insns: producer(events.fd) });
  using reader = PerfBuffer.open(events, { pages: 2 });
  assert.ok(reader.cpus.length >= 1);
  const unpin = pinToOneCpu();
  try {
    assert.equal(await reader.poll(20), 0);
    for (const len of [20, 30, 40, 50]) assert.equal(prog.testRun({ data: new Uint8Array(len) }).retval, XdpAction.PASS);
    const seen: number[] = [];
    const cpus = new Set<number>();
    assert.equal(reader.consume((cpu, data) => {
      cpus.add(cpu);
      assert.ok(data.byteLength >= 8); // the kernel pads the raw size to keep records 8-byte aligned
      seen.push(payload(data));
    }), 4);
    assert.deepEqual(seen, [0x5000 + 20, 0x5000 + 30, 0x5000 + 40, 0x5000 + 50]);
    assert.equal(cpus.size, 1);
    assert.equal(reader.pending, 0);
    setTimeout(() => prog.testRun({ data: new Uint8Array(64) }), 10);
    assert.ok((await reader.poll(30_000)) > 0);
    const late: number[] = [];
    reader.consume((_cpu, data) => late.push(payload(data)));
    assert.deepEqual(late, [0x5000 + 64]);
  } finally {
    unpin();
  }
});

test('perf buffer: wrap-around in a 1-page ring, lost records reported', { skip: skipReason }, () => {
  using events = perfMap();
  using prog = BpfProgram.load({ type: 'XDP', insns: producer(events.fd) });
  using reader = PerfBuffer.open(events, { pages: 1 });
  const unpin = pinToOneCpu();
  try {
    // 24-byte records in 4096 bytes: each round of 100 ends elsewhere, so records straddle the end.
    const seen: number[] = [];
    const expected: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 100; i++) {
        const len = 14 + ((round * 100 + i) % 200);
        expected.push(0x5000 + len);
        prog.testRun({ data: new Uint8Array(len) });
      }
      reader.consume((_cpu, data) => seen.push(payload(data)));
    }
    assert.deepEqual(seen, expected);
    // Overflow: 300 records cannot fit; the kernel reports the drop in a LOST record once space frees.
    for (let i = 0; i < 300; i++) prog.testRun({ data: new Uint8Array(14) });
    let samples = reader.consume(() => {});
    assert.ok(samples > 0 && samples < 300, `got ${samples}`);
    prog.testRun({ data: new Uint8Array(14) });
    let lost = 0;
    samples += reader.consume(() => {}, (_cpu, count) => { lost += count; });
    assert.equal(samples + lost, 301);
  } finally {
    unpin();
  }
});

test('perf buffer: refuses other maps and bad page counts; close releases the map slots', { skip: skipReason }, () => {
  using array = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
  assert.throws(() => PerfBuffer.open(array), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/not-perf-event-array');
  using events = perfMap();
  assert.throws(() => PerfBuffer.open(events, { pages: 3 }), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/bad-perf-pages');
  const reader = PerfBuffer.open(events, { pages: 1 });
  const cpus = reader.cpus;
  reader.close();
  reader.close();
  assert.throws(() => reader.consume(() => {}), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/closed');
  // The slots are free again: a new reader can take them.
  using again = PerfBuffer.open(events, { pages: 1 });
  assert.deepEqual(again.cpus, cpus);
});

test('perf buffer: 200 open/poll/close cycles leave no fd or mapping behind', { skip: skipReason }, async () => {
  const openFds = (): number => readdirSync('/proc/self/fd').length;
  // Only perf rings: V8 maps and unmaps heap pages of its own at any time.
  const mappings = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.includes('[perf_event]')).length;
  using events = perfMap();
  using prog = BpfProgram.load({ type: 'XDP', insns: producer(events.fd) });
  const fdsBefore = openFds();
  const mapsBefore = mappings();
  for (let i = 0; i < 200; i++) {
    using reader = PerfBuffer.open(events, { pages: 1 });
    if (i % 20 === 0) {
      prog.testRun({ data: new Uint8Array(20) });
      assert.ok((await reader.poll(30_000)) > 0);
      assert.equal(reader.consume(() => {}), 1);
    }
  }
  assert.equal(openFds(), fdsBefore);
  assert.equal(mappings(), mapsBefore);
});

test('perf buffer async iterator: getpid tracepoint samples from every CPU; close() ends the loop', { skip: skipReason }, async () => {
  const object = openObjectForKernel(new Uint8Array(readFileSync(STREAMS_OBJ)), { fileName: 'streams.bpf.o' });
  objectGlobals(object, '.rodata').set('target_tgid', process.pid);
  using kernel = loadObjectIntoKernel(object);
  using _link = attachProgram(kernel, 'stream_getpid');
  const reader = PerfBuffer.open(kernel.map('perf_events'), { pages: 4 });
  setTimeout(() => { for (let i = 0; i < 25; i++) getpidSyscall(); }, 20);
  const deadline = setTimeout(() => reader.close(), 30_000); // ends the loop if samples go missing
  // The main thread may move between CPUs: order holds per CPU, and the sequence numbers cover all calls.
  const seqs: bigint[] = [];
  let lost = 0;
  for await (const { data } of reader.samples({ onLost: (_cpu, count) => { lost += count; } })) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (view.getUint32(0, true) !== process.pid || view.getUint32(4, true) !== process.pid) continue; // other threads
    seqs.push(view.getBigUint64(8, true));
    if (seqs.length === 25) break;
  }
  clearTimeout(deadline);
  setTimeout(() => reader.close(), 20);
  for await (const _sample of reader) {
    // Nothing more is written for this process; other threads' samples may still arrive.
  }
  assert.equal(lost, 0);
  assert.equal(seqs.length, 25);
  const sorted = [...seqs].sort((a, b) => (a < b ? -1 : 1));
  assert.equal(new Set(seqs).size, 25);
  assert.ok(sorted[24]! - sorted[0]! >= 24n);
});

test('perf buffer async iterator: an abort throws its reason; leaving the loop keeps the rest', { skip: skipReason }, async () => {
  using events = perfMap();
  using prog = BpfProgram.load({ type: 'XDP', insns: producer(events.fd) });
  using reader = PerfBuffer.open(events, { pages: 1 });
  await assert.rejects(async () => {
    for await (const _sample of reader.samples({ signal: AbortSignal.timeout(20) })) assert.fail('nothing was written');
  }, { name: 'TimeoutError' });
  const unpin = pinToOneCpu();
  try {
    for (const len of [20, 30, 40]) prog.testRun({ data: new Uint8Array(len) });
  } finally {
    unpin();
  }
  for await (const { data } of reader) {
    assert.equal(payload(data), 0x5000 + 20);
    break;
  }
  const rest: number[] = [];
  reader.consume((_cpu, data) => rest.push(payload(data)));
  assert.deepEqual(rest, [0x5000 + 30, 0x5000 + 40]);
});
