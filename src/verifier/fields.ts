import { classify, type Instruction, type Op } from '../isa/instruction.js';
import { AluOp, InsnClass, JmpOp, Mode, PseudoCall, Size, Source, insnClass, modeOf, opOf, sizeOf, sourceOf } from '../isa/opcodes.js';

/**
 * Reserved fields the kernel checks only when do_check reaches the instruction (so an instruction
 * in code it proves dead may use them), with the kernel's line for each kind. Unknown opcodes,
 * LDX fields and LD_IMM64's second slot stay static checks (resolve_pseudo_ldimm64), as in the kernel.
 */

const ALU_NAMES_UP_TO_END = new Set<number>(Object.values(AluOp));

/** The kernel's line when `insn` uses a field its do_check-time check reserves, else undefined. */
export function reservedFieldsLine(insn: Instruction): string | undefined {
  const { code, dst, src, off, imm } = insn;
  const cls = insnClass(code);
  const useReg = sourceOf(code) === Source.X;
  const op = opOf(code);
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64: {
      const is64 = cls === InsnClass.ALU64;
      if (op === AluOp.END) {
        return src || off || (imm !== 16 && imm !== 32 && imm !== 64) || (is64 && useReg) ? 'BPF_END uses reserved fields' : undefined;
      }
      if (op === AluOp.NEG) return useReg || src || off || imm ? 'BPF_NEG uses reserved fields' : undefined;
      if (op === AluOp.MOV) {
        if (!useReg) return src || off ? 'BPF_MOV uses reserved fields' : undefined;
        if (is64 && off === 1) return imm !== 1 && imm !== 1 << 16 ? 'addr_space_cast insn can only convert between address space 1 and 0' : undefined;
        const signExtends = off === 8 || off === 16 || (is64 && off === 32);
        return (off && !signExtends) || imm ? 'BPF_MOV uses reserved fields' : undefined;
      }
      const badOff = (off !== 0 && off !== 1) || (off === 1 && op !== AluOp.DIV && op !== AluOp.MOD);
      return (useReg ? imm !== 0 : src !== 0) || badOff ? 'BPF_ALU uses reserved fields' : undefined;
    }
    case InsnClass.JMP:
    case InsnClass.JMP32: {
      const is32 = cls === InsnClass.JMP32;
      if (op === JmpOp.CALL) {
        const knownSrc = src === PseudoCall.HELPER || src === PseudoCall.LOCAL || src === PseudoCall.KFUNC;
        return useReg || (src !== PseudoCall.KFUNC && off) || !knownSrc || dst || is32 ? 'BPF_CALL uses reserved fields' : undefined;
      }
      if (op === JmpOp.JA) return useReg || src || dst || (is32 ? off : imm) ? 'BPF_JA uses reserved fields' : undefined;
      // The kernel does not look at an exit's offset.
      if (op === JmpOp.EXIT) return useReg || imm || src || dst || is32 ? 'BPF_EXIT uses reserved fields' : undefined;
      if (op === JmpOp.JCOND) return undefined;
      return (useReg ? imm !== 0 : src !== 0) ? 'BPF_JMP/JMP32 uses reserved fields' : undefined;
    }
    case InsnClass.ST:
      return modeOf(code) === Mode.MEM && src ? 'BPF_ST uses reserved fields' : undefined;
    case InsnClass.STX:
      return modeOf(code) === Mode.MEM && imm ? 'BPF_STX uses reserved fields' : undefined;
    case InsnClass.LD: {
      const mode = modeOf(code);
      if (mode === Mode.IMM) return off ? 'BPF_LD_IMM64 uses reserved fields' : undefined;
      if (mode === Mode.ABS || mode === Mode.IND) return dst || off || (mode === Mode.ABS && src) ? 'BPF_LD_[ABS|IND] uses reserved fields' : undefined;
      return undefined;
    }
    default:
      return undefined;
  }
}

