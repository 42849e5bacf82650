import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instruction } from '../../src/isa/instruction.js';
import type { MapSpec } from '../../src/maps/spec.js';
import { HELPER_NAMES, HelperId, MapType } from '../../src/uapi/index.js';
import { AttachType, type AttachTypeName } from '../../src/uapi/attach-types.js';
import { ProgType, type ProgTypeName } from '../../src/uapi/prog-types.js';
import { verify } from '../../src/verifier/index.js';
import { skipReason } from '../linux/support.js';

/**
 * The argument and return kinds of the helpers given prototypes for issue #4, each case verified by
 * tsbpf and loaded into the running kernel: same verdict, same reason.
 */

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const EXIT = I(0x95);
const MOV0 = I(0xb7, 0, 0, 0, 0);
const mov = (dst: number, imm: number): Instruction => I(0xb7, dst, 0, 0, imm);
const movReg = (dst: number, src: number): Instruction => I(0xbf, dst, src);
const add = (dst: number, imm: number): Instruction => I(0x07, dst, 0, 0, imm);
const call = (helper: number): Instruction => I(0x85, 0, 0, 0, helper);
/** r[dst] = fp + off. */
const fp = (dst: number, off: number): Instruction[] => [movReg(dst, 10), add(dst, off)];
/** *(u64 *)(fp + off) = 0. */
const zero64 = (off: number): Instruction => I(0x7a, 10, 0, off, 0);
/** `size` zero bytes on the stack from fp + off. */
const zeroed = (off: number, size: number): Instruction[] => Array.from({ length: size / 8 }, (_, i) => zero64(off + 8 * i));
/** LD_IMM64 of map `index` (BPF_PSEUDO_MAP_IDX: an fd_array index for the kernel, a `maps` index for tsbpf). */
const ldMap = (dst: number, index: number): Instruction[] => [I(0x18, dst, 5, 0, index), I(0, 0, 0, 0, 0)];

interface Case {
  type: ProgTypeName;
  attach?: AttachTypeName;
  sleepable?: boolean;
  maps?: MapSpec[];
  insns: Instruction[];
}

const CGROUP_STORAGE: MapSpec = { name: 'cg_storage', type: MapType.cgroup_storage, keySize: 8, valueSize: 8, maxEntries: 0 };
const ARRAY: MapSpec = { name: 'array', type: MapType.array, keySize: 4, valueSize: 8, maxEntries: 1 };
/** BPF_F_RDONLY_PROG: the program may read the values, not write them. */
const READ_ONLY: MapSpec = { name: 'rodata', type: MapType.array, keySize: 4, valueSize: 32, maxEntries: 1, flags: 0x80 };

/** r[dst] = the read-only map's first value (BPF_PSEUDO_MAP_IDX_VALUE). */
const roValue = (dst: number): Instruction[] => [I(0x18, dst, 6, 0, 0), I(0, 0, 0, 0, 0)];

const localStorage = (map: MapSpec, flags: number): Case => ({
  type: 'cgroup_skb', maps: [map],
  insns: [...ldMap(1, 0), mov(2, flags), call(HelperId.get_local_storage), I(0x79, 0, 0, 0), MOV0, EXIT],
});

