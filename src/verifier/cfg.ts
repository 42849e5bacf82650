import type { Instruction, Op } from '../isa/instruction.js';
import { InsnClass, Mode, PseudoLdImm64, modeOf } from '../isa/opcodes.js';
import { helperProto } from '../helpers/prototypes.js';
import type { MapSpec } from '../maps/spec.js';
import { HelperId } from '../uapi/index.js';
import { buildBlocks, type Blocks } from './blocks.js';
import { classifyWithoutStack, decodeCheckedAtVisit, reservedFieldsLine } from './fields.js';
import {
  K_ALU, K_ATOMIC, K_CALLX, K_CALL_HELPER, K_CALL_KFUNC, K_CALL_LOCAL, K_EXIT, K_JA, K_JCOND, K_LDX, K_LD_ABS, K_LD_IMM64,
  K_LD_IND, K_MAY_GOTO, K_NONE, K_ST, K_STX, endsRun, opKind,
} from './op-kinds.js';
import { Reject } from './reject.js';
import { resetScratch, scratchInt32, scratchUint8 } from './scratch.js';
import { StackLiveness } from './stack-liveness.js';
import type { FunctionInfo } from './verify.js';

/**
 * Control-flow checks done before path exploration (the kernel's check_subprogs / check_cfg):
 * decoding, subprogram boundaries, jumps that leave their function, reachability, and the static
 * register liveness that state pruning uses.
 */
export interface Cfg {
  ops: (Op | undefined)[];
  /** Per slot, the instruction's kind (`op-kinds.ts`; K_NONE for the second half of an LD_IMM64). */
  kinds: Uint8Array;
  /** Sorted subprogram entry points (0 first). */
  subprogs: number[];
  /** subprogOf[i]: index into `subprogs` of the function holding insn i. */
  subprogOf: Int32Array;
  /** Prune points (the kernel's): jump targets, conditional jumps, instructions after calls. */
  prunePoint: Uint8Array;
  /** Bit r set: register r may be read before written from insn i on (within its function). */
  live: Int32Array;
  /** Live own-frame stack slots per insn (bit i: slot fp-8(i+1)), low and high 32 slots: `stack.lo/hi`, which grow during exploration. */
  slotsLo: Int32Array;
  slotsHi: Int32Array;
  stack: StackLiveness;
  /** Reserved-field lines the kernel gives only when exploration reaches the instruction. */
  fieldErrors: ReadonlyMap<number, string>;
}

function opcodeHex(insn: Instruction): string {
  return insn.code.toString(16).padStart(2, '0');
}

function decodeAll(insns: readonly Instruction[], kinds: Uint8Array, fieldErrors: Map<number, string>): (Op | undefined)[] {
  const ops: (Op | undefined)[] = new Array(insns.length);
  for (let i = 0; i < insns.length; i++) {
    let op: Op;
    try {
      op = classifyWithoutStack(insns[i]!, i, insns[i + 1]);
    } catch (e) {
      const atVisit = decodeCheckedAtVisit(insns, i);
      if (atVisit) {
        ops[i] = atVisit.op;
        kinds[i] = opKind(insns[i]!);
        if (atVisit.error !== undefined) fieldErrors.set(i, atVisit.error);
        if (atVisit.op.kind === 'ld_imm64') i++;
        continue;
      }
      throw decodeReject(insns, i, e instanceof Error ? e.message : String(e));
    }
    // An indirect call is not in the kernel's instruction table (x86-64, Linux 6.18).
    if (op.kind === 'callx') throw decodeReject(insns, i, 'callx');
    ops[i] = op;
    const kind = opKind(insns[i]!);
    kinds[i] = kind;
    if (kind === K_LD_IMM64) i++;
  }
  return ops;
}

/**
 * A bad instruction, reported in the kernel's order: the last instruction first (check_subprogs), then
 * the opcode scan (resolve_pseudo_ldimm64: LDX fields, LD_IMM64 halves, the opcode table), then the
 * instruction's own checks (reserved fields before registers).
 */
