import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AuditArch, SeccompRet, buildSeccompData, stackSeccomp, checkSeccomp, evaluateSeccomp, prepareSeccomp, runSeccomp, seccompAction,
} from '../../src/cbpf/seccomp.js';
import { CbpfError } from '../../src/cbpf/cbpf-error.js';
import { insn, type CbpfInstruction } from '../../src/cbpf/opcodes.js';

const SYS_read = 0, SYS_write = 1, SYS_openat = 257;

/** A libseccomp-style allow list: check the arch, allow read and write, EPERM for the rest. */
const ALLOW_LIST: CbpfInstruction[] = [
  insn(0x20, 0, 0, 4), // ld [4] (arch)
  insn(0x15, 1, 0, AuditArch.X86_64),
  insn(0x06, 0, 0, SeccompRet.KILL_PROCESS),
  insn(0x20, 0, 0, 0), // ld [0] (nr)
  insn(0x15, 2, 0, SYS_read),
  insn(0x15, 1, 0, SYS_write),
  insn(0x06, 0, 0, SeccompRet.ERRNO | 1),
  insn(0x06, 0, 0, SeccompRet.ALLOW),
];

test('seccomp_data layout: 64 bytes, native little-endian order', () => {
  const d = buildSeccompData({ nr: -1, arch: AuditArch.AARCH64, instructionPointer: 0x1122334455667788n, args: [1, 2n ** 64n - 1n] });
  assert.equal(d.length, 64);
  const v = new DataView(d.buffer);
  assert.equal(v.getInt32(0, true), -1);
  assert.equal(v.getUint32(4, true), 0xc00000b7);
  assert.equal(v.getBigUint64(8, true), 0x1122334455667788n);
  assert.equal(v.getBigUint64(16, true), 1n);
  assert.equal(v.getBigUint64(24, true), 2n ** 64n - 1n);
});

test('an allow list decides per syscall and architecture', () => {
  assert.equal(runSeccomp(ALLOW_LIST, { nr: SYS_read }), SeccompRet.ALLOW);
  assert.equal(runSeccomp(ALLOW_LIST, { nr: SYS_write }), SeccompRet.ALLOW);
  assert.deepEqual(seccompAction(runSeccomp(ALLOW_LIST, { nr: SYS_openat })), { action: 'errno', value: 0x00050001, data: 1 });
  assert.equal(runSeccomp(ALLOW_LIST, { nr: SYS_read, arch: AuditArch.I386 }), SeccompRet.KILL_PROCESS);
});

test('argument words load in native order; LEN is 64', () => {
  // ld [16] is the low half of args[0] on a little-endian machine
  const lowArg = [insn(0x20, 0, 0, 16), insn(0x16, 0, 0, 0)];
  assert.equal(runSeccomp(lowArg, { nr: 0, args: [0x1_0000_0002] }), 2);
  assert.equal(runSeccomp([insn(0x20, 0, 0, 20), insn(0x16, 0, 0, 0)], { nr: 0, args: [0x1_0000_0002] }), 1);
  assert.equal(runSeccomp([insn(0x80, 0, 0, 0), insn(0x16, 0, 0, 0)], { nr: 0 }), 64);
});

test('the seccomp whitelist: only aligned in-bounds word loads, no MOD/XOR/indirect/byte loads', () => {
  const rejects = (prog: CbpfInstruction[], code: string): void =>
    assert.throws(() => checkSeccomp(prog), (e: unknown) => e instanceof CbpfError && e.code === code && e.location.insn === 0);
  const ret = insn(0x06, 0, 0, SeccompRet.ALLOW);
  rejects([insn(0x20, 0, 0, 2), ret], 'cbpf/seccomp-bad-load');
  rejects([insn(0x20, 0, 0, 64), ret], 'cbpf/seccomp-bad-load');
  rejects([insn(0x28, 0, 0, 0), ret], 'cbpf/seccomp-opcode');
  rejects([insn(0x30, 0, 0, 0), ret], 'cbpf/seccomp-opcode');
  rejects([insn(0x40, 0, 0, 0), ret], 'cbpf/seccomp-opcode');
  rejects([insn(0x94, 0, 0, 3), ret], 'cbpf/seccomp-opcode');
  rejects([insn(0xa4, 0, 0, 3), ret], 'cbpf/seccomp-opcode');
  rejects([insn(0xb1, 0, 0, 0), ret], 'cbpf/seccomp-opcode');
  // The classic rules apply first.
  assert.throws(() => checkSeccomp([insn(0x20, 0, 0, 0)]), (e: unknown) => e instanceof CbpfError && e.code === 'cbpf/no-return');
  checkSeccomp(ALLOW_LIST);
});

test('stacked filters: the lowest action wins, the newest filter breaks ties', () => {
  const returning = (value: number) => prepareSeccomp([insn(0x06, 0, 0, value)]);
  const data = { nr: SYS_openat };
  assert.equal(evaluateSeccomp([returning(SeccompRet.ALLOW), returning(SeccompRet.LOG)], data).action, 'log');
  assert.equal(evaluateSeccomp([returning(SeccompRet.TRAP), returning(SeccompRet.ERRNO | 13)], data).action, 'trap');
  assert.equal(evaluateSeccomp([returning(SeccompRet.KILL_THREAD), returning(SeccompRet.KILL_PROCESS)], data).action, 'kill_process');
  assert.equal(evaluateSeccomp([returning(SeccompRet.ERRNO | 1), returning(SeccompRet.ERRNO | 2)], data).data, 2);
  assert.equal(evaluateSeccomp([prepareSeccomp(ALLOW_LIST), returning(SeccompRet.ALLOW)], data).action, 'errno');
  assert.equal(evaluateSeccomp([], data).action, 'allow');
  assert.equal(seccompAction(0x00010000).action, 'kill_process'); // unknown actions kill
});

test('a stack of filters may hold 32768 instructions, counting 4 extra per filter below the top', () => {
  const big = prepareSeccomp([...new Array(4095).fill(insn(0x00, 0, 0, 0)), insn(0x06, 0, 0, SeccompRet.ALLOW)]);
  let stack = [big];
  for (let i = 0; i < 6; i++) stack = stackSeccomp(stack, big); // 7 x 4096 + 6 x 4
  assert.equal(stack.length, 7);
  stack = stackSeccomp(stack, prepareSeccomp([...new Array(3999).fill(insn(0x00, 0, 0, 0)), insn(0x06, 0, 0, SeccompRet.ALLOW)]));
  assert.throws(() => stackSeccomp(stack, big), (e: unknown) => e instanceof CbpfError && e.code === 'cbpf/seccomp-too-many');
});
