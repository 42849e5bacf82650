import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import { MapType } from '../../src/uapi/index.js';
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
  assert.equal(message(insns, 'xdp'), 'R2 offset is outside of the packet');
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

// Found by the verifier fuzz against the kernel (scripts/fuzz-verifier.ts).
const fuzzArray48 = { name: 'array_48b', type: 2, keySize: 4, valueSize: 48, maxEntries: 1 };
/** fp-8 = 0; r0 = lookup(array_48b, fp-8); if r0 == 0 exit with 0. */
const fuzzLookup = [
  I(0x7a, 10, 0, -8, 0), I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), I(0xbf, 2, 10), I(0x07, 2, 0, 0, -8), I(0x85, 0, 0, 0, 1),
  I(0x55, 0, 0, 1, 0), EXIT,
];

test('xdp: egress_ifindex is readable only in devmap programs', () => {
  assert.equal(message([I(0x61, 0, 1, 20), MOV0, EXIT], 'xdp'), 'invalid bpf_context access off=20 size=4');
});

test('atomics are always alignment-checked, variable offsets included', () => {
  // r6 = skb->len & 1; r0 += r6; lock *(u64 *)(r0 + 0) += r1: the kernel checks atomics as with strict alignment.
  const insns = [I(0x61, 6, 1, 0), ...fuzzLookup, I(0x57, 6, 0, 0, 1), I(0x0f, 0, 6), I(0xb7, 1, 0, 0, 1), I(0xdb, 0, 1, 0, 0), MOV0, EXIT];
  assert.equal(message(insns, 'socket_filter', { maps: [fuzzArray48] }), 'misaligned value access off (0x0; 0x1)+0+0 size 8');
});

test('xdp_md fields are read only with 4-byte loads', () => {
  assert.equal(message([I(0x71, 0, 1, 16), MOV0, EXIT], 'xdp'), 'invalid bpf_context access off=16 size=1');
  assert.equal(message([I(0x69, 0, 1, 16), MOV0, EXIT], 'xdp'), 'invalid bpf_context access off=16 size=2');
});

test('tracepoint: the first 8 bytes of the record (common fields) are not readable', () => {
  assert.equal(message([I(0x79, 0, 1, 0), MOV0, EXIT], 'tracepoint'), 'invalid bpf_context access off=0 size=8');
  assert.equal(message([I(0x61, 0, 1, 4), MOV0, EXIT], 'tracepoint'), 'invalid bpf_context access off=4 size=4');
  assert.equal(message([I(0x79, 0, 1, 8), MOV0, EXIT], 'tracepoint'), undefined);
});

test('map references are resolved in every instruction, reachable or not', () => {
  // r0 = 0; if r0 == 0 goto exit; r1 = map 3 (none): the kernel resolves LD_IMM64 map fds before it explores.
  const insns = [MOV0, I(0x15, 0, 0, 2, 0), I(0x18, 1, 1, 0, 3), I(0, 0, 0, 0, 0), EXIT];
  assert.equal(message(insns, 'socket_filter', { maps: [fuzzArray48] }), 'fd 3 is not pointing to valid bpf_map');
});

test('LD_ABS / LD_IND leave R0 an unknown 64-bit scalar, not bounded by the load width', () => {
  // r0 = skb[23] (u8); if r0 < 256 skip: the kernel cannot tell, so it walks into *(u32 *)r0.
  const insns = [I(0xbf, 6, 1), I(0x30, 0, 0, 0, 23), I(0xa5, 0, 0, 1, 256), I(0x61, 0, 0, 0), MOV0, EXIT];
  assert.equal(message(insns, 'socket_filter'), "R0 invalid mem access 'scalar'");
});

test('a shift by a register holding 64 or more makes the result unknown', () => {
  // r2 = -1; r2 >>= r2 (count 0xffff...ffff: undefined, so unknown); r1 += r2.
  const insns = [I(0xb7, 2, 0, 0, -1), I(0x7f, 2, 2), I(0x0f, 1, 2), MOV0, EXIT];
  assert.equal(message(insns, 'socket_filter'), 'math between ctx pointer and register with unbounded min value is not allowed');
});

