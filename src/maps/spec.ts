import { TsbpfError } from '../errors.js';
import type { MapValueField } from '../btf/map-fields.js';
import { MAP_TYPE_NAMES } from '../uapi/index.js';

export type { MapValueField, MapValueFieldKind } from '../btf/map-fields.js';

/** Kernel errno values the map operations return (negated on the program side). */
export const Errno = {
  EPERM: 1, ENOENT: 2, E2BIG: 7, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, EBUSY: 16, EEXIST: 17, ENODEV: 19,
  EINVAL: 22, ENOSPC: 28, ERANGE: 34, EOPNOTSUPP: 95, ENOTSUPP: 524,
} as const;
export type ErrnoName = keyof typeof Errno;
const ERRNO_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(Errno).map(([k, v]) => [v, k]));
export const errnoName = (errno: number): string => ERRNO_NAMES[Math.abs(errno)] ?? `errno ${Math.abs(errno)}`;

/** Update flags (BPF_ANY ...). */
export const UpdateFlag = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;

/** map_flags at creation. */
export const MapFlag = {
  NO_PREALLOC: 1 << 0, NO_COMMON_LRU: 1 << 1, NUMA_NODE: 1 << 2, RDONLY: 1 << 3, WRONLY: 1 << 4,
  STACK_BUILD_ID: 1 << 5, ZERO_SEED: 1 << 6, RDONLY_PROG: 1 << 7, WRONLY_PROG: 1 << 8, CLONE: 1 << 9,
  MMAPABLE: 1 << 10, PRESERVE_ELEMS: 1 << 11, INNER_MAP: 1 << 12,
} as const;

/** What a map is, as `struct bpf_map_def` / BTF-defined maps / BPF_MAP_CREATE describe it. */
export interface MapSpec {
  name: string;
  /** Map type id (MapType.hash ...). */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** Bloom filter: number of hash functions (low 4 bits); otherwise unused. */
  mapExtra?: number;
  /** For array_of_maps/hash_of_maps: the shape every inner map must have. */
  innerMap?: MapSpec;
  /** Initial contents (global data sections): copied into entry 0 of an array. */
  initialValue?: Uint8Array;
  /** libbpf pinning (LIBBPF_PIN_BY_NAME = 1). */
  pinning?: number;
  /** BTF type ids of key and value in the object's BTF, when known. */
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  /**
   * Special fields of the value (bpf_spin_lock, bpf_timer ...), read from the value's BTF
   * (`mapValueFields`). Set, even empty, when the map was described with BTF: the kernel wants BTF
   * before a program may lock or time through a map.
   */
  valueFields?: readonly MapValueField[];
}

/** A map operation failed the way the kernel's would: carries the errno. */
export class MapError extends TsbpfError {
  override name = 'MapError';
  readonly errno: number;
  constructor(errno: number, message: string) {
    super(`map/${errnoName(errno).toLowerCase()}`, `${message} (${errnoName(errno)})`);
    this.errno = errno;
  }
}

export const mapTypeName = (type: number): string => MAP_TYPE_NAMES[type] ?? `type ${type}`;

/** Per-CPU and array values are stored in 8-byte-rounded slots, as the kernel does. */
export const round8 = (n: number): number => (n + 7) & ~7;

/** The kernel's KMALLOC_MAX_SIZE-style cap on one value, and the cap on total map memory we accept. */
export const MAX_VALUE_SIZE = 1 << 22;
export const MAX_MAP_BYTES = 1 << 30;