const CASES: Record<string, Case> = {
  'check_mtu: an initialised u32 on the stack': {
    type: 'sched_cls', insns: [zero64(-8), ...fp(3, -8), mov(2, 0), mov(4, 0), mov(5, 0), call(HelperId.check_mtu), MOV0, EXIT],
  },
  'check_mtu: an uninitialised u32': {
    type: 'sched_cls', insns: [...fp(3, -8), mov(2, 0), mov(4, 0), mov(5, 0), call(HelperId.check_mtu), MOV0, EXIT],
  },
  'check_mtu: a misaligned u32': {
    type: 'sched_cls', insns: [zero64(-8), ...fp(3, -6), mov(2, 0), mov(4, 0), mov(5, 0), call(HelperId.check_mtu), MOV0, EXIT],
  },
  'check_mtu: a scalar for the MTU pointer': {
    type: 'xdp', insns: [mov(3, 0), mov(2, 0), mov(4, 0), mov(5, 0), call(HelperId.check_mtu), MOV0, EXIT],
  },
  'get_local_storage: a value that is never NULL': localStorage(CGROUP_STORAGE, 0),
  'get_local_storage: non-zero flags': localStorage(CGROUP_STORAGE, 1),
  'get_local_storage: an array map': localStorage(ARRAY, 0),
  'map_lookup_elem on cgroup storage': {
    type: 'cgroup_skb', maps: [CGROUP_STORAGE],
    insns: [zero64(-8), ...ldMap(1, 0), ...fp(2, -8), call(HelperId.map_lookup_elem), MOV0, EXIT],
  },
  'get_ns_current_pid_tgid: an uninitialised 8-byte buffer': {
    type: 'socket_filter', insns: [mov(1, 0), mov(2, 0), ...fp(3, -8), mov(4, 8), call(HelperId.get_ns_current_pid_tgid), MOV0, EXIT],
  },
  'sysctl_get_name: a zero-sized buffer': {
    type: 'cgroup_sysctl', attach: 'cgroup_sysctl', insns: [...fp(2, -16), mov(3, 0), mov(4, 0), call(HelperId.sysctl_get_name), mov(0, 1), EXIT],
  },
  'sysctl_set_new_value: an uninitialised buffer': {
    type: 'cgroup_sysctl', attach: 'cgroup_sysctl', insns: [...fp(2, -16), mov(3, 16), call(HelperId.sysctl_set_new_value), mov(0, 1), EXIT],
  },
  'get_retval at connect4': {
    type: 'cgroup_sock_addr', attach: 'cgroup_inet4_connect', insns: [call(HelperId.get_retval), mov(0, 1), EXIT],
  },
  'set_retval at recvmsg4': {
    type: 'cgroup_sock_addr', attach: 'cgroup_udp4_recvmsg', insns: [mov(1, 0), call(HelperId.set_retval), mov(0, 1), EXIT],
  },
  'copy_from_user in a socket filter': {
    type: 'socket_filter', insns: [...fp(1, -8), mov(2, 8), mov(3, 0), call(HelperId.copy_from_user), MOV0, EXIT],
  },
  'copy_from_user in a syscall program': {
    type: 'syscall', sleepable: true, insns: [...fp(1, -8), mov(2, 8), mov(3, 0), call(HelperId.copy_from_user), MOV0, EXIT],
  },
  'kallsyms_lookup_name: a misaligned result': {
    type: 'syscall', sleepable: true,
    insns: [zero64(-16), ...fp(1, -16), mov(2, 8), mov(3, 0), ...fp(4, -4), call(HelperId.kallsyms_lookup_name), MOV0, EXIT],
  },
  'kallsyms_lookup_name: an uninitialised result': {
    type: 'syscall', sleepable: true,
    insns: [zero64(-16), ...fp(1, -16), mov(2, 8), mov(3, 0), ...fp(4, -24), call(HelperId.kallsyms_lookup_name), MOV0, EXIT],
  },
  'tcp_check_syncookie: a scalar socket': {
    type: 'xdp', insns: [zero64(-8), mov(1, 0), ...fp(2, -8), mov(3, 8), ...fp(4, -8), mov(5, 8), call(HelperId.tcp_check_syncookie), MOV0, EXIT],
  },
  'sk_assign: a scalar socket': {
    type: 'sched_cls', insns: [mov(2, 0), mov(3, 0), call(HelperId.sk_assign), MOV0, EXIT],
  },
  'tcp_raw_check_syncookie_ipv4: headers on the stack': {
    type: 'xdp', insns: [...zeroed(-48, 48), ...fp(1, -48), ...fp(2, -24), call(HelperId.tcp_raw_check_syncookie_ipv4), MOV0, EXIT],
  },
  'tcp_raw_check_syncookie_ipv4: an iphdr past the stack top': {
    type: 'xdp', insns: [...zeroed(-48, 48), ...fp(1, -16), ...fp(2, -48), call(HelperId.tcp_raw_check_syncookie_ipv4), MOV0, EXIT],
  },
  'tcp_raw_gen_syncookie_ipv6: a 40-byte header and no TCP bytes': {
    type: 'sched_cls', insns: [...zeroed(-48, 48), ...fp(1, -48), ...fp(2, -8), mov(3, 0), call(HelperId.tcp_raw_gen_syncookie_ipv6), MOV0, EXIT],
  },
  'tcp_raw_gen_syncookie_ipv6: an ipv6hdr of 32 bytes': {
    type: 'sched_cls', insns: [...zeroed(-48, 48), ...fp(1, -32), ...fp(2, -48), mov(3, 8), call(HelperId.tcp_raw_gen_syncookie_ipv6), MOV0, EXIT],
  },
  'tcp_raw_check_syncookie_ipv4: packet headers, bounds unproven': {
    type: 'xdp', insns: [I(0x61, 1, 1, 0), movReg(2, 1), add(2, 20), call(HelperId.tcp_raw_check_syncookie_ipv4), MOV0, EXIT],
  },
  'tcp_raw_check_syncookie_ipv4: packet headers, 40 bytes proven': {
    type: 'xdp',
    insns: [I(0x61, 2, 1, 4), I(0x61, 1, 1, 0), movReg(3, 1), add(3, 40), I(0x2d, 3, 2, 3), movReg(2, 1), add(2, 20), call(HelperId.tcp_raw_check_syncookie_ipv4), MOV0, EXIT],
  },
  'snprintf_btf: a btf_ptr that is too short for its size': {
    type: 'socket_filter', insns: [...zeroed(-48, 48), ...fp(1, -32), mov(2, 32), ...fp(3, -8), mov(4, 16), mov(5, 0), call(HelperId.snprintf_btf), MOV0, EXIT],
  },
  'check_mtu: the MTU in a read-only map value': {
    type: 'sched_cls', maps: [READ_ONLY], insns: [...roValue(3), mov(2, 0), mov(4, 0), mov(5, 0), call(HelperId.check_mtu), MOV0, EXIT],
  },
  'load_hdr_opt: a read-only map value': {
    type: 'sock_ops', maps: [READ_ONLY], insns: [...roValue(2), mov(3, 8), mov(4, 0), call(HelperId.load_hdr_opt), mov(0, 1), EXIT],
  },
  'snprintf_btf: output into a read-only map value': {
    type: 'socket_filter', maps: [READ_ONLY], insns: [...zeroed(-16, 16), ...roValue(1), mov(2, 8), ...fp(3, -16), mov(4, 16), mov(5, 0), call(HelperId.snprintf_btf), MOV0, EXIT],
  },
  'read_branch_records: into a read-only map value': {
    type: 'perf_event', maps: [READ_ONLY], insns: [...roValue(2), mov(3, 8), mov(4, 0), call(HelperId.read_branch_records), MOV0, EXIT],
  },
  'get_ns_current_pid_tgid: into a read-only map value': {
    type: 'socket_filter', maps: [READ_ONLY], insns: [mov(1, 0), mov(2, 0), ...roValue(3), mov(4, 8), call(HelperId.get_ns_current_pid_tgid), MOV0, EXIT],
  },
  'msg_pull_data: the ctx and three scalars': {
    type: 'sk_msg', insns: [mov(2, 0), mov(3, 1), mov(4, 0), call(HelperId.msg_pull_data), mov(0, 1), EXIT],
  },
  'load_hdr_opt: an uninitialised search buffer': {
    type: 'sock_ops', insns: [...fp(2, -8), mov(3, 8), mov(4, 0), call(HelperId.load_hdr_opt), mov(0, 1), EXIT],
  },
};

