import { HelperId, type HelperIdName } from '../uapi/helper-ids.js';
import type { ProgTypeName } from '../uapi/prog-types.js';

/**
 * Helper prototypes as data: what each argument must be and what the call returns, in the kernel's
 * terms (`struct bpf_func_proto`), plus which program types may call it. The verifier checks calls
 * against this table, the runtime checks at load time that it implements every helper a program
 * calls, and the docs list it.
 */

export type ArgType =
  | 'anything'
  | 'const_map_ptr'
  | 'map_key'
  | 'map_value'
  /** Map value buffer the helper writes (pop/peek). */
  | 'map_value_uninit'
  | 'ctx'
  /** Initialised memory the helper reads; its size is the next `const_size*` argument. */
  | 'mem'
  | 'mem_or_null'
  /** Memory the helper writes (may be uninitialised); sized by the next argument. */
  | 'uninit_mem'
  | 'const_size'
  | 'const_size_or_zero'
  | 'const_alloc_size_or_zero'
  /** A ring buffer record from bpf_ringbuf_reserve, released by this call. */
  | 'ringbuf_mem_release'
  | 'spin_lock'
  | 'func'
  | 'stack_or_null'
  | 'const_str'
  | 'long_ptr'
  | 'int_ptr'
  | 'btf_id'
  | 'sock_common'
  | 'socket'
  | 'timer'
  | 'dynptr';

export type RetType =
  | 'integer'
  | 'void'
  | 'map_value_or_null'
  | 'ringbuf_mem_or_null'
  | 'socket_or_null'
  | 'tcp_sock_or_null'
  | 'sock_common_or_null'
  | 'btf_id'
  | 'btf_id_or_null'
  | 'mem_or_btf_id_or_null';

/** Who may call a helper: every type, or named groups of program types. */
export type HelperGroup = 'base' | 'tracing' | 'skb' | 'tc' | 'xdp' | 'sock' | 'cgroup';

export interface HelperProto {
  id: number;
  name: HelperIdName;
  ret: RetType;
  args: readonly ArgType[];
  groups: readonly HelperGroup[];
  /** GPL-only (needs a GPL-compatible license). */
  gpl?: boolean;
  /** Changes packet data: the verifier invalidates packet pointers after the call. */
  changesPacket?: boolean;
  /** Only for privileged programs (CAP_BPF/CAP_PERFMON). */
  privileged?: boolean;
}

