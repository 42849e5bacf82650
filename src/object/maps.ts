import type { Btf, BtfComposite, BtfDatasec, BtfType } from '../btf/index.js';
import { mapValueFields } from '../btf/map-fields.js';
import { SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS, STT_OBJECT, STT_SECTION, type ElfFile, type ElfSection } from '../elf/index.js';
import { MapFlag } from '../maps/spec.js';
import { MapType } from '../uapi/map-types.js';
import { ObjectError, type ObjectMap } from './types.js';

/**
 * Maps an object declares: BTF-defined maps in `.maps`, legacy `struct bpf_map_def` in `maps`, and
 * global data sections (.data, .rodata, .bss and their `.name` variants) as single-entry arrays.
 */

/** Is this section global data that becomes an array map? */
export function isDataSection(name: string): boolean {
  return /^\.(data|rodata|bss)(\.|$)/.test(name);
}

function dataOrigin(name: string): 'data' | 'rodata' | 'bss' {
  return name.startsWith('.rodata') ? 'rodata' : name.startsWith('.bss') ? 'bss' : 'data';
}

/** Symbols in a section (variables or maps), sorted by offset. */
function symbolsIn(elf: ElfFile, section: ElfSection) {
  return elf.symbols
    .filter((s) => s.sectionIndex === section.index && s.type !== STT_SECTION && s.name !== '')
    .sort((a, b) => a.value - b.value);
}

export function dataMaps(elf: ElfFile, btf: Btf | undefined): ObjectMap[] {
  const out: ObjectMap[] = [];
  for (const section of elf.sections) {
    if (!isDataSection(section.name) || (section.flags & SHF_EXECINSTR) !== 0 || section.size === 0) continue;
    const origin = dataOrigin(section.name);
    const initial = section.type === SHT_NOBITS ? new Uint8Array(section.size) : elf.sectionBytes(section).slice();
    const readOnly = origin === 'rodata' || (section.flags & SHF_WRITE) === 0 && origin !== 'bss';
    const datasec = btf?.findByName(section.name, 'DATASEC') as BtfDatasec | undefined;
    const symbols = symbolsIn(elf, section).filter((s) => s.type === STT_OBJECT);
    const byName = new Map(symbols.map((s) => [s.name, s.value]));
    const variables = datasec
      ? datasec.vars.map((v) => {
        const name = btf!.type(v.type).name;
        return { name, offset: byName.get(name) ?? v.offset, size: v.size };
      })
      : symbols.map((s) => ({ name: s.name, offset: s.value, size: s.size }));
    out.push({
      name: section.name,
      type: MapType.array,
      keySize: 4,
      valueSize: section.size,
      maxEntries: 1,
      flags: MapFlag.MMAPABLE | (readOnly ? MapFlag.RDONLY_PROG : 0),
      initialValue: initial,
      origin,
      section: section.name,
      variables,
    });
  }
  return out;
}

/** Is this a legacy map section: `maps`, or old libbpf's one-map-per-section `maps/NAME`? */
export const isLegacyMapSection = (name: string): boolean => name === 'maps' || name.startsWith('maps/');

/** A legacy definition with the fields that tie map-in-map templates and slots together. */
type LegacyMap = ObjectMap & { offset: number; layout: 'libbpf' | 'samples' | 'iproute2'; elfId?: number; innerId?: number; innerIndex?: number };

/**
 * Legacy `struct bpf_map_def` maps, in every legacy map section in section order. Map-in-map
 * templates follow the layout: samples/bpf's (28-byte) inner_map_idx counts the object's legacy
 * maps in that order (one `maps` section, or PREVAIL's `maps/NAME` sections); iproute2's outer map
 * names its template by inner_id, and a map with an id and inner_idx goes into the slot inner_idx
 * of each outer map whose inner_id is that id.
 */
