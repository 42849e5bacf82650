import { mapTypeName, type MapSpec } from '../maps/spec.js';
import { MapType } from '../uapi/map-types.js';
import { ObjectError, type BpfObject, type ObjectMap } from './types.js';

/**
 * Changes to a map's declaration between opening an object and loading it, what libbpf's
 * bpf_map__set_max_entries/value_size/map_flags/inner_map/pin_path and cilium/ebpf's MapSpec
 * edits are for: sizes only known at run time (one slot per CPU), a map-in-map template the
 * object leaves out, a pin path. The userspace runtime and the Linux backend both load the result.
 */
export interface MapEdit {
  maxEntries?: number;
  keySize?: number;
  valueSize?: number;
  /** BPF_F_* map flags, replacing the declared ones. */
  flags?: number;
  /** The shape of the inner maps (array_of_maps, hash_of_maps). */
  innerMap?: MapSpec;
  /** bpffs path: an existing pin there is reused, otherwise the new map is pinned there. */
  pinPath?: string;
}

const isMapInMap = (type: number): boolean => type === MapType.array_of_maps || type === MapType.hash_of_maps;
const isGlobalData = (map: ObjectMap): boolean => map.origin === 'data' || map.origin === 'rodata' || map.origin === 'bss' || map.origin === 'kconfig';

/** The map `name` of the object, or an error listing the maps it has. */
export function objectMap(object: BpfObject, name: string): ObjectMap {
  const map = object.maps.find((m) => m.name === name);
  if (!map) {
    throw new ObjectError('no-map', `no map ${name} (maps: ${object.maps.map((m) => m.name).join(', ') || 'none'})`, object.fileName === undefined ? {} : { file: object.fileName });
  }
  return map;
}

/** Applies `edit` to the map `name` in place (before load) and returns the map. */
export function editMap(object: BpfObject, name: string, edit: MapEdit): ObjectMap {
  const map = objectMap(object, name);
  const where = object.fileName === undefined ? {} : { file: object.fileName };
  const refuse = (why: string): never => {
    throw new ObjectError('bad-map-edit', `map ${name} (${mapTypeName(map.type)}): ${why}`, where);
  };
  for (const field of ['maxEntries', 'keySize', 'valueSize', 'flags'] as const) {
    const value = edit[field];
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 0xffffffff)) refuse(`${field} ${value} is not a u32`);
  }
  if (isGlobalData(map) && (edit.keySize !== undefined || edit.valueSize !== undefined || edit.maxEntries !== undefined)) {
    refuse(`the shape of a global data map follows its section ${map.section}`);
  }
  if (edit.innerMap && !isMapInMap(map.type)) refuse('only array_of_maps and hash_of_maps take an inner map');
  if (edit.pinPath !== undefined && edit.pinPath === '') refuse('the pin path is empty');
  if (edit.maxEntries !== undefined) map.maxEntries = edit.maxEntries;
  // A resized key or value no longer matches its declared BTF type: the map is created without it.
  if (edit.keySize !== undefined && edit.keySize !== map.keySize) {
    map.keySize = edit.keySize;
    delete map.btfKeyTypeId;
  }
  if (edit.valueSize !== undefined && edit.valueSize !== map.valueSize) {
    map.valueSize = edit.valueSize;
    delete map.btfValueTypeId;
    delete map.valueFields;
  }
  if (edit.flags !== undefined) map.flags = edit.flags;
  if (edit.innerMap) map.innerMap = { ...edit.innerMap };
  if (edit.pinPath !== undefined) map.pinPath = edit.pinPath;
  return map;
}
