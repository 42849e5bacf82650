import type { Instruction, Op } from '../isa/instruction.js';
import { kernelInsnText } from './disasm.js';
import { formatState, type State } from './state.js';

/**
 * Precision tracking (the kernel's mark_chain_precision). Scalars start imprecise: a checkpoint
 * compares them as "any scalar" when pruning. When a scalar's value decides something (a pointer
 * offset, a size argument, a decided branch, a checked return value), the instructions the path
 * executed since the last checkpoints are walked backwards to find the registers and stack slots
 * the value came from, and those are marked precise in the checkpoints on the way.
 */

export const MAX_FRAMES = 8;

/** Per-frame bit sets of registers (bit r) and stack slots (bit i: fp-8(i+1); low and high 32). */
export class PreciseSet {
  readonly regs = new Int32Array(MAX_FRAMES);
  readonly lo = new Int32Array(MAX_FRAMES);
  readonly hi = new Int32Array(MAX_FRAMES);

  hasReg(frame: number, r: number): boolean { return (this.regs[frame]! & (1 << r)) !== 0; }
  hasSlot(frame: number, slot: number): boolean {
    return ((slot < 32 ? this.lo[frame]! >>> slot : this.hi[frame]! >>> (slot - 32)) & 1) === 1;
  }
  setReg(frame: number, r: number): void { this.regs[frame]! |= 1 << r; }
  clearReg(frame: number, r: number): void { this.regs[frame]! &= ~(1 << r); }
  setSlot(frame: number, slot: number): void {
    if (slot < 32) this.lo[frame]! |= 1 << slot; else this.hi[frame]! |= 1 << (slot - 32);
  }
  clearSlot(frame: number, slot: number): void {
    if (slot < 32) this.lo[frame]! &= ~(1 << slot); else this.hi[frame]! &= ~(1 << (slot - 32));
  }
  clearFrame(frame: number): void {
    this.regs[frame] = 0;
    this.lo[frame] = 0;
    this.hi[frame] = 0;
  }
  clear(): void {
    this.regs.fill(0);
    this.lo.fill(0);
    this.hi.fill(0);
  }
  isEmpty(): boolean {
    for (let f = 0; f < MAX_FRAMES; f++) if (this.regs[f] || this.lo[f] || this.hi[f]) return false;
    return true;
  }
}

/**
 * History entries, one per executed instruction: the instruction, the call depth it ran at and, for
 * stack accesses, which slot (so a fill can be traced to its spill). Packed in one number:
 * insn + INSN_SPAN * (depth + 8 * extra); extra is 1 + frame*64 + slot for a one-slot stack access,
 * SPILL + frame*64 + slot for a store that replaces all a read of the slot can see, ANY_SLOT for
 * another stack access, CALLBACK_EXIT on the exit of a callback. Negative entries index
 * `Backtracker.links` (branches on scalars linked to others by id).
 */
const INSN_SPAN = 1 << 21;
const ANY_SLOT = 1 + MAX_FRAMES * 64;
const SPILL = ANY_SLOT + 1;
const CALLBACK_EXIT = 1;

export const historyEntry = (insn: number, depth: number): number => insn + INSN_SPAN * depth;
export const withStackSlot = (entry: number, frame: number, slot: number): number => entry + INSN_SPAN * 8 * (1 + frame * 64 + slot);
export const withSpilledSlot = (entry: number, frame: number, slot: number): number => entry + INSN_SPAN * 8 * (SPILL + frame * 64 + slot);
export const withAnySlot = (entry: number): number => entry + INSN_SPAN * 8 * ANY_SLOT;
export const withCallbackExit = (entry: number): number => entry + INSN_SPAN * 8 * CALLBACK_EXIT;

/** A register (frame*100 + r) or stack slot (frame*100 + 20 + slot) linked to a branch's operands. */
export const linkedReg = (frame: number, r: number): number => frame * 100 + r;
export const linkedSlot = (frame: number, slot: number): number => frame * 100 + 20 + slot;

/** A checkpoint as the walk sees it: its state, the path from its parent to it, its precise marks. */
export interface HistoryNode {
  readonly state: State;
  readonly hist: readonly number[];
  readonly parent: HistoryNode | undefined;
  precise: PreciseSet | undefined;
}

const ALL_SLOTS = -1;

export class Backtracker {
  private readonly links: { entry: number; codes: readonly number[] }[] = [];

  constructor(private readonly insns: readonly Instruction[], private readonly ops: readonly (Op | undefined)[]) {}

