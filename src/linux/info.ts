import { defineLayout } from './layout.js';

/** `struct bpf_map_info`, `bpf_prog_info`, `bpf_link_info` (Linux 6.18), for OBJ_GET_INFO_BY_FD. */
const u32 = (offset: number) => ({ offset, kind: 'u32' }) as const;
const u64 = (offset: number) => ({ offset, kind: 'u64' }) as const;
const ptr = (offset: number) => ({ offset, kind: 'ptr' }) as const;
const str = (offset: number, size: number) => ({ offset, kind: 'str', size }) as const;

export const MapInfoLayout = defineLayout('bpf_map_info', {
  type: u32(0), id: u32(4), key_size: u32(8), value_size: u32(12), max_entries: u32(16), map_flags: u32(20),
  name: str(24, 16), ifindex: u32(40), btf_vmlinux_value_type_id: u32(44), netns_dev: u64(48),
  netns_ino: u64(56), btf_id: u32(64), btf_key_type_id: u32(68), btf_value_type_id: u32(72),
  btf_vmlinux_id: u32(76), map_extra: u64(80),
});

export const ProgInfoLayout = defineLayout('bpf_prog_info', {
  type: u32(0), id: u32(4), tag: { offset: 8, kind: 'u8', size: 8 }, jited_prog_len: u32(16),
  xlated_prog_len: u32(20), jited_prog_insns: ptr(24), xlated_prog_insns: ptr(32), load_time: u64(40),
  created_by_uid: u32(48), nr_map_ids: u32(52), map_ids: ptr(56), name: str(64, 16), ifindex: u32(80),
  gpl_compatible: u32(84), netns_dev: u64(88), netns_ino: u64(96), nr_jited_ksyms: u32(104),
  nr_jited_func_lens: u32(108), jited_ksyms: ptr(112), jited_func_lens: ptr(120), btf_id: u32(128),
  func_info_rec_size: u32(132), func_info: ptr(136), nr_func_info: u32(144), nr_line_info: u32(148),
  line_info: ptr(152), jited_line_info: ptr(160), nr_jited_line_info: u32(168),
  line_info_rec_size: u32(172), jited_line_info_rec_size: u32(176), nr_prog_tags: u32(180),
  prog_tags: ptr(184), run_time_ns: u64(192), run_cnt: u64(200), recursion_misses: u64(208),
  verified_insns: u32(216), attach_btf_obj_id: u32(220), attach_btf_id: u32(224),
});

/** The common head of `bpf_link_info` plus the per-type union words this backend reads. */
export const LinkInfoLayout = defineLayout('bpf_link_info', {
  type: u32(0), id: u32(4), prog_id: u32(8),
  /** xdp.ifindex, tcx.ifindex (first union word). */
  union_u32_0: u32(16),
  /** tcx.attach_type (second union word). */
  union_u32_1: u32(20),
  /** Fixed size reserve: the kernel's union is larger; the info buffer must cover what it writes. */
  union_tail: { offset: 24, kind: 'u8', size: 72 },
});

export const BtfInfoLayout = defineLayout('bpf_btf_info', {
  btf: ptr(0), btf_size: u32(8), id: u32(12), name: ptr(16), name_len: u32(24), kernel_btf: u32(28),
});