export function legacyMaps(elf: ElfFile): ObjectMap[] {
  const maps = elf.sections.filter((s) => isLegacyMapSection(s.name)).flatMap((section) => legacyMapsIn(elf, section));
  const template = (m: LegacyMap): LegacyMap | undefined =>
    m.layout === 'samples' ? maps[m.innerIndex!] : m.layout === 'iproute2' && m.innerId ? maps.find((t) => t.elfId === m.innerId) : undefined;
  for (const map of maps) {
    if (!isMapInMap(map.type)) continue;
    const inner = template(map);
    if (inner && inner !== map) map.innerMap = { name: inner.name, type: inner.type, keySize: inner.keySize, valueSize: inner.valueSize, maxEntries: inner.maxEntries, flags: inner.flags ?? 0 };
    if (map.layout !== 'iproute2' || !map.innerId) continue;
    for (const member of maps) {
      if (member !== map && member.elfId === map.innerId && !isMapInMap(member.type) && member.innerIndex !== undefined && member.innerIndex !== NO_SLOT) {
        (map.innerSlots ??= []).push({ index: member.innerIndex, map: member.name });
      }
    }
  }
  return maps.map(({ layout: _layout, elfId: _id, innerId: _innerId, innerIndex: _innerIndex, ...m }) => m);
}

const NO_SLOT = 0xffffffff;
const isMapInMap = (type: number): boolean => type === MapType.array_of_maps || type === MapType.hash_of_maps;

