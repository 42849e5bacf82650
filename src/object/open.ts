import { applyCoreRelocation, btfExtFromElf, btfFromElf, relocateCore, type Btf } from '../btf/index.js';
import { EM_BPF, SHF_EXECINSTR, SHT_PROGBITS, parseElf, type ElfFile } from '../elf/index.js';
import { TsbpfError } from '../errors.js';
import { fixupDatasecs } from './btf-fixup.js';
import { sanitizeExternBtf } from './btf-externs.js';
import { collectExterns } from './externs.js';
import { btfMaps, dataMaps, legacyMaps } from './maps.js';
import { extractPrograms } from './programs.js';
import { ObjectError, type BpfObject } from './types.js';

export interface OpenObjectOptions {
  /** For error messages and `obj show`. */
  fileName?: string;
  /**
   * BTF to relocate CO-RE accesses against: the running kernel's vmlinux for the Linux backend. By
   * default the object's own BTF, which leaves every offset as compiled (right for the userspace
   * runtime, whose contexts are the UAPI structs the program was compiled against).
   */
  coreTarget?: Btf;
}

/** Parse an ELF object into the object model: maps, programs (linked), BTF. No syscalls. */
export function openObject(bytes: Uint8Array, options: OpenObjectOptions = {}): BpfObject {
  const elf = parseElf(bytes, options.fileName === undefined ? {} : { fileName: options.fileName });
  const file = options.fileName === undefined ? {} : { file: options.fileName };
  // Old LLVM wrote e_machine 0; libbpf accepts that too.
  if (elf.header.machine !== EM_BPF && elf.header.machine !== 0) {
    throw new ObjectError('not-bpf', `ELF machine ${elf.header.machine} is not BPF (${EM_BPF})`, file);
  }
  const warnings: string[] = [];
  const btf = readBtf(elf, warnings);
  const btfExt = btf ? btfExtFromElf(elf, btf) : undefined;

  const licenseSection = elf.sectionByName('license');
  const license = licenseSection ? new TextDecoder().decode(elf.sectionBytes(licenseSection)).replace(/\0.*$/s, '') : '';
  const versionSection = elf.sectionByName('version');
  const kernelVersion = versionSection && versionSection.size >= 4
    ? new DataView(elf.sectionBytes(versionSection).buffer, elf.sectionBytes(versionSection).byteOffset).getUint32(0, elf.littleEndian)
    : undefined;

  const { externs, kconfigMap } = collectExterns(elf, btf);
  const maps = [...btfMaps(elf, btf), ...legacyMaps(elf), ...dataMaps(elf, btf), ...(kconfigMap ? [kconfigMap] : [])];
  const names = new Set<string>();
  for (const m of maps) {
    if (names.has(m.name)) throw new ObjectError('duplicate-map', `two maps are named ${m.name}`, file);
    names.add(m.name);
  }

  // Executable sections' bytes, copied so CO-RE can patch them before decoding.
  const sectionCode = new Map<number, Uint8Array>();
  for (const section of elf.sections) {
    if (section.type === SHT_PROGBITS && section.flags & SHF_EXECINSTR && section.size > 0) {
      if (section.size % 8 !== 0) throw new ObjectError('bad-code', `code section ${section.name} is ${section.size} bytes, not a multiple of 8`, { ...file, section: section.name });
      sectionCode.set(section.index, elf.sectionBytes(section).slice());
    }
  }

  const coreCounts = new Map<string, { applied: number; poisoned: number }>();
  if (btf && btfExt) {
    const target = options.coreTarget ?? btf;
    for (const group of btfExt.coreRelos) {
      const section = elf.sectionByName(group.sectionName);
      const code = section ? sectionCode.get(section.index) : undefined;
      if (!code) continue;
      const counts = { applied: 0, poisoned: 0 };
      for (const result of relocateCore(btf, group.records, target, { ambiguityPoisons: true })) {
        try {
          const outcome = applyCoreRelocation(code, result, elf.littleEndian);
          if (outcome.action === 'poisoned') counts.poisoned++;
          else counts.applied++;
        } catch (e) {
          if (e instanceof TsbpfError) throw new ObjectError('core', e.message, { ...file, section: group.sectionName, insn: result.relo.insnOff / 8 });
          throw e;
        }
      }
      coreCounts.set(group.sectionName, counts);
    }
  }

  const programs = extractPrograms({ elf, sectionCode, maps, externs, ...(btfExt ? { btfExt } : {}) });
  for (const p of programs) p.coreRelocations = coreCounts.get(p.section) ?? { applied: 0, poisoned: 0 };

  return {
    ...(options.fileName === undefined ? {} : { fileName: options.fileName }),
    license,
    ...(kernelVersion === undefined ? {} : { kernelVersion }),
    littleEndian: elf.littleEndian,
    ...(btf ? { btf, btfRaw: sanitizeExternBtf(fixupDatasecs(elf.sectionBytes(elf.sectionByName('.BTF')!), elf), externs, kconfigMap?.valueSize ?? 0) } : {}),
    ...(btfExt ? { btfExt } : {}),
    maps: maps.map(({ ...m }) => {
      delete (m as { offset?: number }).offset;
      return m;
    }),
    programs,
    ...(externs.length ? { externs } : {}),
    ...(warnings.length ? { warnings } : {}),
  };
}

/**
 * The object's BTF. A .BTF the parser refuses is dropped with a warning when nothing needs it (no
 * BTF-defined maps, no CO-RE relocations), as libbpf ignores it and goes on: programs then load
 * without func_info/line_info.
 */
function readBtf(elf: ElfFile, warnings: string[]): Btf | undefined {
  try {
    return btfFromElf(elf);
  } catch (e) {
    if (!(e instanceof TsbpfError)) throw e;
    if (elf.sectionByName('.maps') || declaresCoreRelocations(elf)) throw e;
    warnings.push(`${e.message}: .BTF ignored, continuing without BTF`);
    return undefined;
  }
}

/** Does .BTF.ext hold CO-RE relocations? Read from its header alone (the records need the BTF). */
function declaresCoreRelocations(elf: ElfFile): boolean {
  const section = elf.sectionByName('.BTF.ext');
  if (!section || section.size < 32) return false;
  const bytes = elf.sectionBytes(section);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = bytes[0] === 0x9f;
  // btf_ext_header: magic, version, flags, hdr_len, then func/line info and (hdr_len >= 32) core_relo off/len.
  return view.getUint32(4, le) >= 32 && view.getUint32(28, le) > 0;
}