function decodeReject(insns: readonly Instruction[], i: number, reason: string): Reject {
  const insn = insns[i]!;
  const lastCode = insns[insns.length - 1]!.code;
  if (lastCode !== 0x95 && lastCode !== 0x05 && lastCode !== 0x06) return new Reject('last insn is not an exit or jmp', insns.length - 1);
  if ((insn.code & 7) === InsnClass.LDX && ((modeOf(insn.code) !== Mode.MEM && modeOf(insn.code) !== Mode.MEMSX) || insn.imm !== 0)) {
    return new Reject('BPF_LDX uses reserved fields', i);
  }
  if (insn.code === 0x18) return new Reject('invalid bpf_ld_imm64 insn', i);
  const badRegister = /register r(1[1-5])/.exec(reason);
  if (badRegister && validOpcode(insn)) return new Reject(reservedFieldsLine(insn) ?? `R${badRegister[1]} is invalid`, i);
  if (/nonzero|reserved/.test(reason)) return new Reject(`${insnClassName(insn)} uses reserved fields`, i);
  return new Reject(`unknown opcode ${opcodeHex(insn)}`, i);
}

/** Whether the opcode decodes once its registers are valid ones. */
function validOpcode(insn: Instruction): boolean {
  try {
    classifyWithoutStack({ ...insn, dst: 0, src: 0 }, 0, { code: 0, dst: 0, src: 0, off: 0, imm: 0 });
    return true;
  } catch (e) {
    return e instanceof Error && /nonzero|reserved/.test(e.message);
  }
}

function insnClassName(insn: Instruction): string {
  return ['BPF_LD', 'BPF_LDX', 'BPF_ST', 'BPF_STX', 'BPF_ALU', 'BPF_JMP', 'BPF_JMP32', 'BPF_ALU'][insn.code & 7]!;
}

const both = (use: number, def: number): number => use | (def << 16);
const bit = (r: number): number => 1 << r;

/** Registers an instruction reads (bits 0-15) and writes (bits 16-31), packed in one number so the passes allocate nothing. */
function usesDefs(insn: Instruction, kind: number, op: Op): number {
  switch (kind) {
    case K_ALU: {
      const alu = op as Extract<Op, { kind: 'alu' }>;
      const src = alu.useReg ? bit(insn.src) : 0;
      if (alu.name === 'mov' || alu.name === 'movsx') return both(src, bit(insn.dst));
      return both(src | bit(insn.dst), bit(insn.dst));
    }
    case K_LDX: return both(bit(insn.src), bit(insn.dst));
    case K_ST: return both(bit(insn.dst), 0);
    case K_STX: return both(bit(insn.dst) | bit(insn.src), 0);
    case K_ATOMIC: {
      const atomic = op as Extract<Op, { kind: 'atomic' }>;
      let use = bit(insn.dst) | bit(insn.src);
      let def = atomic.fetch ? bit(insn.src) : 0;
      if (atomic.op === 'cmpxchg') {
        use |= 1;
        def = 1;
      }
      if (atomic.op === 'load_acq') return both(bit(insn.src), bit(insn.dst));
      return both(use, def);
    }
    case K_JCOND: return both(bit(insn.dst) | ((insn.code & 0x08) !== 0 ? bit(insn.src) : 0), 0);
    case K_CALL_HELPER: {
      const proto = helperProto(insn.imm);
      return both(proto ? ((1 << proto.args.length) - 1) << 1 : 0x3e, 0x3f);
    }
    case K_CALL_LOCAL:
    case K_CALL_KFUNC: return both(0x3e, 0x3f);
    case K_CALLX: return both(0x3e | bit(insn.dst), 0x3f);
    case K_EXIT: return both(1, 0);
    case K_LD_ABS: return both(bit(6), 0x3f);
    case K_LD_IND: return both(bit(6) | bit(insn.src), 0x3f);
    case K_LD_IMM64: return both(0, bit(insn.dst));
    default: return both(0, 0);
  }
}