  /** A history entry for a branch that also narrows the scalars `codes` (linked by id to its operands). */
  linkedEntry(entry: number, codes: readonly number[]): number {
    this.links.push({ entry, codes });
    return -this.links.length;
  }

  /**
   * `mask` (at call depth `depth`, after the first `end` entries of `hist`) must be precise: walk back
   * through `hist` and the checkpoints from `node` up, marking what it depends on. Consumes `mask`.
   * With `log` (level 2), the walk is told there as the kernel's `mark_precise:` lines.
   */
  propagate(mask: PreciseSet, depth: number, hist: readonly number[], end: number, node: HistoryNode | undefined, log?: (string | number)[]): void {
    let nextDepth = depth;
    let last = end < hist.length ? insnOf(hist[end]!, this.links) : -1, subseq = -1;
    for (;;) {
      if (log) {
        const first = hist.length ? insnOf(hist[0]!, this.links) : last;
        log.push(`mark_precise: frame${nextDepth}: last_idx ${last} first_idx ${first} subseq_idx ${subseq} `);
        subseq = first;
      }
      for (let i = end - 1; i >= 0; i--) {
        // Decoded here so that undo takes small integers (an entry with a stack slot is past 2^31, a double).
        let entry = hist[i]!;
        let codes: readonly number[] | undefined;
        if (entry < 0) {
          const link = this.links[-entry - 1]!;
          entry = link.entry;
          codes = link.codes;
        }
        if (log) {
          // The frame the walk is in after the instruction (a call's callee, an exit's caller).
          const at = entry % INSN_SPAN;
          log.push(`mark_precise: frame${nextDepth}: ${maskText(mask, nextDepth)} before ${at}: ${kernelInsnText(this.insns, at, this.ops[at]!)}`);
        }
        nextDepth = this.undo(entry % INSN_SPAN, Math.floor(entry / INSN_SPAN), codes, nextDepth, mask);
        if (mask.isEmpty()) return;
      }
      if (!node) return;
      if (log) log.push(`mark_precise: frame${nextDepth}: parent state ${maskText(mask, nextDepth)}:  ${formatState(node.state)}`);
      if (!markAt(node, mask)) return;
      hist = node.hist;
      end = hist.length;
      last = hist.length ? insnOf(hist[hist.length - 1]!, this.links) : -1;
      node = node.parent;
    }
  }

  /**
   * Moves `mask` from after instruction `at` to before it (`rest`: the rest of its history entry;
   * `codes`: what a branch narrowed with its operands); returns the depth it ran at.
   */
  private undo(at: number, rest: number, codes: readonly number[] | undefined, nextDepth: number, mask: PreciseSet): number {
    const d = rest & 7;
    const extra = rest >>> 3;
    const op = this.ops[at]!;
    const insn = this.insns[at]!;
    const dst = insn.dst, src = insn.src;
    switch (op.kind) {
      case 'alu':
        if (!mask.hasReg(d, dst)) break;
        if (op.name === 'mov' || op.name === 'movsx' || op.name === 'addr_space_cast') {
          mask.clearReg(d, dst);
          if (op.useReg) mask.setReg(d, src);
        } else if (op.useReg) {
          mask.setReg(d, src);
        }
        break;
      case 'ldx':
        if (!mask.hasReg(d, dst)) break;
        mask.clearReg(d, dst);
        this.fromSlot(extra, d, mask);
        break;
      case 'st':
      case 'stx': {
        if (extra === 0 || extra === ANY_SLOT) break;
        // A spill replaces what the slot held; another store keeps the bytes it did not write.
        const spill = extra >= SPILL;
        const code = spill ? extra - SPILL : extra - 1;
        const frame = Math.floor(code / 64), slot = code % 64;
        if (!mask.hasSlot(frame, slot)) break;
        if (spill) mask.clearSlot(frame, slot);
        if (op.kind === 'stx') mask.setReg(d, src);
        break;
      }
      case 'atomic': {
        const fetched = op.op === 'load_acq' ? dst : op.op === 'cmpxchg' ? 0 : src;
        if ((op.fetch || op.op === 'load_acq') && mask.hasReg(d, fetched)) {
          mask.clearReg(d, fetched);
          this.fromSlot(extra, d, mask);
        }
        break;
      }
      case 'ld_imm64':
        mask.clearReg(d, dst);
        break;
      case 'ld_abs':
      case 'ld_ind':
        for (let r = 0; r <= 5; r++) mask.clearReg(d, r);
        break;
      case 'jcond':
        if (codes && anyCode(mask, codes)) for (const c of codes) setCode(mask, c);
        if (op.useReg && (mask.hasReg(d, dst) || mask.hasReg(d, src))) {
          mask.setReg(d, dst);
          mask.setReg(d, src);
        }
        break;
      case 'call':
        // R0-R5 of the caller are the call's result or clobbered by it.
        for (let r = 0; r <= 5; r++) mask.clearReg(d, r);
        if (nextDepth > d) {
          // Entered a function: its arguments were the caller's R1-R5 (a callback's come from the helper).
          if (op.target === 'local') for (let r = 1; r <= 5; r++) if (mask.hasReg(d + 1, r)) mask.setReg(d, r);
          mask.clearFrame(d + 1);
        }
        break;
      case 'exit':
        if (nextDepth < d) {
          // Returned to the caller: its R0 is this frame's R0 (a callback's comes from the helper).
          const r0 = mask.hasReg(d - 1, 0) && extra !== CALLBACK_EXIT;
          mask.clearReg(d - 1, 0);
          mask.clearFrame(d);
          if (r0) mask.setReg(d, 0);
        }
        break;
      default:
        break;
    }
    return d;
  }

