import type { Btf, BtfDatasec } from '../btf/index.js';
import { SHN_UNDEF, STB_WEAK, STT_SECTION, type ElfFile } from '../elf/index.js';
import { MapFlag } from '../maps/spec.js';
import { MapType } from '../uapi/map-types.js';
import { ObjectError, type KconfigType, type ObjectExtern, type ObjectMap } from './types.js';

/**
 * libbpf's externs: undefined symbols whose BTF VAR or FUNC sits in the `.kconfig` or `.ksyms`
 * DATASEC. `.kconfig` variables get offsets in one read-only `.kconfig` map (largest alignment
 * first, then by name, as libbpf lays them out); `__ksym` variables and kfuncs are left for the
 * backend to bind to kernel symbols.
 */

export const KCONFIG_MAP = '.kconfig';

export interface ObjectExterns {
  externs: ObjectExtern[];
  /** The `.kconfig` map, zero-filled: loaders fill it from their kernel (see kconfigValue). */
  kconfigMap?: ObjectMap;
}

export function collectExterns(elf: ElfFile, btf: Btf | undefined): ObjectExterns {
  const undefinedSymbols = elf.symbols.filter((s) => s.sectionIndex === SHN_UNDEF && s.name !== '' && s.type !== STT_SECTION);
  if (!btf || undefinedSymbols.length === 0) return { externs: [] };
  const where = elf.fileName === undefined ? {} : { file: elf.fileName };
  const membersOf = (section: string): Set<number> => new Set((btf.findByName(section, 'DATASEC') as BtfDatasec | undefined)?.vars.map((v) => v.type) ?? []);
  const kconfigIds = membersOf('.kconfig');
  const ksymIds = membersOf('.ksyms');
  const kconfig: { name: string; weak: boolean; type: KconfigType; size: number; align: number }[] = [];
  const externs: ObjectExtern[] = [];
  for (const symbol of undefinedSymbols) {
    const weak = symbol.bind === STB_WEAK;
    const id = btf.idsByName(symbol.name).find((i) => kconfigIds.has(i) || ksymIds.has(i));
    if (id === undefined) continue; // no BTF: the linker reports it where an instruction uses it
    const declared = btf.type(id);
    if (kconfigIds.has(id)) {
      if (declared.kind !== 'VAR') throw new ObjectError('bad-extern', `extern (kcfg) ${symbol.name} is not a variable`, { ...where, section: '.kconfig' });
      const valueType = btf.skipModifiers(declared.type, true);
      kconfig.push({ name: symbol.name, weak, type: kconfigType(btf, valueType, symbol.name, where), size: btf.resolveSize(valueType), align: btf.resolveAlignment(valueType) });
    } else if (declared.kind === 'FUNC') {
      externs.push({ kind: 'kfunc', name: symbol.name, weak, btfId: id });
    } else if (declared.kind === 'VAR') {
      const target = btf.skipModifiers(declared.type, true);
      externs.push({ kind: 'ksym', name: symbol.name, weak, typed: btf.type(target).kind !== 'VOID', btfId: id });
    }
  }
  if (kconfig.length === 0) return { externs };
  kconfig.sort((a, b) => b.align - a.align || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let end = 0;
  const laidOut = kconfig.map((k): ObjectExtern & { kind: 'kconfig' } => {
    const offset = Math.ceil(end / k.align) * k.align;
    end = offset + k.size;
    return { kind: 'kconfig', name: k.name, weak: k.weak, type: k.type, offset, size: k.size };
  });
  const valueSize = Math.max(8, Math.ceil(end / 8) * 8);
  return {
    externs: [...laidOut, ...externs],
    kconfigMap: {
      name: KCONFIG_MAP,
      type: MapType.array,
      keySize: 4,
      valueSize,
      maxEntries: 1,
      flags: MapFlag.MMAPABLE | MapFlag.RDONLY_PROG,
      initialValue: new Uint8Array(valueSize),
      origin: 'kconfig',
      section: KCONFIG_MAP,
      variables: laidOut.map(({ name, offset, size }) => ({ name, offset, size })),
    },
  };
}

/** libbpf's kcfg types; anything else in `.kconfig` is refused as libbpf does. */
function kconfigType(btf: Btf, id: number, name: string, where: { file?: string }): KconfigType {
  const t = btf.type(id);
  const BOOL = 4, CHAR = 2, SIGNED = 1;
  if (t.kind === 'INT') {
    if (t.encoding & BOOL) return 'bool';
    if (t.size === 1 && (t.encoding & CHAR || t.name === 'char')) return 'char';
    if ([1, 2, 4, 8].includes(t.size)) return t.encoding & SIGNED ? 'int' : 'uint';
  } else if (t.kind === 'ENUM' && t.name === 'libbpf_tristate') {
    return 'tristate';
  } else if (t.kind === 'ARRAY') {
    const element = btf.type(btf.skipModifiers(t.type, true));
    if (element.kind === 'INT' && element.size === 1 && t.nelems > 0) return 'string';
  }
  throw new ObjectError('bad-extern', `extern (kcfg) ${name}: type is unsupported (bool, char, tristate, integers and char arrays are)`, { ...where, section: '.kconfig' });
}