function legacyMapsIn(elf: ElfFile, section: ElfSection): LegacyMap[] {
  const symbols = symbolsIn(elf, section);
  if (symbols.length === 0) return [];
  const bytes = elf.sectionBytes(section);
  const defSize = Math.floor(section.size / symbols.length);
  if (defSize < 20 || defSize % 4 !== 0) {
    throw new ObjectError('bad-map-def', `section ${section.name}: ${section.size} bytes for ${symbols.length} maps is not a whole number of bpf_map_def`, { file: elf.fileName, section: section.name });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = elf.littleEndian;
  // iproute2's struct bpf_elf_map (36+ bytes) adds id, pinning, inner_id and inner_idx after the
  // five libbpf fields; samples/bpf's bpf_load.c (28 bytes) inner_map_idx and numa_node.
  const layout = defSize >= 36 ? 'iproute2' : defSize === 28 ? 'samples' : 'libbpf';
  return symbols.map((sym): LegacyMap => {
    if (sym.value + 20 > bytes.length) {
      throw new ObjectError('bad-map-def', `map ${sym.name} lies outside section ${section.name}`, { file: elf.fileName, section: section.name });
    }
    const u32 = (i: number): number => (sym.value + 4 * i + 4 <= Math.min(bytes.length, sym.value + defSize) ? view.getUint32(sym.value + 4 * i, le) : 0);
    return {
      name: sym.name,
      type: u32(0),
      keySize: u32(1),
      valueSize: u32(2),
      maxEntries: u32(3),
      flags: u32(4),
      origin: 'legacy' as const,
      section: section.name,
      offset: sym.value,
      layout,
      ...(layout === 'iproute2' ? { pinning: u32(6), elfId: u32(5), innerId: u32(7), innerIndex: u32(8) } : {}),
      ...(layout === 'samples' ? { innerIndex: u32(5) } : {}),
    };
  });
}

/** `__uint(name, n)` is a pointer to an array of n elements; `__type(name, T)` a pointer to T. */
function pointee(btf: Btf, id: number): BtfType | undefined {
  const t = btf.type(btf.skipModifiers(id, true));
  return t.kind === 'PTR' ? (btf.type(btf.skipModifiers(t.type, true)) as BtfType) : undefined;
}

function mapDefFromStruct(btf: Btf, struct: BtfComposite, name: string, where: { file?: string }): ObjectMap {
  const spec: ObjectMap = { name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, origin: 'btf', section: '.maps' };
  for (const member of struct.members) {
    const target = pointee(btf, member.type);
    const count = (): number => {
      if (target?.kind !== 'ARRAY') throw new ObjectError('bad-btf-map', `map ${name}: member ${member.name} is not __uint()`, { ...where, section: '.maps' });
      return target.nelems;
    };
    switch (member.name) {
      case 'type': spec.type = count(); break;
      case 'max_entries': spec.maxEntries = count(); break;
      case 'map_flags': spec.flags = count(); break;
      case 'numa_node': break;
      case 'map_extra': spec.mapExtra = count(); break;
      case 'pinning': spec.pinning = count(); break;
      case 'key_size': spec.keySize = count(); break;
      case 'value_size': spec.valueSize = count(); break;
      case 'key':
        if (target) { spec.keySize = btf.resolveSize(target.id); spec.btfKeyTypeId = target.id; }
        break;
      case 'value':
        if (target) {
          spec.valueSize = btf.resolveSize(target.id);
          spec.btfValueTypeId = target.id;
          spec.valueFields = mapValueFields(btf, target.id);
        }
        break;
      case 'values': {
        // `__array(values, struct inner)`: an array of pointers to the inner map's definition.
        const array = btf.type(btf.skipModifiers(member.type, true));
        const inner = array.kind === 'ARRAY' ? pointee(btf, array.type) : undefined;
        if (inner?.kind === 'STRUCT') spec.innerMap = mapDefFromStruct(btf, inner, `${name}.inner`, where);
        else if (spec.type !== MapType.prog_array) {
          throw new ObjectError('bad-btf-map', `map ${name}: values must be an array of pointers to a map definition`, { ...where, section: '.maps' });
        }
        spec.valueSize = 4;
        break;
      }
      default:
        break; // unknown members are ignored, as libbpf warns and goes on
    }
  }
  // map-in-map and prog arrays hold 4-byte ids.
  if ((spec.type === MapType.array_of_maps || spec.type === MapType.hash_of_maps || spec.type === MapType.prog_array) && spec.valueSize === 0) spec.valueSize = 4;
  return spec;
}

/** BTF-defined maps: variables of DATASEC `.maps`. */
export function btfMaps(elf: ElfFile, btf: Btf | undefined): (ObjectMap & { offset: number })[] {
  const section = elf.sectionByName('.maps');
  if (!section) return [];
  if (!btf) throw new ObjectError('no-btf', 'section .maps needs BTF to describe its maps, and the object has no .BTF', { file: elf.fileName, section: '.maps' });
  const datasec = btf.findByName('.maps', 'DATASEC') as BtfDatasec | undefined;
  if (!datasec) throw new ObjectError('no-btf', 'BTF has no DATASEC .maps', { file: elf.fileName, section: '.maps' });
  const where = elf.fileName === undefined ? {} : { file: elf.fileName };
  // Older clang leaves DATASEC offsets at 0; the symbol table has the truth (libbpf fixes them up too).
  const symbolOffset = new Map(symbolsIn(elf, section).map((s) => [s.name, s.value]));
  const maps = datasec.vars.map((v) => {
    const variable = btf.type(v.type);
    if (variable.kind !== 'VAR') throw new ObjectError('bad-btf-map', `.maps entry at offset ${v.offset} is not a variable`, { ...where, section: '.maps' });
    const def = btf.type(btf.skipModifiers(variable.type, true));
    if (def.kind !== 'STRUCT') throw new ObjectError('bad-btf-map', `map ${variable.name} is not a struct`, { ...where, section: '.maps' });
    return { ...mapDefFromStruct(btf, def, variable.name, where), offset: symbolOffset.get(variable.name) ?? v.offset, btfVar: v };
  });
  // Inner-map initialisers: relocations in .maps pointing at other maps.
  for (const reloc of elf.relocationsFor(section)) {
    const holder = maps.find((m) => reloc.offset >= m.offset && reloc.offset < m.offset + m.btfVar.size);
    const symbol = elf.symbols[reloc.symbolIndex];
    if (!holder || !symbol) continue;
    const struct = btf.type(btf.skipModifiers((btf.type(holder.btfVar.type) as { type: number }).type, true)) as BtfComposite;
    const valuesMember = struct.members.find((m) => m.name === 'values');
    if (!valuesMember) continue;
    const index = (reloc.offset - holder.offset - valuesMember.bitOffset / 8) / 8;
    (holder.innerSlots ??= []).push({ index, map: symbol.name });
  }
  return maps.map(({ btfVar: _btfVar, ...m }) => m);
}