test('a 32-bit signed division leaves the whole register unknown', () => {
  // w7 = -48 s/ 7; if r7 <= -48 skip: the kernel does not know the upper half is zero, so it reads r0.
  const insns = [I(0xb7, 7, 0, 0, -48), I(0x34, 7, 0, 1, 7), I(0xb5, 7, 0, 1, -48), I(0x79, 7, 0, 0), MOV0, EXIT];
  assert.equal(message(insns, 'socket_filter'), 'R0 !read_ok');
});

test('data < data_end proves no bytes at data itself (right-open range, offset 0)', () => {
  const insns = [I(0x61, 2, 1, 76), I(0x61, 3, 1, 80), I(0xbd, 3, 2, 1), I(0x71, 0, 2, 0), MOV0, EXIT];
  assert.equal(message(insns, 'sched_cls'), 'R2 offset is outside of the packet');
});

test('an atomic fetch into its own address register: the kernel checks the store through the fetched value', () => {
  // r2 = r10; r2 = atomic_fetch_or((u64 *)(r2 - 8), r2)
  const insns = [I(0xbf, 2, 10), I(0xdb, 2, 2, -8, 0x41), I(0xb7, 0, 0, 0, 1), EXIT];
  assert.equal(message(insns, 'socket_filter'), 'misaligned access off (0x0; 0xffffffffffffffff)+0+-8 size 8');
});

test('direct value access (BPF_PSEUDO_MAP_VALUE) needs an array map', () => {
  const hash8 = { name: 'hash_8b', type: 1, keySize: 8, valueSize: 8, maxEntries: 1 };
  assert.equal(message([I(0x18, 0, 2, 0, 0), I(0, 0, 0, 0, 1), MOV0, EXIT], 'socket_filter', { maps: [hash8] }), 'no direct value access support for this map type');
});

test('LD_IMM64 may not write the frame pointer', () => {
  assert.equal(message([MOV0, I(0x18, 10, 0, 0, 5), I(0, 0, 0, 0, 0), EXIT], 'socket_filter'), 'frame pointer is read only');
});

test('zero-size helper memory arguments are still bounds-checked', () => {
  // probe_read_kernel(fp + 0, 0, 0): fp + 0 is outside the stack even for no bytes.
  assert.equal(message([I(0xbf, 1, 10), I(0xb7, 2, 0, 0, 0), I(0xb7, 3, 0, 0, 0), I(0x85, 0, 0, 0, 113), MOV0, EXIT], 'tracepoint'), 'invalid write to stack R1 off=0 size=0');
  // csum_diff(data + 1, 0, NULL, 0, 0) with no range proven.
  const packet = [I(0x61, 6, 1, 76), I(0x07, 6, 0, 0, 1), I(0xbf, 1, 6), I(0xb7, 2), I(0xb7, 3), I(0xb7, 4), I(0xb7, 5), I(0x85, 0, 0, 0, 28), MOV0, EXIT];
  assert.equal(message(packet, 'sched_cls'), 'R1 offset is outside of the packet');
});

test('stack accesses at a variable offset are alignment-checked', () => {
  // r2 = fp + (len & 8) - 263: odd either way.
  const insns = [I(0x61, 2, 1, 0), I(0x57, 2, 0, 0, 8), I(0x17, 2, 0, 0, 263), I(0x0f, 2, 10), MOV0, I(0x7b, 2, 0, 0), EXIT];
  assert.equal(message(insns, 'socket_filter'), 'misaligned stack access off (0xfffffffffffffe01; 0x1f8)+0+0 size 8');
});

test('a subprogram may not return a pointer into its caller\'s stack', () => {
  // r1 = fp - 8; call sub; sub: r0 = r1; exit
  const insns = [I(0xbf, 1, 10), I(0x07, 1, 0, 0, -8), I(0x85, 0, 1, 0, 2), MOV0, EXIT, I(0xbf, 0, 1), EXIT];
  assert.equal(message(insns, 'socket_filter'), 'cannot return stack pointer to the caller');
  // Its own stack pointer, all the more.
  const own = [I(0x85, 0, 1, 0, 1), EXIT, I(0xbf, 0, 10), I(0x07, 0, 0, 0, -8), EXIT];
  assert.equal(message(own, 'socket_filter'), 'cannot return stack pointer to the caller');
});

