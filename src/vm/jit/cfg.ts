import { TsbpfError } from '../../errors.js';
import { PseudoLdImm64, jumpTarget, type Instruction, type Op } from '../../isa/index.js';
import type { BlockRole } from './check-hoist.js';

/**
 * Control-flow graphs of the subprograms of one eBPF program: where each subprogram starts, its basic
 * blocks, their successors, the reverse postorder, dominators and loop headers the structurer needs.
 */

export type Terminator =
  | { kind: 'exit'; insn: number }
  | { kind: 'goto'; insn: number; target: number }
  /** Conditional jump at `insn`: to block `taken` when the condition holds, else to `fallthrough`. */
  | { kind: 'cond'; insn: number; taken: number; fallthrough: number }
  /** Control runs past the last instruction of the subprogram (only unverified programs do this). */
  | { kind: 'falloff'; insn: number };

export interface BasicBlock {
  /** First and one-past-last instruction slot of the body (the terminator, if a jump, is the last). */
  start: number;
  end: number;
  terminator: Terminator;
  successors: number[];
  /** Set on the blocks checked-mode loop versioning adds (check-hoist.ts). */
  role?: BlockRole;
}

export interface Subprogram {
  start: number;
  end: number;
  blocks: BasicBlock[];
  /** Block ids reachable from block 0, in reverse postorder. */
  order: number[];
  /** Position of each block in `order`, -1 when unreachable. */
  rpo: Int32Array;
  /** Immediate dominator of each reachable block (the entry is its own). */
  idom: Int32Array;
  /** Number of forward (non-back) edges into each block. */
  forwardPreds: Int32Array;
  loopHeader: Uint8Array;
  reducible: boolean;
}

export class JitCompileError extends TsbpfError {
  override name = 'JitCompileError';
  constructor(code: string, message: string, insn?: number) {
    super(code, message, insn === undefined ? {} : { insn });
  }
}

/** Subprogram entry points: slot 0, every local call target, every function address taken by lddw. */
export function subprogramStarts(insns: readonly Instruction[], ops: readonly (Op | undefined)[]): number[] {
  const starts = new Set<number>([0]);
  for (let i = 0; i < insns.length; i++) {
    const op = ops[i];
    if (op === undefined) continue;
    if (op.kind === 'call' && op.target === 'local') starts.add(i + 1 + insns[i]!.imm);
    else if (op.kind === 'ld_imm64' && op.pseudo === PseudoLdImm64.FUNC) {
      const target = i + 1 + insns[i]!.imm;
      if (target < 0 || target >= insns.length || ops[target] === undefined) {
        throw new JitCompileError('jit/bad-function-address', `function address ${target} is not an instruction`, i);
      }
      starts.add(target);
    }
  }
  for (const target of relocatedCallbacks(insns, ops)) starts.add(target);
  return [...starts].sort((a, b) => a - b);
}

/**
 * The loader resolves a callback's lddw (pseudo FUNC) to a plain 64-bit immediate: its absolute slot.
 * Such a constant names a function when the slot starts one: the slot before it cannot fall through
 * (exit or goto) and no jump crosses it. Splitting there is always safe, as nothing in the code before
 * reaches the code after except by a call, so a constant that only looks like one costs nothing.
 */
function relocatedCallbacks(insns: readonly Instruction[], ops: readonly (Op | undefined)[]): number[] {
  const candidates = new Set<number>();
  for (let i = 0; i < insns.length; i++) {
    const op = ops[i];
    if (op?.kind !== 'ld_imm64' || op.pseudo !== PseudoLdImm64.IMM || insns[i + 1]?.imm !== 0) continue;
    const target = insns[i]!.imm;
    if (target <= 0 || target >= insns.length || ops[target] === undefined) continue;
    const before = ops[target - 1]?.kind;
    if (before === 'exit' || before === 'ja') candidates.add(target);
  }
  if (candidates.size === 0) return [];
  for (let i = 0; i < insns.length && candidates.size > 0; i++) {
    const op = ops[i];
    if (op === undefined || op.kind === 'call') continue;
    const target = jumpTarget(insns[i]!, op, i);
    if (target === undefined) continue;
    for (const c of candidates) if ((i < c) !== (target < c)) candidates.delete(c);
  }
  return [...candidates];
}

const endsBlock = (op: Op): boolean =>
  op.kind === 'exit' || op.kind === 'ja' || op.kind === 'jcond' || op.kind === 'may_goto';

