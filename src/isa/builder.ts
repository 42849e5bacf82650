/**
 * A typed instruction builder for writing eBPF programs in TypeScript, in the spirit of cilium/ebpf's
 * asm package: `mov64Imm(R0, 1)`, `jeqImm(R1, 0, 'out')`, `label('out')`, `exit()`, then `link()` to
 * resolve labels into offsets. Every builder checks its ranges and throws TsbpfError on bad input.
 */
import { TsbpfError } from '../errors.js';
import type { Instruction } from './instruction.js';
import { AluOp, AtomicOp, InsnClass, JmpOp, Mode, PseudoCall, PseudoLdImm64, Size, Source } from './opcodes.js';

export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
export const R0: Reg = 0, R1: Reg = 1, R2: Reg = 2, R3: Reg = 3, R4: Reg = 4, R5: Reg = 5;
export const R6: Reg = 6, R7: Reg = 7, R8: Reg = 8, R9: Reg = 9, R10: Reg = 10;
/** The read-only frame pointer. */
export const FP: Reg = 10;

/** A jump target: a label name, or a relative offset in slots. */
export type Target = string | number;

/** One built instruction (two slots for LD_IMM64), possibly waiting for a label. */
export interface BuiltInsn {
  readonly kind: 'insn';
  readonly slots: readonly Instruction[];
  /** A label to resolve into `off` (jumps) or `imm` (gotol, local calls) of the first slot. */
  readonly ref?: { field: 'off' | 'imm'; label: string };
}

export interface LabelMark {
  readonly kind: 'label';
  readonly name: string;
}

export type Item = BuiltInsn | LabelMark | readonly Item[];

export class BuilderError extends TsbpfError {
  override name = 'BuilderError';
}

const bad = (code: string, message: string): never => {
  throw new BuilderError(`isa/builder-${code}`, message);
};

function reg(r: number, what = 'register'): number {
  if (!Number.isInteger(r) || r < 0 || r > 10) bad('register', `invalid ${what} r${r} (r0..r10)`);
  return r;
}

/** int32, or a uint32 bit pattern (0xffffffff = -1). */
function imm32(v: number): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) bad('range', `immediate ${v} does not fit in 32 bits`);
  return v | 0;
}

function off16(v: number): number {
  if (!Number.isInteger(v) || v < -0x8000 || v > 0x7fff) bad('range', `offset ${v} does not fit in 16 bits`);
  return v;
}

const slot = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });
const built = (...slots: Instruction[]): BuiltInsn => ({ kind: 'insn', slots });

function withTarget(s: Instruction, field: 'off' | 'imm', target: Target): BuiltInsn {
  if (typeof target === 'string') return { kind: 'insn', slots: [s], ref: { field, label: target } };
  s[field] = field === 'off' ? off16(target) : imm32(target);
  return built(s);
}

export const label = (name: string): LabelMark => ({ kind: 'label', name });

// ---- ALU ---------------------------------------------------------------------------------------

type AluImm = (dst: Reg, imm: number) => BuiltInsn;
type AluReg = (dst: Reg, src: Reg) => BuiltInsn;
const aluImm = (cls: number, op: number, off = 0): AluImm => (dst, imm) => built(slot(cls | op | Source.K, reg(dst), 0, off, imm32(imm)));
const aluReg = (cls: number, op: number, off = 0): AluReg => (dst, src) => built(slot(cls | op | Source.X, reg(dst), reg(src), off));
const A64 = InsnClass.ALU64;
const A32 = InsnClass.ALU;

