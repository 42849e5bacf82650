import type { MapSpec, MapValueFieldKind } from '../maps/spec.js';
import { MapType } from '../uapi/index.js';
import { Reject } from './reject.js';
import { constBounds } from './scalar.js';
import { pointerReg, scalarReg, type Reg } from './state.js';

/**
 * What a map's BTF tells the verifier: the special fields of its value (where the bpf_spin_lock and
 * bpf_timer lie), which program types may use such maps, and the kernel's `struct bpf_map` behind a
 * map pointer, which programs may read.
 */

/** The kernel's name for a field kind in its messages (btf_field_type_name). */
export const FIELD_NAMES: Readonly<Record<MapValueFieldKind, string>> = {
  spin_lock: 'bpf_spin_lock', timer: 'bpf_timer', workqueue: 'bpf_wq', kptr: 'kptr',
};

export const hasField = (map: MapSpec, kind: MapValueFieldKind): boolean => map.valueFields?.some((f) => f.kind === kind) ?? false;
export const fieldOffset = (map: MapSpec, kind: MapValueFieldKind): number | undefined => map.valueFields?.find((f) => f.kind === kind)?.offset;
/** Whether the map was described with BTF (the kernel's map->btf). */
export const mapHasBtf = (map: MapSpec): boolean => map.valueFields !== undefined || map.btfValueTypeId !== undefined;

/** Program types the kernel calls tracing for these checks (is_tracing_prog_type). */
const TRACING_TYPES = new Set(['kprobe', 'tracepoint', 'perf_event', 'raw_tracepoint', 'raw_tracepoint_writable']);

/** A map referenced by a program of this type (the kernel's check_map_prog_compatibility, its field part). */
export function checkMapProgCompatibility(map: MapSpec, progName: string, at: number): void {
  if (!map.valueFields?.length) return;
  const tracing = TRACING_TYPES.has(progName);
  if (hasField(map, 'spin_lock')) {
    if (progName === 'socket_filter') throw new Reject('socket filter progs cannot use bpf_spin_lock yet', at);
    if (tracing) throw new Reject('tracing progs cannot use bpf_spin_lock yet', at);
  }
  if (tracing && hasField(map, 'timer')) throw new Reject('tracing progs cannot use bpf_timer yet', at);
  if (tracing && hasField(map, 'workqueue')) throw new Reject('tracing progs cannot use bpf_wq yet', at);
}

/**
 * A load or store of [lo, hi) in a map value (lo the lowest, hi the highest end the access may
 * reach) that touches a special field (kernel check_map_access): only helpers may.
 */
export function checkValueFieldAccess(map: MapSpec, lo: number, hi: number, size: number, at: number): void {
  for (const f of map.valueFields ?? []) {
    if (lo >= f.offset + f.size || f.offset >= hi) continue;
    if (f.kind !== 'kptr') throw new Reject(`${FIELD_NAMES[f.kind]} cannot be accessed directly by load/store`, at);
    if (lo !== hi - size) throw new Reject('kptr access cannot have variable offset', at);
    if (size !== 8) throw new Reject('kptr access size must be BPF_DW', at);
    // Loads and stores of kptrs have rules of their own (kernel check_map_kptr_access), not modelled: refused.
    throw new Reject(`kptr field at off ${f.offset} cannot be accessed by tsbpf's verifier`, at);
  }
}

/**
 * The kernel struct behind a map pointer, by map type (its ops' map_btf_id; names as Linux 6.18 prints
 * them here). Each begins with `struct bpf_map`.
 */