export function buildSubprogram(insns: readonly Instruction[], ops: readonly (Op | undefined)[], start: number, end: number): Subprogram {
  // Leaders: the start, jump targets, and slots after a block-ending instruction.
  const leader = new Uint8Array(end - start + 1);
  leader[0] = 1;
  for (let i = start; i < end; i++) {
    const op = ops[i];
    if (op === undefined) continue;
    if (op.kind === 'call') continue;
    const target = jumpTarget(insns[i]!, op, i);
    if (target !== undefined) {
      if (target < start || target >= end) {
        throw new JitCompileError('jit/cross-subprogram-jump', `jump to ${target} leaves the subprogram [${start}, ${end})`, i);
      }
      leader[target - start] = 1;
    }
    if (endsBlock(op)) leader[i + 1 - start] = 1;
  }
  const blockOf = new Int32Array(end - start).fill(-1);
  const starts: number[] = [];
  for (let i = start; i < end; i++) {
    if (leader[i - start] && ops[i] !== undefined) starts.push(i);
  }
  starts.forEach((s, id) => { blockOf[s - start] = id; });
  // Control that runs past the end (unverified programs only) goes to a synthetic empty block.
  const fallOffBlock = starts.length;
  const blocks: BasicBlock[] = starts.map((s, id) => {
    const limit = id + 1 < starts.length ? starts[id + 1]! : end;
    // The last real instruction of the block (skip the second slot of a trailing lddw).
    let last = limit - 1;
    if (ops[last] === undefined) last--;
    const op = ops[last]!;
    const next = limit < end ? blockOf[limit - start]! : fallOffBlock;
    let terminator: Terminator;
    if (op.kind === 'exit') terminator = { kind: 'exit', insn: last };
    else if (op.kind === 'ja') terminator = { kind: 'goto', insn: last, target: blockOf[jumpTarget(insns[last]!, op, last)! - start]! };
    else if (op.kind === 'jcond' || op.kind === 'may_goto') {
      const taken = blockOf[jumpTarget(insns[last]!, op, last)! - start]!;
      terminator = { kind: 'cond', insn: last, taken, fallthrough: next };
    } else terminator = { kind: 'goto', insn: -1, target: next };
    const successors = terminator.kind === 'goto' ? [terminator.target]
      : terminator.kind === 'cond' ? (terminator.taken === terminator.fallthrough ? [terminator.taken] : [terminator.taken, terminator.fallthrough])
        : [];
    return { start: s, end: limit, terminator, successors };
  });
  // Only the last block can run past the end.
  const last = blocks[blocks.length - 1];
  if (last?.successors.includes(fallOffBlock)) blocks.push({ start: end, end, terminator: { kind: 'falloff', insn: end - 1 }, successors: [] });
  return analyse(start, end, blocks);
}

/** Orders, dominators and loops of a graph (blocks[0] is the entry). */
export function analyse(start: number, end: number, blocks: BasicBlock[]): Subprogram {
  const n = blocks.length;
  // Iterative DFS for the postorder (programs can be long; no recursion).
  const post: number[] = [];
  const visited = new Uint8Array(n);
  const stack: number[] = [0];
  const nextChild = new Int32Array(n);
  visited[0] = 1;
  while (stack.length > 0) {
    const b = stack[stack.length - 1]!;
    const succ = blocks[b]!.successors;
    const k = nextChild[b]!;
    if (k < succ.length) {
      nextChild[b] = k + 1;
      const s = succ[k]!;
      if (!visited[s]) { visited[s] = 1; stack.push(s); }
    } else {
      stack.pop();
      post.push(b);
    }
  }
  const order = post.reverse();
  const rpo = new Int32Array(n).fill(-1);
  for (let i = 0; i < order.length; i++) rpo[order[i]!] = i;

  // Predecessors of block b: predList[predStart[b] .. predStart[b + 1]) (flat: no array per block).
  const predStart = new Int32Array(n + 1);
  for (const b of order) for (const s of blocks[b]!.successors) predStart[s + 1]!++;
  for (let b = 0; b < n; b++) predStart[b + 1]! += predStart[b]!;
  const predList = new Int32Array(predStart[n]!);
  const filled = predStart.slice(0, n);
  for (const b of order) for (const s of blocks[b]!.successors) predList[filled[s]!++] = b;

  // Cooper, Harvey & Kennedy's iterative dominators over the reverse postorder.
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a: number, b: number): number => {
    let x = a;
    let y = b;
    while (x !== y) {
      while (rpo[x]! > rpo[y]!) x = idom[x]!;
      while (rpo[y]! > rpo[x]!) y = idom[y]!;
    }
    return x;
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let i = 1; i < order.length; i++) {
      const b = order[i]!;
      let dom = -1;
      for (let k = predStart[b]!; k < predStart[b + 1]!; k++) {
        const p = predList[k]!;
        if (idom[p] === -1) continue;
        dom = dom === -1 ? p : intersect(p, dom);
      }
      if (dom !== idom[b]) { idom[b] = dom; changed = true; }
    }
  }
  const dominates = (a: number, b: number): boolean => {
    let x = b;
    for (;;) {
      if (x === a) return true;
      if (x === 0) return false;
      x = idom[x]!;
    }
  };

  const forwardPreds = new Int32Array(n);
  const loopHeader = new Uint8Array(n);
  let reducible = true;
  for (const b of order) {
    for (const s of blocks[b]!.successors) {
      if (rpo[s]! <= rpo[b]!) {
        loopHeader[s] = 1;
        if (!dominates(s, b)) reducible = false;
      } else forwardPreds[s]!++;
    }
  }
  return { start, end, blocks, order, rpo, idom, forwardPreds, loopHeader, reducible };
}
