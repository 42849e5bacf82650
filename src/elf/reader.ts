/**
 * ELF64 reader for BPF objects: header, section headers and names, symbols, REL/RELA sections and
 * string tables, in either byte order. Pure parsing over a Uint8Array; nothing here touches the system.
 */
import * as C from './constants.js';
import { ElfError } from './errors.js';

export interface ElfHeader {
  littleEndian: boolean;
  osabi: number;
  type: number;
  machine: number;
  version: number;
  entry: number;
  shoff: number;
  flags: number;
  shentsize: number;
  shnum: number;
  shstrndx: number;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  /** STT_* */
  type: number;
  /** STB_* */
  bind: number;
  visibility: number;
  /** Section header index (or SHN_ABS, SHN_COMMON, SHN_UNDEF). */
  sectionIndex: number;
}

export interface ElfRelocation {
  offset: number;
  /** R_BPF_* */
  type: number;
  symbolIndex: number;
  /** Present for RELA entries only. */
  addend?: number;
}

export interface ElfRelocationSection {
  /** The REL/RELA section itself. */
  section: ElfSection;
  /** The section the relocations apply to (sh_info). */
  target: ElfSection;
  relocations: ElfRelocation[];
}

export interface ParseElfOptions {
  /** Used in error messages. */
  fileName?: string;
}

/** A parsed ELF64 file. Section contents are views into the input, not copies. */
export class ElfFile {
  readonly relocationSections: ElfRelocationSection[];

  constructor(
    readonly bytes: Uint8Array,
    readonly header: ElfHeader,
    readonly sections: ElfSection[],
    readonly symbols: ElfSymbol[],
    relocationSections: ElfRelocationSection[],
    readonly fileName?: string,
  ) {
    this.relocationSections = relocationSections;
  }

  get littleEndian(): boolean {
    return this.header.littleEndian;
  }

  /** The first section with this name, or undefined. */
  sectionByName(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** A section's bytes (empty for SHT_NOBITS), as a view into the file. */
  sectionBytes(section: ElfSection | number): Uint8Array {
    const s = typeof section === 'number' ? this.sections[section] : section;
    if (s === undefined) {
      throw new ElfError('elf/bad-section', `no section with index ${String(section)}`, { file: this.fileName });
    }
    if (s.type === C.SHT_NOBITS) return new Uint8Array(0);
    return this.bytes.subarray(s.offset, s.offset + s.size);
  }

  /** Relocations that apply to the given section. */
  relocationsFor(section: ElfSection | number): ElfRelocation[] {
    const index = typeof section === 'number' ? section : section.index;
    const out: ElfRelocation[] = [];
    for (const r of this.relocationSections) if (r.target.index === index) out.push(...r.relocations);
    return out;
  }

  /** The NUL-terminated string at `offset` in a string table section. */
  stringAt(section: ElfSection | number, offset: number): string {
    const s = typeof section === 'number' ? this.sections[section] : section;
    if (s === undefined) {
      throw new ElfError('elf/bad-section', `no string table with index ${String(section)}`, { file: this.fileName });
    }
    return readCString(this.bytes, s, offset, this.fileName);
  }
}

const utf8 = new TextDecoder('utf-8');

function readCString(bytes: Uint8Array, table: ElfSection, offset: number, file?: string): string {
  if (offset >= table.size) {
    throw new ElfError('elf/bad-string', `string offset ${offset} outside string table of ${table.size} bytes`, {
      file,
      section: table.name || `#${table.index}`,
      offset,
    });
  }
  const start = table.offset + offset;
  const end = table.offset + table.size;
  let i = start;
  while (i < end && bytes[i] !== 0) i++;
  if (i === end) {
    throw new ElfError('elf/bad-string', `string at ${offset} is not NUL-terminated`, {
      file,
      section: table.name || `#${table.index}`,
      offset,
    });
  }
  return utf8.decode(bytes.subarray(start, i));
}

/** Reads little- or big-endian integers with bounds checks that name the file and what was being read. */
class Cursor {
  readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    readonly le: boolean,
    readonly file: string | undefined,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(offset: number, length: number, what: string): void {
    if (offset < 0 || offset + length > this.bytes.length) {
      throw new ElfError(
        'elf/truncated',
        `${what} (${length} bytes at ${offset}) runs past the end of the file (${this.bytes.length} bytes)`,
        { file: this.file, offset },
      );
    }
  }
  u8(o: number): number {
    return this.view.getUint8(o);
  }
  u16(o: number): number {
    return this.view.getUint16(o, this.le);
  }
  u32(o: number): number {
    return this.view.getUint32(o, this.le);
  }
  /** An unsigned 64-bit field as a number; values past 2^53 are out of range for offsets and sizes. */
  u64(o: number, what: string): number {
    const v = this.view.getBigUint64(o, this.le);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ElfError('elf/out-of-range', `${what} 0x${v.toString(16)} is too large`, { file: this.file, offset: o });
    }
    return Number(v);
  }
  /** A 64-bit value where precision loss is acceptable (symbol values, addends): read as signed/unsigned. */
  u64Loose(o: number): number {
    return Number(this.view.getBigUint64(o, this.le));
  }
  i64Loose(o: number): number {
    return Number(this.view.getBigInt64(o, this.le));
  }
}