/** The kernel's verdict: undefined when it loads, else its log's last line. */
async function kernelVerdict(c: Case): Promise<string | undefined> {
  const { BpfMap, BpfProgram, BpfVerifierError } = await import('../../src/linux/index.js');
  const maps = (c.maps ?? []).map((m) => BpfMap.create({ type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, name: m.name, flags: m.flags ?? 0 }));
  try {
    BpfProgram.load({
      type: ProgType[c.type], insns: c.insns, name: 'proto_case', logLevel: 1, fdArray: maps.map((m) => m.fd),
      flags: c.sleepable ? 1 << 4 : 0, ...(c.attach ? { expectedAttachType: AttachType[c.attach] } : {}),
    }).close();
    return undefined;
  } catch (e) {
    if (!(e instanceof BpfVerifierError)) throw e;
    return e.summary;
  } finally {
    for (const m of maps) m.close();
  }
}

for (const [name, c] of Object.entries(CASES)) {
  test(`helper prototypes against the kernel: ${name}`, { skip: skipReason }, async () => {
    const ours = verify({ insns: c.insns, type: c.type, maps: c.maps ?? [], ...(c.attach ? { attachType: c.attach } : {}) }, { sleepable: c.sleepable ?? false });
    assert.equal(ours.error?.message, await kernelVerdict(c));
  });
}