/** Where the jump at `i` goes. */
function jumpTargetOf(insn: Instruction, kind: number, i: number): number {
  switch (kind) {
    case K_JCOND:
    case K_MAY_GOTO: return i + 1 + insn.off;
    // ja; gotol (JMP32 class) carries its offset in imm.
    default: return i + 1 + ((insn.code & 7) === 6 ? insn.imm : insn.off);
  }
}

/** `mapAt` (the map an LD_IMM64 loads) sizes map keys and values passed to helpers for stack liveness. */
export function buildCfg(
  insns: readonly Instruction[], unpriv: boolean, mapAt?: (insn: number) => MapSpec | undefined, funcInfo?: readonly FunctionInfo[],
): Cfg {
  const n = insns.length;
  if (n === 0) throw new Reject('empty program', 0);
  resetScratch();
  const kinds = new Uint8Array(n);
  const fieldErrors = new Map<number, string>();
  const ops = decodeAll(insns, kinds, fieldErrors);
  const refs = { funcRefs: 0 };
  const subprogs = findSubprogs(insns, kinds, refs);
  const subprogOf = new Int32Array(n);
  for (let s = 0; s < subprogs.length; s++) {
    const end = subprogs[s + 1] ?? n;
    subprogOf.fill(s, subprogs[s]!, end);
  }
  const prunePoint = new Uint8Array(n);
  // Successors, two per instruction (-1: none); a value of n is a fall-through past the end.
  const succ = scratchInt32(2 * n).fill(-1);
  // Where straight runs (blocks) start: function entries, jump targets, after a jump, call or exit.
  const starts = new Uint8Array(n + 1);
  for (const e of subprogs) starts[e] = 1;
  // Jumps must stay in their function; each function ends in exit or ja. The same walk links successors.
  for (let s = 0; s < subprogs.length; s++) {
    const start = subprogs[s]!, end = subprogs[s + 1] ?? n;
    for (let i = start; i < end; i++) {
      const kind = kinds[i]!;
      if (kind === K_NONE) continue;
      const next = kind === K_LD_IMM64 ? i + 2 : i + 1;
      if (kind === K_JCOND || kind === K_MAY_GOTO || kind === K_JA) {
        const target = jumpTargetOf(insns[i]!, kind, i);
        if (target < start || target >= end) throw new Reject(`jump out of range from insn ${i} to ${target}`, i);
        if (kinds[target] === K_NONE) throw new Reject(`jump into the middle of ldimm64 insn ${target - 1}`, i);
        prunePoint[target] = 1;
        if (target !== next) starts[target] = 1;
        if (kind === K_JA) {
          succ[2 * i] = target;
        } else {
          succ[2 * i] = next;
          succ[2 * i + 1] = target;
          // Like the kernel: the branch and its target, not the fall-through.
          prunePoint[i] = 1;
        }
      } else if (kind !== K_EXIT) {
        succ[2 * i] = next;
        if (endsRun(kind) && next < n) prunePoint[next] = 1;
      }
      if (endsRun(kind)) starts[next] = 1;
    }
    const lastKind = kinds[end - 1] || (end >= 2 ? kinds[end - 2]! : K_NONE);
    if (lastKind !== K_EXIT && lastKind !== K_JA) throw new Reject('last insn is not an exit or jmp', end - 1);
  }
  checkAbnormalReturns(insns, kinds, subprogs, funcInfo);
  const blocks = buildBlocks(kinds, succ, starts);
  checkReachable(insns, kinds, succ, blocks, prunePoint, unpriv, refs.funcRefs > 0);
  const live = registerLiveness(insns, ops, kinds, blocks);
  const stack = new StackLiveness(insns, ops, kinds, blocks, subprogs, mapAt);
  return { ops, kinds, subprogs, subprogOf, prunePoint, live, slotsLo: stack.lo, slotsHi: stack.hi, stack, fieldErrors };
}

/**
 * LD_ABS and tail calls may end a subprogram abruptly, so the kernel wants its caller to expect an int:
 * without BTF func info it refuses them in every subprogram (check_abnormal_return), with it in those
 * whose prototype returns anything but an int or enum (check_btf_func).
 */
