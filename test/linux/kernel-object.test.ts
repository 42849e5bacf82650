import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { loadObjectIntoKernel, type KernelObject } from '../../src/linux/kernel-object.js';
import { openObjectForKernel, vmlinuxBtf } from '../../src/linux/vmlinux.js';
import { attachProgram, AttachError, kprobeUnavailableReason } from '../../src/linux/attach-object.js';
import { verifyInKernel } from '../../src/linux/verify.js';
import { dumpKernelMap } from '../../src/linux/map-dump.js';
import { xlatedProgram } from '../../src/linux/prog-dump.js';
import { BpfMap, BpfLink, RingBuffer, BpfVerifierError, dynamicPmuType, ensureBpffs } from '../../src/linux/index.js';
import { TsbpfError } from '../../src/errors.js';
import { editMap, objectMap, openObject } from '../../src/object/index.js';
import { possibleCpuCount } from '../../src/linux/cpus.js';
import { MapType } from '../../src/uapi/map-types.js';
import { corpus, fixturesDir, missingCorpus, repoRoot } from '../support/paths.js';
import { getpidSyscall, readU64, skipReason, u32 } from './support.js';

const SYSCALLS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'syscalls.bpf.o');
const CORE_OBJ = join(fixturesDir, 'core', 'core_read.bpf.o');
const coreSkip = skipReason ?? (existsSync('/sys/kernel/btf/vmlinux') ? undefined : 'no /sys/kernel/btf/vmlinux');

const openFile = (path: string) => openObjectForKernel(new Uint8Array(readFileSync(path)), { fileName: path });

