import { MapType } from '../uapi/map-types.js';
import { ObjectArrayMap, arrayMap } from './array.js';
import { HashMap, ObjectHashMap } from './hash.js';
import { LpmTrieMap } from './lpm.js';
import type { BpfMap, MapContext } from './map.js';
import { BloomFilterMap, QueueStackMap } from './queue.js';
import { PerfEventArrayMap, RingBufMap } from './ringbuf.js';
import { Errno, MAX_MAP_BYTES, MAX_VALUE_SIZE, MapError, MapFlag, mapTypeName, type MapSpec, type MapValueFieldKind } from './spec.js';

/** Resolves the u32 a user writes into an fd-valued map (prog_array, map-in-map, devmap). */
export type ObjectResolver = (id: number) => unknown;

export interface MapTypeRow {
  type: number;
  /** Kernel-like attribute checks: an errno and why, or undefined when fine. */
  check(spec: MapSpec): [number, string] | undefined;
  create(spec: MapSpec, ctx: MapContext, resolve: ObjectResolver): BpfMap;
}

const isPow2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

const need = (cond: boolean, why: string, errno: number = Errno.EINVAL): [number, string] | undefined => (cond ? undefined : [errno, why]);

const checks = {
  array: (s: MapSpec) => need(s.keySize === 4, 'key_size must be 4') ?? need(s.valueSize > 0, 'value_size must be > 0') ?? need(s.maxEntries > 0, 'max_entries must be > 0'),
  hash: (s: MapSpec) => need(s.keySize > 0 && s.valueSize > 0 && s.maxEntries > 0, 'key_size, value_size and max_entries must be > 0') ?? need(s.keySize <= 512, 'key_size > 512', Errno.E2BIG),
  fdArray: (s: MapSpec) => need(s.keySize === 4 && s.valueSize === 4, 'key_size and value_size must be 4') ?? need(s.maxEntries > 0, 'max_entries must be > 0'),
  keyless: (s: MapSpec) => need(s.keySize === 0, 'key_size must be 0') ?? need(s.valueSize > 0, 'value_size must be > 0') ?? need(s.maxEntries > 0, 'max_entries must be > 0'),
};

const row = (type: number, check: MapTypeRow['check'], create: MapTypeRow['create']): MapTypeRow => ({ type, check, create });

/** Map types the userspace runtime implements. */
export const MAP_TYPES: readonly MapTypeRow[] = [
  row(MapType.array, checks.array, (s, c) => arrayMap(s, c)),
  row(MapType.percpu_array, checks.array, (s, c) => arrayMap(s, c, true)),
  row(MapType.hash, checks.hash, (s, c) => new HashMap(s, c)),
  row(MapType.percpu_hash, checks.hash, (s, c) => new HashMap(s, c, { perCpu: true })),
  row(MapType.lru_hash, checks.hash, (s, c) => new HashMap(s, c, { lru: true })),
  row(MapType.lru_percpu_hash, checks.hash, (s, c) => new HashMap(s, c, { lru: true, perCpu: true })),
  row(
    MapType.lpm_trie,
    (s) => need(s.keySize >= 5 && s.keySize <= 4 + 256, 'key_size must be 5..260') ?? need(s.valueSize > 0 && s.maxEntries > 0, 'value_size and max_entries must be > 0')
      ?? need(((s.flags ?? 0) & MapFlag.NO_PREALLOC) !== 0, 'LPM tries need BPF_F_NO_PREALLOC'),
    (s, c) => new LpmTrieMap(s, c),
  ),
  row(
    MapType.ringbuf,
    (s) => need(s.keySize === 0 && s.valueSize === 0, 'key_size and value_size must be 0') ?? need(isPow2(s.maxEntries) && s.maxEntries % 4096 === 0, 'max_entries must be a power of 2 and a multiple of the page size'),
    (s, c) => new RingBufMap(s, c),
  ),
  row(MapType.perf_event_array, checks.fdArray, (s, c) => new PerfEventArrayMap(s, c)),
  row(MapType.prog_array, checks.fdArray, (s, c, r) => new ObjectArrayMap(s, c, r)),
  row(MapType.cgroup_array, checks.fdArray, (s, c, r) => new ObjectArrayMap(s, c, r)),
  row(MapType.array_of_maps, (s) => checks.fdArray(s) ?? need(s.innerMap !== undefined, 'map-in-map needs an inner map'), (s, c, r) => new ObjectArrayMap(s, c, r)),
  row(MapType.hash_of_maps, (s) => need(s.valueSize === 4, 'value_size must be 4') ?? checks.hash(s) ?? need(s.innerMap !== undefined, 'map-in-map needs an inner map'), (s, c, r) => new ObjectHashMap(s, c, r)),
  row(MapType.devmap, (s) => need(s.keySize === 4 && (s.valueSize === 4 || s.valueSize === 8), 'key_size must be 4, value_size 4 or 8') ?? need(s.maxEntries > 0, 'max_entries must be > 0'), (s, c, r) => new ObjectArrayMap(s, c, r)),
  row(MapType.devmap_hash, (s) => need(s.keySize === 4 && (s.valueSize === 4 || s.valueSize === 8), 'key_size must be 4, value_size 4 or 8'), (s, c, r) => new ObjectHashMap(s, c, r)),
  row(MapType.cpumap, (s) => need(s.keySize === 4 && (s.valueSize === 4 || s.valueSize === 8), 'key_size must be 4, value_size 4 or 8'), (s, c, r) => new ObjectArrayMap(s, c, r)),
  row(MapType.xskmap, checks.fdArray, (s, c, r) => new ObjectArrayMap(s, c, r)),
  row(MapType.queue, checks.keyless, (s, c) => new QueueStackMap(s, c, false)),
  row(MapType.stack, checks.keyless, (s, c) => new QueueStackMap(s, c, true)),
  row(MapType.bloom_filter, checks.keyless, (s, c) => new BloomFilterMap(s, c)),
  // There are no stacks to record in user space: bpf_get_stackid finds none, so this stays empty.
  row(MapType.stack_trace, (s) => need(s.keySize === 4 && s.valueSize >= 8 && s.valueSize % 8 === 0, 'key_size must be 4 and value_size a multiple of 8') ?? need(s.maxEntries > 0, 'max_entries must be > 0'), (s, c) => new HashMap(s, c)),
];