export const add64Imm = aluImm(A64, AluOp.ADD), add64Reg = aluReg(A64, AluOp.ADD);
export const add32Imm = aluImm(A32, AluOp.ADD), add32Reg = aluReg(A32, AluOp.ADD);
export const sub64Imm = aluImm(A64, AluOp.SUB), sub64Reg = aluReg(A64, AluOp.SUB);
export const sub32Imm = aluImm(A32, AluOp.SUB), sub32Reg = aluReg(A32, AluOp.SUB);
export const mul64Imm = aluImm(A64, AluOp.MUL), mul64Reg = aluReg(A64, AluOp.MUL);
export const mul32Imm = aluImm(A32, AluOp.MUL), mul32Reg = aluReg(A32, AluOp.MUL);
export const div64Imm = aluImm(A64, AluOp.DIV), div64Reg = aluReg(A64, AluOp.DIV);
export const div32Imm = aluImm(A32, AluOp.DIV), div32Reg = aluReg(A32, AluOp.DIV);
export const sdiv64Imm = aluImm(A64, AluOp.DIV, 1), sdiv64Reg = aluReg(A64, AluOp.DIV, 1);
export const sdiv32Imm = aluImm(A32, AluOp.DIV, 1), sdiv32Reg = aluReg(A32, AluOp.DIV, 1);
export const or64Imm = aluImm(A64, AluOp.OR), or64Reg = aluReg(A64, AluOp.OR);
export const or32Imm = aluImm(A32, AluOp.OR), or32Reg = aluReg(A32, AluOp.OR);
export const and64Imm = aluImm(A64, AluOp.AND), and64Reg = aluReg(A64, AluOp.AND);
export const and32Imm = aluImm(A32, AluOp.AND), and32Reg = aluReg(A32, AluOp.AND);
export const lsh64Imm = aluImm(A64, AluOp.LSH), lsh64Reg = aluReg(A64, AluOp.LSH);
export const lsh32Imm = aluImm(A32, AluOp.LSH), lsh32Reg = aluReg(A32, AluOp.LSH);
export const rsh64Imm = aluImm(A64, AluOp.RSH), rsh64Reg = aluReg(A64, AluOp.RSH);
export const rsh32Imm = aluImm(A32, AluOp.RSH), rsh32Reg = aluReg(A32, AluOp.RSH);
export const mod64Imm = aluImm(A64, AluOp.MOD), mod64Reg = aluReg(A64, AluOp.MOD);
export const mod32Imm = aluImm(A32, AluOp.MOD), mod32Reg = aluReg(A32, AluOp.MOD);
export const smod64Imm = aluImm(A64, AluOp.MOD, 1), smod64Reg = aluReg(A64, AluOp.MOD, 1);
export const smod32Imm = aluImm(A32, AluOp.MOD, 1), smod32Reg = aluReg(A32, AluOp.MOD, 1);
export const xor64Imm = aluImm(A64, AluOp.XOR), xor64Reg = aluReg(A64, AluOp.XOR);
export const xor32Imm = aluImm(A32, AluOp.XOR), xor32Reg = aluReg(A32, AluOp.XOR);
export const mov64Imm = aluImm(A64, AluOp.MOV), mov64Reg = aluReg(A64, AluOp.MOV);
export const mov32Imm = aluImm(A32, AluOp.MOV), mov32Reg = aluReg(A32, AluOp.MOV);
export const arsh64Imm = aluImm(A64, AluOp.ARSH), arsh64Reg = aluReg(A64, AluOp.ARSH);
export const arsh32Imm = aluImm(A32, AluOp.ARSH), arsh32Reg = aluReg(A32, AluOp.ARSH);

export const neg64 = (dst: Reg): BuiltInsn => built(slot(A64 | AluOp.NEG, reg(dst)));
export const neg32 = (dst: Reg): BuiltInsn => built(slot(A32 | AluOp.NEG, reg(dst)));

/** `dst = (s8|s16|s32) src` sign-extending move (64-bit). */
export function movsx64(dst: Reg, src: Reg, fromBits: 8 | 16 | 32): BuiltInsn {
  if (fromBits !== 8 && fromBits !== 16 && fromBits !== 32) bad('range', `movsx64 from ${String(fromBits)} bits`);
  return built(slot(A64 | AluOp.MOV | Source.X, reg(dst), reg(src), fromBits));
}

/** `wdst = (s8|s16) wsrc` sign-extending move (32-bit, zero-extended into 64). */
export function movsx32(dst: Reg, src: Reg, fromBits: 8 | 16): BuiltInsn {
  if (fromBits !== 8 && fromBits !== 16) bad('range', `movsx32 from ${String(fromBits)} bits`);
  return built(slot(A32 | AluOp.MOV | Source.X, reg(dst), reg(src), fromBits));
}

