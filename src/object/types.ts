import type { Btf, BtfExt, LineInfo } from '../btf/index.js';
import { TsbpfError, type ErrorLocation } from '../errors.js';
import type { Instruction } from '../isa/instruction.js';
import type { MapSpec } from '../maps/spec.js';
import type { SectionDef } from '../progtypes/sections.js';

/**
 * The object model (libbpf's bpf_object, aya-obj's Object): what an ELF file declares, resolved and
 * linked, with no syscalls. The userspace runtime and the Linux backend both load from it.
 */

export class ObjectError extends TsbpfError {
  override name = 'ObjectError';
  constructor(code: string, message: string, location: ErrorLocation = {}) {
    super(`object/${code}`, message, location);
  }
}

export type MapOrigin = 'btf' | 'legacy' | 'data' | 'rodata' | 'bss' | 'kconfig';

export interface ObjectMap extends MapSpec {
  origin: MapOrigin;
  /** ELF section the map was declared in (`.maps`, `maps`, `.data` ...). */
  section: string;
  /** For global data: the variables in the section (name, offset, size), from symbols or BTF. */
  variables?: { name: string; offset: number; size: number }[];
  /**
   * Initial contents by slot from a BTF `values` initialiser (or iproute2's inner_idx): inner maps
   * of a map-in-map, or programs of a prog_array, by name.
   */
  innerSlots?: { index: number; map: string }[];
  /** Where the map is pinned in bpffs (set with editMap): reused when it exists, else pinned there. */
  pinPath?: string;
}

/** A reference from an instruction to a map, patched with a real map id/fd at load. */
export interface MapReference {
  /** Slot of the LD_IMM64 in the linked program. */
  insn: number;
  map: string;
  /** `fd`: the map itself (MAP_FD); `value`: an address inside its first value (MAP_VALUE). */
  kind: 'fd' | 'value';
  /** Byte offset for `value` references. */
  offset: number;
}

/**
 * What a `.kconfig` extern holds, from its BTF type (libbpf's kcfg types): `bool`, `enum
 * libbpf_tristate` (0 n, 1 y, 2 m), `char` ('y'/'m'/'n' or a number), integers, char arrays (strings).
 */
export type KconfigType = 'bool' | 'tristate' | 'char' | 'int' | 'uint' | 'string';

/**
 * An extern the object declares (libbpf's `struct extern_desc`): `__kconfig` variables, which live
 * in the `.kconfig` map; `__ksym` variables (typed: a BTF type, or typeless: `const void`) and kfuncs,
 * which name kernel symbols. Weak ones the kernel lacks read as 0.
 */
export type ObjectExtern =
  | { kind: 'kconfig'; name: string; weak: boolean; type: KconfigType; offset: number; size: number }
  | { kind: 'ksym'; name: string; weak: boolean; typed: boolean; btfId: number }
  | { kind: 'kfunc'; name: string; weak: boolean; btfId: number };

/** An instruction naming a `__ksym` extern: an lddw of its address, or a call of the kfunc. */
export interface ExternReference {
  insn: number;
  extern: string;
  kind: 'address' | 'call';
}

export interface ObjectProgram {
  /** The entry function's name (what `--prog` selects). */
  name: string;
  section: string;
  /** Program type name (`xdp` ...), undefined when the section name says nothing libbpf knows. */
  type?: string;
  sectionDef?: SectionDef;
  /** What follows `type/` in the section name: tracepoint, function, interface ... */
  attachTarget?: string;
  /** The entry function followed by every subprogram it calls, calls and callbacks relinked. */
  insns: Instruction[];
  mapRefs: MapReference[];
  /** Instructions naming `__ksym` externs and kfuncs, which each backend resolves (`.kconfig` ones are map references). */
  externRefs?: ExternReference[];
  /**
   * Where each linked function starts (the entry at 0). `hidden` (`__hidden`, STV_HIDDEN) functions
   * are verified with their callers, as libbpf makes them static, not on their own as global ones.
   */
  functions: { name: string; start: number; length: number; hidden?: boolean }[];
  /** line_info by linked instruction index. */
  lineInfo: Map<number, LineInfo>;
  /** CO-RE relocations applied (and how many were poisoned). */
  coreRelocations: { applied: number; poisoned: number };
  /** Why the program could not be linked (then `insns` is empty); loading it throws this. */
  error?: ObjectError;
}

export interface BpfObject {
  fileName?: string;
  license: string;
  kernelVersion?: number;
  littleEndian: boolean;
  btf?: Btf;
  /** The .BTF section as found (what a loader hands the kernel). */
  btfRaw?: Uint8Array;
  btfExt?: BtfExt;
  maps: ObjectMap[];
  programs: ObjectProgram[];
  /** `__kconfig` and `__ksym` externs (the `.kconfig` ones are laid out in the `.kconfig` map). */
  externs?: ObjectExtern[];
  /** What the loader skipped and went on without (a .BTF it cannot parse ...), as libbpf warns. */
  warnings?: string[];
}
