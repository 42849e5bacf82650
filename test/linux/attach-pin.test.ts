import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.js';
import type { CliIO } from '../../src/cli/command.js';
import { BpfLink, BpfMap, BpfProgram, counterProgram, ensureBpffs } from '../../src/linux/index.js';
import { attachTracing, loadTracingProgram, tracingUnavailableReason } from '../../src/linux/attach-tracing.js';
import { attachPerfEventProgram, onlineCpus } from '../../src/linux/perf-event.js';
import { eventually, getpidSyscall, readU64, runTag, skipReason, u32 } from './support.js';
import { burnUntil } from './attach-support.js';

const dir = skipReason ? '' : join(ensureBpffs(), `tsbpf-${runTag}-links`);
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The link's id leaves the kernel's list: it was released (from a work queue when a pin held the last reference). */
const linkGone = (id: number): Promise<boolean> => eventually(() => ![...BpfLink.ids()].includes(id));

test('a pinned tp_btf link survives close() of every fd; removing the pin detaches it', { skip: skipReason }, async (t) => {
  const why = tracingUnavailableReason('tp_btf');
  if (why) return t.skip(why);
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = loadTracingProgram('tp_btf', 'sys_enter', counterProgram(counts.fd, 0, { tgid: process.pid }));
  const path = join(dir, 'tp_btf');
  const link = attachTracing(prog, 'tp_btf');
  const id = link.info().id;
  link.pin(path);
  link.close();
  const count = (): number => readU64(counts.lookup(u32(0))!);
  const before = count();
  for (let i = 0; i < 5; i++) getpidSyscall();
  assert.ok(count() >= before + 5, 'still attached through the pin');
  {
    using reopened = BpfLink.fromPin(path);
    assert.equal(reopened.info().id, id);
    assert.equal(reopened.info().progId, prog.id);
    rmSync(path);
    for (let i = 0; i < 5; i++) getpidSyscall();
    assert.ok(count() >= before + 10, 'our reopened fd still holds it');
  }
  assert.ok(await linkGone(id), 'last reference gone: link released');
  const after = count();
  for (let i = 0; i < 5; i++) getpidSyscall();
  assert.equal(count(), after, 'detached');
});

test('perf_event links pinned one per CPU keep sampling after close', { skip: skipReason }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'PERF_EVENT', insns: counterProgram(counts.fd, 0) });
  const links = attachPerfEventProgram(prog, { samplePeriod: 100_000 });
  const paths = links.pin(join(dir, 'perf'));
  const ids = links.links.map((l) => l.info().id);
  links.close();
  assert.deepEqual(readdirSync(join(dir, 'perf')).sort(), onlineCpus().map((c) => `cpu${c}`).sort());
  const before = readU64(counts.lookup(u32(0))!);
  assert.ok(burnUntil(() => readU64(counts.lookup(u32(0))!) > before), 'sampling through the pins');
  for (const p of paths) rmSync(p);
  for (const id of ids) assert.ok(await linkGone(id));
});

test('tsbpf prog attach PIN perf_event ... --pin PATH leaves a pinned link behind', { skip: skipReason }, async () => {
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = BpfProgram.load({ type: 'PERF_EVENT', insns: counterProgram(counts.fd, 0) });
  prog.pin(join(dir, 'prog'));
  let out = '';
  let err = '';
  const io: CliIO = { stdout: (s) => (out += s), stderr: (s) => (err += s), readStdin: async () => Buffer.alloc(0), isTTY: false };
  const status = await main(['prog', 'attach', join(dir, 'prog'), 'perf_event', 'cpu-clock', 'period', '100000', 'cpu', '0', '--pin', join(dir, 'cli-link')], io);
  assert.equal(status, 0, err);
  assert.match(out, /perf_event cpu-clock on 1 CPU: 1 link pinned at .*cli-link; remove the pins to detach/);
  assert.ok(existsSync(join(dir, 'cli-link')));
  using link = BpfLink.fromPin(join(dir, 'cli-link'));
  assert.equal(link.info().progId, prog.id);
  let help = '';
  await main(['prog', '--help'], { ...io, stdout: (s) => (help += s) });
  assert.match(help, /perf_event \[EVENT\] \[period N \| freq N\] \[pid N \| cpu N\]/);
  assert.match(help, /--pin PATH/);
});
