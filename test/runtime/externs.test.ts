import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../src/errors.js';
import { openObject, type BpfObject } from '../../src/object/index.js';
import { DEFAULT_KERNEL, Runtime } from '../../src/runtime/index.js';
import { fixturesDir } from '../support/paths.js';
import { skipReason } from '../linux/support.js';
import { onEachEngine } from '../support/engines.js';

/**
 * libbpf externs and `.values` initialisers through the userspace runtime and, where bpf() is
 * available, the kernel: the same object gives the same results when the runtime is told this
 * machine's kernel (hostKernel).
 */

type Linux = typeof import('../../src/linux/kernel-object.js') & typeof import('../../src/linux/kernel-externs.js')
  & typeof import('../../src/linux/vmlinux.js') & typeof import('../../src/linux/btf-object.js');
const linux: Linux | undefined = skipReason === undefined
  ? {
    ...await import('../../src/linux/kernel-object.js'), ...await import('../../src/linux/kernel-externs.js'),
    ...await import('../../src/linux/vmlinux.js'), ...await import('../../src/linux/btf-object.js'),
  }
  : undefined;

const bytesOf = (name: string): Uint8Array => new Uint8Array(readFileSync(join(fixturesDir, 'externs', `${name}.bpf.o`)));
const open = (name: string): BpfObject => openObject(bytesOf(name), { fileName: `${name}.bpf.o` });
const packet = new Uint8Array(64);

/** The kernel's retval for each named program of `name` over `data` (one load per program). */
function kernelRuns(name: string, programs: readonly string[], data: Uint8Array): Map<string, number> {
  const object = linux!.openObjectForKernel(bytesOf(name), { fileName: `${name}.bpf.o` });
  const loaded = linux!.loadObjectIntoKernel(object, { programs, ignorePinning: true });
  try {
    return new Map(programs.map((p) => [p, loaded.program(p).testRun({ data }).retval]));
  } finally {
    loaded.close();
  }
}

test('kconfig externs read the default kernel description', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const loaded = runtime.loadObject(open('kconfig'));
    assert.equal(loaded.program('kernel_version').testRun({ data: packet }).retval, DEFAULT_KERNEL.version & 0xffff);
    assert.equal(loaded.program('config_hz').testRun({ data: packet }).retval, 250);
    // Cookie, wrapper, CONFIG_BPF_SYSCALL, CONFIG_BPF_JIT=y, two weak zeros, no CONFIG_LOCALVERSION.
    assert.equal(loaded.program('config_bits').testRun({ data: packet }).retval, 127);
  });
});

test('kconfig: a configured kernel; a missing non-weak CONFIG_ is an error naming it', () => {
  const config = { CONFIG_HZ: '1000', CONFIG_BPF_SYSCALL: 'n', CONFIG_BPF_JIT: 'm', CONFIG_LOCALVERSION: '"-x"' };
  using runtime = new Runtime({ kernel: { version: 0x050f00, config, hasSyscallWrapper: false } });
  const loaded = runtime.loadObject(open('kconfig'));
  assert.equal(loaded.program('kernel_version').testRun({ data: packet }).retval, 0x0f00);
  assert.equal(loaded.program('config_hz').testRun({ data: packet }).retval, 1000);
  assert.equal(loaded.program('config_bits').testRun({ data: packet }).retval, 1 | 16 | 32);
  const { CONFIG_BPF_SYSCALL: _syscall, ...withoutSyscall } = config;
  using missing = new Runtime({ kernel: { config: withoutSyscall } });
  assert.throws(() => missing.loadObject(open('kconfig')), (e: unknown) => e instanceof TsbpfError && e.code === 'object/unresolved-extern' && /CONFIG_BPF_SYSCALL: value not found/.test(e.message));
});

test('kconfig: the same object gives the kernel\'s values when the runtime describes this kernel', (t) => {
  if (!linux) return t.skip(skipReason);
  const programs = ['kernel_version', 'config_hz', 'config_bits'];
  const fromKernel = kernelRuns('kconfig', programs, packet);
  using runtime = new Runtime({ kernel: linux.hostKernel() });
  const loaded = runtime.loadObject(open('kconfig'));
  for (const p of programs) assert.equal(loaded.program(p).testRun({ data: packet }).retval, fromKernel.get(p), p);
});

test('BTF declaring externs is rewritten so the kernel takes it (func_info, the .kconfig map type)', (t) => {
  if (!linux) return t.skip(skipReason);
  for (const name of ['kconfig', 'ksym']) linux.BpfBtf.load(open(name).btfRaw!).close();
});

