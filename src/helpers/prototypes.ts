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
  /** Initialised memory the helper also writes (kernel MEM_WRITE without MEM_UNINIT); sized by the next argument. */
  | 'mem_rw'
  | 'mem_rw_or_null'
  /** Memory the helper writes (may be uninitialised); sized by the next argument. */
  | 'uninit_mem'
  | 'const_size'
  | 'const_size_or_zero'
  | 'const_alloc_size_or_zero'
  /** A ring buffer record from bpf_ringbuf_reserve, released by this call. */
  | 'ringbuf_mem_release'
  /** Points exactly at the bpf_spin_lock of a map value. */
  | 'spin_lock'
  | 'func'
  | 'stack_or_null'
  | 'const_str'
  | 'long_ptr'
  /** Initialised memory of a fixed size the helper reads: a struct iphdr (20 bytes), ipv6hdr (40), tcphdr (20). */
  | 'iphdr'
  | 'ipv6hdr'
  | 'tcphdr'
  | 'int_ptr'
  | 'btf_id'
  | 'sock_common'
  /** A socket the kernel may also know by BTF (ARG_PTR_TO_BTF_ID_SOCK_COMMON): checked as sock_common. */
  | 'btf_sock_common'
  | 'socket'
  /** Points exactly at the bpf_timer of a map value. */
  | 'timer'
  /** A map value pointer, or NULL. */
  | 'map_value_or_null'
  | 'dynptr';

export type RetType =
  | 'integer'
  | 'void'
  /** A map value that cannot be NULL (bpf_get_local_storage's). */
  | 'map_value'
  | 'map_value_or_null'
  | 'ringbuf_mem_or_null'
  | 'socket_or_null'
  | 'tcp_sock_or_null'
  | 'sock_common_or_null'
  | 'btf_id'
  | 'btf_id_or_null'
  | 'mem_or_btf_id_or_null';

/** Named groups of program types that share helpers. */
export type HelperGroup = 'base' | 'trace' | 'probe' | 'trace_btf' | 'tc' | 'lwt' | 'skb' | 'cgroup';

/**
 * Who may call a helper: a named group, or a single program type by its own name (for the helpers
 * whose set of callers no group fits).
 */
export type HelperCaller = HelperGroup | ProgTypeName;

export interface HelperProto {
  id: number;
  name: HelperIdName;
  ret: RetType;
  args: readonly ArgType[];
  groups: readonly HelperCaller[];
  /** GPL-only (needs a GPL-compatible license). */
  gpl?: boolean;
  /** Changes packet data: the verifier invalidates packet pointers after the call. */
  changesPacket?: boolean;
  /** Only for privileged programs (CAP_BPF/CAP_PERFMON). */
  privileged?: boolean;
}

/**
 * Program types in each group. A caller that is not a group is the program type of that name; it is
 * typed here so that a caller can index this table directly.
 */
export const HELPER_GROUPS: Readonly<Partial<Record<HelperCaller, readonly ProgTypeName[] | 'all'>>> = {
  base: 'all',
  trace: ['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable', 'tracing', 'lsm', 'syscall'],
  /** Attached to a kernel event (not to a BTF function). */
  probe: ['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable'],
  /** The types whose helpers come from the kernel's tracing_prog_func_proto. */
  trace_btf: ['tracing', 'lsm', 'syscall'],
  tc: ['sched_cls', 'sched_act'],
  lwt: ['lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local'],
  skb: ['socket_filter', 'sched_cls', 'sched_act', 'cgroup_skb', 'lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local', 'sk_skb', 'sk_reuseport', 'flow_dissector'],
  cgroup: ['cgroup_skb', 'cgroup_sock', 'cgroup_sock_addr', 'cgroup_device', 'cgroup_sysctl', 'cgroup_sockopt', 'sock_ops'],
};

