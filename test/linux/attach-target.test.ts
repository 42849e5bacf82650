import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AttachError, parseAttachTarget, parseTargetWords } from '../../src/linux/attach-object.js';
import type { ObjectProgram } from '../../src/object/types.js';

/** Only the fields target parsing reads. */
const prog = (section: string, attachTarget?: string): ObjectProgram => ({
  name: 'p', section, insns: [], mapRefs: [], functions: [], lineInfo: new Map(), coreRelocations: { applied: 0, poisoned: 0 },
  ...(attachTarget !== undefined ? { attachTarget } : {}),
});
const code = (c: string) => (e: unknown): boolean => e instanceof AttachError && e.code === c;

test('targets from sections and text (no kernel needed)', () => {
  assert.deepEqual(parseAttachTarget(prog('tracepoint/syscalls/sys_enter_getpid', 'syscalls/sys_enter_getpid'), undefined),
    { kind: 'tracepoint', category: 'syscalls', name: 'sys_enter_getpid' });
  assert.deepEqual(parseAttachTarget(prog('tp/sched/sched_switch'), 'sched:sched_switch'), { kind: 'tracepoint', category: 'sched', name: 'sched_switch' });
  assert.deepEqual(parseAttachTarget(prog('raw_tp/sys_enter', 'sys_enter'), undefined), { kind: 'raw_tracepoint', name: 'sys_enter' });
  assert.deepEqual(parseAttachTarget(prog('xdp'), 'veth0:native'), { kind: 'xdp', interface: 'veth0', mode: 'native' });
  assert.deepEqual(parseAttachTarget(prog('tc/ingress'), 'eth0'), { kind: 'tcx', interface: 'eth0', direction: 'ingress' });
  assert.deepEqual(parseAttachTarget(prog('tc'), 'eth0:egress'), { kind: 'tcx', interface: 'eth0', direction: 'egress' });
  assert.deepEqual(parseAttachTarget(prog('uretprobe/bin/bash:readline', '/bin/bash:readline'), undefined),
    { kind: 'uprobe', path: '/bin/bash', symbol: 'readline', retprobe: true });
  assert.deepEqual(parseAttachTarget(prog('uprobe'), '/lib/libc.so.6:getpid+0x4'), { kind: 'uprobe', path: '/lib/libc.so.6', symbol: 'getpid', offset: 4, retprobe: false });
  assert.deepEqual(parseAttachTarget(prog('kprobe/do_unlinkat', 'do_unlinkat'), undefined), { kind: 'kprobe', function: 'do_unlinkat', retprobe: false });
  assert.deepEqual(parseAttachTarget(prog('socket'), '5'), { kind: 'socket', fd: 5 });
  assert.deepEqual(parseAttachTarget(prog('usdt'), '/opt/a:b/app:myapp:tick'), { kind: 'usdt', path: '/opt/a:b/app', provider: 'myapp', name: 'tick' });
  assert.throws(() => parseAttachTarget(prog('usdt'), '/bin/app:tick'), code('linux/attach-bad-target'));
  assert.throws(() => parseAttachTarget(prog('xdp'), undefined), code('linux/attach-no-target'));
  assert.throws(() => parseAttachTarget(prog('tc'), 'eth0'), code('linux/attach-bad-target'));
  assert.throws(() => parseAttachTarget(prog('tracepoint/x'), 'justone'), code('linux/attach-bad-target'));
  assert.throws(() => parseAttachTarget(prog('sk_reuseport'), undefined), code('linux/attach-unsupported'));
});

test('targets from command-line words', () => {
  assert.deepEqual(parseTargetWords(['xdp', 'dev', 'veth0']), { kind: 'xdp', interface: 'veth0' });
  assert.deepEqual(parseTargetWords(['xdp', 'dev', 'veth0', 'native']), { kind: 'xdp', interface: 'veth0', mode: 'native' });
  assert.deepEqual(parseTargetWords(['tcx', 'egress', 'dev', 'eth0']), { kind: 'tcx', direction: 'egress', interface: 'eth0' });
  assert.deepEqual(parseTargetWords(['tracepoint', 'syscalls:sys_enter_getpid']), { kind: 'tracepoint', category: 'syscalls', name: 'sys_enter_getpid' });
  assert.deepEqual(parseTargetWords(['raw_tp', 'sys_exit']), { kind: 'raw_tracepoint', name: 'sys_exit' });
  assert.deepEqual(parseTargetWords(['uretprobe', '/bin/bash:readline']), { kind: 'uprobe', path: '/bin/bash', symbol: 'readline', retprobe: true });
  assert.deepEqual(parseTargetWords(['usdt', '/usr/bin/node:node:http__server__request']), { kind: 'usdt', path: '/usr/bin/node', provider: 'node', name: 'http__server__request' });
  for (const bad of [['xdp'], ['xdp', 'dev', 'x', 'turbo'], ['tcx', 'sideways', 'dev', 'x'], ['tracepoint', 'nocolon'], ['uprobe', 'nosymbol'], ['warp', '9']]) {
    assert.throws(() => parseTargetWords(bad), code('linux/attach-bad-target'), bad.join(' '));
  }
});
