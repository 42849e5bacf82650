import { classify, jumpTarget, type Instruction, type Op } from '../isa/instruction.js';
import { PseudoLdImm64 } from '../isa/opcodes.js';
import { helperProto } from '../helpers/prototypes.js';
import type { MapSpec } from '../maps/spec.js';
import { decodeCheckedAtVisit } from './fields.js';
import { Reject } from './reject.js';
import { StackLiveness } from './stack-liveness.js';

/**
 * Control-flow checks done before path exploration (the kernel's check_subprogs / check_cfg):
 * decoding, subprogram boundaries, jumps that leave their function, reachability, and the static
 * register liveness that state pruning uses.
 */
export interface Cfg {
  ops: (Op | undefined)[];
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

function decodeAll(insns: readonly Instruction[], fieldErrors: Map<number, string>): (Op | undefined)[] {
  const ops: (Op | undefined)[] = new Array(insns.length);
  for (let i = 0; i < insns.length; i++) {
    let op: Op;
    try {
      op = classify(insns[i]!, i, insns[i + 1]);
    } catch (e) {
      const atVisit = decodeCheckedAtVisit(insns, i);
      if (atVisit) {
        ops[i] = atVisit.op;
        if (atVisit.error !== undefined) fieldErrors.set(i, atVisit.error);
        if (atVisit.op.kind === 'ld_imm64') i++;
        continue;
      }
      const reason = e instanceof Error ? e.message : String(e);
      if (/lddw|LD IMM/.test(reason)) throw new Reject('invalid bpf_ld_imm64 insn', i);
      if (/register r(1[1-5])/.test(reason)) throw new Reject(`R${/r(\d+)/.exec(reason)![1]} is invalid`, i);
      if (/nonzero|reserved/.test(reason)) throw new Reject(`${insnClassName(insns[i]!)} uses reserved fields`, i);
      throw new Reject(`unknown opcode ${opcodeHex(insns[i]!)}`, i);
    }
    ops[i] = op;
    if (op.kind === 'ld_imm64') i++;
  }
  return ops;
}

function insnClassName(insn: Instruction): string {
  return ['BPF_LD', 'BPF_LDX', 'BPF_ST', 'BPF_STX', 'BPF_ALU', 'BPF_JMP', 'BPF_JMP32', 'BPF_ALU'][insn.code & 7]!;
}

const both = (use: number, def: number): number => use | (def << 16);

/** Registers an instruction reads (bits 0-15) and writes (bits 16-31), packed in one number so the fixpoint allocates nothing. */
function usesDefs(insn: Instruction, op: Op): number {
  const bit = (r: number): number => 1 << r;
  switch (op.kind) {
    case 'alu': {
      const src = op.useReg ? bit(insn.src) : 0;
      if (op.name === 'mov' || op.name === 'movsx') return both(src, bit(insn.dst));
      return both(src | bit(insn.dst), bit(insn.dst));
    }
    case 'ldx': return both(bit(insn.src), bit(insn.dst));
    case 'st': return both(bit(insn.dst), 0);
    case 'stx': return both(bit(insn.dst) | bit(insn.src), 0);
    case 'atomic': {
      let use = bit(insn.dst) | bit(insn.src);
      let def = op.fetch ? bit(insn.src) : 0;
      if (op.op === 'cmpxchg') {
        use |= 1;
        def = 1;
      }
      if (op.op === 'load_acq') return both(bit(insn.src), bit(insn.dst));
      return both(use, def);
    }
    case 'jcond': return both(bit(insn.dst) | (op.useReg ? bit(insn.src) : 0), 0);
    case 'call': {
      let args = 0x3e;
      if (op.target === 'helper') {
        const proto = helperProto(insn.imm);
        if (proto) args = ((1 << proto.args.length) - 1) << 1;
      }
      return both(args, 0x3f);
    }
    case 'callx': return both(0x3e | bit(insn.dst), 0x3f);
    case 'exit': return both(1, 0);
    case 'ld_abs': return both(bit(6), 0x3f);
    case 'ld_ind': return both(bit(6) | bit(insn.src), 0x3f);
    case 'ld_imm64': return both(0, bit(insn.dst));
    default: return both(0, 0);
  }
}

/** `mapAt` (the map an LD_IMM64 loads) sizes map keys and values passed to helpers for stack liveness. */
export function buildCfg(insns: readonly Instruction[], unpriv: boolean, mapAt?: (insn: number) => MapSpec | undefined): Cfg {
  const n = insns.length;
  if (n === 0) throw new Reject('empty program', 0);
  const fieldErrors = new Map<number, string>();
  const ops = decodeAll(insns, fieldErrors);
  const entries = new Set<number>([0]);
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    if (!op) continue;
    const isFunc = op.kind === 'ld_imm64' && op.pseudo === PseudoLdImm64.FUNC;
    if ((op.kind === 'call' && op.target === 'local') || isFunc) {
      const target = i + 1 + insns[i]!.imm;
      if (target < 0 || target >= n || !ops[target]) throw new Reject(isFunc ? `invalid func pc ${target}` : 'call to invalid destination', i);
      entries.add(target);
    }
    // A kfunc call with imm and off 0 is a placeholder the kernel refuses only if exploration reaches it.
    const placeholder = insns[i]!.imm === 0 && insns[i]!.off === 0;
    if (op.kind === 'call' && op.target === 'kfunc' && !placeholder) throw new Reject('calling kernel function is not supported without BTF', i);
  }
  const subprogs = [...entries].sort((a, b) => a - b);
  const subprogOf = new Int32Array(n);
  for (let s = 0; s < subprogs.length; s++) {
    const end = subprogs[s + 1] ?? n;
    subprogOf.fill(s, subprogs[s]!, end);
  }
  // Jumps must stay in their function; each function ends in exit or ja.
  for (let s = 0; s < subprogs.length; s++) {
    const start = subprogs[s]!, end = subprogs[s + 1] ?? n;
    for (let i = start; i < end; i++) {
      const op = ops[i];
      if (!op || op.kind === 'call') continue;
      const target = jumpTarget(insns[i]!, op, i);
      if (target === undefined) continue;
      if (target < start || target >= end) throw new Reject(`jump out of range from insn ${i} to ${target}`, i);
      if (!ops[target]) throw new Reject(`jump into the middle of ldimm64 insn ${target - 1}`, i);
    }
    let last = end - 1;
    if (!ops[last] && last > start) last--;
    const lastOp = ops[end - 1] ?? ops[end - 2];
    if (!lastOp || !(lastOp.kind === 'exit' || lastOp.kind === 'ja')) throw new Reject('last insn is not an exit or jmp', end - 1);
  }
  // Without BTF func info the kernel lets neither LD_ABS nor a tail call end a subprogram (check_abnormal_return).
  for (let s = 1; s < subprogs.length; s++) {
    const start = subprogs[s]!, end = subprogs[s + 1] ?? n;
    const uses = (is: (op: Op, insn: Instruction) => boolean): boolean => ops.slice(start, end).some((op, k) => op !== undefined && is(op, insns[start + k]!));
    if (uses((op) => op.kind === 'ld_abs' || op.kind === 'ld_ind')) throw new Reject('LD_ABS is not allowed in subprogs without BTF', start);
    if (uses((op, insn) => op.kind === 'call' && op.target === 'helper' && insn.imm === 12)) throw new Reject('tail_call is not allowed in subprogs without BTF', start);
  }
  const prunePoint = new Uint8Array(n);
  // Successors, two per instruction (-1: none); a value of n is a fall-through past the end.
  const succ = new Int32Array(2 * n).fill(-1);
  for (let i = 0; i < n; i++) {
    const op = ops[i];
    if (!op) continue;
    const next = op.kind === 'ld_imm64' ? i + 2 : i + 1;
    switch (op.kind) {
      case 'exit': break;
      case 'ja': {
        const t = jumpTarget(insns[i]!, op, i)!;
        succ[2 * i] = t;
        prunePoint[t] = 1;
        break;
      }
      case 'jcond':
      case 'may_goto': {
        const t = jumpTarget(insns[i]!, op, i)!;
        succ[2 * i] = next;
        succ[2 * i + 1] = t;
        // Like the kernel: the branch and its target, not the fall-through.
        prunePoint[t] = 1;
        prunePoint[i] = 1;
        break;
      }
      case 'call':
      case 'callx':
        succ[2 * i] = next;
        if (next < n) prunePoint[next] = 1;
        break;
      default: succ[2 * i] = next;
    }
  }
  // Reachability from the entry, following calls and callback references into functions:
  // an iterative depth-first search with colours for back-edge detection. Edge k of insn i is one of
  // its two successors, or (k = 2) the function a call or a function reference enters.
  const seen = new Uint8Array(n);
  const color = new Uint8Array(n);
  const stackInsn = new Int32Array(n), stackEdge = new Int32Array(n);
  let depth = 0;
  const enter = (t: number): void => {
    color[t] = 1;
    seen[t] = 1;
    stackInsn[depth] = t;
    stackEdge[depth++] = 0;
  };
  enter(0);
  while (depth) {
    const i = stackInsn[depth - 1]!, k = stackEdge[depth - 1]!;
    if (k > 2) {
      color[i] = 2;
      depth--;
      continue;
    }
    stackEdge[depth - 1] = k + 1;
    const op = ops[i]!;
    let t = -1;
    if (k < 2) t = succ[2 * i + k]!;
    else if ((op.kind === 'call' && op.target === 'local') || (op.kind === 'ld_imm64' && op.pseudo === PseudoLdImm64.FUNC)) t = i + 1 + insns[i]!.imm;
    if (t < 0) continue;
    if (t >= n) throw new Reject(`jump out of range from insn ${i} to ${t}`, i);
    if (color[t] === 1) {
      if (unpriv && k !== 2) throw new Reject(`back-edge from insn ${i} to ${t}`, i);
      prunePoint[t] = 1;
      continue;
    }
    if (color[t] === 2) continue;
    enter(t);
  }
  for (let i = 0; i < n; i++) {
    if (ops[i] && !seen[i]) throw new Reject(`unreachable insn ${i}`, i);
  }
  // Backward liveness per function.
  const live = new Int32Array(n);
  const effects = new Int32Array(n);
  for (let i = 0; i < n; i++) if (ops[i]) effects[i] = usesDefs(insns[i]!, ops[i]!);
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = n - 1; i >= 0; i--) {
      if (!ops[i]) continue;
      const a = succ[2 * i]!, b = succ[2 * i + 1]!;
      const out = (a >= 0 && a < n ? live[a]! : 0) | (b >= 0 && b < n ? live[b]! : 0);
      const inn = (effects[i]! & 0xffff) | (out & ~(effects[i]! >>> 16));
      if (inn !== live[i]) {
        live[i] = inn;
        changed = true;
      }
    }
  }
  const stack = new StackLiveness(insns, ops, succ, subprogs, mapAt);
  return { ops, subprogs, subprogOf, prunePoint, live, slotsLo: stack.lo, slotsHi: stack.hi, stack, fieldErrors };
}
