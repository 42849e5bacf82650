import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachProgram, parseAttachTarget, parseTargetWords } from '../../src/linux/attach-object.js';
import { attachCgroupLegacy, CgroupAttachFlag } from '../../src/linux/attach-cgroup.js';
import { attachTracing, loadTracingProgram, tracingUnavailableReason } from '../../src/linux/attach-tracing.js';
import { counterProgram } from '../../src/linux/asm.js';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { closeFd } from '../../src/linux/libc.js';
import { PerfEventLinks } from '../../src/linux/perf-event.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import type { ObjectProgram } from '../../src/object/types.js';
import { TsbpfError } from '../../src/errors.js';
import { repoRoot } from '../support/paths.js';
import { addNetns, getpidSyscall, deleteNetns, netnsName, netnsSkipReason, readU64, skipReason, u32 } from './support.js';
import { burnUntil, cgroupSkipReason, receiveTextEventually, runChildIn, sendText, tcpPair, TemporaryCgroups } from './attach-support.js';

/** hooks.bpf.c: one program per hook, each counting into `hits` at its slot. */
const HOOKS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'hooks.bpf.o');
const Slot = { TP_BTF: 0, FENTRY: 1, PERF: 2, EGRESS: 3, CONNECT: 4, SKB_VERDICT: 5, MSG_VERDICT: 6 } as const;
const UNTYPED = ['on_sample', 'on_egress', 'on_connect4', 'on_stream', 'on_msg'];

const hooksObject = () => openObjectForKernel(new Uint8Array(readFileSync(HOOKS_OBJ)), { fileName: HOOKS_OBJ });
const program = (section: string, attachTarget?: string): ObjectProgram =>
  hooksObject().programs.find((p) => p.section === section) ?? { ...hooksObject().programs[0]!, section, ...(attachTarget ? { attachTarget } : {}) };
const code = (c: string) => (e: unknown): boolean => e instanceof TsbpfError && e.code === c;

test('hook targets from sections + text, and from command-line words (no kernel needed)', () => {
  assert.deepEqual(parseAttachTarget(program('tp_btf/sys_enter'), undefined), { kind: 'tracing', tracing: 'tp_btf' });
  assert.deepEqual(parseAttachTarget(program('fentry/do_sys_openat2'), undefined), { kind: 'tracing', tracing: 'fentry' });
  assert.deepEqual(parseAttachTarget(program('perf_event'), undefined), { kind: 'perf_event' });
  assert.deepEqual(parseAttachTarget(program('perf_event'), 'task-clock freq 1000 pid 42'), { kind: 'perf_event', event: 'task-clock', sampleFrequency: 1000, pid: 42 });
  assert.deepEqual(parseAttachTarget(program('cgroup_skb/egress'), '/sys/fs/cgroup/x'), { kind: 'cgroup', path: '/sys/fs/cgroup/x', attachType: 'cgroup_inet_egress' });
  assert.deepEqual(parseAttachTarget(program('cgroup_skb/egress'), '/sys/fs/cgroup/x:inet_ingress'), { kind: 'cgroup', path: '/sys/fs/cgroup/x', attachType: 'inet_ingress' });
  assert.deepEqual(parseAttachTarget(program('sk_msg'), 'socks'), { kind: 'sockmap', map: 'socks', hook: 'sk_msg_verdict' });
  assert.throws(() => parseAttachTarget(program('cgroup_skb/egress'), undefined), code('linux/attach-no-target'));
  assert.throws(() => parseAttachTarget(program('perf_event'), 'cpu-clock period'), code('linux/attach-bad-target'));
  assert.deepEqual(parseTargetWords(['lsm']), { kind: 'tracing', tracing: 'lsm' });
  assert.deepEqual(parseTargetWords(['perf_event', 'cpu-clock', 'period', '100000', 'cpu', '0']), { kind: 'perf_event', event: 'cpu-clock', samplePeriod: 100000, cpu: 0 });
  assert.deepEqual(parseTargetWords(['cgroup', '/sys/fs/cgroup/x', 'inet4_connect']), { kind: 'cgroup', path: '/sys/fs/cgroup/x', attachType: 'inet4_connect' });
  assert.deepEqual(parseTargetWords(['sockmap', '/sys/fs/bpf/socks', 'stream_verdict']), { kind: 'sockmap', map: '/sys/fs/bpf/socks', hook: 'stream_verdict' });
  for (const bad of [['fentry', 'do_sys_openat2'], ['perf_event', 'warp-drive'], ['cgroup', '/x'], ['sockmap', 'm', 'sideways']]) {
    assert.throws(() => parseTargetWords(bad), (e: unknown) => e instanceof TsbpfError && /^linux\/attach-bad-/.test(e.code), bad.join(' '));
  }
});