/** Parse an ELF64 BPF relocatable object (EM_BPF, or EM_NONE as some old clang versions wrote). */
export function parseElf(input: Uint8Array, options: ParseElfOptions = {}): ElfFile {
  const file = options.fileName;
  // A plain Uint8Array view (no copy): a Node Buffer's slice() would not copy, surprising callers.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length < 16) {
    throw new ElfError('elf/truncated', `file is ${bytes.length} bytes, too short for an ELF identification`, {
      file,
      offset: 0,
    });
  }
  if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfError('elf/bad-magic', 'not an ELF file (bad magic)', { file, offset: 0 });
  }
  if (bytes[4] !== C.ELFCLASS64) {
    throw new ElfError('elf/bad-class', `ELF class ${bytes[4]} is not ELFCLASS64`, { file, offset: 4 });
  }
  if (bytes[5] !== C.ELFDATA2LSB && bytes[5] !== C.ELFDATA2MSB) {
    throw new ElfError('elf/bad-byte-order', `ELF data encoding ${bytes[5]} is neither LSB nor MSB`, {
      file,
      offset: 5,
    });
  }
  const le = bytes[5] === C.ELFDATA2LSB;
  const c = new Cursor(bytes, le, file);
  c.need(0, C.ELF64_HEADER_SIZE, 'ELF header');
  const header: ElfHeader = {
    littleEndian: le,
    osabi: c.u8(7),
    type: c.u16(16),
    machine: c.u16(18),
    version: c.u32(20),
    entry: c.u64Loose(24),
    shoff: c.u64(40, 'e_shoff'),
    flags: c.u32(48),
    shentsize: c.u16(58),
    shnum: c.u16(60),
    shstrndx: c.u16(62),
  };
  if (header.machine !== C.EM_BPF && header.machine !== C.EM_NONE) {
    throw new ElfError('elf/wrong-machine', `e_machine ${header.machine} is not EM_BPF (247)`, { file, offset: 18 });
  }
  if (bytes[6] !== 1 || header.version !== 1) {
    throw new ElfError('elf/bad-version', `ELF version ${header.version} is not 1`, { file, offset: 20 });
  }

  const sections = readSectionHeaders(c, header);
  const symtab = sections.find((s) => s.type === C.SHT_SYMTAB);
  const symbols = symtab ? readSymbols(c, sections, symtab) : [];
  const relocationSections: ElfRelocationSection[] = [];
  for (const s of sections) {
    if (s.type === C.SHT_REL || s.type === C.SHT_RELA) relocationSections.push(readRelocations(c, sections, s, symbols));
  }
  return new ElfFile(bytes, header, sections, symbols, relocationSections, file);
}

function readSectionHeaders(c: Cursor, header: ElfHeader): ElfSection[] {
  const file = c.file;
  if (header.shoff === 0) return [];
  if (header.shentsize !== C.ELF64_SHDR_SIZE) {
    throw new ElfError('elf/bad-section', `e_shentsize ${header.shentsize} is not ${C.ELF64_SHDR_SIZE}`, {
      file,
      offset: 58,
    });
  }
  // Extended numbering: e_shnum 0 means section 0's sh_size holds the count; SHN_XINDEX likewise for shstrndx.
  c.need(header.shoff, C.ELF64_SHDR_SIZE, 'section header 0');
  let count = header.shnum;
  if (count === 0) count = c.u64(header.shoff + 32, 'section count');
  let shstrndx = header.shstrndx;
  if (shstrndx === C.SHN_XINDEX) shstrndx = c.u32(header.shoff + 40);
  c.need(header.shoff, count * C.ELF64_SHDR_SIZE, `section header table (${count} entries)`);

  const sections: ElfSection[] = [];
  for (let i = 0; i < count; i++) {
    const o = header.shoff + i * C.ELF64_SHDR_SIZE;
    const s: ElfSection = {
      index: i,
      name: '',
      type: c.u32(o + 4),
      flags: c.u64Loose(o + 8),
      addr: c.u64Loose(o + 16),
      offset: c.u64(o + 24, `section ${i} sh_offset`),
      size: c.u64(o + 32, `section ${i} sh_size`),
      link: c.u32(o + 40),
      info: c.u32(o + 44),
      addralign: c.u64Loose(o + 48),
      entsize: c.u64Loose(o + 56),
    };
    if (i > 0 && s.type !== C.SHT_NOBITS && s.type !== C.SHT_NULL) {
      c.need(s.offset, s.size, `section ${i} contents`);
    }
    sections.push(s);
  }
  if (count > 0) {
    const strtab = sections[shstrndx];
    if (strtab === undefined || strtab.type !== C.SHT_STRTAB) {
      throw new ElfError('elf/bad-section', `e_shstrndx ${shstrndx} is not a string table`, { file, offset: 62 });
    }
    for (let i = 0; i < count; i++) {
      const nameOff = c.u32(header.shoff + i * C.ELF64_SHDR_SIZE);
      const s = sections[i]!;
      if (i === 0 && nameOff === 0) continue;
      try {
        s.name = readCString(c.bytes, strtab, nameOff, file);
      } catch (e) {
        if (e instanceof ElfError) {
          throw new ElfError('elf/bad-string', `section ${i}: bad name offset ${nameOff}`, {
            file,
            offset: header.shoff + i * C.ELF64_SHDR_SIZE,
          });
        }
        throw e;
      }
    }
  }
  return sections;
}

