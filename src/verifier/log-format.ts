import type { Instruction, Op } from '../isa/instruction.js';
import type { Cfg } from './cfg.js';
import { kernelInsnText } from './disasm.js';
import { formatReg, formatSlot, type Reg, type Slot, type State } from './state.js';

/**
 * The pieces of the verifier log Linux 6.18 prints around the walk: the `;` column after an
 * instruction, which registers an instruction touches (the kernel's "scratched" ones, shown after
 * it), and the level-2 preamble (subprogram starts, live registers before each instruction).
 */

/** Spaces the kernel puts between an instruction's text (`pos` characters) and the `;` of its state. */
export function stateColumnPad(textLength: number): string {
  // The kernel measures the text with its newline, which it then takes back.
  const pos = textLength + 1;
  const end = Math.ceil(Math.max(pos + 4, 40) / 8) * 8;
  return ' '.repeat(Math.max(end - pos - 1, 1));
}

/** Bit r for each register the instruction reads or writes (a call: its arguments and R0). */
export function scratchedRegs(insn: Instruction, op: Op): number {
  switch (op.kind) {
    case 'alu': return (1 << insn.dst) | (op.useReg ? 1 << insn.src : 0);
    case 'ldx': case 'stx': case 'atomic': return (1 << insn.dst) | (1 << insn.src) | (op.kind === 'atomic' && op.op === 'cmpxchg' ? 1 : 0);
    case 'st': case 'ld_imm64': return 1 << insn.dst;
    case 'jcond': return (1 << insn.dst) | (op.useReg ? 1 << insn.src : 0);
    case 'call': return 0x3f;
    case 'ld_abs': return (1 << 0) | (1 << 6);
    case 'ld_ind': return (1 << 0) | (1 << 6) | (1 << insn.src);
    default: return 0;
  }
}

/** Does the kernel print the state after this instruction (jumps and exits show none)? */
export const showsStateAfter = (op: Op): boolean => op.kind !== 'ja' && op.kind !== 'exit' && op.kind !== 'may_goto' && !(op.kind === 'call' && op.target === 'local');

/** Stack slots (bit i: fp-8*(i+1)) a load or store through `ptr` at `off` of `width` bytes touches, as [lo, hi] words. */
export function scratchedSlots(ptr: Reg, constOff: number | undefined, off: number, width: number): [number, number] {
  if (ptr.type !== 'fp' || constOff === undefined) return [0, 0];
  const start = ptr.off + constOff + off;
  let lo = 0, hi = 0;
  for (let byte = start; byte < start + width; byte++) {
    if (byte >= 0) continue;
    const slot = Math.floor((-byte - 1) / 8);
    if (slot < 32) lo |= 1 << slot;
    else if (slot < 64) hi |= 1 << (slot - 32);
  }
  return [lo, hi];
}

/** `func#N @insn` per subprogram: the first lines of level 2, printed before any check can fail. */
export function subprogramLines(insns: readonly Instruction[]): string[] {
  const starts = new Set([0]);
  for (let i = 0; i < insns.length; i++) {
    const insn = insns[i]!;
    // Local calls and function references (LD_IMM64 src 4) name where a subprogram starts.
    const isLocal = (insn.code === 0x85 && insn.src === 1) || (insn.code === 0x18 && insn.src === 4);
    const target = i + 1 + insn.imm;
    if (isLocal && target >= 0 && target < insns.length) starts.add(target);
  }
  return [...starts].sort((a, b) => a - b).map((start, i) => `func#${i} @${start}`);
}

/** Level 2's preamble: the subprograms, then the registers live before each instruction. */
export function preambleLines(insns: readonly Instruction[], cfg: Cfg): string[] {
  const lines = cfg.subprogs.map((start, i) => `func#${i} @${start}`);
  lines.push('Live regs before insn:');
  for (let i = 0; i < insns.length; i++) {
    const op = cfg.ops[i];
    if (!op) continue;
    let regs = '';
    for (let r = 0; r < 10; r++) regs += cfg.live[i]! & (1 << r) ? String(r) : '.';
    lines.push(`${String(i).padStart(7)}: ${regs} ${kernelInsnText(insns, i, op)}`);
  }
  return lines;
}

export interface SourceLine { fileName?: string; line?: string; lineNumber?: number }

/**
 * The kernel's `; <source> @ file.c:12` lines: before an instruction, the line record covering it
 * (the last one starting at or before it) when that is not the record shown last.
 */
export class SourceLineLog {
  private readonly starts: number[];
  private shown = -1;
  private lastText = '';

  constructor(private readonly lines: ReadonlyMap<number, SourceLine>) {
    this.starts = [...lines.keys()].sort((a, b) => a - b);
  }

  logBefore(insn: number, log: (string | number)[]): void {
    let lo = 0, hi = this.starts.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= insn) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found < 0 || found === this.shown) return;
    this.shown = found;
    const rec = this.lines.get(this.starts[found]!)!;
    const file = (rec.fileName ?? '').slice((rec.fileName ?? '').lastIndexOf('/') + 1);
    const text = `; ${(rec.line ?? '').trimStart()} @ ${file}:${rec.lineNumber ?? 0}`;
    // A record repeating the line shown last is not shown again.
    if (text === this.lastText) return;
    this.lastText = text;
    log.push(text);
  }
}

const REG_KEYS = ['R0', 'R1', 'R2', 'R3', 'R4', 'R5', 'R6', 'R7', 'R8', 'R9', 'R10'];

/**
 * The registers and slots an instruction touched, kept as their (immutable) values and formatted
 * only if the line survives: level 1 drops every path that ends safely, so formatting as the walk
 * goes would spend most of its time on text thrown away.
 */
export class StateNote {
  private readonly keys: string[] = [];
  private readonly values: (Reg | Slot)[] = [];
  private readonly depth: number;
  private readonly refs: readonly number[];

  /** `ownLine`: the state goes on a line of its own (`5: R0=...`), else after the line's `;`. */
  constructor(state: State, regs: number, slotsLo: number, slotsHi: number, readonly ownLine: boolean) {
    this.depth = state.frames.length - 1;
    const frame = state.frames[this.depth]!;
    for (let i = 0; i < frame.regs.length; i++) {
      if (frame.regs[i]!.type !== 'not_init' && regs & (1 << i)) {
        this.keys.push(REG_KEYS[i]!);
        this.values.push(frame.regs[i]!);
      }
    }
    for (let i = 0; i < frame.stack.length && (slotsLo | slotsHi); i++) {
      const slot = frame.stack[i]!;
      if (slot.bytes !== '????????' && (i < 32 ? slotsLo >>> i : slotsHi >>> (i - 32)) & 1) {
        this.keys.push(`fp${-8 * (i + 1)}`);
        this.values.push(slot);
      }
    }
    this.refs = state.refs.length ? state.refs.filter((r) => !r.lock).map((r) => r.id) : [];
  }

  /** The log line `line` carries this note. */
  apply(line: string): string {
    const parts: string[] = [];
    for (let i = 0; i < this.keys.length; i++) {
      const v = this.values[i]!;
      parts.push(`${this.keys[i]}=${'bytes' in v ? formatSlot(v, this.depth) : formatReg(v, this.depth)}`);
    }
    if (this.refs.length) parts.push(`refs=${this.refs.join(',')}`);
    const text = (this.depth ? `frame${this.depth}: ` : '') + parts.join(' ');
    if (this.ownLine) return `${line} ${text}`;
    return `${line}${stateColumnPad(line.length)};${text ? ` ${text}` : ''}`;
  }
}
