import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { asm, attachRawTracepoint, BpfLink, BpfMap, BpfProgram, BpfSyscallError } from '../../src/linux/index.js';
import { attachProgram } from '../../src/linux/attach-object.js';
import { loadObjectIntoKernel } from '../../src/linux/kernel-object.js';
import { closeFd } from '../../src/linux/libc.js';
import { openObjectForKernel } from '../../src/linux/vmlinux.js';
import { repoRoot } from '../support/paths.js';
import { addNetns, deleteNetns, inNetns, netnsName, netnsSkipReason, skipReason, u32, udpSocket } from './support.js';

const openFds = (): number => readdirSync('/proc/self/fd').length;

test('10,000 map create/close cycles leave no file descriptor behind', { skip: skipReason }, () => {
  const before = openFds();
  for (let i = 0; i < 10_000; i++) {
    const map = BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1 });
    map.update(u32(0), u32(i));
    map.close();
    map.close();
  }
  assert.equal(openFds(), before);
});

test('programs, links, `using` scopes and failed calls leak nothing either', { skip: skipReason }, () => {
  const before = openFds();
  for (let i = 0; i < 500; i++) {
    using prog = BpfProgram.load({ type: 'SOCKET_FILTER', insns: [asm.mov64Imm(0, 0), asm.exit()] });
    using copy = BpfProgram.fromId(prog.id)!;
    using map = BpfMap.create({ type: 'HASH', keySize: 4, valueSize: 4, maxEntries: 1 });
    using mapCopy = BpfMap.fromId(map.id)!;
    assert.equal(copy.type, prog.type);
    assert.equal(mapCopy.keySize, 4);
  }
  // Attaching a raw tracepoint waits for RCU on detach (~15 ms each): fewer rounds.
  for (let i = 0; i < 50; i++) {
    using prog = BpfProgram.load({ type: 'RAW_TRACEPOINT', insns: [asm.mov64Imm(0, 0), asm.exit()] });
    using _link = attachRawTracepoint(prog, 'sys_exit');
  }
  for (let i = 0; i < 500; i++) {
    assert.throws(() => BpfProgram.load({ type: 'XDP', insns: [asm.exit()] }));
    assert.throws(() => BpfMap.create({ type: 'HASH', keySize: 0, valueSize: 0, maxEntries: 0 }), BpfSyscallError);
  }
  assert.equal(openFds(), before);
});

const SYSCALLS_OBJ = join(repoRoot, 'test', 'linux', 'fixtures', 'syscalls.bpf.o');

test('10,000 object load/attach/close cycles (maps, BTF, program, socket attachment) leak no fd', { skip: skipReason, timeout: 120_000 }, () => {
  const object = openObjectForKernel(new Uint8Array(readFileSync(SYSCALLS_OBJ)));
  const socket = udpSocket();
  try {
    const before = openFds();
    for (let i = 0; i < 10_000; i++) {
      using kernel = loadObjectIntoKernel(object, { programs: ['keep_all'], ignorePinning: true });
      using _attached = attachProgram(kernel, 'keep_all', String(socket));
    }
    assert.equal(openFds(), before);
  } finally {
    closeFd(socket);
  }
});

test('links of every kind from objects (tracepoint, raw_tp, xdp, tcx, uprobe, failed attaches) leak no fd', { skip: netnsSkipReason, timeout: 120_000 }, () => {
  const object = openObjectForKernel(new Uint8Array(readFileSync(SYSCALLS_OBJ)));
  const ns = netnsName('leak');
  const libcPath = readFileSync('/proc/self/maps', 'utf8').match(/\/\S*libc\.so\.6/)?.[0];
  try {
    addNetns(ns);
    const before = openFds();
    // Detaching these waits for RCU grace periods (10-80 ms each): fewer rounds than above.
    for (let i = 0; i < 10; i++) {
      using kernel = loadObjectIntoKernel(object, { programs: ['count_getpid', 'count_raw', 'pass_all', 'on_call', 'tc_pass'], ignorePinning: true });
      { using _l = attachProgram(kernel, 'count_getpid'); }
      { using _l = attachProgram(kernel, 'count_raw'); }
      inNetns(ns, () => {
        using _xdp = attachProgram(kernel, 'pass_all', 'lo');
        using tcx = attachProgram(kernel, 'tc_pass', 'lo');
        assert.equal((tcx as BpfLink).info().typeName, 'TCX');
      });
      if (libcPath) { using _l = attachProgram(kernel, 'on_call', `${libcPath}:getppid`); }
      assert.throws(() => attachProgram(kernel, 'pass_all', 'no-such-dev0'));
      assert.throws(() => attachProgram(kernel, 'count_getpid', 'no_such_category:no_such_event'));
      assert.throws(() => attachProgram(kernel, 'on_call', `${libcPath ?? '/bin/true'}:no_such_symbol_here`));
    }
    assert.equal(openFds(), before);
  } finally {
    deleteNetns(ns);
  }
});
