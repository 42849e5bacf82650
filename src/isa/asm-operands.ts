/**
 * Operand parsing shared by the two assembler syntaxes: registers, integers with range checks, jump
 * targets, and the pending-instruction form whose label references are resolved after the last line.
 */
import type { Instruction } from './instruction.js';
import { fail, type SourceLine } from './asm-errors.js';
import { REGISTER_COUNT } from './opcodes.js';

/** A label reference to patch once every label is known. */
export interface LabelFixup {
  field: 'off' | 'imm';
  label: string;
}

/** One assembled slot, possibly still waiting for a label. */
export interface PendingSlot {
  insn: Instruction;
  fixup?: LabelFixup;
  src: SourceLine;
}

export const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

/** Two slots of an LD_IMM64 carrying `value` (any 64-bit pattern). */
export function ldImm64Slots(dst: number, pseudo: number, value: bigint): [Instruction, Instruction] {
  const bits = BigInt.asUintN(64, value);
  const lo = Number(bits & 0xffffffffn) | 0;
  const hi = Number(bits >> 32n) | 0;
  return [insn(0x18, dst, pseudo, 0, lo), insn(0, 0, 0, 0, hi)];
}

export interface Register {
  reg: number;
  /** True for `w` (32-bit) names. */
  w32: boolean;
}

const REGISTER_RE = /^%?([rw])(\d+)$/i;

export const looksLikeRegister = (token: string): boolean => REGISTER_RE.test(token);

/** `r3`, `%r3`, `w3`: out-of-range numbers (r11, %r50) are errors, not something else. */
export function parseRegister(src: SourceLine, token: string): Register {
  const m = REGISTER_RE.exec(token);
  if (!m) return fail(src, 'bad-register', `invalid register '${token}'`, token);
  const reg = Number(m[2]);
  if (reg >= REGISTER_COUNT || m[2]!.length > 2) fail(src, 'bad-register', `invalid register '${token}' (r0..r10)`, token);
  return { reg, w32: m[1]!.toLowerCase() === 'w' };
}

interface ParsedInteger {
  value: bigint;
  hex: boolean;
}

const INTEGER_RE = /^([+-]?)(0x[0-9a-f]+|0b[01]+|0o[0-7]+|\d+)$/i;

export const looksLikeInteger = (token: string): boolean => INTEGER_RE.test(token.trim());

export function parseInteger(src: SourceLine, token: string): ParsedInteger {
  const m = INTEGER_RE.exec(token.trim());
  if (!m) return fail(src, 'bad-operand', `expected a number, got '${token}'`, token);
  const magnitude = BigInt(m[2]!);
  return { value: m[1] === '-' ? -magnitude : magnitude, hex: !/^\d+$/.test(m[2]!) || /^0[xbo]/i.test(m[2]!) };
}

const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const UINT32_MAX = 2n ** 32n - 1n;

/**
 * A 32-bit immediate. Decimal must fit int32; hex may also spell any 32-bit pattern (0xffffffff = -1),
 * the way the bpf_conformance tests write their constants.
 */
export function parseImm32(src: SourceLine, token: string): number {
  const { value, hex } = parseInteger(src, token);
  const max = hex ? UINT32_MAX : INT32_MAX;
  if (value < INT32_MIN || value > max) fail(src, 'imm-range', `immediate ${token} does not fit in 32 bits`, token);
  return Number(BigInt.asIntN(32, value));
}

/** A 64-bit immediate (lddw): any int64 or uint64. */
export function parseImm64(src: SourceLine, token: string): bigint {
  const { value } = parseInteger(src, token);
  if (value < -(2n ** 63n) || value > 2n ** 64n - 1n) fail(src, 'imm-range', `immediate ${token} does not fit in 64 bits`, token);
  return value;
}

/** A signed 16-bit offset. */
export function parseOff16(src: SourceLine, token: string): number {
  const { value } = parseInteger(src, token);
  if (value < -32768n || value > 32767n) fail(src, 'offset-range', `offset ${token} does not fit in 16 bits`, token);
  return Number(value);
}

/** An unsigned number in [0, max] (widths, address spaces, pseudo ids). */
export function parseSmall(src: SourceLine, token: string, max: number): number {
  const { value } = parseInteger(src, token);
  if (value < 0n || value > BigInt(max)) fail(src, 'imm-range', `${token} is out of range 0..${max}`, token);
  return Number(value);
}

const LABEL_RE = /^[A-Za-z_.$][\w.$]*$/;
export const isLabelName = (token: string): boolean => LABEL_RE.test(token);

/** A jump target: `+3`, `-2`, `3`, `pc+3` (verifier log), or a label. */
export type Target = { offset: number } | { label: string };

export function parseTarget(src: SourceLine, token: string, wide = false): Target {
  const t = token.replace(/^pc(?=[+-])/i, '');
  if (looksLikeInteger(t)) return { offset: wide ? parseImm32(src, t) : parseOff16(src, t) };
  if (isLabelName(token)) return { label: token };
  return fail(src, 'bad-operand', `expected a jump offset or label, got '${token}'`, token);
}

/** Put a target into `field`: a number now, a label later. */
export function withTarget(src: SourceLine, slot: Instruction, field: 'off' | 'imm', target: Target): PendingSlot {
  if ('label' in target) return { insn: slot, fixup: { field, label: target.label }, src };
  slot[field] = target.offset;
  return { insn: slot, src };
}