const ns = netnsName('hooks');
const cgroups = new TemporaryCgroups();
before(() => {
  if (netnsSkipReason) return;
  addNetns(ns);
});
after(() => {
  deleteNetns(ns);
  cgroups.removeAll();
});

test('a clang object\'s perf_event, cgroup and sockmap programs attach from their sections', { skip: cgroupSkipReason ?? netnsSkipReason }, async () => {
  using kernel = loadObjectIntoKernel(hooksObject(), { programs: UNTYPED });
  const hits = kernel.map('hits');
  const read = (slot: number): number => readU64(hits.lookup(u32(slot))!);

  const perf = attachProgram(kernel, 'on_sample', 'cpu-clock period 100000');
  assert.ok(perf instanceof PerfEventLinks);
  assert.ok(burnUntil(() => read(Slot.PERF) > 0), 'perf_event sampled');
  perf.close();

  const cgroup = cgroups.create('hooks');
  {
    using _egress = attachProgram(kernel, 'on_egress', cgroup);
    using _connect = attachProgram(kernel, 'on_connect4', cgroup);
    assert.deepEqual(runChildIn(cgroup), { connected: true });
  }
  assert.ok(read(Slot.EGRESS) >= 10 && read(Slot.CONNECT) >= 1, `egress ${read(Slot.EGRESS)}, connect ${read(Slot.CONNECT)}`);

  const [client, server] = tcpPair(ns, 7403);
  try {
    // `socks` is a map of the same object: found by name.
    using _stream = attachProgram(kernel, 'on_stream', 'socks');
    using _msg = attachProgram(kernel, 'on_msg', 'socks');
    const socks = kernel.map('socks');
    socks.update(u32(0), u32(server));
    socks.update(u32(1), u32(client));
    assert.equal(sendText(client, 'ping'), 4);
    assert.equal(await receiveTextEventually(server, 4), 'ping');
  } finally {
    closeFd(client);
    closeFd(server);
  }
  assert.equal(read(Slot.MSG_VERDICT), 1, 'sk_msg saw the client\'s send');
  assert.ok(read(Slot.SKB_VERDICT) >= 1, 'sk_skb saw the server\'s receive');
});

test('a clang object\'s tp_btf and fentry programs, loaded against vmlinux BTF', { skip: skipReason }, () => {
  using loaded = loadObjectIntoKernel(hooksObject(), { programs: ['on_sys_enter'] });
  loaded.map('config').update(u32(0), u32(process.pid));
  {
    using _link = attachProgram(loaded, 'on_sys_enter');
    for (let i = 0; i < 10; i++) getpidSyscall();
  }
  assert.ok(readU64(loaded.map('hits').lookup(u32(Slot.TP_BTF))!) >= 10);
  if (tracingUnavailableReason('fentry')) {
    assert.throws(() => loadObjectIntoKernel(hooksObject(), { programs: ['on_openat2'] }), (e: unknown) => e instanceof TsbpfError);
    return;
  }
  using fentry = loadObjectIntoKernel(hooksObject(), { programs: ['on_openat2'] });
  fentry.map('config').update(u32(0), u32(process.pid));
  {
    using _link = attachProgram(fentry, 'on_openat2');
    for (let i = 0; i < 5; i++) closeSync(openSync('/dev/null', 'r'));
  }
  assert.ok(readU64(fentry.map('hits').lookup(u32(Slot.FENTRY))!) >= 5);
});

test('200 attach/close cycles of each hook leave no file descriptor behind', { skip: cgroupSkipReason }, () => {
  const openFds = (): number => readdirSync('/proc/self/fd').length;
  using kernel = loadObjectIntoKernel(hooksObject(), { programs: UNTYPED });
  const cgroup = cgroups.create('leak');
  using tpBtf = tracingUnavailableReason('tp_btf') ? undefined : loadTracingProgram('tp_btf', 'sys_enter', counterProgram(kernel.map('hits').fd, 0));
  const cycles: [string, () => { close(): void }][] = [
    ['perf_event', () => attachProgram(kernel, 'on_sample', 'cpu-clock cpu 0')],
    ['cgroup link', () => attachProgram(kernel, 'on_egress', cgroup)],
    ['cgroup legacy', () => attachCgroupLegacy(kernel.program('on_connect4'), cgroup, 'inet4_connect', CgroupAttachFlag.ALLOW_MULTI)],
    ['sockmap', () => attachProgram(kernel, 'on_msg', 'socks')],
    ...(tpBtf ? [['tp_btf', () => attachTracing(tpBtf, 'tp_btf')] as [string, () => { close(): void }]] : []),
  ];
  for (const [what, attach] of cycles) {
    attach().close();
    const before = openFds();
    for (let i = 0; i < 200; i++) attach().close();
    assert.equal(openFds(), before, what);
  }
});