/**
 * Tracing and LSM programs load only against a BTF target, which this test cannot give the kernel:
 * these follow the kernel's sources (bpf_prog_has_trampoline, the sleepable check, LSM cgroup hooks).
 */
test('attach-dependent helpers of tracing and LSM programs (kernel sources)', () => {
  const message = (type: string, attachType: string, insns: Instruction[]): string | undefined =>
    verify({ insns, type, attachType }).error?.message;
  const funcArg = [...fp(3, -8), mov(2, 0), call(HelperId.get_func_arg), MOV0, EXIT];
  const refused = (helper: number): string => `program of this type cannot use helper bpf_${HELPER_NAMES[helper]}#${helper}`;
  assert.equal(message('tracing', 'fentry/do_nanosleep', funcArg), undefined);
  assert.equal(message('tracing', 'trace_fexit', funcArg), undefined);
  assert.equal(message('tracing', 'tp_btf/sched_switch', funcArg), refused(HelperId.get_func_arg));
  assert.equal(message('tracing', 'iter/task', [call(HelperId.get_func_arg_cnt), MOV0, EXIT]), refused(HelperId.get_func_arg_cnt));
  assert.equal(message('lsm', 'lsm/file_open', funcArg), undefined);
  assert.equal(message('lsm', 'lsm_cgroup/socket_bind', funcArg), refused(HelperId.get_func_arg));
  assert.equal(message('lsm', 'lsm_cgroup/socket_bind', [call(HelperId.get_retval), MOV0, EXIT]), undefined);
  assert.equal(message('lsm', 'lsm/file_open', [call(HelperId.get_retval), MOV0, EXIT]), refused(HelperId.get_retval));
  const copy = [...fp(1, -8), mov(2, 8), mov(3, 0), call(HelperId.copy_from_user), MOV0, EXIT];
  assert.equal(message('tracing', 'fentry.s/do_nanosleep', copy), undefined);
  assert.equal(message('lsm', 'lsm.s/file_open', copy), undefined);
  assert.equal(message('tracing', 'fentry/do_nanosleep', copy), 'helper call might sleep in a non-sleepable prog');
  // BPF_F_SLEEPABLE with the kernel's attach name rather than a `.s/` section.
  assert.equal(verify({ insns: copy, type: 'tracing', attachType: 'trace_fentry' }, { sleepable: true }).error?.message, undefined);
});
