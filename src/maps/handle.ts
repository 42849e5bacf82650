import type { AddressSpace } from '../vm/memory.js';
import { MapFlag, type MapSpec } from './spec.js';

/**
 * A map's handle region: what LD_IMM64 map_fd puts in a register, laid out as the leading members
 * of Linux 6.18's `struct bpf_map`, so a program reading `map->max_entries` through its map pointer
 * (which the verifier allows, kernel check_ptr_to_map_access) reads the map's own numbers on either
 * engine. Pointer members (ops, record, btf ...) read as NULL: user space has no kernel objects.
 *
 * The first word belongs to the runtime: hash and LPM maps publish their index descriptor there for
 * the JIT (HASH_INDEX in vm/abi.ts). The kernel's member there, `sha`, is zero unless the map was
 * hashed for an exclusive program, so a program reading it sees the descriptor address instead.
 */
export const MAP_HANDLE = {
  mapType: 64,
  keySize: 68,
  valueSize: 72,
  maxEntries: 76,
  /** u64. */
  mapExtra: 80,
  mapFlags: 88,
  id: 92,
  /** s32: NUMA_NO_NODE (-1) unless created with BPF_F_NUMA_NODE. */
  numaNode: 104,
  btfKeyTypeId: 108,
  btfValueTypeId: 112,
  /** char[16] (BPF_OBJ_NAME_LEN): at most 15 bytes and a NUL. */
  name: 136,
  bytes: 152,
} as const;

const NAME_LEN = 16;
const NUMA_NO_NODE = -1;

/** Allocates a map's handle region (read-only to programs, as the verifier refuses stores) and fills it from `spec`. */
export function allocateHandle(space: AddressSpace, spec: MapSpec): number {
  const start = space.allocate(MAP_HANDLE.bytes, 'map', `map ${spec.name} handle`, false).start;
  const view = space.view;
  view.setUint32(start + MAP_HANDLE.mapType, spec.type, true);
  view.setUint32(start + MAP_HANDLE.keySize, spec.keySize, true);
  view.setUint32(start + MAP_HANDLE.valueSize, spec.valueSize, true);
  view.setUint32(start + MAP_HANDLE.maxEntries, spec.maxEntries, true);
  view.setBigUint64(start + MAP_HANDLE.mapExtra, BigInt(spec.mapExtra ?? 0), true);
  view.setUint32(start + MAP_HANDLE.mapFlags, spec.flags ?? 0, true);
  // The runtime's specs carry no NUMA node: a map created with BPF_F_NUMA_NODE is on node 0.
  view.setInt32(start + MAP_HANDLE.numaNode, ((spec.flags ?? 0) & MapFlag.NUMA_NODE) !== 0 ? 0 : NUMA_NO_NODE, true);
  view.setUint32(start + MAP_HANDLE.btfKeyTypeId, spec.btfKeyTypeId ?? 0, true);
  view.setUint32(start + MAP_HANDLE.btfValueTypeId, spec.btfValueTypeId ?? 0, true);
  space.u8.set(new TextEncoder().encode(spec.name).subarray(0, NAME_LEN - 1), start + MAP_HANDLE.name);
  return start;
}

/** Records the id the runtime gave the map, where programs read `map->id`. */
export function setHandleId(space: AddressSpace, handle: number, id: number): void {
  space.view.setUint32(handle + MAP_HANDLE.id, id, true);
}