export type SwapWidth = 16 | 32 | 64;
const swap = (code: number) => (dst: Reg, width: SwapWidth): BuiltInsn => {
  if (width !== 16 && width !== 32 && width !== 64) bad('range', `byte swap width ${String(width)}`);
  return built(slot(code, reg(dst), 0, 0, width));
};
/** Convert to little endian (truncates to the width). */
export const le = swap(A32 | AluOp.END | Source.K);
/** Convert to big endian (truncates to the width). */
export const be = swap(A32 | AluOp.END | Source.X);
/** Unconditional byte swap (cpu v4). */
export const bswap = swap(A64 | AluOp.END);

// ---- Loads and stores --------------------------------------------------------------------------

type Load = (dst: Reg, src: Reg, off: number) => BuiltInsn;
type StoreImm = (dst: Reg, off: number, imm: number) => BuiltInsn;
type StoreReg = (dst: Reg, off: number, src: Reg) => BuiltInsn;
const load = (size: number, mode: number): Load => (dst, src, off) => built(slot(InsnClass.LDX | mode | size, reg(dst), reg(src), off16(off)));
const storeImm = (size: number): StoreImm => (dst, off, imm) => built(slot(InsnClass.ST | Mode.MEM | size, reg(dst), 0, off16(off), imm32(imm)));
const storeReg = (size: number): StoreReg => (dst, off, src) => built(slot(InsnClass.STX | Mode.MEM | size, reg(dst), reg(src), off16(off)));

/** `dst = *(u8 *)(src + off)` ... */
export const ldxB = load(Size.B, Mode.MEM), ldxH = load(Size.H, Mode.MEM), ldxW = load(Size.W, Mode.MEM), ldxDW = load(Size.DW, Mode.MEM);
/** `dst = *(s8 *)(src + off)` ... (sign-extending, cpu v4) */
export const ldxSB = load(Size.B, Mode.MEMSX), ldxSH = load(Size.H, Mode.MEMSX), ldxSW = load(Size.W, Mode.MEMSX);
/** `*(u8 *)(dst + off) = imm` ... */
export const stB = storeImm(Size.B), stH = storeImm(Size.H), stW = storeImm(Size.W), stDW = storeImm(Size.DW);
/** `*(u8 *)(dst + off) = src` ... */
export const stxB = storeReg(Size.B), stxH = storeReg(Size.H), stxW = storeReg(Size.W), stxDW = storeReg(Size.DW);

/** LD_IMM64 of any 64-bit value (bigint, or a safe integer number). */
export function ldImm64(dst: Reg, value: bigint | number, pseudo = 0): BuiltInsn {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) bad('range', `ldImm64 value ${value} is not a safe integer: pass a bigint`);
  const big = BigInt(value);
  if (big < -(2n ** 63n) || big > 2n ** 64n - 1n) bad('range', `ldImm64 value ${big} does not fit in 64 bits`);
  if (!Number.isInteger(pseudo) || pseudo < 0 || pseudo > 15) bad('range', `pseudo source ${pseudo}`);
  const bits = BigInt.asUintN(64, big);
  return built(slot(InsnClass.LD | Mode.IMM | Size.DW, reg(dst), pseudo, 0, Number(bits & 0xffffffffn) | 0), slot(0, 0, 0, 0, Number(bits >> 32n) | 0));
}

const pseudoPair = (pseudo: number) => (dst: Reg, first: number, second = 0): BuiltInsn =>
  built(slot(InsnClass.LD | Mode.IMM | Size.DW, reg(dst), pseudo, 0, imm32(first)), slot(0, 0, 0, 0, imm32(second)));
