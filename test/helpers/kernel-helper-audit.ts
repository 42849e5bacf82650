import type { Instruction } from '../../src/isa/instruction.js';
import { AttachType, type AttachTypeName } from '../../src/uapi/attach-types.js';
import { ProgType, type ProgTypeName } from '../../src/uapi/prog-types.js';

/**
 * Asks the running kernel whether a program type may call a helper: a GPL program that calls it once
 * and returns 0 is loaded with bpf(). The kernel looks the helper up for the program type before it
 * checks any argument, so only a refusal of the helper for the type counts as "not allowed"; every other
 * outcome (accepted, or refused over an argument such as `R1 !read_ok`) means the type may call it.
 */

/**
 * Program types a plain BPF_PROG_LOAD can ask about. Not here: tracing, lsm, ext and struct_ops (they
 * load only against a BTF target, and the machine this was written on refuses fentry/LSM/ext loads
 * even as root), lirc_mode2 (a kernel without CONFIG_BPF_LIRC_MODE2 answers EINVAL), unspec.
 */
export const AUDITED_TYPES: readonly ProgTypeName[] = [
  'socket_filter', 'kprobe', 'sched_cls', 'sched_act', 'tracepoint', 'xdp', 'perf_event', 'cgroup_skb', 'cgroup_sock',
  'lwt_in', 'lwt_out', 'lwt_xmit', 'sock_ops', 'sk_skb', 'cgroup_device', 'sk_msg', 'raw_tracepoint', 'cgroup_sock_addr',
  'lwt_seg6local', 'sk_reuseport', 'flow_dissector', 'cgroup_sysctl', 'raw_tracepoint_writable', 'cgroup_sockopt', 'sk_lookup',
  'syscall', 'netfilter',
];

/**
 * Types the kernel loads only with an expected attach type (the first of their hooks is asked), and
 * cgroup_device and cgroup_sysctl at their one hook (a plain load gets attach type 0, inet ingress,
 * where bpf_get_retval is withheld).
 */
const ATTACH: Partial<Record<ProgTypeName, AttachTypeName>> = {
  cgroup_sock_addr: 'cgroup_inet4_connect', cgroup_sockopt: 'cgroup_getsockopt', sk_lookup: 'sk_lookup', netfilter: 'netfilter',
  cgroup_device: 'cgroup_device', cgroup_sysctl: 'cgroup_sysctl',
};

/** syscall programs are always sleepable (BPF_F_SLEEPABLE). */
const FLAGS: Partial<Record<ProgTypeName, number>> = { syscall: 1 << 4 };

/**
 * Refusals of the helper for this type: the lookup's (6.18's wording, then older kernels'), and the
 * checks right after it that refuse a helper the lookup found (bpf_get_func_ip outside kprobe and
 * tracing; helpers whose `allowed` hook wants an attach target a plain load has not got).
 */
const NOT_ALLOWED = /program of this type cannot use helper|unknown func|not supported for program type|helper call is not allowed in probe/;

const callThenReturnZero = (helper: number): Instruction[] => [
  { code: 0x85, dst: 0, src: 0, off: 0, imm: helper },
  { code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 },
  { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
];

/** Builds the question for one (type, helper) pair; the caller provides the Linux backend (loaded lazily). */
export async function kernelHelperProbe(): Promise<(type: ProgTypeName, helper: number) => boolean> {
  const { BpfProgram, BpfVerifierError } = await import('../../src/linux/index.js');
  return (type, helper) => {
    const attach = ATTACH[type];
    try {
      BpfProgram.load({
        type: ProgType[type], insns: callThenReturnZero(helper), name: 'helper_probe', logLevel: 1,
        flags: FLAGS[type] ?? 0, ...(attach ? { expectedAttachType: AttachType[attach] } : {}),
      }).close();
      return true;
    } catch (e) {
      if (!(e instanceof BpfVerifierError) || e.log === '') throw e;
      return !NOT_ALLOWED.test(e.log);
    }
  };
}
