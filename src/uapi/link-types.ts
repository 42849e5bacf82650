/**
 * Link types (BPF_LINK_TYPE_*), lower-case names.
 * Generated from `enum bpf_link_type` in the BTF of Linux 6.18 (/sys/kernel/btf/vmlinux).
 */
export const LinkType = {
  unspec: 0,
  raw_tracepoint: 1,
  tracing: 2,
  cgroup: 3,
  iter: 4,
  netns: 5,
  xdp: 6,
  perf_event: 7,
  kprobe_multi: 8,
  struct_ops: 9,
  netfilter: 10,
  tcx: 11,
  uprobe_multi: 12,
  netkit: 13,
  sockmap: 14,
} as const;
export type LinkTypeName = keyof typeof LinkType;