/** `dst = map fd` (BPF_PSEUDO_MAP_FD). */
export const ldMapFd = (dst: Reg, fd: number): BuiltInsn => pseudoPair(PseudoLdImm64.MAP_FD)(dst, fd);
/** `dst = &map_value[off]` (BPF_PSEUDO_MAP_VALUE). */
export const ldMapValue = pseudoPair(PseudoLdImm64.MAP_VALUE);
/** `dst = map by index into fd_array` (BPF_PSEUDO_MAP_IDX). */
export const ldMapIdx = (dst: Reg, index: number): BuiltInsn => pseudoPair(PseudoLdImm64.MAP_IDX)(dst, index);
export const ldBtfId = (dst: Reg, id: number): BuiltInsn => pseudoPair(PseudoLdImm64.BTF_ID)(dst, id);

/** Legacy packet loads: `r0 = ntoh(*(u8/u16/u32 *)(skb->data + imm))`, context in r6. */
export const ldAbsB = (imm: number): BuiltInsn => built(slot(InsnClass.LD | Mode.ABS | Size.B, 0, 0, 0, imm32(imm)));
export const ldAbsH = (imm: number): BuiltInsn => built(slot(InsnClass.LD | Mode.ABS | Size.H, 0, 0, 0, imm32(imm)));
export const ldAbsW = (imm: number): BuiltInsn => built(slot(InsnClass.LD | Mode.ABS | Size.W, 0, 0, 0, imm32(imm)));
/** `r0 = ntoh(*(... *)(skb->data + src + imm))`. */
export const ldIndB = (src: Reg, imm: number): BuiltInsn => built(slot(InsnClass.LD | Mode.IND | Size.B, 0, reg(src), 0, imm32(imm)));
export const ldIndH = (src: Reg, imm: number): BuiltInsn => built(slot(InsnClass.LD | Mode.IND | Size.H, 0, reg(src), 0, imm32(imm)));
export const ldIndW = (src: Reg, imm: number): BuiltInsn => built(slot(InsnClass.LD | Mode.IND | Size.W, 0, reg(src), 0, imm32(imm)));

// ---- Atomics -----------------------------------------------------------------------------------

export interface AtomicOptions {
  /** Return the old value in `src` (BPF_FETCH). */
  fetch?: boolean;
}
type Atomic = (dst: Reg, off: number, src: Reg, options?: AtomicOptions) => BuiltInsn;
const atomic = (size: number, op: number): Atomic => (dst, off, src, options = {}) =>
  built(slot(InsnClass.STX | Mode.ATOMIC | size, reg(dst), reg(src), off16(off), op | (options.fetch ? AtomicOp.FETCH : 0)));

/** `lock *(u64 *)(dst + off) += src`, with `{ fetch: true }` `src = atomic_fetch_add(...)`. */
export const atomicAdd64 = atomic(Size.DW, AtomicOp.ADD), atomicAdd32 = atomic(Size.W, AtomicOp.ADD);
export const atomicOr64 = atomic(Size.DW, AtomicOp.OR), atomicOr32 = atomic(Size.W, AtomicOp.OR);
export const atomicAnd64 = atomic(Size.DW, AtomicOp.AND), atomicAnd32 = atomic(Size.W, AtomicOp.AND);
export const atomicXor64 = atomic(Size.DW, AtomicOp.XOR), atomicXor32 = atomic(Size.W, AtomicOp.XOR);
/** `src = xchg(dst + off, src)`. */
export const atomicXchg64 = (dst: Reg, off: number, src: Reg): BuiltInsn => atomic(Size.DW, AtomicOp.XCHG)(dst, off, src);
export const atomicXchg32 = (dst: Reg, off: number, src: Reg): BuiltInsn => atomic(Size.W, AtomicOp.XCHG)(dst, off, src);
/** `r0 = cmpxchg(dst + off, r0, src)`. */
export const atomicCmpXchg64 = (dst: Reg, off: number, src: Reg): BuiltInsn => atomic(Size.DW, AtomicOp.CMPXCHG)(dst, off, src);
export const atomicCmpXchg32 = (dst: Reg, off: number, src: Reg): BuiltInsn => atomic(Size.W, AtomicOp.CMPXCHG)(dst, off, src);

