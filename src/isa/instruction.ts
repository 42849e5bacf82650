import { TsbpfError, type ErrorLocation } from '../errors.js';
import {
  ALU_NAMES, ATOMIC_NAMES, AluOp, AtomicOp, JMP_CONDS, JmpOp, InsnClass, Mode, PseudoCall, PseudoLdImm64,
  SIZE_BYTES, Size, Source, insnClass, modeOf, opOf, sizeOf, sourceOf,
  type AluName, type AtomicName, type JmpCond,
} from './opcodes.js';

/**
 * One 8-byte instruction slot, fields as the kernel's `struct bpf_insn`. An LD_IMM64 takes two slots:
 * the second has code 0 and carries the upper 32 bits in `imm`. Programs are arrays of slots so that
 * indexes and jump offsets mean what they mean to the kernel and to llvm-objdump.
 */
export interface Instruction {
  /** Opcode byte, 0..255. */
  code: number;
  /** Destination register, 0..15 as encoded (valid: 0..10). */
  dst: number;
  /** Source register or pseudo source, 0..15. */
  src: number;
  /** Signed 16-bit offset. */
  off: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

export class InvalidInstructionError extends TsbpfError {
  override name = 'InvalidInstructionError';
  readonly index: number;
  constructor(index: number, reason: string, location: ErrorLocation = {}) {
    super('isa/invalid-instruction', `invalid instruction: ${reason}`, { ...location, insn: index });
    this.index = index;
  }
}

export type Width = 1 | 2 | 4 | 8;

/** What an instruction does, resolved from its opcode and the sub-op fields (off, imm, src). */
export type Op =
  | { kind: 'alu'; name: AluName; is64: boolean; useReg: boolean }
  | { kind: 'jcond'; cond: JmpCond; is32: boolean; useReg: boolean }
  | { kind: 'ja'; wide: boolean }
  | { kind: 'may_goto' }
  | { kind: 'call'; target: 'helper' | 'local' | 'kfunc' }
  | { kind: 'callx' }
  | { kind: 'exit' }
  | { kind: 'ld_imm64'; pseudo: number }
  | { kind: 'ld_abs' | 'ld_ind'; width: Width }
  | { kind: 'ldx'; width: Width; signed: boolean }
  | { kind: 'st'; width: Width }
  | { kind: 'stx'; width: Width }
  | { kind: 'atomic'; width: Width; op: AtomicName; fetch: boolean };

const MAX_REG = 10;

/** Every valid `imm` of an atomic instruction. */
interface AtomicForm { op: AtomicName; fetch: boolean }
const ATOMIC_FORMS: ReadonlyMap<number, AtomicForm> = new Map<number, AtomicForm>([
  ...[AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR].flatMap((base): [number, AtomicForm][] => [
    [base, { op: ATOMIC_NAMES[base]!, fetch: false }],
    [base | AtomicOp.FETCH, { op: ATOMIC_NAMES[base]!, fetch: true }],
  ]),
  [AtomicOp.XCHG, { op: 'xchg', fetch: true }],
  [AtomicOp.CMPXCHG, { op: 'cmpxchg', fetch: true }],
  [AtomicOp.LOAD_ACQ, { op: 'load_acq', fetch: false }],
  [AtomicOp.STORE_REL, { op: 'store_rel', fetch: false }],
]);

/** Sign-extend a 16-bit field. */
export const s16 = (v: number): number => (v << 16) >> 16;

/** Module-level, not a closure per call: classify runs once per instruction of every program loaded. */
function invalid(insn: Instruction, index: number, reason: string): never {
  throw new InvalidInstructionError(index, `${reason} (opcode 0x${insn.code.toString(16).padStart(2, '0')})`);
}

/**
 * Resolve and validate one instruction. Unused fields must be zero (RFC 9669 §3); registers must exist.
 * `next` is the following slot, needed for LD_IMM64.
 */
export function classify(insn: Instruction, index = 0, next?: Instruction): Op {
  const { code, dst, src, off, imm } = insn;
  if (dst > MAX_REG) invalid(insn, index, `invalid destination register r${dst}`);
  const cls = insnClass(code);
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64: {
      const is64 = cls === InsnClass.ALU64;
      const useReg = sourceOf(code) === Source.X;
      const op = opOf(code);
      if (op === AluOp.END) {
        if (src !== 0 || off !== 0) invalid(insn, index, 'byte swap with nonzero src or offset');
        if (imm !== 16 && imm !== 32 && imm !== 64) invalid(insn, index, `byte swap width ${imm} (must be 16, 32 or 64)`);
        if (is64 && useReg) invalid(insn, index, 'unknown opcode');
        const name: AluName = is64 ? 'bswap' : useReg ? 'be' : 'le';
        return { kind: 'alu', name, is64, useReg: false };
      }
      let name = ALU_NAMES[op];
      if (name === undefined) return invalid(insn, index, 'unknown ALU operation');
      if (op === AluOp.NEG) {
        if (useReg) invalid(insn, index, 'neg with register source');
        if (src !== 0 || off !== 0 || imm !== 0) invalid(insn, index, 'neg with nonzero src, offset or immediate');
        return { kind: 'alu', name, is64, useReg: false };
      }
      if (useReg) {
        if (src > MAX_REG) invalid(insn, index, `invalid source register r${src}`);
        // addr_space_cast (mov64 with off 1) carries its address spaces in imm: 1 or 1 << 16, as the kernel checks.
        const spaceCast = op === AluOp.MOV && is64 && off === 1;
        if (spaceCast ? imm !== 1 && imm !== 1 << 16 : imm !== 0) invalid(insn, index, 'register-source ALU with nonzero immediate');
      } else if (src !== 0) invalid(insn, index, 'immediate-source ALU with nonzero src');
      if (off !== 0) {
        if ((op === AluOp.DIV || op === AluOp.MOD) && off === 1) name = op === AluOp.DIV ? 'sdiv' : 'smod';
        else if (op === AluOp.MOV && useReg && (off === 8 || off === 16 || (off === 32 && is64))) name = 'movsx';
        else if (op === AluOp.MOV && useReg && is64 && off === 1) name = 'addr_space_cast';
        else invalid(insn, index, `ALU with nonzero offset ${off}`);
      }
      return { kind: 'alu', name, is64, useReg };
    }
    case InsnClass.JMP:
    case InsnClass.JMP32: {
      const is32 = cls === InsnClass.JMP32;
      const useReg = sourceOf(code) === Source.X;
      const op = opOf(code);
      switch (op) {
        case JmpOp.JA:
          if (useReg || dst !== 0 || src !== 0) invalid(insn, index, 'ja with nonzero register fields');
          if (is32 ? off !== 0 : imm !== 0) invalid(insn, index, is32 ? 'gotol with nonzero offset' : 'ja with nonzero immediate');
          return { kind: 'ja', wide: is32 };
        case JmpOp.CALL:
          if (is32) invalid(insn, index, 'call in JMP32 class');
          if (useReg) {
            // callx: target register in dst (LLVM's encoding).
            if (src !== 0 || off !== 0 || imm !== 0) invalid(insn, index, 'callx with nonzero src, offset or immediate');
            return { kind: 'callx' };
          }
          if (dst !== 0 || off !== 0) invalid(insn, index, 'call with nonzero dst or offset');
          if (src === PseudoCall.HELPER) return { kind: 'call', target: 'helper' };
          if (src === PseudoCall.LOCAL) return { kind: 'call', target: 'local' };
          if (src === PseudoCall.KFUNC) return { kind: 'call', target: 'kfunc' };
          return invalid(insn, index, `call with unknown src ${src}`);
        case JmpOp.EXIT:
          if (is32 || useReg) invalid(insn, index, 'unknown opcode');
          if (dst !== 0 || src !== 0 || off !== 0 || imm !== 0) invalid(insn, index, 'exit with nonzero fields');
          return { kind: 'exit' };
        case JmpOp.JCOND:
          if (is32 || useReg || dst !== 0 || src !== 0 || imm !== 0) invalid(insn, index, 'unknown JCOND form');
          return { kind: 'may_goto' };
        default: {
          const cond = JMP_CONDS[op];
          if (cond === undefined) return invalid(insn, index, 'unknown jump operation');
          if (useReg) {
            if (src > MAX_REG) invalid(insn, index, `invalid source register r${src}`);
            if (imm !== 0) invalid(insn, index, 'register-source jump with nonzero immediate');
          } else if (src !== 0) invalid(insn, index, 'immediate-source jump with nonzero src');
          return { kind: 'jcond', cond, is32, useReg };
        }
      }
    }
    case InsnClass.LD: {
      const mode = modeOf(code);
      const size = sizeOf(code);
      if (mode === Mode.IMM) {
        if (size !== Size.DW) invalid(insn, index, 'LD IMM with size other than DW');
        if (off !== 0) invalid(insn, index, 'lddw with nonzero offset');
        if (src > PseudoLdImm64.MAP_IDX_VALUE) invalid(insn, index, `lddw with unknown pseudo source ${src}`);
        if (next === undefined) invalid(insn, index, 'lddw is missing its second slot');
        else if (next.code !== 0 || next.dst !== 0 || next.src !== 0 || next.off !== 0) {
          invalid(insn, index, 'lddw second slot has nonzero code, registers or offset');
        }
        return { kind: 'ld_imm64', pseudo: src };
      }
      if (mode === Mode.ABS || mode === Mode.IND) {
        if (size === Size.DW) invalid(insn, index, 'packet load with size DW');
        if (dst !== 0 || off !== 0) invalid(insn, index, 'packet load with nonzero dst or offset');
        if (mode === Mode.ABS && src !== 0) invalid(insn, index, 'LD_ABS with nonzero src');
        if (mode === Mode.IND && src > MAX_REG) invalid(insn, index, `invalid source register r${src}`);
        return { kind: mode === Mode.ABS ? 'ld_abs' : 'ld_ind', width: SIZE_BYTES[size]! };
      }
      return invalid(insn, index, 'unknown LD mode');
    }
    case InsnClass.LDX: {
      const mode = modeOf(code);
      const size = sizeOf(code);
      if (src > MAX_REG) invalid(insn, index, `invalid source register r${src}`);
      if (imm !== 0) invalid(insn, index, 'load with nonzero immediate');
      if (mode === Mode.MEM) return { kind: 'ldx', width: SIZE_BYTES[size]!, signed: false };
      if (mode === Mode.MEMSX && size !== Size.DW) return { kind: 'ldx', width: SIZE_BYTES[size]!, signed: true };
      return invalid(insn, index, 'unknown LDX mode');
    }
    case InsnClass.ST: {
      if (modeOf(code) !== Mode.MEM) invalid(insn, index, 'unknown ST mode');
      if (src !== 0) invalid(insn, index, 'store immediate with nonzero src');
      return { kind: 'st', width: SIZE_BYTES[sizeOf(code)]! };
    }
    case InsnClass.STX: {
      const mode = modeOf(code);
      const width = SIZE_BYTES[sizeOf(code)]!;
      if (src > MAX_REG) invalid(insn, index, `invalid source register r${src}`);
      if (mode === Mode.MEM) {
        if (imm !== 0) invalid(insn, index, 'store with nonzero immediate');
        return { kind: 'stx', width };
      }
      if (mode === Mode.ATOMIC) {
        const atomic = ATOMIC_FORMS.get(imm);
        if (atomic === undefined) return invalid(insn, index, `unknown atomic operation 0x${(imm >>> 0).toString(16)}`);
        const ordered = atomic.op === 'load_acq' || atomic.op === 'store_rel';
        if (!ordered && width !== 4 && width !== 8) invalid(insn, index, 'atomic with size other than W or DW');
        return { kind: 'atomic', width, op: atomic.op, fetch: atomic.fetch };
      }
      return invalid(insn, index, 'unknown STX mode');
    }
  }
}