/** `insn` with the fields the kernel checks at visit time (or never) cleared, or undefined when none apply. */
function withoutVisitTimeFields(insn: Instruction): Instruction | undefined {
  const { code, src, off, imm } = insn;
  const cls = insnClass(code);
  const useReg = sourceOf(code) === Source.X;
  const op = opOf(code);
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64: {
      const is64 = cls === InsnClass.ALU64;
      if (!ALU_NAMES_UP_TO_END.has(op)) return undefined;
      if (op === AluOp.END) return is64 && useReg ? undefined : { ...insn, src: 0, off: 0, imm: imm === 16 || imm === 32 ? imm : 64 };
      if (op === AluOp.NEG) return useReg ? undefined : { ...insn, src: 0, off: 0, imm: 0 };
      if (op === AluOp.MOV && useReg) {
        if (is64 && off === 1) return { ...insn, imm: 1 };
        const signExtends = off === 8 || off === 16 || (is64 && off === 32);
        return { ...insn, off: signExtends ? off : 0, imm: 0 };
      }
      const keepOff = off === 1 && (op === AluOp.DIV || op === AluOp.MOD) ? 1 : 0;
      return useReg ? { ...insn, off: keepOff, imm: 0 } : { ...insn, src: 0, off: keepOff };
    }
    case InsnClass.JMP:
    case InsnClass.JMP32: {
      const is32 = cls === InsnClass.JMP32;
      if (op === JmpOp.CALL) {
        if (is32 || useReg) return undefined;
        const target = src === PseudoCall.LOCAL || src === PseudoCall.KFUNC ? src : PseudoCall.HELPER;
        // A kfunc's offset names its BTF: the call is a kfunc call whatever it holds.
        return { ...insn, dst: 0, src: target, off: 0 };
      }
      if (op === JmpOp.JA) return useReg ? undefined : { ...insn, dst: 0, src: 0, ...(is32 ? { off: 0 } : { imm: 0 }) };
      if (op === JmpOp.EXIT) return is32 || useReg ? undefined : { code, dst: 0, src: 0, off: 0, imm: 0 };
      if (op === JmpOp.JCOND) return undefined;
      return useReg ? { ...insn, imm: 0 } : { ...insn, src: 0 };
    }
    case InsnClass.ST:
      return modeOf(code) === Mode.MEM ? { ...insn, src: 0 } : undefined;
    case InsnClass.STX:
      return modeOf(code) === Mode.MEM ? { ...insn, imm: 0 } : undefined;
    case InsnClass.LD: {
      const mode = modeOf(code);
      if (mode === Mode.IMM) return { ...insn, off: 0 };
      if ((mode === Mode.ABS || mode === Mode.IND) && sizeOf(code) !== Size.DW) return { ...insn, dst: 0, off: 0, ...(mode === Mode.ABS ? { src: 0 } : {}) };
      return undefined;
    }
    default:
      return undefined;
  }
}

/** `classify`, whose errors become verdicts here: they are made without a stack, which costs more than checking a small program. */
export function classifyWithoutStack(insn: Instruction, at: number, next: Instruction | undefined): Op {
  const stackLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return classify(insn, at, next);
  } finally {
    Error.stackTraceLimit = stackLimit;
  }
}

/**
 * Decode an instruction `classify` refuses for its fields alone, as the kernel's static passes see it:
 * the operation its opcode names, and the line do_check gives when it reaches it (none when the
 * kernel never checks the field). Undefined when the refusal is one the kernel also makes up front.
 */
export function decodeCheckedAtVisit(insns: readonly Instruction[], at: number): { op: Op; error?: string } | undefined {
  const insn = insns[at]!;
  const cleared = withoutVisitTimeFields(insn);
  if (!cleared) return undefined;
  let op: Op;
  try {
    op = classifyWithoutStack(cleared, at, insns[at + 1]);
  } catch {
    return undefined;
  }
  const error = reservedFieldsLine(insn);
  return error === undefined ? { op } : { op, error };
}