export type AccessWidth = 1 | 2 | 4 | 8;
const SIZE_OF_WIDTH: Readonly<Record<AccessWidth, number>> = { 1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW };
function sizeOfWidth(width: AccessWidth): number {
  const size = SIZE_OF_WIDTH[width];
  if (size === undefined) bad('range', `access width ${String(width)} (1, 2, 4 or 8)`);
  return size;
}
/** `dst = load_acquire((uN *)(src + off))`. */
export const loadAcquire = (width: AccessWidth, dst: Reg, src: Reg, off: number): BuiltInsn =>
  built(slot(InsnClass.STX | Mode.ATOMIC | sizeOfWidth(width), reg(dst), reg(src), off16(off), AtomicOp.LOAD_ACQ));
/** `store_release((uN *)(dst + off), src)`. */
export const storeRelease = (width: AccessWidth, dst: Reg, off: number, src: Reg): BuiltInsn =>
  built(slot(InsnClass.STX | Mode.ATOMIC | sizeOfWidth(width), reg(dst), reg(src), off16(off), AtomicOp.STORE_REL));

// ---- Jumps and calls ---------------------------------------------------------------------------

type JumpImm = (dst: Reg, imm: number, target: Target) => BuiltInsn;
type JumpReg = (dst: Reg, src: Reg, target: Target) => BuiltInsn;
const jumpImm = (cls: number, op: number): JumpImm => (dst, imm, target) => withTarget(slot(cls | op | Source.K, reg(dst), 0, 0, imm32(imm)), 'off', target);
const jumpReg = (cls: number, op: number): JumpReg => (dst, src, target) => withTarget(slot(cls | op | Source.X, reg(dst), reg(src)), 'off', target);
const J64 = InsnClass.JMP;
const J32 = InsnClass.JMP32;

export const jeqImm = jumpImm(J64, JmpOp.JEQ), jeqReg = jumpReg(J64, JmpOp.JEQ), jeq32Imm = jumpImm(J32, JmpOp.JEQ), jeq32Reg = jumpReg(J32, JmpOp.JEQ);
export const jneImm = jumpImm(J64, JmpOp.JNE), jneReg = jumpReg(J64, JmpOp.JNE), jne32Imm = jumpImm(J32, JmpOp.JNE), jne32Reg = jumpReg(J32, JmpOp.JNE);
export const jgtImm = jumpImm(J64, JmpOp.JGT), jgtReg = jumpReg(J64, JmpOp.JGT), jgt32Imm = jumpImm(J32, JmpOp.JGT), jgt32Reg = jumpReg(J32, JmpOp.JGT);
export const jgeImm = jumpImm(J64, JmpOp.JGE), jgeReg = jumpReg(J64, JmpOp.JGE), jge32Imm = jumpImm(J32, JmpOp.JGE), jge32Reg = jumpReg(J32, JmpOp.JGE);
export const jltImm = jumpImm(J64, JmpOp.JLT), jltReg = jumpReg(J64, JmpOp.JLT), jlt32Imm = jumpImm(J32, JmpOp.JLT), jlt32Reg = jumpReg(J32, JmpOp.JLT);
export const jleImm = jumpImm(J64, JmpOp.JLE), jleReg = jumpReg(J64, JmpOp.JLE), jle32Imm = jumpImm(J32, JmpOp.JLE), jle32Reg = jumpReg(J32, JmpOp.JLE);
export const jsetImm = jumpImm(J64, JmpOp.JSET), jsetReg = jumpReg(J64, JmpOp.JSET), jset32Imm = jumpImm(J32, JmpOp.JSET), jset32Reg = jumpReg(J32, JmpOp.JSET);
export const jsgtImm = jumpImm(J64, JmpOp.JSGT), jsgtReg = jumpReg(J64, JmpOp.JSGT), jsgt32Imm = jumpImm(J32, JmpOp.JSGT), jsgt32Reg = jumpReg(J32, JmpOp.JSGT);
export const jsgeImm = jumpImm(J64, JmpOp.JSGE), jsgeReg = jumpReg(J64, JmpOp.JSGE), jsge32Imm = jumpImm(J32, JmpOp.JSGE), jsge32Reg = jumpReg(J32, JmpOp.JSGE);
export const jsltImm = jumpImm(J64, JmpOp.JSLT), jsltReg = jumpReg(J64, JmpOp.JSLT), jslt32Imm = jumpImm(J32, JmpOp.JSLT), jslt32Reg = jumpReg(J32, JmpOp.JSLT);
export const jsleImm = jumpImm(J64, JmpOp.JSLE), jsleReg = jumpReg(J64, JmpOp.JSLE), jsle32Imm = jumpImm(J32, JmpOp.JSLE), jsle32Reg = jumpReg(J32, JmpOp.JSLE);

