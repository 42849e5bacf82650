import { TsbpfError } from '../errors.js';
import { classify, isLdImm64, type Instruction } from '../isa/instruction.js';
import { PseudoLdImm64 } from '../isa/opcodes.js';
import { ArrayMap } from '../maps/array.js';
import type { BpfMap } from '../maps/map.js';

/**
 * Resolve LD_IMM64 pseudo sources the way the kernel does at load time, so engines only ever see
 * plain 64-bit immediates:
 * - MAP_FD / MAP_IDX: the map's handle address (what helpers take as a map argument);
 * - MAP_VALUE / MAP_IDX_VALUE: the address of byte `offset` of the array map's first value (global data);
 * - FUNC: the absolute instruction index of the callback (what the engines' invoke() takes).
 * "fd" in the userspace runtime means map id.
 */
export interface RelocationContext extends MapLookup {
  /** For errors. */
  program: string;
}

/** Where a program's map references point. */
export interface MapLookup {
  /** Map by id (MAP_FD, MAP_VALUE). */
  mapById(id: number): BpfMap | undefined;
  /** BPF_PROG_LOAD's fd_array (MAP_IDX, MAP_IDX_VALUE). */
  fdArray?: readonly BpfMap[];
}

export class RelocationError extends TsbpfError {
  override name = 'RelocationError';
  constructor(program: string, insn: number, message: string) {
    super('load/relocation', `program ${program}: ${message}`, { insn });
  }
}

/** Whether an LD_IMM64 with pseudo source `pseudo` names a map (by id or fd_array index). */
export const isMapReference = (pseudo: number): boolean =>
  pseudo === PseudoLdImm64.MAP_FD || pseudo === PseudoLdImm64.MAP_IDX || pseudo === PseudoLdImm64.MAP_VALUE || pseudo === PseudoLdImm64.MAP_IDX_VALUE;
/** Whether such a reference is to the map's first value (global data) rather than the map. */
export const isValueReference = (pseudo: number): boolean => pseudo === PseudoLdImm64.MAP_VALUE || pseudo === PseudoLdImm64.MAP_IDX_VALUE;
const isIndexReference = (pseudo: number): boolean => pseudo === PseudoLdImm64.MAP_IDX || pseudo === PseudoLdImm64.MAP_IDX_VALUE;

/** The map a map-referencing LD_IMM64 names, or undefined when there is none by that id or index. */
export function lookupMap(maps: MapLookup, insn: Instruction): BpfMap | undefined {
  return isIndexReference(insn.src) ? maps.fdArray?.[insn.imm] : maps.mapById(insn.imm);
}

function referencedMap(ctx: RelocationContext, insn: Instruction, at: number): BpfMap {
  const map = lookupMap(ctx, insn);
  if (!map) throw new RelocationError(ctx.program, at, isIndexReference(insn.src) ? `fd_array has no map at index ${insn.imm}` : `no map with id ${insn.imm}`);
  return map;
}

/**
 * The maps a program holds (the kernel's used_maps, listed by bpf_prog_info.map_ids): every map an
 * LD_IMM64 names, in first-use order. The kernel binds them before verification, so a map named only
 * in dead code stays bound after the code is gone; pass the program as loaded, not as sanitized.
 */
export function usedMaps(insns: readonly Instruction[], ctx: RelocationContext): BpfMap[] {
  const used = new Set<BpfMap>();
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    if (!isLdImm64(insn)) continue;
    if (isMapReference(insn.src)) used.add(referencedMap(ctx, insn, i));
    i++;
  }
  return [...used];
}

/** The program with every LD_IMM64 resolved to a plain immediate. */
export function relocateProgram(insns: readonly Instruction[], ctx: RelocationContext): Instruction[] {
  const out = insns.map((i) => ({ ...i }));
  for (let i = 0; i < out.length; i++) {
    const insn = out[i]!;
    if (!isLdImm64(insn)) continue;
    const second = out[i + 1];
    if (second === undefined) throw new RelocationError(ctx.program, i, 'lddw is missing its second slot');
    classify(insn, i, second);
    const pseudo = insn.src;
    const set = (value: number): void => {
      insn.src = 0;
      insn.imm = value | 0;
      second.imm = Math.floor(value / 2 ** 32) | 0;
    };
    switch (pseudo) {
      case PseudoLdImm64.IMM:
        break;
      case PseudoLdImm64.MAP_FD:
      case PseudoLdImm64.MAP_IDX:
        set(referencedMap(ctx, insn, i).handle);
        break;
      case PseudoLdImm64.MAP_VALUE:
      case PseudoLdImm64.MAP_IDX_VALUE: {
        const map = referencedMap(ctx, insn, i);
        const offset = second.imm >>> 0;
        if (!(map instanceof ArrayMap) || map.perCpu) {
          throw new RelocationError(ctx.program, i, `map ${map.name} is not an array map, so its value has no fixed address`);
        }
        if (offset >= map.spec.valueSize) {
          throw new RelocationError(ctx.program, i, `offset ${offset} is outside the ${map.spec.valueSize}-byte value of map ${map.name}`);
        }
        set(map.valueAddress(0) + offset);
        break;
      }
      case PseudoLdImm64.FUNC: {
        const target = i + 1 + insn.imm;
        if (target < 0 || target >= out.length) throw new RelocationError(ctx.program, i, `callback target ${target} is outside the program`);
        set(target);
        break;
      }
      case PseudoLdImm64.BTF_ID:
        throw new RelocationError(ctx.program, i, 'kernel symbols (ksym, BTF ids) do not exist in the userspace runtime');
      default:
        throw new RelocationError(ctx.program, i, `unknown lddw pseudo source ${pseudo}`);
    }
    i++;
  }
  return out;
}
