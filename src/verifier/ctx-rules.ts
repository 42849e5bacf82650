import type { ContextField, ContextLayout } from '../progtypes/context.js';

/**
 * Context facts the verifier needs beyond the shared layout table: per-type fields of `__sk_buff`
 * the kernel refuses, and layouts for context structs the table does not describe yet.
 */

const FAMILY_TO_LOCAL_PORT = ['family', 'remote_ip4', 'local_ip4', 'remote_ip6', 'local_ip6', 'remote_port', 'local_port'];

/** `__sk_buff` fields each program type may not access at all (kernel *_is_valid_access). */
export const SKB_DENIED: Readonly<Record<string, readonly string[]>> = {
  socket_filter: ['tc_classid', 'data', 'data_end', 'data_meta', 'flow_keys', 'tstamp', 'wire_len', 'hwtstamp', ...FAMILY_TO_LOCAL_PORT],
  cgroup_skb: ['tc_classid', 'data_meta', 'flow_keys', 'wire_len'],
  sched_cls: ['flow_keys'],
  sched_act: ['flow_keys'],
  lwt_in: ['tc_classid', 'data_meta', 'flow_keys', 'tstamp', 'wire_len', 'hwtstamp', ...FAMILY_TO_LOCAL_PORT],
  lwt_out: ['tc_classid', 'data_meta', 'flow_keys', 'tstamp', 'wire_len', 'hwtstamp', ...FAMILY_TO_LOCAL_PORT],
  lwt_xmit: ['tc_classid', 'data_meta', 'flow_keys', 'tstamp', 'wire_len', 'hwtstamp', ...FAMILY_TO_LOCAL_PORT],
  lwt_seg6local: ['tc_classid', 'data_meta', 'flow_keys', 'tstamp', 'wire_len', 'hwtstamp', ...FAMILY_TO_LOCAL_PORT],
  sk_skb: ['tc_classid', 'data_meta', 'flow_keys', 'tstamp', 'wire_len', 'hwtstamp', 'mark'],
};

const u32 = (name: string, offset: number, extra: Partial<ContextField> = {}): ContextField =>
  ({ name, offset, size: 4, kind: 'scalar', narrow: true, ...extra });

/** `struct bpf_sk_lookup`. */
const SK_LOOKUP: ContextLayout = {
  struct: 'bpf_sk_lookup',
  size: 72,
  fields: [
    { name: 'sk', offset: 0, size: 8, kind: 'ptr' },
    u32('family', 8), u32('protocol', 12), u32('remote_ip4', 16), u32('remote_ip6', 20, { count: 4 }),
    u32('remote_port', 36), u32('local_ip4', 40), u32('local_ip6', 44, { count: 4 }), u32('local_port', 60),
    u32('ingress_ifindex', 64),
  ],
};

/** `struct bpf_sock_addr`. */
const SOCK_ADDR: ContextLayout = {
  struct: 'bpf_sock_addr',
  size: 72,
  fields: [
    u32('user_family', 0), u32('user_ip4', 4, { writableBy: ['cgroup_sock_addr'] }),
    u32('user_ip6', 8, { count: 4, writableBy: ['cgroup_sock_addr'] }), u32('user_port', 24, { writableBy: ['cgroup_sock_addr'] }),
    u32('family', 28), u32('type', 32), u32('protocol', 36), u32('msg_src_ip4', 40, { writableBy: ['cgroup_sock_addr'] }),
    u32('msg_src_ip6', 44, { count: 4, writableBy: ['cgroup_sock_addr'] }),
    { name: 'sk', offset: 64, size: 8, kind: 'ptr' },
  ],
};

/** `struct bpf_sockopt`: optval/optval_end are packet-like pointers. */
const SOCKOPT: ContextLayout = {
  struct: 'bpf_sockopt',
  size: 40,
  fields: [
    { name: 'sk', offset: 0, size: 8, kind: 'ptr' },
    { name: 'optval', offset: 8, size: 8, kind: 'pkt_data' },
    { name: 'optval_end', offset: 16, size: 8, kind: 'pkt_end' },
    u32('level', 24, { writableBy: ['cgroup_sockopt'] }), u32('optname', 28, { writableBy: ['cgroup_sockopt'] }),
    u32('optlen', 32, { writableBy: ['cgroup_sockopt'] }), u32('retval', 36, { writableBy: ['cgroup_sockopt'] }),
  ],
};

