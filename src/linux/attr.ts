import { defineLayout } from './layout.js';

/**
 * `union bpf_attr`, one layout per command (offsets from include/uapi/linux/bpf.h, Linux 6.18). The
 * kernel zero-checks every byte past the fields it knows, so each command sends only its own struct.
 */
const u32 = (offset: number) => ({ offset, kind: 'u32' }) as const;
const s32 = (offset: number) => ({ offset, kind: 's32' }) as const;
const u64 = (offset: number) => ({ offset, kind: 'u64' }) as const;
const ptr = (offset: number) => ({ offset, kind: 'ptr' }) as const;
const str = (offset: number, size: number) => ({ offset, kind: 'str', size }) as const;

export const MapCreateAttr = defineLayout('bpf_attr(MAP_CREATE)', {
  map_type: u32(0), key_size: u32(4), value_size: u32(8), max_entries: u32(12), map_flags: u32(16),
  inner_map_fd: u32(20), numa_node: u32(24), map_name: str(28, 16), map_ifindex: u32(44), btf_fd: u32(48),
  btf_key_type_id: u32(52), btf_value_type_id: u32(56), btf_vmlinux_value_type_id: u32(60),
  map_extra: u64(64), value_type_btf_obj_fd: s32(72), map_token_fd: s32(76),
});

/** LOOKUP/UPDATE/DELETE/GET_NEXT_KEY/LOOKUP_AND_DELETE/FREEZE: `value` doubles as `next_key`. */
export const MapElemAttr = defineLayout('bpf_attr(MAP_*_ELEM)', {
  map_fd: u32(0), key: ptr(8), value: ptr(16), flags: u64(24),
});

export const MapBatchAttr = defineLayout('bpf_attr(MAP_*_BATCH)', {
  in_batch: ptr(0), out_batch: ptr(8), keys: ptr(16), values: ptr(24), count: u32(32), map_fd: u32(36),
  elem_flags: u64(40), flags: u64(48),
});

export const ProgLoadAttr = defineLayout('bpf_attr(PROG_LOAD)', {
  prog_type: u32(0), insn_cnt: u32(4), insns: ptr(8), license: ptr(16), log_level: u32(24),
  log_size: u32(28), log_buf: ptr(32), kern_version: u32(40), prog_flags: u32(44), prog_name: str(48, 16),
  prog_ifindex: u32(64), expected_attach_type: u32(68), prog_btf_fd: u32(72), func_info_rec_size: u32(76),
  func_info: ptr(80), func_info_cnt: u32(88), line_info_rec_size: u32(92), line_info: ptr(96),
  line_info_cnt: u32(104), attach_btf_id: u32(108), attach_prog_fd: u32(112), core_relo_cnt: u32(116),
  fd_array: ptr(120), core_relos: ptr(128), core_relo_rec_size: u32(136), log_true_size: u32(140),
  prog_token_fd: s32(144), fd_array_cnt: u32(148),
});

export const ObjPinAttr = defineLayout('bpf_attr(OBJ_PIN/OBJ_GET)', {
  pathname: ptr(0), bpf_fd: u32(8), file_flags: u32(12), path_fd: s32(16),
});

export const ProgAttachAttr = defineLayout('bpf_attr(PROG_ATTACH/DETACH)', {
  target_fd: u32(0), attach_bpf_fd: u32(4), attach_type: u32(8), attach_flags: u32(12),
  replace_bpf_fd: u32(16), relative_fd: u32(20), expected_revision: u64(24),
});

export const TestRunAttr = defineLayout('bpf_attr(PROG_TEST_RUN)', {
  prog_fd: u32(0), retval: u32(4), data_size_in: u32(8), data_size_out: u32(12), data_in: ptr(16),
  data_out: ptr(24), repeat: u32(32), duration: u32(36), ctx_size_in: u32(40), ctx_size_out: u32(44),
  ctx_in: ptr(48), ctx_out: ptr(56), flags: u32(64), cpu: u32(68), batch_size: u32(72),
});

/** *_GET_NEXT_ID (`start_id`, `next_id`) and *_GET_FD_BY_ID (`id` = prog_id/map_id/btf_id/link_id). */
export const GetIdAttr = defineLayout('bpf_attr(GET_NEXT_ID/GET_FD_BY_ID)', {
  id: u32(0), next_id: u32(4), open_flags: u32(8),
});

export const ObjInfoAttr = defineLayout('bpf_attr(OBJ_GET_INFO_BY_FD)', {
  bpf_fd: u32(0), info_len: u32(4), info: ptr(8),
});

export const RawTracepointAttr = defineLayout('bpf_attr(RAW_TRACEPOINT_OPEN)', {
  name: ptr(0), prog_fd: u32(8), cookie: u64(16),
});

export const BtfLoadAttr = defineLayout('bpf_attr(BTF_LOAD)', {
  btf: ptr(0), btf_log_buf: ptr(8), btf_size: u32(16), btf_log_size: u32(20), btf_log_level: u32(24),
  btf_log_true_size: u32(28),
});

/**
 * LINK_CREATE. The union after `flags` depends on the attach type: `target_btf_id` (tracing),
 * `relative_fd` + `expected_revision` (tcx, netkit), `bpf_cookie` (perf_event).
 */
export const LinkCreateAttr = defineLayout('bpf_attr(LINK_CREATE)', {
  prog_fd: u32(0), target_fd: u32(4), attach_type: u32(8), flags: u32(12), target_btf_id: u32(16),
  relative_fd: u32(16), expected_revision: u64(24), bpf_cookie: u64(16),
});

/** PROG_QUERY: `target_fd` doubles as `target_ifindex` (tcx, netkit); `count` is in/out. */
export const ProgQueryAttr = defineLayout('bpf_attr(PROG_QUERY)', {
  target_fd: u32(0), attach_type: u32(4), query_flags: u32(8), attach_flags: u32(12), prog_ids: ptr(16),
  count: u32(24), prog_attach_flags: ptr(32), link_ids: ptr(40), link_attach_flags: ptr(48), revision: u64(56),
});

export const LinkUpdateAttr = defineLayout('bpf_attr(LINK_UPDATE)', {
  link_fd: u32(0), new_prog_fd: u32(4), flags: u32(8), old_prog_fd: u32(12),
});

export const LinkDetachAttr = defineLayout('bpf_attr(LINK_DETACH)', { link_fd: u32(0) });

export const MapFreezeAttr = defineLayout('bpf_attr(MAP_FREEZE)', { map_fd: u32(0) });

export const EnableStatsAttr = defineLayout('bpf_attr(ENABLE_STATS)', { type: u32(0) });