function linkedStringTable(c: Cursor, sections: ElfSection[], s: ElfSection): ElfSection {
  const t = sections[s.link];
  if (t === undefined || t.type !== C.SHT_STRTAB) {
    throw new ElfError('elf/bad-section', `sh_link ${s.link} is not a string table`, {
      file: c.file,
      section: s.name,
    });
  }
  return t;
}

function readSymbols(c: Cursor, sections: ElfSection[], symtab: ElfSection): ElfSymbol[] {
  const strtab = linkedStringTable(c, sections, symtab);
  if (symtab.size % C.ELF64_SYM_SIZE !== 0) {
    throw new ElfError('elf/bad-symbol', `symbol table size ${symtab.size} is not a multiple of ${C.ELF64_SYM_SIZE}`, {
      file: c.file,
      section: symtab.name,
    });
  }
  const n = symtab.size / C.ELF64_SYM_SIZE;
  const symbols: ElfSymbol[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const o = symtab.offset + i * C.ELF64_SYM_SIZE;
    const info = c.u8(o + 4);
    const nameOff = c.u32(o);
    let name = '';
    if (nameOff !== 0) {
      try {
        name = readCString(c.bytes, strtab, nameOff, c.file);
      } catch (e) {
        if (e instanceof ElfError) {
          throw new ElfError('elf/bad-symbol', `symbol ${i}: bad name offset ${nameOff}`, {
            file: c.file,
            section: symtab.name,
            offset: o,
          });
        }
        throw e;
      }
    }
    symbols[i] = {
      index: i,
      name,
      type: info & 0xf,
      bind: info >> 4,
      visibility: c.u8(o + 5) & 3,
      sectionIndex: c.u16(o + 6),
      value: c.u64Loose(o + 8),
      size: c.u64Loose(o + 16),
    };
  }
  return symbols;
}

function readRelocations(
  c: Cursor,
  sections: ElfSection[],
  s: ElfSection,
  symbols: ElfSymbol[],
): ElfRelocationSection {
  const rela = s.type === C.SHT_RELA;
  const entSize = rela ? C.ELF64_RELA_SIZE : C.ELF64_REL_SIZE;
  const target = sections[s.info];
  if (target === undefined) {
    throw new ElfError('elf/bad-section', `sh_info ${s.info} names no section`, { file: c.file, section: s.name });
  }
  if (s.size % entSize !== 0) {
    throw new ElfError('elf/bad-section', `size ${s.size} is not a multiple of ${entSize}`, {
      file: c.file,
      section: s.name,
    });
  }
  const relocations: ElfRelocation[] = [];
  for (let i = 0; i < s.size / entSize; i++) {
    const o = s.offset + i * entSize;
    const offset = c.u64(o, 'r_offset');
    // r_info: symbol index in the high 32 bits, type in the low 32 bits (of the 64-bit value).
    const hi = c.le ? c.u32(o + 12) : c.u32(o + 8);
    const lo = c.le ? c.u32(o + 8) : c.u32(o + 12);
    if (hi >= symbols.length) {
      throw new ElfError('elf/bad-symbol', `relocation ${i} names symbol ${hi}, the table has ${symbols.length}`, {
        file: c.file,
        section: s.name,
        offset: o,
      });
    }
    if (target.type !== C.SHT_NOBITS && offset >= target.size) {
      throw new ElfError('elf/out-of-range', `relocation ${i} offset ${offset} is past the end of ${target.name}`, {
        file: c.file,
        section: s.name,
        offset: o,
      });
    }
    const r: ElfRelocation = { offset, type: lo, symbolIndex: hi };
    if (rela) r.addend = c.i64Loose(o + 16);
    relocations.push(r);
  }
  return { section: s, target, relocations };
}
