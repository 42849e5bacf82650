/**
 * The kernel's UAPI enumerations the backend speaks (include/uapi/linux/bpf.h, checked against the BTF
 * of Linux 6.18). Each is a name -> number table; `nameOf` turns numbers back into names for messages
 * and listings.
 */
import * as Uapi from '../uapi/index.js';

export const BpfCommand = {
  MAP_CREATE: 0, MAP_LOOKUP_ELEM: 1, MAP_UPDATE_ELEM: 2, MAP_DELETE_ELEM: 3, MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5, OBJ_PIN: 6, OBJ_GET: 7, PROG_ATTACH: 8, PROG_DETACH: 9, PROG_TEST_RUN: 10,
  PROG_GET_NEXT_ID: 11, MAP_GET_NEXT_ID: 12, PROG_GET_FD_BY_ID: 13, MAP_GET_FD_BY_ID: 14,
  OBJ_GET_INFO_BY_FD: 15, PROG_QUERY: 16, RAW_TRACEPOINT_OPEN: 17, BTF_LOAD: 18, BTF_GET_FD_BY_ID: 19,
  TASK_FD_QUERY: 20, MAP_LOOKUP_AND_DELETE_ELEM: 21, MAP_FREEZE: 22, BTF_GET_NEXT_ID: 23,
  MAP_LOOKUP_BATCH: 24, MAP_LOOKUP_AND_DELETE_BATCH: 25, MAP_UPDATE_BATCH: 26, MAP_DELETE_BATCH: 27,
  LINK_CREATE: 28, LINK_UPDATE: 29, LINK_GET_FD_BY_ID: 30, LINK_GET_NEXT_ID: 31, ENABLE_STATS: 32,
  ITER_CREATE: 33, LINK_DETACH: 34, PROG_BIND_MAP: 35, TOKEN_CREATE: 36,
} as const;
export type BpfCommandName = keyof typeof BpfCommand;

/**
 * Map, program, attach and link types: the tables in src/uapi (generated from the kernel's BTF), with
 * the upper-case names bpftool and this backend's API use (`'ARRAY'`, `'XDP'`).
 */
type UpperKeys<T> = { readonly [K in keyof T as Uppercase<K & string>]: T[K] };
function upperKeys<T extends Readonly<Record<string, number>>>(table: T): UpperKeys<T> {
  // Deprecated aliases last, so nameOf() finds the current name first (cgroup_storage, not ..._deprecated).
  const entries = Object.entries(table).sort(([a], [b]) => Number(a.endsWith('_deprecated')) - Number(b.endsWith('_deprecated')));
  return Object.fromEntries(entries.map(([name, value]) => [name.toUpperCase(), value])) as UpperKeys<T>;
}

export const MapType = upperKeys(Uapi.MapType);
export type MapTypeName = keyof typeof MapType;
export const ProgType = upperKeys(Uapi.ProgType);
export type ProgTypeName = keyof typeof ProgType;
export const AttachType = upperKeys(Uapi.AttachType);
export type AttachTypeName = keyof typeof AttachType;
export const LinkType = upperKeys(Uapi.LinkType);
export type LinkTypeName = keyof typeof LinkType;

/** BPF_MAP_UPDATE_ELEM flags. */
export const UpdateFlag = { any: 0, noexist: 1, exist: 2, lock: 4 } as const;
export type UpdateFlagName = keyof typeof UpdateFlag;

/** BPF_MAP_CREATE map_flags worth naming. */
export const MapFlag = {
  NO_PREALLOC: 1 << 0, NO_COMMON_LRU: 1 << 1, NUMA_NODE: 1 << 2, RDONLY: 1 << 3, WRONLY: 1 << 4,
  STACK_BUILD_ID: 1 << 5, ZERO_SEED: 1 << 6, RDONLY_PROG: 1 << 7, WRONLY_PROG: 1 << 8, CLONE: 1 << 9,
  MMAPABLE: 1 << 10, PRESERVE_ELEMS: 1 << 11, INNER_MAP: 1 << 12, LINK: 1 << 13, PATH_FD: 1 << 14,
  VTYPE_BTF_OBJ_FD: 1 << 15, TOKEN_FD: 1 << 16, SEGV_ON_FAULT: 1 << 17, NO_USER_CONV: 1 << 18,
} as const;

/** BPF_PROG_TEST_RUN flags. */
export const TestRunFlag = { RUN_ON_CPU: 1, XDP_LIVE_FRAMES: 2 } as const;

/** XDP attach modes (`XDP_FLAGS_*`). */
export const XdpMode = { generic: 1 << 1, native: 1 << 2, offload: 1 << 3 } as const;
export type XdpModeName = keyof typeof XdpMode;

export function nameOf<T extends Readonly<Record<string, number>>>(table: T, value: number): string {
  for (const [name, v] of Object.entries(table)) if (v === value) return name;
  return `unknown(${value})`;
}

/** Name -> number, accepting names in any case, with or without a prefix like `BPF_PROG_TYPE_`. */
export function lookupName<T extends Readonly<Record<string, number>>>(table: T, name: string, prefix = ''): number | undefined {
  let key = name.toUpperCase().replace(/-/g, '_');
  if (prefix && key.startsWith(prefix)) key = key.slice(prefix.length);
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}