/** `struct sk_msg_md`. */
const SK_MSG: ContextLayout = {
  struct: 'sk_msg_md',
  size: 80,
  fields: [
    { name: 'data', offset: 0, size: 8, kind: 'pkt_data' },
    { name: 'data_end', offset: 8, size: 8, kind: 'pkt_end' },
    u32('family', 16), u32('remote_ip4', 20), u32('local_ip4', 24), u32('remote_ip6', 28, { count: 4 }),
    u32('local_ip6', 44, { count: 4 }), u32('remote_port', 60), u32('local_port', 64), u32('size', 68),
    { name: 'sk', offset: 72, size: 8, kind: 'ptr' },
  ],
};

const SOCK_OPS_U32 = [
  'family', 'remote_ip4', 'local_ip4', 'remote_ip6', 'remote_ip6_1', 'remote_ip6_2', 'remote_ip6_3', 'local_ip6', 'local_ip6_1',
  'local_ip6_2', 'local_ip6_3', 'remote_port', 'local_port', 'is_fullsock', 'snd_cwnd', 'srtt_us', 'bpf_sock_ops_cb_flags', 'state',
  'rtt_min', 'snd_ssthresh', 'rcv_nxt', 'snd_nxt', 'snd_una', 'mss_cache', 'ecn_flags', 'rate_delivered', 'rate_interval_us',
  'packets_out', 'retrans_out', 'total_retrans', 'segs_in', 'data_segs_in', 'segs_out', 'data_segs_out', 'lost_out', 'sacked_out',
  'sk_txhash',
];

/** `struct bpf_sock_ops`. */
const SOCK_OPS: ContextLayout = {
  struct: 'bpf_sock_ops',
  size: 224,
  fields: [
    u32('op', 0),
    u32('args', 4, { count: 4, writableBy: ['sock_ops'] }),
    ...SOCK_OPS_U32.map((name, i) => u32(name, 20 + 4 * i, name === 'sk_txhash' ? { writableBy: ['sock_ops'] } : {})),
    { name: 'bytes_received', offset: 168, size: 8, kind: 'scalar' },
    { name: 'bytes_acked', offset: 176, size: 8, kind: 'scalar' },
    { name: 'sk', offset: 184, size: 8, kind: 'ptr' },
    { name: 'skb_data', offset: 192, size: 8, kind: 'pkt_data' },
    { name: 'skb_data_end', offset: 200, size: 8, kind: 'pkt_end' },
    u32('skb_len', 208), u32('skb_tcp_flags', 212),
    { name: 'skb_hwtstamp', offset: 216, size: 8, kind: 'scalar' },
  ],
};

export const EXTRA_LAYOUTS: Readonly<Record<string, ContextLayout>> = {
  sock_ops: SOCK_OPS,
  sk_msg: SK_MSG,
  cgroup_sockopt: SOCKOPT,
  sk_lookup: SK_LOOKUP,
  cgroup_sock_addr: SOCK_ADDR,
};

/** `__sk_buff` fields writable by more types than the shared table says. */
export const SKB_EXTRA_WRITABLE: Readonly<Record<string, readonly string[]>> = {
  tc_index: ['sk_skb'],
  tstamp: ['cgroup_skb'],
};

/** Array fields the kernel lets programs access with any aligned size inside the array (cb[], ip6). */
export const WIDE_ARRAYS = new Set(['cb', 'user_ip6', 'msg_src_ip6']);

/**
 * `bpf_sock_addr` address fields exist only for the hooks of their family (kernel
 * sock_addr_is_valid_access), matched against the section or attach type name.
 */
export const SOCK_ADDR_FIELD_HOOKS: Readonly<Record<string, RegExp>> = {
  user_ip4: /(bind|connect|getpeername|getsockname|sendmsg|recvmsg)4$/,
  user_ip6: /(bind|connect|getpeername|getsockname|sendmsg|recvmsg)6$/,
  msg_src_ip4: /sendmsg4$/,
  msg_src_ip6: /sendmsg6$/,
};

/** An attach type name (`cgroup_inet4_connect`, `cgroup_udp6_sendmsg`) in the section's word order (`connect4`). */
export const sockAddrHook = (attach: string): string => attach.replace(/^cgroup_(?:inet|udp)([46])_(\w+)$/, '$2$1');
