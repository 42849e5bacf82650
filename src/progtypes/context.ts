/**
 * Context layouts as data. The userspace runtime lays the UAPI struct out in the address space as is:
 * because addresses are 32-bit, a program's 32-bit load of `data`/`data_end` yields the real pointer
 * zero-extended, which is what the kernel's context-access rewriting produces. The verifier reads the
 * same table to check offsets, sizes and writes.
 */

/** What a context field holds, for the verifier's register typing. */
export type FieldKind =
  | 'scalar'
  | 'pkt_data'
  | 'pkt_end'
  | 'pkt_meta'
  /** A pointer field the kernel exposes as a typed pointer (sk, flow_keys): nullable socket etc. */
  | 'ptr';

export interface ContextField {
  name: string;
  offset: number;
  size: 1 | 2 | 4 | 8;
  /** Array length for `cb[5]`, `remote_ip6[4]`; element size is `size`. */
  count?: number;
  kind: FieldKind;
  /** Program types (by name) that may write the field; empty: read-only everywhere. */
  writableBy?: readonly string[];
  /** Smaller loads than `size` are allowed (narrow loads), as the kernel permits for most u32 fields. */
  narrow?: boolean;
}

export interface ContextLayout {
  /** C struct name: `__sk_buff`, `xdp_md` ... */
  struct: string;
  size: number;
  fields: readonly ContextField[];
}

const u32 = (name: string, offset: number, extra: Partial<ContextField> = {}): ContextField =>
  ({ name, offset, size: 4, kind: 'scalar', narrow: true, ...extra });

const TC = ['sched_cls', 'sched_act'];

/** `struct __sk_buff` (socket filters, tc, cgroup_skb, sk_skb, lwt ...). */
export const SK_BUFF: ContextLayout = {
  struct: '__sk_buff',
  size: 192,
  fields: [
    u32('len', 0),
    u32('pkt_type', 4),
    u32('mark', 8, { writableBy: [...TC, 'cgroup_skb'] }),
    u32('queue_mapping', 12, { writableBy: TC }),
    u32('protocol', 16),
    u32('vlan_present', 20),
    u32('vlan_tci', 24),
    u32('vlan_proto', 28),
    u32('priority', 32, { writableBy: [...TC, 'cgroup_skb', 'sk_skb'] }),
    u32('ingress_ifindex', 36),
    u32('ifindex', 40),
    u32('tc_index', 44, { writableBy: TC }),
    u32('cb', 48, { count: 5, writableBy: [...TC, 'socket_filter', 'cgroup_skb', 'sk_skb'] }),
    u32('hash', 68),
    u32('tc_classid', 72, { writableBy: TC }),
    { name: 'data', offset: 76, size: 4, kind: 'pkt_data' },
    { name: 'data_end', offset: 80, size: 4, kind: 'pkt_end' },
    u32('napi_id', 84),
    u32('family', 88),
    u32('remote_ip4', 92),
    u32('local_ip4', 96),
    u32('remote_ip6', 100, { count: 4 }),
    u32('local_ip6', 116, { count: 4 }),
    u32('remote_port', 132),
    u32('local_port', 136),
    { name: 'data_meta', offset: 140, size: 4, kind: 'pkt_meta' },
    { name: 'flow_keys', offset: 144, size: 8, kind: 'ptr' },
    { name: 'tstamp', offset: 152, size: 8, kind: 'scalar', writableBy: TC },
    u32('wire_len', 160),
    u32('gso_segs', 164),
    { name: 'sk', offset: 168, size: 8, kind: 'ptr' },
    u32('gso_size', 176),
    { name: 'tstamp_type', offset: 180, size: 1, kind: 'scalar', writableBy: TC },
    { name: 'hwtstamp', offset: 184, size: 8, kind: 'scalar' },
  ],
};

/** `struct xdp_md`. */
export const XDP_MD: ContextLayout = {
  struct: 'xdp_md',
  size: 24,
  fields: [
    { name: 'data', offset: 0, size: 4, kind: 'pkt_data' },
    { name: 'data_end', offset: 4, size: 4, kind: 'pkt_end' },
    { name: 'data_meta', offset: 8, size: 4, kind: 'pkt_meta' },
    u32('ingress_ifindex', 12),
    u32('rx_queue_index', 16),
    u32('egress_ifindex', 20),
  ],
};

/** x86_64 `struct pt_regs` (kprobe/uprobe): 21 unsigned longs, read-only. */
const PT_REGS_NAMES = [
  'r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di',
  'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss',
] as const;
export const PT_REGS: ContextLayout = {
  struct: 'pt_regs',
  size: PT_REGS_NAMES.length * 8,
  fields: PT_REGS_NAMES.map((name, i) => ({ name, offset: i * 8, size: 8 as const, kind: 'scalar' as const, narrow: true })),
};

/** `struct bpf_perf_event_data`: pt_regs, sample_period, addr. */
export const PERF_EVENT_DATA: ContextLayout = {
  struct: 'bpf_perf_event_data',
  size: PT_REGS.size + 16,
  fields: [
    ...PT_REGS.fields.map((f) => ({ ...f, name: `regs.${f.name}` })),
    { name: 'sample_period', offset: PT_REGS.size, size: 8, kind: 'scalar', narrow: true },
    { name: 'addr', offset: PT_REGS.size + 8, size: 8, kind: 'scalar', narrow: true },
  ],
};

/** Find the field covering [offset, offset+size), or undefined. */
export function fieldAt(layout: ContextLayout, offset: number, size: number): { field: ContextField; index: number } | undefined {
  for (const field of layout.fields) {
    const span = field.size * (field.count ?? 1);
    if (offset >= field.offset && offset + size <= field.offset + span) {
      const within = offset - field.offset;
      const index = Math.floor(within / field.size);
      // An access must stay inside one element.
      if (within - index * field.size + size > field.size) return undefined;
      return { field, index };
    }
  }
  return undefined;
}
