import { HelperId, MapType } from '../../../src/uapi/index.js';

/**
 * What the fuzzer generates programs for: the program types (no kprobes on this kernel), the fields
 * of their contexts, the maps every program may reference by index (BPF_PSEUDO_MAP_IDX into the same
 * fd_array in tsbpf and in the kernel) and the helpers worth calling.
 */

export type FuzzProgType = 'xdp' | 'socket_filter' | 'sched_cls' | 'tracepoint' | 'raw_tracepoint';
export const PROG_TYPES: readonly FuzzProgType[] = ['xdp', 'socket_filter', 'sched_cls', 'tracepoint', 'raw_tracepoint'];

/** Kernel enum numbers, to read the selftests' `prog_type` (0 is a socket filter there). */
export const PROG_TYPE_BY_NUMBER: Readonly<Record<number, FuzzProgType>> = { 0: 'socket_filter', 1: 'socket_filter', 3: 'sched_cls', 5: 'tracepoint', 6: 'xdp', 17: 'raw_tracepoint' };

export interface CtxField { off: number; size: 1 | 2 | 4 | 8; writable?: boolean }

export interface TypeProfile {
  type: FuzzProgType;
  /** Readable (and some writable) context fields. */
  fields: readonly CtxField[];
  /** Offsets of the packet pointers in the context, when the program may read the packet directly. */
  packet?: { data: number; dataEnd: number };
  /** LD_ABS / LD_IND (socket filters and tc). */
  ldAbs: boolean;
  helpers: readonly number[];
  /** Size of the context a test run passes (raw types) or 0 (the packet's own context). */
  rawCtxSize: number;
  /** Values a well-behaved program returns. */
  returns: readonly number[];
}

const SKB_FIELDS: readonly CtxField[] = [
  { off: 0, size: 4 }, { off: 4, size: 4 }, { off: 8, size: 4, writable: true }, { off: 16, size: 4 }, { off: 24, size: 4 },
  { off: 32, size: 4, writable: true }, { off: 40, size: 4 }, { off: 48, size: 4, writable: true }, { off: 52, size: 4, writable: true },
  { off: 64, size: 4, writable: true }, { off: 68, size: 4 }, { off: 0, size: 1 }, { off: 16, size: 2 }, { off: 48, size: 1, writable: true },
];
const BASE_HELPERS = [
  HelperId.map_lookup_elem, HelperId.map_update_elem, HelperId.map_delete_elem, HelperId.ktime_get_ns,
  HelperId.get_smp_processor_id, HelperId.ringbuf_reserve, HelperId.ringbuf_output, HelperId.probe_read_kernel,
];

export const PROFILES: Readonly<Record<FuzzProgType, TypeProfile>> = {
  xdp: {
    type: 'xdp', rawCtxSize: 0, ldAbs: false, returns: [0, 1, 2, 3],
    fields: [{ off: 0, size: 4 }, { off: 4, size: 4 }, { off: 8, size: 4 }, { off: 12, size: 4 }, { off: 16, size: 4 }, { off: 20, size: 4 }],
    packet: { data: 0, dataEnd: 4 },
    helpers: [...BASE_HELPERS, HelperId.xdp_adjust_head, HelperId.xdp_adjust_tail],
  },
  sched_cls: {
    type: 'sched_cls', rawCtxSize: 0, ldAbs: true, returns: [0, 2, -1],
    fields: [...SKB_FIELDS, { off: 44, size: 4, writable: true }, { off: 72, size: 4, writable: true }],
    packet: { data: 76, dataEnd: 80 },
    helpers: [...BASE_HELPERS, HelperId.skb_load_bytes],
  },
  socket_filter: {
    type: 'socket_filter', rawCtxSize: 0, ldAbs: true, returns: [0, 64, 0xffff],
    fields: SKB_FIELDS.map((f) => ({ ...f, writable: f.off >= 48 && f.off < 68 })),
    helpers: [...BASE_HELPERS, HelperId.skb_load_bytes],
  },
  tracepoint: {
    type: 'tracepoint', rawCtxSize: 128, ldAbs: false, returns: [0, 1],
    fields: [{ off: 0, size: 8 }, { off: 8, size: 8 }, { off: 16, size: 4 }, { off: 24, size: 2 }, { off: 120, size: 8 }],
    helpers: BASE_HELPERS,
  },
  raw_tracepoint: {
    type: 'raw_tracepoint', rawCtxSize: 96, ldAbs: false, returns: [0, 1],
    fields: [{ off: 0, size: 8 }, { off: 8, size: 8 }, { off: 40, size: 8 }, { off: 88, size: 8 }],
    helpers: BASE_HELPERS,
  },
};

export interface FuzzMap { name: string; type: number; keySize: number; valueSize: number; maxEntries: number }

/** The selftests' fixture maps (same shapes), so their programs can be mutated with maps intact. */
export const MAPS: readonly FuzzMap[] = [
  { name: 'array_48b', type: MapType.array, keySize: 4, valueSize: 48, maxEntries: 1 },
  { name: 'hash_8b', type: MapType.hash, keySize: 8, valueSize: 8, maxEntries: 1 },
  { name: 'hash_48b', type: MapType.hash, keySize: 8, valueSize: 48, maxEntries: 1 },
  { name: 'hash_16b', type: MapType.hash, keySize: 8, valueSize: 16, maxEntries: 1 },
  { name: 'ringbuf', type: MapType.ringbuf, keySize: 0, valueSize: 0, maxEntries: 4096 },
];
export const RINGBUF_MAP = 4;
/** Maps with values a lookup returns. */
export const VALUE_MAPS = [0, 1, 2, 3] as const;

/** Map symbol (test_loader) or fixup (test_verifier) name to the index in MAPS. */
export const MAP_BY_SELFTEST_NAME: Readonly<Record<string, number>> = {
  map_array_48b: 0, fixup_map_array_48b: 0,
  map_hash_8b: 1, fixup_map_hash_8b: 1,
  map_hash_48b: 2, fixup_map_hash_48b: 2,
  map_hash_16b: 3, fixup_map_hash_16b: 3,
  map_ringbuf: 4, fixup_map_ringbuf: 4,
};