test('BTF ids in LD_IMM64 are resolved in every instruction, reachable or not', () => {
  const insns = [I(0xb7, 8, 0, 0, 32), I(0x56, 8, 0, 2, 64), I(0x18, 1, 3, 0, 0), I(0, 0, 0, 0, 0), MOV0, EXIT];
  assert.equal(message(insns, 'xdp'), "pseudo btf_id 0 in ldimm64 isn't KIND_VAR or KIND_FUNC");
});

test('contradictory bounds do not make a branch dead: 6.18 unbounds the register and explores it', () => {
  // r7 = prandom s>> 32; if w7 s> w8 (-2), then r7 s<= -2 contradicts w7 s> -2: the kernel still reads *(u64 *)r0.
  const insns = [
    I(0x85, 0, 0, 0, 7), I(0xbf, 7, 0), I(0xc7, 7, 0, 0, 32), I(0x18, 8, 0, 0, -2), I(0, 0, 0, 0, 1), I(0x6e, 7, 8, 1), EXIT,
    I(0x65, 7, 0, 1, -2), I(0x79, 0, 0, 0), EXIT,
  ];
  assert.equal(message(insns, 'socket_filter'), "R0 invalid mem access 'scalar'");
});

test('addr_space_cast needs an arena map', () => {
  assert.equal(message([I(0xbf, 2, 10, 1, 1), MOV0, EXIT], 'xdp'), 'addr_space_cast insn can only be used in a program that has an associated arena');
  // Any reference to an arena, even in dead code, associates it: r1 = arena; r1 = addr_space_cast(r1).
  const arena = { name: 'arena', type: 33, keySize: 0, valueSize: 0, maxEntries: 1 };
  const insns = [MOV0, I(0x15, 0, 0, 2, 0), I(0x18, 1, 1, 0, 0), I(0, 0, 0, 0, 0), I(0xbf, 1, 0, 1, 1), EXIT];
  assert.equal(message(insns, 'xdp', { maps: [arena] }), undefined);
});

test('LD_ABS / LD_IND need the context in R6 unmodified', () => {
  const insns = [I(0x07, 1, 0, 0, 8), I(0xbf, 6, 1), I(0xb7, 8, 0, 0, 0x7fffffff), I(0x48, 0, 8, 0, 0), EXIT];
  assert.equal(message(insns, 'socket_filter'), 'dereference of modified ctx ptr R6 off=8 disallowed');
  const back = [I(0x07, 1, 0, 0, -8), I(0xbf, 6, 1), I(0x30, 0, 0, 0, 0), EXIT];
  assert.equal(message(back, 'socket_filter'), 'negative offset ctx ptr R6 off=-8 disallowed');
});

test('a loop that leaks a ring buffer reservation each turn is refused, not run until the heap is gone (Linux: ENOMEM)', () => {
  const ringbuf = { name: 'rb', type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 };
  const insns = [
    I(0xb7, 9, 0, 0, 0), // r9 = 0
    I(0x18, 1, 5, 0, 0), I(0), I(0xb7, 2, 0, 0, 48), I(0xb7, 3, 0, 0, 0), I(0x85, 0, 0, 0, 131), // r0 = ringbuf_reserve(rb, 48, 0)
    MOV0, // the reservation is dropped: every turn holds one more reference
    I(0x07, 9, 0, 0, -1), I(0x55, 9, 0, -8, 11), // r9 -= 1; if r9 != 11 goto the reserve
    I(0xb7, 0, 0, 0, -1), EXIT,
  ];
  assert.match(message(insns, 'sched_cls', { maps: [ringbuf] }) ?? '', /^out of memory: the verifier's states hold more than \d+ acquired references/);
});