test('weak ksyms and a weak kfunc the kernel lacks read 0 in both backends', (t) => {
  using runtime = new Runtime();
  const retval = runtime.loadObject(open('ksym'), { programs: ['weak_ksyms'] }).program('weak_ksyms').testRun({ data: packet }).retval;
  assert.equal(retval, 7);
  if (!linux) return t.skip(skipReason);
  assert.equal(kernelRuns('ksym', ['weak_ksyms'], packet).get('weak_ksyms'), 7);
});

test('kfuncs and strong ksyms: refused by name in the runtime, resolved from vmlinux BTF for the kernel', (t) => {
  using runtime = new Runtime();
  const object = open('ksym');
  assert.throws(() => runtime.loadObject(object, { programs: ['kfunc_call'] }), (e: unknown) => e instanceof TsbpfError && e.code === 'load/extern' && /kfunc bpf_cast_to_kern_ctx/.test(e.message));
  assert.throws(() => runtime.loadObject(object, { programs: ['typed_ksym'] }), /kernel symbol runqueues \(typed __ksym\)/);
  if (!linux) return t.skip(skipReason);
  // The kfunc returns the kernel's xdp_buff: non-null, so XDP_PASS.
  assert.equal(kernelRuns('ksym', ['kfunc_call'], packet).get('kfunc_call'), 2);
  const kernelObject = linux.openObjectForKernel(bytesOf('ksym'));
  linux.loadObjectIntoKernel(kernelObject, { programs: ['current_task'], ignorePinning: true }).close();
  // The typed ksym binds to vmlinux's VAR when kallsyms has its address (CONFIG_KALLSYMS_ALL);
  // otherwise the kernel could not load it, and the error says why.
  if (readFileSync('/proc/kallsyms', 'latin1').includes(' runqueues\n')) {
    linux.loadObjectIntoKernel(kernelObject, { programs: ['typed_ksym'], ignorePinning: true }).close();
  } else {
    assert.throws(() => linux.loadObjectIntoKernel(kernelObject, { programs: ['typed_ksym'], ignorePinning: true }), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/unresolved-extern' && /runqueues: .*kallsyms/.test(e.message));
  }
});

test('libbpf\'s usdt.bpf.h (a .kconfig extern, a __hidden weak subprogram) loads in the kernel', (t) => {
  if (!linux) return t.skip(skipReason);
  const loaded = linux.loadObjectIntoKernel(linux.openObjectForKernel(bytesOf('usdt')), { ignorePinning: true });
  loaded.close();
});

test('libbpf\'s usdt.bpf.h loads in the runtime (bpf_get_attach_cookie in a kprobe program, ctx + a variable offset)', () => {
  using runtime = new Runtime();
  runtime.loadObject(open('usdt'));
});

test('prog_array .values fill the slots once the programs are loaded', () => {
  onEachEngine((engine) => {
    using runtime = new Runtime({ engine });
    const loaded = runtime.loadObject(open('prog_array'));
    const verdicts = [14, 15, 16, 17].map((length) => loaded.program('entry').testRun({ data: new Uint8Array(length) }).retval);
    // Slot 0 holds slot_a (XDP_DROP), slot 2 slot_b (which reads the inner map); slots 1 and 3 are empty (XDP_PASS).
    assert.deepEqual(verdicts, [1, 2, 3, 2], 'as the kernel');
    assert.equal(loaded.map('outer').lookup(new Uint8Array(4)), undefined);
    assert.deepEqual(loaded.map('outer').lookup(new Uint8Array([1, 0, 0, 0])), new Uint8Array(new Uint32Array([loaded.map('answer').id]).buffer));
  });
});

test('prog_array and map-in-map .values in the kernel', (t) => {
  if (!linux) return t.skip(skipReason);
  const object = linux.openObjectForKernel(bytesOf('prog_array'));
  const loaded = linux.loadObjectIntoKernel(object, { ignorePinning: true });
  try {
    const verdicts = [14, 15, 16, 17].map((length) => loaded.program('entry').testRun({ data: new Uint8Array(length) }).retval);
    assert.deepEqual(verdicts, [1, 2, 3, 2]);
  } finally {
    loaded.close();
  }
});

test('map-in-map lookups from a program see the initial inner map', () => {
  using runtime = new Runtime();
  const loaded = runtime.loadObject(open('prog_array'));
  assert.equal(loaded.program('slot_b').testRun({ data: new Uint8Array(14) }).retval, 3);
});