/** Program types in each group (a helper is allowed when the caller's type is in one of its groups). */
export const HELPER_GROUPS: Readonly<Record<HelperGroup, readonly ProgTypeName[] | 'all'>> = {
  base: 'all',
  tracing: ['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'syscall'],
  skb: ['socket_filter', 'sched_cls', 'sched_act', 'cgroup_skb', 'sk_skb', 'lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local', 'flow_dissector'],
  tc: ['sched_cls', 'sched_act', 'lwt_xmit'],
  xdp: ['xdp'],
  sock: ['sock_ops', 'cgroup_sock', 'cgroup_sock_addr', 'sk_msg', 'sk_skb', 'sk_reuseport', 'sk_lookup', 'cgroup_sockopt'],
  cgroup: ['cgroup_skb', 'cgroup_sock', 'cgroup_sock_addr', 'cgroup_device', 'cgroup_sysctl', 'cgroup_sockopt', 'sock_ops'],
};

type Row = [HelperIdName, RetType, ArgType[], HelperGroup[], Partial<Pick<HelperProto, 'gpl' | 'changesPacket' | 'privileged'>>?];

const TRACE: HelperGroup[] = ['tracing'];
const PKT: HelperGroup[] = ['skb', 'xdp'];

const ROWS: Row[] = [
  ['map_lookup_elem', 'map_value_or_null', ['const_map_ptr', 'map_key'], ['base']],
  ['map_update_elem', 'integer', ['const_map_ptr', 'map_key', 'map_value', 'anything'], ['base']],
  ['map_delete_elem', 'integer', ['const_map_ptr', 'map_key'], ['base']],
  ['map_push_elem', 'integer', ['const_map_ptr', 'map_value', 'anything'], ['base']],
  ['map_pop_elem', 'integer', ['const_map_ptr', 'map_value_uninit'], ['base']],
  ['map_peek_elem', 'integer', ['const_map_ptr', 'map_value_uninit'], ['base']],
  ['map_lookup_percpu_elem', 'map_value_or_null', ['const_map_ptr', 'map_key', 'anything'], ['base']],
  ['probe_read', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], TRACE, { gpl: true }],
  ['probe_read_str', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], TRACE, { gpl: true }],
  // In the base set for CAP_PERFMON (kernel bpf_base_func_proto), so root may call them from any program type.
  ['probe_read_user', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['probe_read_kernel', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['probe_read_user_str', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['probe_read_kernel_str', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['ktime_get_ns', 'integer', [], ['base']],
  ['ktime_get_boot_ns', 'integer', [], ['base']],
  // Not NMI-safe: the kernel keeps it from tracing programs.
  ['ktime_get_coarse_ns', 'integer', [], ['skb', 'xdp', 'tc', 'sock', 'cgroup']],
  ['ktime_get_tai_ns', 'integer', [], ['base']],
  ['jiffies64', 'integer', [], ['base']],
  ['trace_printk', 'integer', ['mem', 'const_size'], ['base'], { gpl: true, privileged: true }],
  ['trace_vprintk', 'integer', ['mem', 'const_size', 'mem_or_null', 'const_size_or_zero'], ['base'], { gpl: true, privileged: true }],
  ['snprintf', 'integer', ['mem_or_null', 'const_size_or_zero', 'const_str', 'mem_or_null', 'const_size_or_zero'], ['base']],
  ['strtol', 'integer', ['mem', 'const_size', 'anything', 'long_ptr'], ['base']],
  ['strtoul', 'integer', ['mem', 'const_size', 'anything', 'long_ptr'], ['base']],
  ['get_prandom_u32', 'integer', [], ['base']],
  ['get_smp_processor_id', 'integer', [], ['base']],
  ['get_numa_node_id', 'integer', [], ['base']],
  ['tail_call', 'void', ['ctx', 'const_map_ptr', 'anything'], ['base']],
  ['loop', 'integer', ['anything', 'func', 'stack_or_null', 'anything'], ['base']],
  ['for_each_map_elem', 'integer', ['const_map_ptr', 'func', 'stack_or_null', 'anything'], ['base']],
  ['spin_lock', 'void', ['spin_lock'], ['base']],
  ['spin_unlock', 'void', ['spin_lock'], ['base']],
  ['ringbuf_output', 'integer', ['const_map_ptr', 'mem', 'const_size_or_zero', 'anything'], ['base']],
  ['ringbuf_reserve', 'ringbuf_mem_or_null', ['const_map_ptr', 'const_alloc_size_or_zero', 'anything'], ['base']],
  ['ringbuf_submit', 'void', ['ringbuf_mem_release', 'anything'], ['base']],
  ['ringbuf_discard', 'void', ['ringbuf_mem_release', 'anything'], ['base']],
  ['ringbuf_query', 'integer', ['const_map_ptr', 'anything'], ['base']],
  // Linux 6.18 gives these four to every program type (base helpers, for CAP_PERFMON loaders);
  // test/runtime/current-task-helpers.test.ts checks it per type against bpf().
  ['get_current_pid_tgid', 'integer', [], ['base'], { privileged: true }],
  ['get_current_uid_gid', 'integer', [], ['base'], { privileged: true }],
  ['get_current_comm', 'integer', ['uninit_mem', 'const_size'], [...TRACE, 'cgroup', 'sock']],
  ['get_current_task', 'integer', [], TRACE, { gpl: true }],
  ['get_current_cgroup_id', 'integer', [], [...TRACE, 'cgroup', 'sock']],
  ['get_stackid', 'integer', ['ctx', 'const_map_ptr', 'anything'], TRACE],
  ['get_stack', 'integer', ['ctx', 'uninit_mem', 'const_size_or_zero', 'anything'], TRACE],
  ['get_func_ip', 'integer', ['ctx'], TRACE],
  ['get_attach_cookie', 'integer', ['ctx'], TRACE],
  ['perf_event_read', 'integer', ['const_map_ptr', 'anything'], TRACE],
  ['perf_event_output', 'integer', ['ctx', 'const_map_ptr', 'anything', 'mem', 'const_size_or_zero'], [...TRACE, ...PKT, 'sock', 'cgroup']],
  ['skb_load_bytes', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size'], ['skb']],
  ['skb_load_bytes_relative', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size', 'anything'], ['skb']],
  ['skb_store_bytes', 'integer', ['ctx', 'anything', 'mem', 'const_size', 'anything'], ['tc'], { changesPacket: true }],
  ['l3_csum_replace', 'integer', ['ctx', 'anything', 'anything', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['l4_csum_replace', 'integer', ['ctx', 'anything', 'anything', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['csum_diff', 'integer', ['mem_or_null', 'const_size_or_zero', 'mem_or_null', 'const_size_or_zero', 'anything'], PKT],
  ['csum_update', 'integer', ['ctx', 'anything'], ['tc']],
  ['csum_level', 'integer', ['ctx', 'anything'], ['tc']],
  ['clone_redirect', 'integer', ['ctx', 'anything', 'anything'], ['tc']],
  ['redirect', 'integer', ['anything', 'anything'], ['tc', 'xdp']],
  ['redirect_map', 'integer', ['const_map_ptr', 'anything', 'anything'], ['xdp']],
  ['redirect_neigh', 'integer', ['anything', 'mem_or_null', 'const_size_or_zero', 'anything'], ['tc']],
  ['redirect_peer', 'integer', ['anything', 'anything'], ['tc']],
  ['skb_vlan_push', 'integer', ['ctx', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_vlan_pop', 'integer', ['ctx'], ['tc'], { changesPacket: true }],
  ['skb_change_proto', 'integer', ['ctx', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_change_type', 'integer', ['ctx', 'anything'], ['tc']],
  ['skb_change_tail', 'integer', ['ctx', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_change_head', 'integer', ['ctx', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_pull_data', 'integer', ['ctx', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_adjust_room', 'integer', ['ctx', 'anything', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_under_cgroup', 'integer', ['ctx', 'const_map_ptr', 'anything'], ['tc']],
  ['skb_get_tunnel_key', 'integer', ['ctx', 'uninit_mem', 'const_size', 'anything'], ['tc']],
  ['skb_set_tunnel_key', 'integer', ['ctx', 'mem', 'const_size', 'anything'], ['tc']],
  ['skb_get_tunnel_opt', 'integer', ['ctx', 'uninit_mem', 'const_size'], ['tc']],
  ['skb_set_tunnel_opt', 'integer', ['ctx', 'mem', 'const_size'], ['tc']],
  ['skb_ecn_set_ce', 'integer', ['ctx'], ['skb']],
  ['get_hash_recalc', 'integer', ['ctx'], ['tc']],
  ['set_hash_invalid', 'integer', ['ctx'], ['tc']],
  ['set_hash', 'integer', ['ctx', 'anything'], ['tc']],
  ['get_cgroup_classid', 'integer', ['ctx'], ['tc']],
  ['get_route_realm', 'integer', ['ctx'], ['tc']],
  ['skb_cgroup_id', 'integer', ['ctx'], ['tc']],
  ['get_socket_cookie', 'integer', ['ctx'], ['skb', 'sock', 'cgroup']],
  ['get_socket_uid', 'integer', ['ctx'], ['skb']],
  ['sk_lookup_tcp', 'socket_or_null', ['ctx', 'mem', 'const_size', 'anything', 'anything'], ['tc', 'xdp', 'cgroup']],
  ['sk_lookup_udp', 'socket_or_null', ['ctx', 'mem', 'const_size', 'anything', 'anything'], ['tc', 'xdp', 'cgroup']],
  ['skc_lookup_tcp', 'sock_common_or_null', ['ctx', 'mem', 'const_size', 'anything', 'anything'], ['tc', 'xdp', 'cgroup']],
  ['sk_release', 'integer', ['socket'], ['tc', 'xdp', 'cgroup', 'sock']],
  ['fib_lookup', 'integer', ['ctx', 'mem', 'const_size', 'anything'], ['tc', 'xdp']],
  ['xdp_adjust_head', 'integer', ['ctx', 'anything'], ['xdp'], { changesPacket: true }],
  ['xdp_adjust_tail', 'integer', ['ctx', 'anything'], ['xdp'], { changesPacket: true }],
  ['xdp_adjust_meta', 'integer', ['ctx', 'anything'], ['xdp'], { changesPacket: true }],
  ['xdp_get_buff_len', 'integer', ['ctx'], ['xdp']],
  ['xdp_load_bytes', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size'], ['xdp']],
  ['xdp_store_bytes', 'integer', ['ctx', 'anything', 'mem', 'const_size'], ['xdp']],
  ['sk_redirect_map', 'integer', ['ctx', 'const_map_ptr', 'anything', 'anything'], ['sock']],
  ['sk_redirect_hash', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock']],
  ['msg_redirect_map', 'integer', ['ctx', 'const_map_ptr', 'anything', 'anything'], ['sock']],
  ['msg_redirect_hash', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock']],
  ['sock_map_update', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock']],
  ['sock_hash_update', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock']],
  ['setsockopt', 'integer', ['ctx', 'anything', 'anything', 'mem', 'const_size'], ['sock']],
  ['getsockopt', 'integer', ['ctx', 'anything', 'anything', 'uninit_mem', 'const_size'], ['sock']],
  ['sock_ops_cb_flags_set', 'integer', ['ctx', 'anything'], ['sock']],
  ['bind', 'integer', ['ctx', 'mem', 'const_size'], ['sock']],
  ['tcp_sock', 'tcp_sock_or_null', ['sock_common'], ['tc', 'cgroup']],
  ['sk_fullsock', 'socket_or_null', ['sock_common'], ['tc', 'cgroup']],
  ['get_listener_sock', 'tcp_sock_or_null', ['sock_common'], ['tc']],
  ['send_signal', 'integer', ['anything'], ['base'], { privileged: true }],
  ['send_signal_thread', 'integer', ['anything'], ['base'], { privileged: true }],
  ['override_return', 'integer', ['ctx', 'anything'], ['tracing'], { gpl: true }],
  ['probe_write_user', 'integer', ['anything', 'mem', 'const_size'], TRACE, { gpl: true }],
  ['sk_select_reuseport', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock']],
  ['get_netns_cookie', 'integer', ['anything'], ['skb', 'sock', 'cgroup']],
  ['sk_assign', 'integer', ['ctx', 'sock_common', 'anything'], ['tc']],
  ['perf_event_read_value', 'integer', ['const_map_ptr', 'anything', 'uninit_mem', 'const_size'], TRACE],
  ['perf_prog_read_value', 'integer', ['ctx', 'uninit_mem', 'const_size'], TRACE],
  ['current_task_under_cgroup', 'integer', ['const_map_ptr', 'anything'], TRACE],
];

export const HELPER_PROTOS: readonly HelperProto[] = ROWS.map(([name, ret, args, groups, extra]) => ({
  id: HelperId[name], name, ret, args, groups, ...extra,
}));

const BY_ID: ReadonlyMap<number, HelperProto> = new Map(HELPER_PROTOS.map((h) => [h.id, h]));

export function helperProto(id: number): HelperProto | undefined {
  return BY_ID.get(id);
}

/** May a program of this type call this helper? */
export function helperAllowed(proto: HelperProto, progType: ProgTypeName): boolean {
  return proto.groups.some((g) => {
    const types = HELPER_GROUPS[g];
    return types === 'all' || types.includes(progType);
  });
}