function checkAbnormalReturns(insns: readonly Instruction[], kinds: Uint8Array, subprogs: readonly number[], funcInfo?: readonly FunctionInfo[]): void {
  for (let s = 1; s < subprogs.length; s++) {
    const start = subprogs[s]!, end = subprogs[s + 1] ?? insns.length;
    if (funcInfo && funcInfo.find((f) => f.insn === start)?.scalarReturn !== false) continue;
    let ldAbs = false;
    let tailCall = false;
    for (let i = start; i < end; i++) {
      if (kinds[i] === K_LD_ABS || kinds[i] === K_LD_IND) ldAbs = true;
      else if (kinds[i] === K_CALL_HELPER && insns[i]!.imm === HelperId.tail_call) tailCall = true;
    }
    if (ldAbs) throw new Reject(funcInfo ? "LD_ABS is only allowed in functions that return 'int'." : 'LD_ABS is not allowed in subprogs without BTF', start);
    if (tailCall) throw new Reject(funcInfo ? "tail_call is only allowed in functions that return 'int'." : 'tail_call is not allowed in subprogs without BTF', start);
  }
}

const isFuncRef = (insn: Instruction, kind: number): boolean => kind === K_LD_IMM64 && insn.src === PseudoLdImm64.FUNC;

/** Function entry points, sorted: 0 and the targets of local calls and function references (whose count `refs` receives). */
function findSubprogs(insns: readonly Instruction[], kinds: Uint8Array, refs: { funcRefs: number }): number[] {
  const n = insns.length;
  const entries: number[] = [0];
  for (let i = 0; i < n; i++) {
    const kind = kinds[i]!;
    const isFunc = isFuncRef(insns[i]!, kind);
    if (kind === K_CALL_LOCAL || isFunc) {
      const target = i + 1 + insns[i]!.imm;
      if (target < 0 || target >= n) throw new Reject(isFunc ? `invalid func pc ${target}` : 'call to invalid destination', i);
      // A function starting inside an LD_IMM64 leaves the one before it ending on the LD_IMM64's first half.
      if (kinds[target] === K_NONE) throw new Reject(isFunc ? `invalid func pc ${target}` : 'last insn is not an exit or jmp', target - 1);
      entries.push(target);
      if (isFunc) refs.funcRefs++;
    }
    // A kfunc call with imm and off 0 is a placeholder the kernel refuses only if exploration reaches it.
    const placeholder = insns[i]!.imm === 0 && insns[i]!.off === 0;
    if (kind === K_CALL_KFUNC && !placeholder) throw new Reject('calling kernel function is not supported without BTF', i);
  }
  entries.sort((a, b) => a - b);
  let unique = 0;
  for (let k = 0; k < entries.length; k++) if (k === 0 || entries[k] !== entries[k - 1]) entries[unique++] = entries[k]!;
  entries.length = unique;
  return entries;
}

/**
 * Reachability from the entry, following calls and callback references into functions: an
 * iterative depth-first search with colours for back-edge detection (whose targets become prune
 * points). It walks blocks, as a search over instructions would walk each block's chain: the last
 * instruction's edges first (k = 0, 1: its successors; k = 2: the function a call or a function
 * reference enters), then the function references inside the block, from its end back to its start.
 */
