import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import { verify, type VerifierOptions, type VerifierProgram } from '../../src/verifier/index.js';

/** Programs Linux 6.18 rejects that tsbpf used to accept (issue 4), each reduced to its rule. */

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const MOV0 = I(0xb7, 0, 0, 0, 0);

const message = (insns: Instruction[], type: string, extra: Partial<VerifierProgram> = {}, options: VerifierOptions = {}): string | undefined =>
  verify({ insns, type, ...extra }, options).error?.message;

test('sleepable: a tracing program at a raw tracepoint may not sleep; fentry may', () => {
  const reason = 'Only fentry/fexit/fmod_ret, lsm, iter, uprobe, and struct_ops programs can be sleepable';
  assert.equal(message([MOV0, EXIT], 'tracing', { attachType: 'trace_raw_tp' }, { sleepable: true }), reason);
  assert.equal(message([MOV0, EXIT], 'tracing', { attachType: 'tp_btf/sched_switch' }, { sleepable: true }), reason);
  assert.equal(message([MOV0, EXIT], 'tracing', { attachType: 'fentry.s/do_nanosleep' }, { sleepable: true }), undefined);
  assert.equal(message([MOV0, EXIT], 'tracing', { attachType: 'trace_fentry' }, { sleepable: true }), undefined);
});

test('div and mod results are unknown (as in 6.18), so flow_keys + (8 / 1 & 8) is a variable offset', () => {
  const insns = [
    I(0xbf, 6, 1), I(0x79, 7, 6, 144), I(0xb7, 8, 0, 0, 8), I(0x37, 8, 0, 0, 1), I(0x57, 8, 0, 0, 8),
    I(0x0f, 7, 8), I(0x79, 0, 7), EXIT,
  ];
  assert.equal(message(insns, 'flow_dissector'), 'R7 pointer arithmetic on flow_keys prohibited');
});

test('bpf_get_netns_cookie: ctx or NULL outside skb programs, never another scalar or a moved ctx', () => {
  const call = I(0x85, 0, 0, 0, 122);
  assert.equal(message([I(0xb7, 1, 0, 0, 0), call, MOV0, I(0xb7, 0, 0, 0, 1), EXIT], 'cgroup_sock_addr', { attachType: 'cgroup/sendmsg6' }), undefined);
  assert.equal(message([I(0xb7, 1, 0, 0, 1), call, I(0xb7, 0, 0, 0, 1), EXIT], 'cgroup_sock_addr', { attachType: 'cgroup/sendmsg6' }), 'R1 type=scalar expected=ctx');
  assert.equal(message([I(0x07, 1, 0, 0, -612), call, I(0xb7, 0, 0, 0, 1), EXIT], 'cgroup_sock_addr', { attachType: 'cgroup/sendmsg6' }), 'negative offset ctx ptr R1 off=-612 disallowed');
  assert.equal(message([I(0xb7, 1, 0, 0, 0), call, MOV0, EXIT], 'sched_cls'), 'R1 type=scalar expected=ctx');
});

test('pkt_meta is bounded only by comparing with the packet start itself', () => {
  // r2 = meta, r3 = data; r0 = data + 8; if (meta + 8 > data + 8) skip; *(u8 *)meta: not proven.
  const insns = [
    I(0x61, 2, 1, 8), I(0x61, 3, 1, 0), I(0xbf, 0, 3), I(0x07, 0, 0, 0, 8), I(0xbf, 4, 2), I(0x07, 4, 0, 0, 8),
    I(0x2d, 4, 0, 1), I(0x71, 0, 2), MOV0, EXIT,
  ];
  assert.match(message(insns, 'xdp') ?? 'accepted', /invalid access to packet, off=0 size=1, R2/);
  // Compared with data itself, the 8 meta bytes are proven.
  const good = [...insns.slice(0, 6), I(0x2d, 4, 3, 1), I(0x71, 0, 2), MOV0, EXIT];
  assert.equal(message(good, 'xdp'), undefined);
});

test('BPF_F_STRICT_ALIGNMENT: packet offsets count NET_IP_ALIGN', () => {
  // data + 14, proven 14 bytes, then a u32 at +10: 2 + 14 - 4 = 12 is aligned; at data + 15 it is not.
  const at = (extra: number): Instruction[] => [
    I(0x61, 2, 1, 76), I(0x61, 3, 1, 80), I(0xbf, 0, 2), I(0x07, 0, 0, 0, 14 + extra), I(0x2d, 0, 3, 1), I(0x63, 0, 0, -4), MOV0, EXIT,
  ];
  assert.equal(message(at(0), 'sched_cls', {}, { strictAlignment: true }), undefined);
  assert.equal(message(at(1), 'sched_cls', {}, { strictAlignment: true }), 'misaligned packet access off 2+0+15+-4 size 4');
  assert.equal(message(at(1), 'sched_cls'), undefined);
});

