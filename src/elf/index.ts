export * from './constants.js';
export { ElfError } from './errors.js';
export {
  ElfFile,
  parseElf,
  type ElfHeader,
  type ElfSection,
  type ElfSymbol,
  type ElfRelocation,
  type ElfRelocationSection,
  type ParseElfOptions,
} from './reader.js';