/** True when this slot starts a two-slot LD_IMM64. */
export const isLdImm64 = (insn: Instruction): boolean => insn.code === (InsnClass.LD | Mode.IMM | Size.DW);

/** Decode little- or big-endian bytecode into slots. Validation (classify) is separate: see `validate`. */
export function decode(bytes: Uint8Array, littleEndian = true): Instruction[] {
  if (bytes.length % 8 !== 0) {
    throw new TsbpfError('isa/truncated', `bytecode length ${bytes.length} is not a multiple of 8`, { offset: bytes.length - (bytes.length % 8) });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Instruction[] = new Array(bytes.length / 8);
  for (let i = 0; i < out.length; i++) {
    const p = i * 8;
    const regs = bytes[p + 1]!;
    out[i] = {
      code: bytes[p]!,
      dst: littleEndian ? regs & 0x0f : regs >> 4,
      src: littleEndian ? regs >> 4 : regs & 0x0f,
      off: view.getInt16(p + 2, littleEndian),
      imm: view.getInt32(p + 4, littleEndian),
    };
  }
  return out;
}

/** Encode slots to bytecode. */
export function encode(insns: readonly Instruction[], littleEndian = true): Uint8Array {
  const bytes = new Uint8Array(insns.length * 8);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    const p = i * 8;
    bytes[p] = insn.code & 0xff;
    bytes[p + 1] = littleEndian ? (insn.dst & 0x0f) | ((insn.src & 0x0f) << 4) : ((insn.dst & 0x0f) << 4) | (insn.src & 0x0f);
    view.setInt16(p + 2, insn.off, littleEndian);
    view.setInt32(p + 4, insn.imm | 0, littleEndian);
  });
  return bytes;
}