export const MAP_STRUCTS: Readonly<Record<number, string>> = {
  [MapType.array]: 'bpf_array', [MapType.percpu_array]: 'bpf_array', [MapType.prog_array]: 'bpf_array', [MapType.perf_event_array]: 'bpf_array',
  [MapType.cgroup_array]: 'bpf_array', [MapType.array_of_maps]: 'bpf_array',
  [MapType.hash]: 'bpf_htab', [MapType.percpu_hash]: 'bpf_htab', [MapType.lru_hash]: 'bpf_htab', [MapType.lru_percpu_hash]: 'bpf_htab',
  [MapType.hash_of_maps]: 'bpf_htab',
  [MapType.ringbuf]: 'bpf_ringbuf_map', [MapType.user_ringbuf]: 'bpf_ringbuf_map', [MapType.lpm_trie]: 'lpm_trie',
  [MapType.queue]: 'bpf_queue_stack', [MapType.stack]: 'bpf_queue_stack', [MapType.sockmap]: 'bpf_stab', [MapType.sockhash]: 'bpf_shtab',
  [MapType.devmap]: 'bpf_dtab', [MapType.devmap_hash]: 'bpf_dtab', [MapType.cpumap]: 'bpf_cpu_map', [MapType.xskmap]: 'xsk_map',
  [MapType.stack_trace]: 'bpf_stack_map', [MapType.bloom_filter]: 'bpf_bloom_filter', [MapType.reuseport_sockarray]: 'reuseport_array',
  [MapType.sk_storage]: 'bpf_local_storage_map',
};

export interface StructMember { name: string; offset: number; size: number; pointer?: boolean }

/**
 * The leading members of Linux 6.18's `struct bpf_map` (from its vmlinux BTF), up to `name`: the
 * fields programs and the kernel's selftests read. The verifier runs without vmlinux BTF (in
 * browsers too), so reads past them are refused here though the kernel may allow some.
 */
export const BPF_MAP_MEMBERS: readonly StructMember[] = [
  { name: 'sha', offset: 0, size: 32 }, { name: 'excl', offset: 32, size: 4 },
  { name: 'ops', offset: 40, size: 8, pointer: true }, { name: 'inner_map_meta', offset: 48, size: 8, pointer: true },
  { name: 'security', offset: 56, size: 8, pointer: true },
  { name: 'map_type', offset: 64, size: 4 }, { name: 'key_size', offset: 68, size: 4 }, { name: 'value_size', offset: 72, size: 4 },
  { name: 'max_entries', offset: 76, size: 4 }, { name: 'map_extra', offset: 80, size: 8 }, { name: 'map_flags', offset: 88, size: 4 },
  { name: 'id', offset: 92, size: 4 }, { name: 'record', offset: 96, size: 8, pointer: true }, { name: 'numa_node', offset: 104, size: 4 },
  { name: 'btf_key_type_id', offset: 108, size: 4 }, { name: 'btf_value_type_id', offset: 112, size: 4 },
  { name: 'btf_vmlinux_value_type_id', offset: 116, size: 4 }, { name: 'btf', offset: 120, size: 8, pointer: true },
  { name: 'objcg', offset: 128, size: 8, pointer: true }, { name: 'name', offset: 136, size: 16 },
];

/**
 * A read of `size` bytes at `off` through a map pointer (kernel check_ptr_to_map_access, then its
 * BTF walk of the struct): a scalar member (or part of one) reads as a scalar, a whole pointer
 * member as an untrusted kernel pointer.
 */
export function mapStructRead(map: MapSpec, regno: number, off: number, size: number, write: boolean, unpriv: boolean, at: number): Reg {
  const struct = MAP_STRUCTS[map.type];
  if (!struct) throw new Reject(`map_ptr access not supported for map type ${map.type}`, at);
  if (unpriv) throw new Reject(`'struct ${struct}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN`, at);
  if (off < 0) throw new Reject(`R${regno} is ${struct} invalid negative access: off=${off}`, at);
  if (write) throw new Reject(`only read from ${struct} is supported`, at);
  const member = BPF_MAP_MEMBERS.find((m) => off >= m.offset && off < m.offset + m.size);
  if (!member || off + size > member.offset + member.size) throw new Reject(`R${regno} invalid mem access 'map_ptr'`, at);
  if (!member.pointer) return scalarReg();
  if (off !== member.offset || size !== 8) {
    throw new Reject(`cannot access ptr member ${member.name} with moff ${member.offset} in struct bpf_map with off ${off} size ${size}`, at);
  }
  return pointerReg('btf_id', { b: constBounds(0, 0) });
}