type Row = [HelperIdName, RetType, ArgType[], HelperCaller[], Partial<Pick<HelperProto, 'gpl' | 'changesPacket' | 'privileged'>>?];

/** Base helpers the kernel gives only to privileged loaders (CAP_BPF or CAP_PERFMON). */
const PRIVILEGED = { privileged: true } as const;
const SOCKET_LOOKUP: HelperCaller[] = ['tc', 'xdp', 'cgroup_skb', 'cgroup_sock_addr', 'sk_skb'];

// Callers as Linux 6.18 answers BPF_PROG_LOAD for each type a plain load can ask about
// (test/helpers/kernel-table.test.ts); tracing, lsm, ext and struct_ops follow the kernel's sources.
const ROWS: Row[] = [
  ['map_lookup_elem', 'map_value_or_null', ['const_map_ptr', 'map_key'], ['base']],
  ['map_update_elem', 'integer', ['const_map_ptr', 'map_key', 'map_value', 'anything'], ['base']],
  ['map_delete_elem', 'integer', ['const_map_ptr', 'map_key'], ['base']],
  ['map_push_elem', 'integer', ['const_map_ptr', 'map_value', 'anything'], ['base']],
  ['map_pop_elem', 'integer', ['const_map_ptr', 'map_value_uninit'], ['base']],
  ['map_peek_elem', 'integer', ['const_map_ptr', 'map_value_uninit'], ['base']],
  ['map_lookup_percpu_elem', 'map_value_or_null', ['const_map_ptr', 'map_key', 'anything'], ['base']],
  ['probe_read', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['trace'], { gpl: true }],
  ['probe_read_str', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['trace'], { gpl: true }],
  ['probe_read_user', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['probe_read_kernel', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['probe_read_user_str', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['probe_read_kernel_str', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['ktime_get_ns', 'integer', [], ['base']],
  ['ktime_get_boot_ns', 'integer', [], ['base']],
  // Not NMI-safe: the kernel keeps it from tracing programs (and from cgroup_device, cgroup_sockopt, netfilter).
  ['ktime_get_coarse_ns', 'integer', [], ['skb', 'xdp', 'cgroup_sock', 'cgroup_sock_addr', 'cgroup_sysctl', 'sock_ops', 'sk_msg', 'sk_lookup']],
  ['ktime_get_tai_ns', 'integer', [], ['base']],
  ['jiffies64', 'integer', [], ['base']],
  ['trace_printk', 'integer', ['mem', 'const_size'], ['base'], { gpl: true, privileged: true }],
  ['trace_vprintk', 'integer', ['mem', 'const_size', 'mem_or_null', 'const_size_or_zero'], ['base'], { gpl: true, privileged: true }],
  ['snprintf', 'integer', ['mem_or_null', 'const_size_or_zero', 'const_str', 'mem_or_null', 'const_size_or_zero'], ['base'], { gpl: true, privileged: true }],
  ['strtol', 'integer', ['mem', 'const_size', 'anything', 'long_ptr'], ['base']],
  ['strtoul', 'integer', ['mem', 'const_size', 'anything', 'long_ptr'], ['base']],
  ['get_prandom_u32', 'integer', [], ['base']],
  ['get_smp_processor_id', 'integer', [], ['base']],
  ['get_numa_node_id', 'integer', [], ['base']],
  ['tail_call', 'void', ['ctx', 'const_map_ptr', 'anything'], ['base']],
  ['loop', 'integer', ['anything', 'func', 'stack_or_null', 'anything'], ['base']],
  ['for_each_map_elem', 'integer', ['const_map_ptr', 'func', 'stack_or_null', 'anything'], ['base']],
  // Locks and timers: base helpers for loaders with CAP_BPF.
  ['spin_lock', 'void', ['spin_lock'], ['base'], PRIVILEGED],
  ['spin_unlock', 'void', ['spin_lock'], ['base'], PRIVILEGED],
  ['timer_init', 'integer', ['timer', 'const_map_ptr', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['timer_set_callback', 'integer', ['timer', 'func'], ['base'], { gpl: true, privileged: true }],
  ['timer_start', 'integer', ['timer', 'anything', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['timer_cancel', 'integer', ['timer'], ['base'], { gpl: true, privileged: true }],
  ['ringbuf_output', 'integer', ['const_map_ptr', 'mem', 'const_size_or_zero', 'anything'], ['base']],
  ['ringbuf_reserve', 'ringbuf_mem_or_null', ['const_map_ptr', 'const_alloc_size_or_zero', 'anything'], ['base']],
  ['ringbuf_submit', 'void', ['ringbuf_mem_release', 'anything'], ['base']],
  ['ringbuf_discard', 'void', ['ringbuf_mem_release', 'anything'], ['base']],
  ['ringbuf_query', 'integer', ['const_map_ptr', 'anything'], ['base']],
  // Current-task and perf helpers: base helpers for privileged loaders in 6.18, so every type.
  ['get_current_pid_tgid', 'integer', [], ['base'], PRIVILEGED],
  ['get_current_uid_gid', 'integer', [], ['base'], PRIVILEGED],
  ['get_current_comm', 'integer', ['uninit_mem', 'const_size'], ['base'], PRIVILEGED],
  ['get_current_task', 'integer', [], ['base'], { gpl: true, privileged: true }],
  ['get_current_cgroup_id', 'integer', [], ['base'], PRIVILEGED],
  ['current_task_under_cgroup', 'integer', ['const_map_ptr', 'anything'], ['base'], PRIVILEGED],
  ['perf_event_read', 'integer', ['const_map_ptr', 'anything'], ['base'], { gpl: true, privileged: true }],
  ['perf_event_read_value', 'integer', ['const_map_ptr', 'anything', 'uninit_mem', 'const_size'], ['base'], { gpl: true, privileged: true }],
  ['send_signal', 'integer', ['anything'], ['base'], PRIVILEGED],
  ['send_signal_thread', 'integer', ['anything'], ['base'], PRIVILEGED],
  ['get_stackid', 'integer', ['ctx', 'const_map_ptr', 'anything'], ['trace'], { gpl: true }],
  ['get_stack', 'integer', ['ctx', 'uninit_mem', 'const_size_or_zero', 'anything'], ['trace'], { gpl: true }],
  // The other tracing types find it but are refused right after ("not supported for program type").
  ['get_func_ip', 'integer', ['ctx'], ['kprobe', 'tracing'], { gpl: true }],
  ['get_attach_cookie', 'integer', ['ctx'], ['probe', 'tracing', 'lsm']],
  ['perf_prog_read_value', 'integer', ['ctx', 'uninit_mem', 'const_size'], ['perf_event'], { gpl: true }],
  ['perf_event_output', 'integer', ['ctx', 'const_map_ptr', 'anything', 'mem', 'const_size_or_zero'], ['trace', 'tc', 'lwt', 'xdp', 'socket_filter', 'cgroup', 'sk_skb', 'sk_msg', 'sk_lookup'], { gpl: true }],
  // Absent from a kernel in lockdown "integrity" mode (this machine's).
  ['probe_write_user', 'integer', ['anything', 'mem', 'const_size'], ['trace'], { gpl: true }],
  // Only with CONFIG_BPF_KPROBE_OVERRIDE (off on this machine's kernel).
  ['override_return', 'integer', ['ctx', 'anything'], ['kprobe'], { gpl: true }],
  ['skb_load_bytes', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size'], ['skb']],
  ['skb_load_bytes_relative', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size', 'anything'], ['tc', 'socket_filter', 'cgroup_skb', 'sk_reuseport']],
  ['skb_store_bytes', 'integer', ['ctx', 'anything', 'mem', 'const_size', 'anything'], ['tc', 'lwt_xmit', 'sk_skb'], { changesPacket: true }],
  ['l3_csum_replace', 'integer', ['ctx', 'anything', 'anything', 'anything', 'anything'], ['tc', 'lwt_xmit'], { changesPacket: true }],
  ['l4_csum_replace', 'integer', ['ctx', 'anything', 'anything', 'anything', 'anything'], ['tc', 'lwt_xmit'], { changesPacket: true }],
  ['csum_diff', 'integer', ['mem_or_null', 'const_size_or_zero', 'mem_or_null', 'const_size_or_zero', 'anything'], ['tc', 'lwt', 'xdp']],
  ['csum_update', 'integer', ['ctx', 'anything'], ['tc', 'lwt_xmit']],
  ['csum_level', 'integer', ['ctx', 'anything'], ['tc', 'lwt_xmit']],
  ['clone_redirect', 'integer', ['ctx', 'anything', 'anything'], ['tc', 'lwt_xmit']],
  ['redirect', 'integer', ['anything', 'anything'], ['tc', 'lwt_xmit', 'xdp']],
  ['redirect_map', 'integer', ['const_map_ptr', 'anything', 'anything'], ['xdp']],
  ['redirect_neigh', 'integer', ['anything', 'mem_or_null', 'const_size_or_zero', 'anything'], ['tc']],
  ['redirect_peer', 'integer', ['anything', 'anything'], ['tc']],
  ['skb_vlan_push', 'integer', ['ctx', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_vlan_pop', 'integer', ['ctx'], ['tc'], { changesPacket: true }],
  ['skb_change_proto', 'integer', ['ctx', 'anything', 'anything'], ['tc'], { changesPacket: true }],
  ['skb_change_type', 'integer', ['ctx', 'anything'], ['tc']],
  ['skb_change_tail', 'integer', ['ctx', 'anything', 'anything'], ['tc', 'lwt_xmit', 'sk_skb'], { changesPacket: true }],
  ['skb_change_head', 'integer', ['ctx', 'anything', 'anything'], ['tc', 'lwt_xmit', 'sk_skb'], { changesPacket: true }],
  ['skb_pull_data', 'integer', ['ctx', 'anything'], ['tc', 'lwt', 'sk_skb'], { changesPacket: true }],
  ['skb_adjust_room', 'integer', ['ctx', 'anything', 'anything', 'anything'], ['tc', 'sk_skb'], { changesPacket: true }],
  ['skb_under_cgroup', 'integer', ['ctx', 'const_map_ptr', 'anything'], ['tc', 'lwt']],
  ['skb_get_tunnel_key', 'integer', ['ctx', 'uninit_mem', 'const_size', 'anything'], ['tc', 'lwt_xmit']],
  ['skb_set_tunnel_key', 'integer', ['ctx', 'mem', 'const_size', 'anything'], ['tc', 'lwt_xmit']],
  ['skb_get_tunnel_opt', 'integer', ['ctx', 'uninit_mem', 'const_size'], ['tc', 'lwt_xmit']],
  ['skb_set_tunnel_opt', 'integer', ['ctx', 'mem', 'const_size'], ['tc', 'lwt_xmit']],
  ['skb_ecn_set_ce', 'integer', ['ctx'], ['tc', 'cgroup_skb']],
  ['get_hash_recalc', 'integer', ['ctx'], ['tc', 'lwt']],
  ['set_hash_invalid', 'integer', ['ctx'], ['tc', 'lwt_xmit']],
  ['set_hash', 'integer', ['ctx', 'anything'], ['tc']],
  // tc's reads the packet's socket; every other type gets the current task's (a privileged base helper).
  ['get_cgroup_classid', 'integer', ['ctx'], ['base'], PRIVILEGED],
  ['get_route_realm', 'integer', ['ctx'], ['tc', 'lwt']],
  ['skb_cgroup_id', 'integer', ['ctx'], ['tc', 'cgroup_skb']],
  ['get_socket_cookie', 'integer', ['ctx'], ['tc', 'socket_filter', 'cgroup_skb', 'cgroup_sock', 'cgroup_sock_addr', 'sock_ops', 'sk_skb', 'sk_reuseport', 'trace_btf']],
  ['get_socket_uid', 'integer', ['ctx'], ['tc', 'socket_filter', 'cgroup_skb', 'sk_skb']],
  ['get_netns_cookie', 'integer', ['anything'], ['tc', 'socket_filter', 'cgroup_skb', 'cgroup_sock', 'cgroup_sock_addr', 'cgroup_sockopt', 'sock_ops', 'sk_msg']],
  ['sk_lookup_tcp', 'socket_or_null', ['ctx', 'mem', 'const_size', 'anything', 'anything'], SOCKET_LOOKUP],
  ['sk_lookup_udp', 'socket_or_null', ['ctx', 'mem', 'const_size', 'anything', 'anything'], SOCKET_LOOKUP],
  ['skc_lookup_tcp', 'sock_common_or_null', ['ctx', 'mem', 'const_size', 'anything', 'anything'], SOCKET_LOOKUP],
  ['sk_release', 'integer', ['socket'], [...SOCKET_LOOKUP, 'sk_lookup']],
  // Socket-local storage; tracing and lsm get variants of their own (kernel sources).
  ['sk_storage_get', 'map_value_or_null', ['const_map_ptr', 'btf_sock_common', 'map_value_or_null', 'anything'],
    ['tc', 'cgroup_skb', 'cgroup_sock', 'cgroup_sock_addr', 'cgroup_sockopt', 'sock_ops', 'sk_msg', 'tracing', 'lsm']],
  ['sk_storage_delete', 'integer', ['const_map_ptr', 'btf_sock_common'], ['tc', 'cgroup_skb', 'cgroup_sock_addr', 'cgroup_sockopt', 'sock_ops', 'sk_msg', 'tracing', 'lsm']],
  ['sk_assign', 'integer', ['ctx', 'btf_sock_common', 'anything'], ['tc', 'sk_lookup']],
  ['tcp_sock', 'tcp_sock_or_null', ['sock_common'], ['tc', 'cgroup_skb', 'sock_ops', 'cgroup_sockopt']],
  ['sk_fullsock', 'socket_or_null', ['sock_common'], ['tc', 'cgroup_skb']],
  ['get_listener_sock', 'tcp_sock_or_null', ['sock_common'], ['tc', 'cgroup_skb']],
  ['fib_lookup', 'integer', ['ctx', 'mem', 'const_size', 'anything'], ['tc', 'xdp'], { gpl: true }],
  ['xdp_adjust_head', 'integer', ['ctx', 'anything'], ['xdp'], { changesPacket: true }],
  ['xdp_adjust_tail', 'integer', ['ctx', 'anything'], ['xdp'], { changesPacket: true }],
  ['xdp_adjust_meta', 'integer', ['ctx', 'anything'], ['xdp'], { changesPacket: true }],
  ['xdp_get_buff_len', 'integer', ['ctx'], ['xdp', 'trace_btf']],
  ['xdp_load_bytes', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size'], ['xdp']],
  ['xdp_store_bytes', 'integer', ['ctx', 'anything', 'mem', 'const_size'], ['xdp']],
  ['sk_redirect_map', 'integer', ['ctx', 'const_map_ptr', 'anything', 'anything'], ['sk_skb']],
  ['sk_redirect_hash', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sk_skb']],
  ['msg_redirect_map', 'integer', ['ctx', 'const_map_ptr', 'anything', 'anything'], ['sk_msg']],
  ['msg_redirect_hash', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sk_msg']],
  ['sock_map_update', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock_ops']],
  ['sock_hash_update', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sock_ops']],
  ['sock_ops_cb_flags_set', 'integer', ['ctx', 'anything'], ['sock_ops']],
  // cgroup_sock_addr: for the connect hooks (the kernel answers per expected attach type).
  ['setsockopt', 'integer', ['ctx', 'anything', 'anything', 'mem', 'const_size'], ['sock_ops', 'cgroup_sock_addr']],
  ['getsockopt', 'integer', ['ctx', 'anything', 'anything', 'uninit_mem', 'const_size'], ['sock_ops', 'cgroup_sock_addr']],
  ['bind', 'integer', ['ctx', 'mem', 'const_size'], ['cgroup_sock_addr']],
  ['sk_select_reuseport', 'integer', ['ctx', 'const_map_ptr', 'map_key', 'anything'], ['sk_reuseport']],
  ['sk_cgroup_id', 'integer', ['btf_sock_common'], ['cgroup_skb']],
  ['sk_ancestor_cgroup_id', 'integer', ['btf_sock_common', 'anything'], ['cgroup_skb']],
  ['skb_cgroup_classid', 'integer', ['ctx'], ['tc']],
  ['skb_ancestor_cgroup_id', 'integer', ['ctx', 'anything'], ['tc', 'cgroup_skb']],
  ['get_current_ancestor_cgroup_id', 'integer', ['anything'], ['base'], PRIVILEGED],
  ['get_ns_current_pid_tgid', 'integer', ['anything', 'anything', 'uninit_mem', 'const_size'], ['base'], PRIVILEGED],
  ['strncmp', 'integer', ['mem', 'const_size', 'const_str'], ['base']],
  ['get_local_storage', 'map_value', ['const_map_ptr', 'anything'], ['cgroup']],
  // Not at the hooks whose return value is not an errno (the verifier refuses those attach types: calls.ts).
  ['get_retval', 'integer', [], ['cgroup_sock', 'cgroup_sock_addr', 'cgroup_device', 'cgroup_sysctl', 'cgroup_sockopt', 'lsm']],
  ['set_retval', 'integer', ['anything'], ['cgroup_sock', 'cgroup_sock_addr', 'cgroup_device', 'cgroup_sysctl', 'cgroup_sockopt', 'lsm']],
  ['check_mtu', 'integer', ['ctx', 'anything', 'int_ptr', 'anything', 'anything'], ['tc', 'xdp'], { gpl: true }],
  ['skb_set_tstamp', 'integer', ['ctx', 'anything', 'anything'], ['tc']],
  ['skb_get_xfrm_state', 'integer', ['ctx', 'anything', 'uninit_mem', 'const_size', 'anything'], ['tc']],
  ['tcp_check_syncookie', 'integer', ['btf_sock_common', 'mem', 'const_size', 'mem', 'const_size'], ['tc', 'xdp'], { gpl: true }],
  ['tcp_gen_syncookie', 'integer', ['btf_sock_common', 'mem', 'const_size', 'mem', 'const_size'], ['tc', 'xdp'], { gpl: true }],
  ['tcp_raw_gen_syncookie_ipv4', 'integer', ['iphdr', 'mem', 'const_size_or_zero'], ['tc', 'xdp'], { gpl: true }],
  ['tcp_raw_gen_syncookie_ipv6', 'integer', ['ipv6hdr', 'mem', 'const_size_or_zero'], ['tc', 'xdp'], { gpl: true }],
  ['tcp_raw_check_syncookie_ipv4', 'integer', ['iphdr', 'tcphdr'], ['tc', 'xdp'], { gpl: true }],
  ['tcp_raw_check_syncookie_ipv6', 'integer', ['ipv6hdr', 'tcphdr'], ['tc', 'xdp'], { gpl: true }],
  ['lwt_push_encap', 'integer', ['ctx', 'anything', 'mem', 'const_size'], ['lwt_in', 'lwt_xmit'], { changesPacket: true }],
  ['lwt_seg6_store_bytes', 'integer', ['ctx', 'anything', 'mem', 'const_size'], ['lwt_seg6local'], { changesPacket: true }],
  ['lwt_seg6_adjust_srh', 'integer', ['ctx', 'anything', 'anything'], ['lwt_seg6local'], { changesPacket: true }],
  ['lwt_seg6_action', 'integer', ['ctx', 'anything', 'mem', 'const_size'], ['lwt_seg6local'], { changesPacket: true }],
  ['msg_apply_bytes', 'integer', ['ctx', 'anything'], ['sk_msg']],
  ['msg_cork_bytes', 'integer', ['ctx', 'anything'], ['sk_msg']],
  ['msg_pull_data', 'integer', ['ctx', 'anything', 'anything', 'anything'], ['sk_msg'], { changesPacket: true }],
  ['msg_push_data', 'integer', ['ctx', 'anything', 'anything', 'anything'], ['sk_msg'], { changesPacket: true }],
  ['msg_pop_data', 'integer', ['ctx', 'anything', 'anything', 'anything'], ['sk_msg'], { changesPacket: true }],
  ['load_hdr_opt', 'integer', ['ctx', 'mem_rw', 'const_size', 'anything'], ['sock_ops']],
  ['store_hdr_opt', 'integer', ['ctx', 'mem', 'const_size', 'anything'], ['sock_ops']],
  ['reserve_hdr_opt', 'integer', ['ctx', 'anything', 'anything'], ['sock_ops']],
  ['sysctl_get_name', 'integer', ['ctx', 'uninit_mem', 'const_size', 'anything'], ['cgroup_sysctl']],
  ['sysctl_get_current_value', 'integer', ['ctx', 'uninit_mem', 'const_size'], ['cgroup_sysctl']],
  ['sysctl_get_new_value', 'integer', ['ctx', 'uninit_mem', 'const_size'], ['cgroup_sysctl']],
  ['sysctl_set_new_value', 'integer', ['ctx', 'mem', 'const_size'], ['cgroup_sysctl']],
  ['rc_repeat', 'integer', ['ctx'], ['lirc_mode2']],
  ['rc_keydown', 'integer', ['ctx', 'anything', 'anything', 'anything'], ['lirc_mode2']],
  ['rc_pointer_rel', 'integer', ['ctx', 'anything', 'anything'], ['lirc_mode2']],
  ['read_branch_records', 'integer', ['ctx', 'mem_rw_or_null', 'const_size_or_zero', 'anything'], ['perf_event'], { gpl: true }],
  ['snprintf_btf', 'integer', ['mem_rw', 'const_size', 'mem', 'const_size', 'anything'], ['base'], PRIVILEGED],
  ['get_branch_snapshot', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], { gpl: true, privileged: true }],
  // Every type finds it; only sleepable programs may call it (calls.ts).
  ['copy_from_user', 'integer', ['uninit_mem', 'const_size_or_zero', 'anything'], ['base'], PRIVILEGED],
  // Programs with a trampoline only (calls.ts): fentry, fexit, fmod_ret, LSM.
  ['get_func_arg', 'integer', ['ctx', 'anything', 'long_ptr'], ['tracing', 'lsm']],
  ['get_func_ret', 'integer', ['ctx', 'long_ptr'], ['tracing', 'lsm']],
  ['get_func_arg_cnt', 'integer', ['ctx'], ['tracing', 'lsm']],
  ['sys_bpf', 'integer', ['anything', 'mem', 'const_size'], ['syscall']],
  ['sys_close', 'integer', ['anything'], ['syscall']],
  ['btf_find_by_name_kind', 'integer', ['mem', 'const_size', 'anything', 'anything'], ['syscall']],
  ['kallsyms_lookup_name', 'integer', ['mem', 'const_size', 'anything', 'long_ptr'], ['syscall']],
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
  return proto.groups.some((caller) => {
    const types = HELPER_GROUPS[caller];
    if (types === undefined) return caller === progType;
    return types === 'all' || types.includes(progType);
  });
}