/** A fresh bpffs folder for pins, removed afterwards. */
function withPinDir<T>(fn: (dir: string) => T): T {
  ensureBpffs();
  const dir = join('/sys/fs/bpf', `tsbpf-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('CO-RE against the running kernel: task->pid, tgid and the parent read through relocated offsets', { skip: coreSkip }, () => {
  const object = openFile(CORE_OBJ);
  const readTask = object.programs.find((p) => p.name === 'read_task')!;
  assert.ok(readTask.coreRelocations.applied > 20);
  const local = openObject(new Uint8Array(readFileSync(CORE_OBJ)));
  assert.notDeepEqual(readTask.insns, local.programs.find((p) => p.name === 'read_task')!.insns, 'offsets moved to the kernel layout');
  using kernel = loadObjectIntoKernel(object, { programs: ['read_task'] });
  const bss = kernel.map('.bss');
  const out = (): bigint[] => Array.from(new BigUint64Array(bss.lookup(u32(0))!.slice().buffer));
  {
    using _link = attachProgram(kernel, 'read_task');
    // Any thread's getpid() fires the tracepoint (another process's, or another Node thread's); retry
    // until our main thread's was the last one.
    const ours = (v: bigint[]): boolean => v[0] === BigInt(process.pid) && v[1] === BigInt(process.pid) && v[4] === BigInt(process.ppid);
    let values = out();
    for (let i = 0; i < 1000 && !ours(values); i++) {
      getpidSyscall();
      values = out();
    }
    assert.equal(values[0], BigInt(process.pid), 'task->pid of the main thread');
    assert.equal(values[1], BigInt(process.pid), 'task->tgid');
    assert.equal(values[4], BigInt(process.ppid), 'task->real_parent->pid');
    assert.equal(values[5], BigInt(process.pid), 'flavour task_struct___old->pid');
    assert.equal(values[8], 4n, 'pid is 4 bytes');
    assert.equal(values[10], 0n, 'task_struct has no `state` since 5.14');
    assert.equal(values[12], BigInt(vmlinuxBtf().resolveSize(vmlinuxBtf().findByName('task_struct', 'STRUCT')!.id)), 'sizeof(struct task_struct)');
    assert.equal(values[13], 1n);
    assert.equal(values[14], 0n, 'no_such_type_in_kernel');
    assert.equal(values[20], BigInt(vmlinuxBtf().findByName('task_struct', 'STRUCT')!.id), 'target type id');
  }
  // Both programs pass the kernel verifier with relocated context offsets.
  assert.equal(verifyInKernel(object, 'read_ctx').verdict, 'accept');
});

test('a tracepoint program from an object counts real getpid() calls and streams them through its ring buffer', { skip: skipReason }, async () => {
  using kernel = loadObjectIntoKernel(openFile(SYSCALLS_OBJ), { programs: ['count_getpid'], ignorePinning: true });
  using reader = new RingBuffer(kernel.map('events'));
  const mine: number[] = [];
  const collect = (r: Uint8Array): void => {
    const view = new DataView(r.buffer, r.byteOffset, r.byteLength);
    // The main thread only (tgid and tid both the pid): other Node threads may call getpid too.
    if (view.getUint32(0, true) === process.pid && view.getUint32(4, true) === process.pid) mine.push(Number(view.getBigUint64(8, true)));
  };
  {
    using _link = attachProgram(kernel, 'count_getpid');
    for (let i = 0; i < 25; i++) assert.equal(getpidSyscall(), process.pid);
    await reader.poll(collect, 1000);
    reader.consume(collect);
  }
  assert.equal(mine.length, 25);
  assert.deepEqual(mine, [...mine].sort((a, b) => a - b), 'counts increase');
  assert.ok(readU64(kernel.map('calls').lookup(u32(0))!) >= 25);
  const before = readU64(kernel.map('calls').lookup(u32(0))!);
  getpidSyscall();
  assert.equal(readU64(kernel.map('calls').lookup(u32(0))!), before, 'detached on close');
});

test('raw_tp, uprobe and socket programs attach from their sections; kprobes explain themselves', { skip: skipReason }, () => {
  withPinDir((dir) => {
    using kernel = loadObjectIntoKernel(openFile(SYSCALLS_OBJ), { pinRoot: dir, programs: ['count_raw', 'on_call', 'keep_all', 'pass_all'] });
    const totals = kernel.map('tsbpf_totals');
    {
      using link = attachProgram(kernel, 'count_raw');
      assert.ok(link instanceof BpfLink);
      getpidSyscall();
      assert.ok(readU64(totals.lookup(u32(process.pid))!) >= 1, 'raw_tp/sys_enter saw our syscalls');
    }
    const libcPath = readFileSync('/proc/self/maps', 'utf8').match(/\/\S*libc\.so\.6/)?.[0];
    if (libcPath && dynamicPmuType('uprobe') !== undefined) {
      const getppid = koffi.load(libcPath).func('getppid', 'int', []) as () => number;
      {
        using _link = attachProgram(kernel, 'on_call', `${libcPath}:getppid`);
        for (let i = 0; i < 3; i++) getppid();
      }
      assert.ok(readU64(totals.lookup(u32(0xffffffff))!) >= 3);
    }
    assert.throws(() => attachProgram(kernel, 'keep_all'), (e: unknown) => e instanceof AttachError && /socket fd/.test(e.message));
    assert.throws(() => attachProgram(kernel, 'pass_all'), (e: unknown) => e instanceof AttachError && /interface/.test(e.message));
    assert.throws(() => attachProgram(kernel, 'pass_all', 'no-such-dev0'), (e: unknown) => e instanceof AttachError && e.code === 'linux/attach-no-interface');
    assert.throws(() => attachProgram(kernel, 'pass_all', { kind: 'kprobe', function: 'do_sys_openat2' }), (e: unknown) => {
      assert.ok(e instanceof AttachError);
      if (kprobeUnavailableReason()) assert.match(e.message, /this kernel has no kprobe support/);
      return true;
    });
  });
});

test('programs load with their func_info and line_info: the kernel reports every function and source line back', { skip: skipReason }, () => {
  for (const name of ['xdp_firewall.bpf.o', 'calls_globals.bpf.o']) {
    const object = openObjectForKernel(new Uint8Array(readFileSync(join(fixturesDir, 'progs', name))), { fileName: name });
    using kernel = loadObjectIntoKernel(object, { ignorePinning: true });
    for (const spec of object.programs) {
      const xlated = xlatedProgram(kernel.program(spec.name));
      assert.equal(xlated.functions.size, spec.functions.length, `${name} ${spec.name}: functions`);
      assert.equal(xlated.lines.size, spec.lineInfo.size, `${name} ${spec.name}: source lines`);
    }
  }
});

test('verifyInKernel: verdict, one-line error, full log and statistics', { skip: skipReason }, () => {
  const object = openFile(SYSCALLS_OBJ);
  const ok = verifyInKernel(object, 'count_getpid');
  assert.equal(ok.verdict, 'accept');
  assert.ok(ok.processedInsns! > 5);
  assert.ok(ok.timeUs !== undefined);
  assert.match(ok.log, /processed \d+ insns/);
  // A socket program run as a tracepoint reads its context wrongly.
  const bad = verifyInKernel(object, 'keep_all', { type: 'tracepoint' });
  assert.equal(bad.verdict, 'reject');
  assert.equal(bad.errno, 'EACCES');
  assert.equal(bad.error, 'invalid bpf_context access off=0 size=4');
  assert.ok(bad.log.split('\n').length > 2, 'the full log');
  assert.throws(() => verifyInKernel(object, 'nope'), (e: unknown) => e instanceof TsbpfError && e.code === 'linux/no-program');
  // Loading for real reports the same as BpfVerifierError with the summary line.
  assert.throws(() => loadObjectIntoKernel(object, { programs: ['keep_all'], type: 'tracepoint', ignorePinning: true }),
    (e: unknown) => e instanceof BpfVerifierError && e.summary === bad.error && e.message.endsWith(bad.error!) && e.fullReport().includes(e.log.trimEnd()));
});

test('pinning: a by-name map pinned by a child process survives it and is reused; pin/unpin of a whole object', { skip: skipReason }, () => {
  withPinDir((dir) => {
    const child = `
      import { readFileSync } from 'node:fs';
      import { openObjectForKernel } from ${JSON.stringify(join(repoRoot, 'src/linux/vmlinux.ts'))};
      import { loadObjectIntoKernel } from ${JSON.stringify(join(repoRoot, 'src/linux/kernel-object.ts'))};
      const k = loadObjectIntoKernel(openObjectForKernel(new Uint8Array(readFileSync(${JSON.stringify(SYSCALLS_OBJ)}))), { pinRoot: ${JSON.stringify(dir)}, programs: [] });
      k.map('tsbpf_totals').update(new Uint8Array([7, 0, 0, 0]), new Uint8Array(new BigUint64Array([4242n]).buffer));
      k.close();
    `;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.ok(existsSync(join(dir, 'tsbpf_totals')), 'pinned at DIR/NAME');
    using pinned = BpfMap.fromPin(join(dir, 'tsbpf_totals'));
    assert.equal(readU64(pinned.lookup(u32(7))!), 4242);
    let kernel: KernelObject | undefined = loadObjectIntoKernel(openFile(SYSCALLS_OBJ), { pinRoot: dir, programs: ['count_raw'] });
    try {
      assert.equal(kernel.map('tsbpf_totals').id, pinned.id, 'reused, not recreated');
      assert.equal(kernel.pinnedByName.get('tsbpf_totals'), join(dir, 'tsbpf_totals'));
      const paths = kernel.pin(join(dir, 'all'));
      assert.deepEqual(paths.sort(), [join(dir, 'all/maps/calls'), join(dir, 'all/maps/events'), join(dir, 'all/progs/count_raw')]);
      kernel.unpin();
      assert.ok(!existsSync(join(dir, 'all/maps/calls')) && existsSync(join(dir, 'tsbpf_totals')), 'unpin() removes its own pins only');
      kernel.pin(join(dir, 'all'));
      using link = attachProgram(kernel, 'count_raw') as BpfLink;
      link.pin(join(dir, 'all', 'link'));
      kernel.close();
      kernel = undefined;
      link.close();
      // The pinned link keeps the program attached after every fd is gone.
      using again = BpfLink.fromPin(join(dir, 'all', 'link'));
      assert.ok(again.info().progId > 0);
    } finally {
      kernel?.close();
    }
    // A pin whose shape differs from the declaration is refused, not silently used.
    rmSync(join(dir, 'tsbpf_totals'));
    using other = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 4, maxEntries: 16 });
    other.pin(join(dir, 'tsbpf_totals'));
    assert.throws(() => loadObjectIntoKernel(openFile(SYSCALLS_OBJ), { pinRoot: dir, programs: [] }),
      (e: unknown) => e instanceof TsbpfError && e.code === 'linux/pin-mismatch' && /valueSize 4, the object declares 8/.test(e.message));
  });
});

test('global data maps pin as _bss/_data/_rodata (bpffs refuses dots) and dump decoded through their DATASEC', { skip: skipReason }, () => {
  withPinDir((dir) => {
    using kernel = loadObjectIntoKernel(openFile(join(fixturesDir, 'progs', 'calls_globals.bpf.o')));
    const paths = kernel.pin(dir);
    assert.ok(paths.includes(join(dir, 'maps', '_rodata')), paths.join(', '));
    using rodata = BpfMap.fromPin(join(dir, 'maps', '_rodata'));
    assert.deepEqual(dumpKernelMap(rodata), [{ key: 0, value: { multiplier: 3 } }]);
  });
});

const samples = corpus('verifier', 'ebpf-samples');
const samplesSkip = skipReason ?? (samples ? undefined : missingCorpus('verifier/ebpf-samples'));
const openSampleFile = (name: string) => openObjectForKernel(new Uint8Array(readFileSync(join(samples!, name))), { fileName: name });

test('max_entries 0: a clear error until the loader sets it with editMap (falco sizes its scratch maps per CPU)', { skip: samplesSkip }, () => {
  const object = openSampleFile('falco/probe.o');
  assert.throws(() => loadObjectIntoKernel(object, { programs: [], ignorePinning: true }),
    (e: unknown) => e instanceof TsbpfError && e.code === 'linux/no-max-entries'
      && e.message === "map frame_scratch_map (array) declares max_entries 0: its loader must set it before load, with editMap(object, 'frame_scratch_map', { maxEntries })");
  for (const name of ['frame_scratch_map', 'tmp_scratch_map', 'local_state_map']) editMap(object, name, { maxEntries: possibleCpuCount() });
  using kernel = loadObjectIntoKernel(object, { programs: ['bpf_sys_empty'], ignorePinning: true });
  assert.equal(kernel.map('frame_scratch_map').info().maxEntries, possibleCpuCount());
  assert.equal(kernel.map('perf_map').info().maxEntries, possibleCpuCount(), 'a perf event array without entries gets one per CPU');
  assert.equal(kernel.program('bpf_sys_empty').typeName, 'RAW_TRACEPOINT');
});

test('map-in-map templates: legacy inner_map_idx, editMap innerMap, the innerMaps option, and a clear error without one', { skip: samplesSkip }, () => {
  {
    using kernel = loadObjectIntoKernel(openSampleFile('build/map_in_map_legacy.o'), { type: 'socket_filter', ignorePinning: true });
    assert.equal(kernel.map('array_of_maps').info().typeName, 'ARRAY_OF_MAPS');
    // The template is inner_map's shape: an array of 8-byte values fits, a 4-byte one does not.
    using fits = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 8, maxEntries: 1 });
    kernel.map('array_of_maps').update(u32(0), u32(fits.fd));
    using other = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
    assert.throws(() => kernel.map('array_of_maps').update(u32(0), u32(other.fd)), /EINVAL/);
  }
  const bare = openSampleFile('build/map_in_map_legacy.o');
  delete objectMap(bare, 'array_of_maps').innerMap;
  assert.throws(() => loadObjectIntoKernel(bare, { programs: [], ignorePinning: true }),
    (e: unknown) => e instanceof TsbpfError && e.code === 'linux/no-inner-map' && /array_of_maps \(array_of_maps\) declares no inner map/.test(e.message));
  {
    using template = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
    using kernel = loadObjectIntoKernel(bare, { programs: [], ignorePinning: true, innerMaps: { array_of_maps: template } });
    kernel.map('array_of_maps').update(u32(0), u32(template.fd));
  }
  editMap(bare, 'array_of_maps', { innerMap: { name: 'tpl', type: MapType.hash, keySize: 4, valueSize: 16, maxEntries: 4 } });
  using kernel = loadObjectIntoKernel(bare, { programs: [], ignorePinning: true });
  using member = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 16, maxEntries: 4 });
  kernel.map('array_of_maps').update(u32(0), u32(member.fd));
});

test('prog_array initialisers: the .text programs of prog_array.o fill their slots once loaded', { skip: samplesSkip }, () => {
  using kernel = loadObjectIntoKernel(openSampleFile('build/prog_array.o'), { type: 'socket_filter', ignorePinning: true });
  const ids = [0, 1, 2, 3].map((i) => new DataView(kernel.map('prog_array_map').lookup(u32(i))!.buffer).getUint32(0, true));
  assert.deepEqual(ids, ['func0', 'func1', 'func2', 'func3'].map((name) => kernel.program(name).id));
  assert.equal(kernel.program('func3').testRun({ data: new Uint8Array(64) }).retval, 3);
});

test('editMap pinPath: the map is pinned there, and the next load reuses it', { skip: samplesSkip }, () => {
  withPinDir((dir) => {
    const path = join(dir, 'inner');
    const load = () => {
      const object = openSampleFile('build/map_in_map_legacy.o');
      editMap(object, 'inner_map', { pinPath: path });
      return loadObjectIntoKernel(object, { programs: [] });
    };
    using first = load();
    assert.equal(first.pinnedByName.get('inner_map'), path);
    using second = load();
    assert.equal(second.map('inner_map').id, first.map('inner_map').id);
  });
});