test('global functions are verified on their own: a pointer argument may be NULL', () => {
  // main: r1 = fp-8 (initialised), call f; f: r0 = *(u32 *)(r1 + 0) without a NULL check.
  const insns = [
    I(0x7a, 10, 0, -8, 0), I(0xbf, 1, 10), I(0x07, 1, 0, 0, -8), I(0x85, 0, 1, 0, 1), EXIT,
    I(0x61, 0, 1), EXIT,
  ];
  assert.equal(message(insns, 'socket_filter'), undefined);
  const global = { globalFunctions: [{ insn: 5, args: [{ kind: 'mem_or_null' as const, size: 4 }], returnsValue: true }] };
  assert.equal(message(insns, 'socket_filter', global), "R1 invalid mem access 'mem_or_null'");
  // With the NULL check it passes.
  const checked = [...insns.slice(0, 5), MOV0, I(0x15, 1, 0, 1, 0), I(0x61, 0, 1), EXIT];
  assert.equal(message(checked, 'socket_filter', global), undefined);
});

test('sockmap delete: BPF iterators and sock_ops may delete, raw tracepoints may not', () => {
  const sockmap = { name: 'sm', type: 15, keySize: 4, valueSize: 4, maxEntries: 1 };
  // r1 = map; *(u32 *)(r10 - 4) = 0; r2 = r10 - 4; call map_delete_elem; r0 = 1.
  const insns = [
    I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), I(0x62, 10, 0, -4, 0), I(0xbf, 2, 10), I(0x07, 2, 0, 0, -4),
    I(0x85, 0, 0, 0, 3), I(0xb7, 0, 0, 0, 1), EXIT,
  ];
  const reason = 'cannot pass map_type 15 into func bpf_map_delete_elem#3';
  assert.equal(message(insns, 'raw_tracepoint', { maps: [sockmap] }), reason);
  assert.equal(message(insns, 'tracing', { maps: [sockmap], attachType: 'iter/sockmap' }), undefined);
  assert.equal(message(insns, 'tracing', { maps: [sockmap], attachType: 'fentry/foo' }), reason);
  assert.equal(message(insns, 'sock_ops', { maps: [sockmap] }), undefined);
});

test('a 32-bit fill of a spilled 64-bit scalar is its low half', () => {
  // r0 = random << 32; spill; w0 = fill u32 (known 0), so the branch to the R9 read is dead.
  const insns = [
    I(0x85, 0, 0, 0, 7), I(0x67, 0, 0, 0, 32), I(0x7b, 10, 0, -8), I(0x61, 0, 10, -8),
    I(0x15, 0, 0, 1, 0), I(0xbf, 0, 9), MOV0, EXIT,
  ];
  assert.equal(message(insns, 'xdp'), undefined);
});

test('privileged helpers may read uninitialised stack at a variable offset; unprivileged may not', () => {
  const hash8 = { name: 'h', type: 1, keySize: 8, valueSize: 8, maxEntries: 1 };
  // fp-8 = 0; r2 = fp - 16 + (len & 4); lookup(map, r2): bytes fp-16..fp-9 were never written.
  const insns = [
    I(0xb7, 2, 0, 0, 0), I(0x7b, 10, 2, -8), I(0x61, 2, 1, 0), I(0x57, 2, 0, 0, 4), I(0x17, 2, 0, 0, 16), I(0x0f, 2, 10),
    I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), I(0x85, 0, 0, 0, 1), I(0xb7, 0, 0, 0, 1), EXIT,
  ];
  assert.equal(message(insns, 'cgroup_skb', { maps: [hash8] }), undefined);
  assert.match(message(insns, 'cgroup_skb', { maps: [hash8] }, { mode: 'unpriv' }) ?? 'accepted', /^R2 variable stack access prohibited for !root/);
});

test('<<32 s>>32 keeps non-negative 32-bit bounds (kernel special case)', () => {
  // r0 = random & 255; r0 <<= 32; r0 s>>= 32 is still 0..255, so fp - 256 + r0 stays inside the stack.
  const insns = [
    I(0x85, 0, 0, 0, 7), I(0x57, 0, 0, 0, 255), I(0x67, 0, 0, 0, 32), I(0xc7, 0, 0, 0, 32),
    I(0x7a, 10, 0, -256, 0), I(0xbf, 2, 10), I(0x07, 2, 0, 0, -256), I(0x0f, 2, 0), I(0x72, 2, 0, 0, 1), MOV0, EXIT,
  ];
  assert.equal(message(insns, 'socket_filter'), undefined);
  // A negative 32-bit minimum is not carried: the sign-extended value may be any int.
  const signed = [...insns.slice(0, 1), I(0x57, 0, 0, 0, 255), I(0x14, 0, 0, 0, 1), ...insns.slice(2)];
  assert.notEqual(message(signed, 'socket_filter'), undefined);
});