/** `goto target` (16-bit offset). */
export const ja = (target: Target): BuiltInsn => withTarget(slot(J64 | JmpOp.JA), 'off', target);
/** `gotol target` (32-bit offset in imm, cpu v4). */
export const gotol = (target: Target): BuiltInsn => withTarget(slot(J32 | JmpOp.JA), 'imm', target);
/** `may_goto target`: taken once the loop budget is used up. */
export const mayGoto = (target: Target): BuiltInsn => withTarget(slot(J64 | JmpOp.JCOND), 'off', target);

/** Call helper `id`. */
export const call = (helperId: number): BuiltInsn => built(slot(J64 | JmpOp.CALL, 0, PseudoCall.HELPER, 0, imm32(helperId)));
/** BPF-to-BPF call to a label (or relative offset). */
export const callLocal = (target: Target): BuiltInsn => withTarget(slot(J64 | JmpOp.CALL, 0, PseudoCall.LOCAL), 'imm', target);
/** Call a kernel function by BTF id. */
export const callKfunc = (btfId: number): BuiltInsn => built(slot(J64 | JmpOp.CALL, 0, PseudoCall.KFUNC, 0, imm32(btfId)));
/** Indirect call through a register (target register in dst). */
export const callx = (target: Reg): BuiltInsn => built(slot(J64 | JmpOp.CALL | Source.X, reg(target, 'call target register')));
export const exit = (): BuiltInsn => built(slot(J64 | JmpOp.EXIT));

// ---- Linking -----------------------------------------------------------------------------------

function flatten(items: readonly Item[], out: (BuiltInsn | LabelMark)[] = []): (BuiltInsn | LabelMark)[] {
  for (const item of items) {
    if (Array.isArray(item)) flatten(item as readonly Item[], out);
    else out.push(item as BuiltInsn | LabelMark);
  }
  return out;
}

/** Lay out the items, resolve label references into relative offsets, return the slots. */
export function link(items: readonly Item[]): Instruction[] {
  const flat = flatten(items);
  const labels = new Map<string, number>();
  let at = 0;
  for (const item of flat) {
    if (item.kind === 'label') {
      if (labels.has(item.name)) bad('duplicate-label', `label '${item.name}' is defined twice`);
      labels.set(item.name, at);
    } else at += item.slots.length;
  }
  const out: Instruction[] = [];
  for (const item of flat) {
    if (item.kind === 'label') continue;
    const [first, ...rest] = item.slots.map((s) => ({ ...s }));
    if (item.ref) {
      const target = labels.get(item.ref.label);
      if (target === undefined) bad('unknown-label', `unknown label '${item.ref.label}' (insn ${out.length})`);
      const delta = target! - (out.length + 1);
      if (item.ref.field === 'off' && (delta < -0x8000 || delta > 0x7fff)) {
        bad('range', `label '${item.ref.label}' is ${delta} slots away: too far for a 16-bit offset (use gotol)`);
      }
      first![item.ref.field] = delta;
    }
    out.push(first!, ...rest);
  }
  return out;
}

/** A program under construction: `new Program().add(mov64Imm(R0, 0)).label('out').add(exit()).link()`. */
export class Program {
  private readonly items: Item[] = [];

  add(...items: Item[]): this {
    this.items.push(...items);
    return this;
  }

  label(name: string): this {
    this.items.push(label(name));
    return this;
  }

  link(): Instruction[] {
    return link(this.items);
  }
}