  /** A value loaded from the stack depends on the slot it came from (every slot, when not known). */
  private fromSlot(extra: number, depth: number, mask: PreciseSet): void {
    if (extra === 0) return;
    if (extra === ANY_SLOT) {
      for (let f = 0; f <= depth; f++) {
        mask.lo[f] = ALL_SLOTS;
        mask.hi[f] = ALL_SLOTS;
      }
      return;
    }
    mask.setSlot(Math.floor((extra - 1) / 64), (extra - 1) % 64);
  }
}

/** The instruction of a history entry. */
function insnOf(entry: number, links: readonly { entry: number }[]): number {
  return (entry < 0 ? links[-entry - 1]!.entry : entry) % INSN_SPAN;
}

/** `regs=r2,r3 stack=-8,-16` for one frame of the mask, as the kernel lists them. */
function maskText(mask: PreciseSet, frame: number): string {
  const regs: string[] = [], stack: string[] = [];
  for (let r = 0; r < 10; r++) if (mask.hasReg(frame, r)) regs.push(`r${r}`);
  for (let i = 0; i < 64; i++) if (mask.hasSlot(frame, i)) stack.push(String(-8 * (i + 1)));
  return `regs=${regs.join(',')} stack=${stack.join(',')}`;
}

/** Whether the mask has one of the registers or slots `codes` (a loop: walks run this millions of times, a closure per call adds up). */
function anyCode(mask: PreciseSet, codes: readonly number[]): boolean {
  for (let i = 0; i < codes.length; i++) {
    const frame = Math.floor(codes[i]! / 100), k = codes[i]! % 100;
    if (k < 20 ? mask.hasReg(frame, k) : mask.hasSlot(frame, k - 20)) return true;
  }
  return false;
}

function setCode(mask: PreciseSet, code: number): void {
  const frame = Math.floor(code / 100), k = code % 100;
  if (k < 20) mask.setReg(frame, k); else mask.setSlot(frame, k - 20);
}

/**
 * Marks the scalars of `mask` precise in the checkpoint's state. What was already precise there has
 * had its own history walked: it leaves the mask, as do registers that are not scalars (pointers are
 * always compared in full). Slots stay whatever they hold: zero bytes read as a known 0 too. Returns
 * whether anything is left to walk further back.
 */
function markAt(node: HistoryNode, mask: PreciseSet): boolean {
  const frames = node.state.frames;
  const precise = node.precise ?? (node.precise = new PreciseSet());
  let left = false;
  for (let f = 0; f < MAX_FRAMES; f++) {
    if (f >= frames.length) {
      mask.clearFrame(f);
      continue;
    }
    let scalars = 0;
    const regs = frames[f]!.regs;
    for (let r = 0; r < 10; r++) if (regs[r]!.type === 'scalar') scalars |= 1 << r;
    const regs2 = mask.regs[f]! & scalars & ~precise.regs[f]!;
    const lo = mask.lo[f]! & ~precise.lo[f]!, hi = mask.hi[f]! & ~precise.hi[f]!;
    precise.regs[f]! |= regs2;
    precise.lo[f]! |= lo;
    precise.hi[f]! |= hi;
    mask.regs[f] = regs2;
    mask.lo[f] = lo;
    mask.hi[f] = hi;
    if (regs2 || lo || hi) left = true;
  }
  return left;
}
