export { Btf, VOID_TYPE } from './btf.js';
export { BtfError, type BtfErrorLocation } from './errors.js';
export { parseBtf, BTF_MAGIC, type ParseBtfOptions } from './parse.js';
export * from './types.js';
export { dumpBtfRaw, dumpBtfTypeRaw } from './dump-raw.js';
export { dumpBtfC } from './dump-c.js';
export {
  parseBtfExt,
  CoreReloKind,
  CORE_RELO_KIND_NAMES,
  type BtfExt,
  type BtfExtSection,
  type CoreRelo,
  type FuncInfo,
  type LineInfo,
} from './ext.js';
export { btfFromElf, btfExtFromElf } from './from-elf.js';
export { essentialName, fieldsCompatible, typesCompatible, typesMatch } from './core-compat.js';
export { parseCoreSpec, matchCoreSpec, type CoreSpec, type CoreAccessor } from './core-spec.js';
export {
  relocateCore,
  relocateCoreOne,
  findCandidates,
  type CoreRelocationResult,
  type RelocateCoreOptions,
} from './core.js';
export { applyCoreRelocation, CORE_POISON_HELPER, type PatchOutcome } from './core-patch.js';
