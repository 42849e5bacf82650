import { TsbpfError } from '../errors.js';
import type { Instruction } from '../isa/instruction.js';
import { isLdImm64 } from '../isa/instruction.js';
import { InsnClass, JmpOp } from '../isa/opcodes.js';
import type { BpfMap } from '../maps/map.js';
import { verify, type FunctionInfo, type GlobalFunction, type VerifierMapRef, type VerifierProgram, type VerifierResult } from '../verifier/index.js';
import { isMapReference, isValueReference, lookupMap, type MapLookup } from './relocate.js';

/**
 * BPF_PROG_LOAD's verification step for the userspace runtime: the program as user space hands it
 * over (LD_IMM64 map references holding map ids, before relocation) goes through the verifier with
 * the maps those ids name. A rejection is a VerifierRejectedError carrying the kernel-style error
 * line, the plain-words explanation and the log.
 */
export class VerifierRejectedError extends TsbpfError {
  override name = 'VerifierRejectedError';
  readonly result: VerifierResult;
  constructor(program: string, result: VerifierResult) {
    const error = result.error;
    super('load/verifier', `program ${program} rejected by the verifier: ${error?.message ?? 'rejected'}${error?.explanation ? `\n${error.explanation}` : ''}`, error ? { insn: error.insn } : {});
    this.result = result;
  }
}

export interface VerifyForLoadOptions extends MapLookup {
  name: string;
  type: string | number;
  lineInfo?: ReadonlyMap<number, { fileName?: string; line?: string; lineNumber?: number; column?: number }>;
  /** The section's attach type (some return ranges depend on it). */
  attachType?: string;
  /** Global (BTF_FUNC_GLOBAL) subprograms, verified on their own as the kernel does. */
  globalFunctions?: readonly GlobalFunction[];
  /** BTF func_info the program is loaded with (what LD_ABS and tail calls in subprograms are checked against). */
  funcInfo?: readonly FunctionInfo[];
  unprivileged?: boolean;
  /**
   * 0: the verdict alone; 1: the kernel-style level-1 log too. By default the program is verified
   * at level 0 and, only when refused, again at level 1 for the log (the verdict is the same at
   * every level, and formatting costs on large programs).
   */
  logLevel?: 0 | 1;
}

export function verifyForLoad(insns: readonly Instruction[], options: VerifyForLoadOptions): VerifierResult {
  const maps: BpfMap[] = [];
  const index = new Map<BpfMap, number>();
  const refs: VerifierMapRef[] = [];
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    if (!isLdImm64(insn)) continue;
    if (isMapReference(insn.src)) {
      const map = lookupMap(options, insn);
      // An unknown id is left to relocation, which names it; the verifier would only say "fd".
      if (map) {
        if (!index.has(map)) {
          index.set(map, maps.length);
          maps.push(map);
        }
        const value = isValueReference(insn.src);
        refs.push({ insn: i, map: index.get(map)!, kind: value ? 'value' : 'fd', offset: value ? insns[i + 1]!.imm >>> 0 : 0 });
      }
    }
    i++;
  }
  const program: VerifierProgram = {
    insns: insns.map((i) => ({ ...i })),
    type: options.type,
    maps: maps.map((m) => m.spec),
    mapRefs: refs,
    name: options.name,
    ...(options.lineInfo ? { lineInfo: options.lineInfo } : {}),
    ...(options.attachType ? { attachType: options.attachType } : {}),
    ...(options.globalFunctions?.length ? { globalFunctions: options.globalFunctions } : {}),
    ...(options.funcInfo ? { funcInfo: options.funcInfo } : {}),
  };
  const mode = options.unprivileged ? 'unpriv' : 'priv';
  if (options.logLevel !== undefined) return verify(program, { mode, logLevel: options.logLevel });
  const quick = verify(program, { mode, logLevel: 0 });
  return quick.verdict === 'accept' ? quick : verify(program, { mode, logLevel: 1 });
}

/** `ja -1`: jumps to itself; what the kernel writes over dead code. */
const DEAD_CODE_FILLER: Instruction = { code: InsnClass.JMP | JmpOp.JA, dst: 0, src: 0, off: -1, imm: 0 };
const EXIT_CODE = InsnClass.JMP | JmpOp.EXIT;

/**
 * The program as the kernel runs it after verification: every instruction no explored path reached
 * becomes `ja -1` (sanitize_dead_code; the kernel never checked it, so it may be anything), and
 * the field the kernel ignores on reached instructions (EXIT's off) is cleared. The engines check
 * every instruction they load, so without this they would refuse what the verifier accepted.
 */
export function loadableInstructions(insns: readonly Instruction[], accepted: VerifierResult): Instruction[] {
  const out = insns.map((insn) => (insn.code === EXIT_CODE && insn.off !== 0 ? { ...insn, off: 0 } : insn));
  for (const at of accepted.deadInsns ?? []) out[at] = { ...DEAD_CODE_FILLER };
  return out;
}
