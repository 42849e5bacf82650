import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BpfMap, BpfProgram, counterProgram, LinkType } from '../../src/linux/index.js';
import { attachPerfEventProgram, onlineCpus } from '../../src/linux/perf-event.js';
import { TsbpfError } from '../../src/errors.js';
import { readU64, skipReason, u32 } from './support.js';
import { burn, burnUntil } from './attach-support.js';

const opts = { skip: skipReason };

test('perf_event program on cpu-clock, one event per online CPU, fires and stops on close', opts, () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'PERF_EVENT', insns: counterProgram(counts.fd, 0) });
  const count = (): number => readU64(counts.lookup(u32(0))!);
  {
    // A 100 us period: about 10 samples per millisecond on each CPU (fewer when the kernel throttles).
    using links = attachPerfEventProgram(prog, { event: 'cpu-clock', samplePeriod: 100_000 });
    assert.equal(links.links.length, onlineCpus().length);
    const info = links.links[0]!.info();
    assert.equal(info.progId, prog.id);
    assert.equal(info.type, LinkType.PERF_EVENT);
    assert.ok(burnUntil(() => count() >= 50), `fired only ${count()} times in 10 s`);
  }
  const fired = count();
  burn(20);
  assert.equal(count(), fired, 'detached on close');
});

test('perf_event program on task-clock of one process, by frequency', opts, () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'PERF_EVENT', insns: counterProgram(counts.fd, 0) });
  {
    using links = attachPerfEventProgram(prog, { event: 'task-clock', pid: process.pid, sampleFrequency: 1000 });
    assert.equal(links.links.length, 1);
    assert.ok(burnUntil(() => readU64(counts.lookup(u32(0))!) > 0), 'sampled while this process ran');
  }
});

test('perf event options are checked before perf_event_open', opts, () => {
  using prog = BpfProgram.load({ type: 'PERF_EVENT', insns: counterProgram(0, 0).slice(-2) });
  const bad = (e: unknown): boolean => e instanceof TsbpfError && e.code === 'linux/bad-perf-event';
  assert.throws(() => attachPerfEventProgram(prog, { samplePeriod: 10, sampleFrequency: 10 }), bad);
  assert.throws(() => attachPerfEventProgram(prog, { samplePeriod: 0, cpu: 0 }), bad);
  // @ts-expect-error: an event name the table does not have
  assert.throws(() => attachPerfEventProgram(prog, { event: 'no-such-event', cpu: 0 }), bad);
});