function checkReachable(
  insns: readonly Instruction[], kinds: Uint8Array, succ: Int32Array, blocks: Blocks, prunePoint: Uint8Array, unpriv: boolean, hasFuncRefs: boolean,
): void {
  const n = insns.length, count = blocks.count;
  const color = scratchUint8(count);
  // Per frame: its block, the instruction whose edges are followed, and the next edge k.
  const stackBlock = scratchInt32(count), stackInsn = scratchInt32(count), stackEdge = scratchInt32(count);
  let depth = 0;
  const enter = (b: number): void => {
    color[b] = 1;
    stackBlock[depth] = b;
    stackInsn[depth] = blocks.last[b]!;
    stackEdge[depth++] = 0;
  };
  enter(0);
  while (depth) {
    const top = depth - 1;
    const b = stackBlock[top]!, i = stackInsn[top]!, k = stackEdge[top]!;
    if (k > 2) {
      let j = hasFuncRefs ? i - 1 : -1;
      while (j >= blocks.first[b]! && !isFuncRef(insns[j]!, kinds[j]!)) j--;
      if (j < blocks.first[b]!) {
        color[b] = 2;
        depth--;
      } else {
        stackInsn[top] = j;
        stackEdge[top] = 2;
      }
      continue;
    }
    const entersFunction = kinds[i] === K_CALL_LOCAL || isFuncRef(insns[i]!, kinds[i]!);
    // Edges past the instruction's last one lead nowhere: skip them.
    const lastEdge = entersFunction ? 2 : succ[2 * i + 1]! >= 0 ? 1 : 0;
    stackEdge[top] = k + 1 > lastEdge ? 3 : k + 1;
    const t = k < 2 ? succ[2 * i + k]! : entersFunction ? i + 1 + insns[i]!.imm : -1;
    if (t < 0) continue;
    if (t >= n) throw new Reject(`jump out of range from insn ${i} to ${t}`, i);
    const target = blocks.blockOf[t]!;
    if (color[target] === 1) {
      if (unpriv && k !== 2) throw new Reject(`back-edge from insn ${i} to ${t}`, i);
      prunePoint[t] = 1;
      continue;
    }
    if (color[target] === 2) continue;
    enter(target);
  }
  for (let b = 0; b < count; b++) {
    if (!color[b]) throw new Reject(`unreachable insn ${blocks.first[b]}`, blocks.first[b]!);
  }
}

/**
 * Backward register liveness per function: solved over blocks (what each reads before writing, and
 * writes), then spread over each block's instructions.
 */
function registerLiveness(insns: readonly Instruction[], ops: readonly (Op | undefined)[], kinds: Uint8Array, blocks: Blocks): Int32Array {
  const n = insns.length, count = blocks.count;
  const live = new Int32Array(n);
  const effects = scratchInt32(n);
  // Per block: registers read before written (gen), and written (kill).
  const gen = scratchInt32(count), kill = scratchInt32(count), liveIn = scratchInt32(count);
  for (let b = 0; b < count; b++) {
    let g = 0, k = 0;
    for (let i = blocks.last[b]!; i >= blocks.first[b]!; i--) {
      const kind = kinds[i]!;
      if (kind === K_NONE) continue;
      const e = usesDefs(insns[i]!, kind, ops[i]!);
      effects[i] = e;
      g = (e & 0xffff) | (g & ~(e >>> 16));
      k |= e >>> 16;
    }
    gen[b] = g;
    kill[b] = k;
  }
  const queued = scratchUint8(count).fill(1);
  const work = scratchInt32(count);
  // Every block queued, the last first (the stack pops from its end).
  for (let b = 0; b < count; b++) work[b] = b;
  let size = count;
  while (size) {
    const b = work[--size]!;
    queued[b] = 0;
    const inn = gen[b]! | (liveOut(blocks, liveIn, b) & ~kill[b]!);
    if (inn === liveIn[b]) continue;
    liveIn[b] = inn;
    for (let p = blocks.predStart[b]!; p < blocks.predStart[b + 1]!; p++) {
      const q = blocks.predList[p]!;
      if (!queued[q]) {
        queued[q] = 1;
        work[size++] = q;
      }
    }
  }
  for (let b = 0; b < count; b++) {
    let l = liveOut(blocks, liveIn, b);
    for (let i = blocks.last[b]!; i >= blocks.first[b]!; i--) {
      if (kinds[i] === K_NONE) continue;
      l = (effects[i]! & 0xffff) | (l & ~(effects[i]! >>> 16));
      live[i] = l;
    }
  }
  return live;
}

function liveOut(blocks: Blocks, liveIn: Int32Array, b: number): number {
  const s0 = blocks.succ[2 * b]!, s1 = blocks.succ[2 * b + 1]!;
  return (s0 >= 0 ? liveIn[s0]! : 0) | (s1 >= 0 ? liveIn[s1]! : 0);
}