/**
 * Check every instruction (fields, registers, LD_IMM64 pairing, jump targets inside the program and not
 * into the middle of an LD_IMM64). Returns the resolved ops, indexed by slot (undefined for second
 * halves of LD_IMM64).
 */
export function validate(insns: readonly Instruction[]): (Op | undefined)[] {
  const ops: (Op | undefined)[] = new Array(insns.length);
  const secondHalf = new Uint8Array(insns.length);
  for (let i = 0; i < insns.length; i++) {
    const op = classify(insns[i]!, i, insns[i + 1]);
    ops[i] = op;
    if (op.kind === 'ld_imm64') {
      secondHalf[i + 1] = 1;
      i++;
    }
  }
  for (let i = 0; i < insns.length; i++) {
    const op = ops[i];
    if (op === undefined) continue;
    const target = jumpTarget(insns[i]!, op, i);
    if (target === undefined) continue;
    if (target < 0 || target >= insns.length) {
      throw new InvalidInstructionError(i, `jump to ${target} is outside the program (0..${insns.length - 1})`);
    }
    if (secondHalf[target]) throw new InvalidInstructionError(i, `jump into the middle of the lddw at ${target - 1}`);
  }
  return ops;
}

/** Slot a jump or local call at `index` goes to, or undefined for other instructions. */
export function jumpTarget(insn: Instruction, op: Op, index: number): number | undefined {
  switch (op.kind) {
    case 'jcond':
    case 'may_goto':
      return index + 1 + insn.off;
    case 'ja':
      return index + 1 + (op.wide ? insn.imm : insn.off);
    case 'call':
      return op.target === 'local' ? index + 1 + insn.imm : undefined;
    default:
      return undefined;
  }
}

