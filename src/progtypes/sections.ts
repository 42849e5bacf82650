import type { AttachTypeName } from '../uapi/attach-types.js';
import type { ProgTypeName } from '../uapi/prog-types.js';

/**
 * ELF section name -> program type and attach point, with libbpf's SEC() conventions: a row whose
 * pattern ends in `+` matches the bare name or `name/anything` (the part after `/` is the attach
 * target); other rows match exactly. Objects built for libbpf before 1.0 used looser names
 * (`socket1`, `xdp_prog`, `kprobe/...`, `classifier_foo`); `sloppy` rows also match as plain prefixes
 * when nothing matched strictly, as old libbpf did.
 */
export interface SectionDef {
  pattern: string;
  type: ProgTypeName;
  attach?: AttachTypeName;
  /** The attach target after `/` is required (`tracepoint/syscalls/sys_enter_openat`). */
  needsTarget?: boolean;
  sleepable?: boolean;
  /** Also match as a plain prefix in the fallback pass. */
  sloppy?: boolean;
}

const d = (pattern: string, type: ProgTypeName, extra: Omit<SectionDef, 'pattern' | 'type'> = {}): SectionDef => ({ pattern, type, ...extra });

export const SECTION_DEFS: readonly SectionDef[] = [
  d('socket', 'socket_filter', { sloppy: true }),
  d('sk_reuseport/migrate', 'sk_reuseport', { attach: 'sk_reuseport_select_or_migrate' }),
  d('sk_reuseport', 'sk_reuseport', { attach: 'sk_reuseport_select' }),
  d('kprobe+', 'kprobe', { sloppy: true }),
  d('uprobe+', 'kprobe', { sloppy: true }),
  d('uprobe.s+', 'kprobe', { sleepable: true }),
  d('kretprobe+', 'kprobe', { sloppy: true }),
  d('uretprobe+', 'kprobe', { sloppy: true }),
  d('uretprobe.s+', 'kprobe', { sleepable: true }),
  d('kprobe.multi+', 'kprobe', { attach: 'trace_kprobe_multi' }),
  d('kretprobe.multi+', 'kprobe', { attach: 'trace_kprobe_multi' }),
  d('uprobe.multi+', 'kprobe', { attach: 'trace_uprobe_multi' }),
  d('uretprobe.multi+', 'kprobe', { attach: 'trace_uprobe_multi' }),
  d('ksyscall+', 'kprobe'),
  d('kretsyscall+', 'kprobe'),
  d('usdt+', 'kprobe'),
  d('usdt.s+', 'kprobe', { sleepable: true }),
  d('tc/ingress', 'sched_cls', { attach: 'tcx_ingress' }),
  d('tc/egress', 'sched_cls', { attach: 'tcx_egress' }),
  d('tcx/ingress', 'sched_cls', { attach: 'tcx_ingress' }),
  d('tcx/egress', 'sched_cls', { attach: 'tcx_egress' }),
  d('tc', 'sched_cls', { sloppy: true }),
  d('classifier', 'sched_cls', { sloppy: true }),
  d('action', 'sched_act', { sloppy: true }),
  d('netkit/primary', 'sched_cls', { attach: 'netkit_primary' }),
  d('netkit/peer', 'sched_cls', { attach: 'netkit_peer' }),
  d('tracepoint+', 'tracepoint', { needsTarget: true, sloppy: true }),
  d('tp+', 'tracepoint', { needsTarget: true }),
  d('raw_tracepoint+', 'raw_tracepoint', { sloppy: true }),
  d('raw_tp+', 'raw_tracepoint', { sloppy: true }),
  d('raw_tracepoint.w+', 'raw_tracepoint_writable'),
  d('raw_tp.w+', 'raw_tracepoint_writable'),
  d('tp_btf+', 'tracing', { attach: 'trace_raw_tp', needsTarget: true }),
  d('fentry+', 'tracing', { attach: 'trace_fentry', needsTarget: true }),
  d('fmod_ret+', 'tracing', { attach: 'modify_return', needsTarget: true }),
  d('fexit+', 'tracing', { attach: 'trace_fexit', needsTarget: true }),
  d('fentry.s+', 'tracing', { attach: 'trace_fentry', needsTarget: true, sleepable: true }),
  d('fmod_ret.s+', 'tracing', { attach: 'modify_return', needsTarget: true, sleepable: true }),
  d('fexit.s+', 'tracing', { attach: 'trace_fexit', needsTarget: true, sleepable: true }),
  d('freplace+', 'ext', { needsTarget: true }),
  d('lsm+', 'lsm', { attach: 'lsm_mac', needsTarget: true }),
  d('lsm.s+', 'lsm', { attach: 'lsm_mac', needsTarget: true, sleepable: true }),
  d('lsm_cgroup+', 'lsm', { attach: 'lsm_cgroup', needsTarget: true }),
  d('iter+', 'tracing', { attach: 'trace_iter', needsTarget: true }),
  d('iter.s+', 'tracing', { attach: 'trace_iter', needsTarget: true, sleepable: true }),
  d('syscall', 'syscall', { sleepable: true }),
  d('xdp.frags/devmap', 'xdp', { attach: 'xdp_devmap' }),
  d('xdp/devmap', 'xdp', { attach: 'xdp_devmap' }),
  d('xdp.frags/cpumap', 'xdp', { attach: 'xdp_cpumap' }),
  d('xdp/cpumap', 'xdp', { attach: 'xdp_cpumap' }),
  d('xdp.frags', 'xdp', { attach: 'xdp' }),
  d('xdp', 'xdp', { attach: 'xdp', sloppy: true }),
  d('perf_event', 'perf_event', { sloppy: true }),
  d('lwt_in', 'lwt_in', { sloppy: true }),
  d('lwt_out', 'lwt_out', { sloppy: true }),
  d('lwt_xmit', 'lwt_xmit', { sloppy: true }),
  d('lwt_seg6local', 'lwt_seg6local', { sloppy: true }),
  d('sockops', 'sock_ops', { attach: 'cgroup_sock_ops', sloppy: true }),
  d('sk_skb/stream_parser', 'sk_skb', { attach: 'sk_skb_stream_parser', sloppy: true }),
  d('sk_skb/stream_verdict', 'sk_skb', { attach: 'sk_skb_stream_verdict', sloppy: true }),
  d('sk_skb/verdict', 'sk_skb', { attach: 'sk_skb_verdict' }),
  d('sk_skb', 'sk_skb', { sloppy: true }),
  d('sk_msg', 'sk_msg', { attach: 'sk_msg_verdict', sloppy: true }),
  d('lirc_mode2', 'lirc_mode2', { attach: 'lirc_mode2', sloppy: true }),
  d('flow_dissector', 'flow_dissector', { attach: 'flow_dissector', sloppy: true }),
  d('cgroup_skb/ingress', 'cgroup_skb', { attach: 'cgroup_inet_ingress', sloppy: true }),
  d('cgroup_skb/egress', 'cgroup_skb', { attach: 'cgroup_inet_egress', sloppy: true }),
  d('cgroup/skb', 'cgroup_skb', { sloppy: true }),
  d('cgroup/sock_create', 'cgroup_sock', { attach: 'cgroup_inet_sock_create' }),
  d('cgroup/sock_release', 'cgroup_sock', { attach: 'cgroup_inet_sock_release' }),
  d('cgroup/sock', 'cgroup_sock', { attach: 'cgroup_inet_sock_create', sloppy: true }),
  d('cgroup/post_bind4', 'cgroup_sock', { attach: 'cgroup_inet4_post_bind' }),
  d('cgroup/post_bind6', 'cgroup_sock', { attach: 'cgroup_inet6_post_bind' }),
  d('cgroup/bind4', 'cgroup_sock_addr', { attach: 'cgroup_inet4_bind' }),
  d('cgroup/bind6', 'cgroup_sock_addr', { attach: 'cgroup_inet6_bind' }),
  d('cgroup/connect4', 'cgroup_sock_addr', { attach: 'cgroup_inet4_connect' }),
  d('cgroup/connect6', 'cgroup_sock_addr', { attach: 'cgroup_inet6_connect' }),
  d('cgroup/connect_unix', 'cgroup_sock_addr', { attach: 'cgroup_unix_connect' }),
  d('cgroup/sendmsg4', 'cgroup_sock_addr', { attach: 'cgroup_udp4_sendmsg' }),
  d('cgroup/sendmsg6', 'cgroup_sock_addr', { attach: 'cgroup_udp6_sendmsg' }),
  d('cgroup/sendmsg_unix', 'cgroup_sock_addr', { attach: 'cgroup_unix_sendmsg' }),
  d('cgroup/recvmsg4', 'cgroup_sock_addr', { attach: 'cgroup_udp4_recvmsg' }),
  d('cgroup/recvmsg6', 'cgroup_sock_addr', { attach: 'cgroup_udp6_recvmsg' }),
  d('cgroup/recvmsg_unix', 'cgroup_sock_addr', { attach: 'cgroup_unix_recvmsg' }),
  d('cgroup/getpeername4', 'cgroup_sock_addr', { attach: 'cgroup_inet4_getpeername' }),
  d('cgroup/getpeername6', 'cgroup_sock_addr', { attach: 'cgroup_inet6_getpeername' }),
  d('cgroup/getpeername_unix', 'cgroup_sock_addr', { attach: 'cgroup_unix_getpeername' }),
  d('cgroup/getsockname4', 'cgroup_sock_addr', { attach: 'cgroup_inet4_getsockname' }),
  d('cgroup/getsockname6', 'cgroup_sock_addr', { attach: 'cgroup_inet6_getsockname' }),
  d('cgroup/getsockname_unix', 'cgroup_sock_addr', { attach: 'cgroup_unix_getsockname' }),
  d('cgroup/sysctl', 'cgroup_sysctl', { attach: 'cgroup_sysctl' }),
  d('cgroup/getsockopt', 'cgroup_sockopt', { attach: 'cgroup_getsockopt' }),
  d('cgroup/setsockopt', 'cgroup_sockopt', { attach: 'cgroup_setsockopt' }),
  d('cgroup/dev', 'cgroup_device', { attach: 'cgroup_device', sloppy: true }),
  d('struct_ops+', 'struct_ops'),
  d('struct_ops.s+', 'struct_ops', { sleepable: true }),
  d('sk_lookup', 'sk_lookup', { attach: 'sk_lookup' }),
  d('netfilter', 'netfilter', { attach: 'netfilter' }),
];

export interface SectionMatch {
  def: SectionDef;
  /** What follows `pattern/` (attach target: tracepoint name, function, interface ...), if any. */
  target?: string;
}

/** Resolve a section name the way libbpf does, falling back to pre-1.0 prefix matching. */
export function matchSection(section: string): SectionMatch | undefined {
  for (const def of SECTION_DEFS) {
    if (def.pattern.endsWith('+')) {
      const base = def.pattern.slice(0, -1);
      if (section === base) return { def };
      if (section.startsWith(base + '/')) return { def, target: section.slice(base.length + 1) };
    } else if (section === def.pattern) {
      return { def };
    }
  }
  for (const def of SECTION_DEFS) {
    if (!def.sloppy) continue;
    const base = def.pattern.endsWith('+') ? def.pattern.slice(0, -1) : def.pattern;
    if (section.startsWith(base)) {
      const rest = section.slice(base.length);
      return rest.startsWith('/') ? { def, target: rest.slice(1) } : { def };
    }
  }
  return undefined;
}
