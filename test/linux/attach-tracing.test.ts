import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openSync, closeSync } from 'node:fs';
import { BpfMap, counterProgram, LinkType } from '../../src/linux/index.js';
import {
  attachBtfIdForSection, attachTracing, loadTracingProgram, tracingAttachBtfId, tracingUnavailableReason, type TracingKind,
} from '../../src/linux/attach-tracing.js';
import { TsbpfError } from '../../src/errors.js';
import { getpidSyscall, readU64, skipReason, u32 } from './support.js';

const opts = { skip: skipReason };

test('attach_btf_id comes from the kernel BTF: FUNC for fentry/lsm, btf_trace_EVENT typedef for tp_btf', opts, () => {
  assert.ok(tracingAttachBtfId('fentry', 'do_sys_openat2') > 0);
  assert.ok(tracingAttachBtfId('tp_btf', 'sys_enter') > 0);
  assert.notEqual(tracingAttachBtfId('tp_btf', 'sys_enter'), tracingAttachBtfId('fentry', 'do_sys_openat2'));
  assert.equal(attachBtfIdForSection('fexit/do_sys_openat2'), tracingAttachBtfId('fexit', 'do_sys_openat2'));
  assert.equal(attachBtfIdForSection('tracepoint/syscalls/sys_enter_getpid'), undefined);
  assert.throws(() => tracingAttachBtfId('fentry', 'no_such_kernel_function'),
    (e: unknown) => e instanceof TsbpfError && e.code === 'linux/attach-no-btf-target' && /no FUNC no_such_kernel_function/.test(e.message));
});

test('tp_btf/sys_enter counts this process\'s real getpid() syscalls through a tracing link', opts, (t) => {
  const why = tracingUnavailableReason('tp_btf');
  if (why) return t.skip(why);
  using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
  using prog = loadTracingProgram('tp_btf', 'sys_enter', counterProgram(counts.fd, 0, { tgid: process.pid }));
  {
    using link = attachTracing(prog, 'tp_btf');
    const info = link.info();
    assert.equal(info.progId, prog.id);
    assert.ok(info.type === LinkType.TRACING || info.type === LinkType.RAW_TRACEPOINT, `link type ${info.typeName}`);
    for (let i = 0; i < 20; i++) getpidSyscall();
  }
  const seen = readU64(counts.lookup(u32(0))!);
  assert.ok(seen >= 20, `saw ${seen} syscalls`);
  for (let i = 0; i < 20; i++) getpidSyscall();
  assert.equal(readU64(counts.lookup(u32(0))!), seen, 'detached on close');
});

for (const kind of ['fentry', 'fexit'] as const satisfies readonly TracingKind[]) {
  test(`${kind}/do_sys_openat2 counts opens, or the kernel's refusal is detected and explained`, opts, () => {
    using counts = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
    const why = tracingUnavailableReason(kind);
    if (why) {
      // This is what a kernel that forbids trampolines must produce: a typed error, not a hang or crash.
      assert.throws(() => loadTracingProgram(kind, 'do_sys_openat2', counterProgram(counts.fd, 0)),
        (e: unknown) => e instanceof TsbpfError && e.code === `linux/attach-no-${kind}` && e.message === why);
      assert.match(why, new RegExp(`${kind} programs`));
      return;
    }
    using prog = loadTracingProgram(kind, 'do_sys_openat2', counterProgram(counts.fd, 0, { tgid: process.pid }));
    {
      using _link = attachTracing(prog, kind);
      for (let i = 0; i < 5; i++) closeSync(openSync('/dev/null', 'r'));
    }
    assert.ok(readU64(counts.lookup(u32(0))!) >= 5);
  });
}

test('lsm and fmod_ret: loaded where the kernel allows, otherwise a stated reason', opts, () => {
  for (const kind of ['lsm', 'fmod_ret'] as const) {
    const why = tracingUnavailableReason(kind);
    if (why !== undefined) assert.match(why, new RegExp(kind));
    assert.equal(tracingUnavailableReason(kind), why, 'probed once, cached');
  }
});