const BY_TYPE: ReadonlyMap<number, MapTypeRow> = new Map(MAP_TYPES.map((r) => [r.type, r]));

export function mapTypeSupported(type: number): boolean {
  return BY_TYPE.has(type);
}

/**
 * Map types whose values may hold each special field (the kernel's map_check_btf); kptr fields are
 * not listed, as tsbpf does not model them at creation.
 */
const FIELD_MAP_TYPES: Readonly<Partial<Record<MapValueFieldKind, ReadonlySet<number>>>> = {
  spin_lock: new Set([MapType.hash, MapType.array, MapType.cgroup_storage, MapType.sk_storage, MapType.inode_storage, MapType.task_storage, MapType.cgrp_storage]),
  timer: new Set([MapType.hash, MapType.lru_hash, MapType.array]),
  workqueue: new Set([MapType.hash, MapType.lru_hash, MapType.array]),
};

/** Why the kernel refuses `spec`'s value fields for its map type (EOPNOTSUPP), or undefined. */
function specialFieldRefusal(spec: MapSpec): string | undefined {
  for (const field of spec.valueFields ?? []) {
    const allowed = FIELD_MAP_TYPES[field.kind];
    if (allowed && !allowed.has(spec.type)) return `a ${mapTypeName(spec.type)} map cannot hold a ${field.kind} in its values`;
  }
  return undefined;
}

/** BPF_MAP_CREATE in user space: the kernel's attribute checks, then the map. */
export function createMap(spec: MapSpec, ctx: MapContext, resolve: ObjectResolver = () => undefined): BpfMap {
  const row = BY_TYPE.get(spec.type);
  if (!row) throw new MapError(Errno.EINVAL, `map ${spec.name}: map type ${mapTypeName(spec.type)} is not supported by the userspace runtime`);
  const bad = row.check(spec);
  if (bad) throw new MapError(bad[0], `map ${spec.name} (${mapTypeName(spec.type)}): ${bad[1]}`);
  if (spec.valueSize > MAX_VALUE_SIZE) throw new MapError(Errno.E2BIG, `map ${spec.name}: value_size ${spec.valueSize} too large`);
  const refusedField = specialFieldRefusal(spec);
  if (refusedField) throw new MapError(Errno.EOPNOTSUPP, `map ${spec.name}: ${refusedField}`);
  const perCpu = spec.type === MapType.percpu_array || spec.type === MapType.percpu_hash || spec.type === MapType.lru_percpu_hash;
  const bytes = spec.maxEntries * Math.max(spec.valueSize, 1) * (perCpu ? ctx.cpus : 1);
  if (spec.type === MapType.array || spec.type === MapType.percpu_array) {
    if (bytes > MAX_MAP_BYTES) throw new MapError(Errno.ENOMEM, `map ${spec.name}: ${bytes} bytes of values is more than the runtime allows`);
  }
  return row.create(spec, ctx, resolve);
}
