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
export interface RelocationContext {
  /** Map by id (MAP_FD, MAP_VALUE). */
  mapById(id: number): BpfMap | undefined;
  /** BPF_PROG_LOAD's fd_array (MAP_IDX, MAP_IDX_VALUE). */
  fdArray?: readonly BpfMap[];
  /** For errors. */
  program: string;
}

export class RelocationError extends TsbpfError {
  override name = 'RelocationError';
  constructor(program: string, insn: number, message: string) {
    super('load/relocation', `program ${program}: ${message}`, { insn });
  }
}

/** The maps a program uses, in first-use order, and its relocated instructions. */
export interface RelocatedProgram {
  insns: Instruction[];
  maps: BpfMap[];
}

export function relocateProgram(insns: readonly Instruction[], ctx: RelocationContext): RelocatedProgram {
  const out = insns.map((i) => ({ ...i }));
  const used = new Set<BpfMap>();
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
    const mapFor = (fromIndex: boolean): BpfMap => {
      const map = fromIndex ? ctx.fdArray?.[insn.imm] : ctx.mapById(insn.imm);
      if (!map) {
        throw new RelocationError(ctx.program, i, fromIndex ? `fd_array has no map at index ${insn.imm}` : `no map with id ${insn.imm}`);
      }
      used.add(map);
      return map;
    };
    switch (pseudo) {
      case PseudoLdImm64.IMM:
        break;
      case PseudoLdImm64.MAP_FD:
      case PseudoLdImm64.MAP_IDX:
        set(mapFor(pseudo === PseudoLdImm64.MAP_IDX).handle);
        break;
      case PseudoLdImm64.MAP_VALUE:
      case PseudoLdImm64.MAP_IDX_VALUE: {
        const map = mapFor(pseudo === PseudoLdImm64.MAP_IDX_VALUE);
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
  return { insns: out, maps: [...used] };
}
