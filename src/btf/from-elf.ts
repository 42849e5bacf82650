/** Finding `.BTF` and `.BTF.ext` in a parsed ELF object. */
import type { ElfFile } from '../elf/index.js';
import type { Btf } from './btf.js';
import { BtfError } from './errors.js';
import { parseBtfExt, type BtfExt } from './ext.js';
import { parseBtf, type ParseBtfOptions } from './parse.js';

/** Parse the object's `.BTF` section, or return undefined when it has none. Errors name the file and section. */
export function btfFromElf(elf: ElfFile, options: ParseBtfOptions = {}): Btf | undefined {
  const section = elf.sectionByName('.BTF');
  if (!section) return undefined;
  return inSection(elf, '.BTF', () => parseBtf(elf.sectionBytes(section), options));
}

/** Runs `f`, re-throwing a BtfError with the file and section filled in. */
export function inSection<T>(elf: ElfFile, sectionName: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof BtfError && e.location.file === undefined) {
      throw e.withLocation({ file: elf.fileName, section: sectionName });
    }
    throw e;
  }
}

/** Parse the object's `.BTF.ext` (needs its `.BTF`), or undefined when it has none. */
export function btfExtFromElf(elf: ElfFile, btf: Btf): BtfExt | undefined {
  const section = elf.sectionByName('.BTF.ext');
  if (!section) return undefined;
  return inSection(elf, '.BTF.ext', () => parseBtfExt(elf.sectionBytes(section), btf));
}