/** The 64-bit immediate of an LD_IMM64 as unsigned halves. */
export function imm64Parts(first: Instruction, second: Instruction): { lo: number; hi: number } {
  return { lo: first.imm >>> 0, hi: second.imm >>> 0 };
}

export function imm64BigInt(first: Instruction, second: Instruction): bigint {
  return (BigInt(second.imm >>> 0) << 32n) | BigInt(first.imm >>> 0);
}

/** Parse a program given as hex text: whitespace, commas, `0x` prefixes and `#` comments are ignored. */
export function parseHexBytes(text: string): Uint8Array {
  const cleaned = text.replace(/#[^\n]*/g, '').replace(/0x/gi, '').replace(/[\s,]+/g, '');
  if (!/^[0-9a-fA-F]*$/.test(cleaned)) {
    const bad = cleaned.search(/[^0-9a-fA-F]/);
    throw new TsbpfError('isa/bad-hex', `not hex: unexpected '${cleaned[bad]}'`);
  }
  if (cleaned.length % 2 !== 0) throw new TsbpfError('isa/bad-hex', 'hex text has an odd number of digits');
  const out = new Uint8Array(cleaned.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(cleaned.substr(i * 2, 2), 16);
  return out;
}

export { AluOp, JmpOp, Mode, Size, Source, InsnClass, PseudoCall, PseudoLdImm64 };
