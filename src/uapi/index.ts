import { HelperId } from './helper-ids.js';
import { MapType } from './map-types.js';
import { ProgType } from './prog-types.js';

export * from './helper-ids.js';
export * from './prog-types.js';
export * from './map-types.js';
export * from './attach-types.js';
export * from './link-types.js';

/** Reverse lookups, built once: id -> name. */
function invert(table: Readonly<Record<string, number>>): readonly string[] {
  const out: string[] = [];
  for (const [name, id] of Object.entries(table)) out[id] = name;
  return out;
}
export const HELPER_NAMES: readonly string[] = invert(HelperId);
export const PROG_TYPE_NAMES: readonly string[] = invert(ProgType);
export const MAP_TYPE_NAMES: readonly string[] = invert(MapType);

/** `bpf_map_lookup_elem`, `map_lookup_elem` or `1` -> 1. */
export function helperIdOf(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const bare = name.startsWith('bpf_') ? name.slice(4) : name;
  return (HelperId as Readonly<Record<string, number>>)[bare];
}

/** `xdp`, `BPF_PROG_TYPE_XDP` or a number -> the prog type id. */
export function progTypeOf(name: string | number): number | undefined {
  if (typeof name === 'number') return PROG_TYPE_NAMES[name] !== undefined ? name : undefined;
  if (/^\d+$/.test(name)) return progTypeOf(Number(name));
  const bare = name.toLowerCase().replace(/^bpf_prog_type_/, '');
  return (ProgType as Readonly<Record<string, number>>)[bare];
}

export function mapTypeOf(name: string | number): number | undefined {
  if (typeof name === 'number') return MAP_TYPE_NAMES[name] !== undefined ? name : undefined;
  if (/^\d+$/.test(name)) return mapTypeOf(Number(name));
  const bare = name.toLowerCase().replace(/^bpf_map_type_/, '');
  return (MapType as Readonly<Record<string, number>>)[bare];
}
