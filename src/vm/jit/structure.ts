import { Op, VOID_BLOCK, type ByteWriter } from './wasm.js';
import { JitCompileError, type Subprogram } from './cfg.js';

/**
 * Turns a subprogram's control-flow graph into WebAssembly's structured control flow.
 *
 * Reducible graphs use the dominator-tree method (Ramsey, "Beyond Relooper", 2022): a block whose code
 * is placed inside its immediate dominator; each dominator-tree child reached by two or more forward
 * edges (a merge node) is placed after a wasm `block` that forward branches leave; a loop header wraps
 * its subtree in a wasm `loop` that back edges continue. Each basic block is emitted exactly once.
 *
 * Irreducible graphs fall back to a dispatch loop: one `loop` around a `br_table` over a block label
 * local, each block ending by setting the label.
 */

export interface BlockEmitter {
  readonly w: ByteWriter;
  /** Offsets in the code of `if`s and `br_if`s whose branch is rarely taken (branch hints). */
  readonly unlikely: number[];
  /** Straight-line code of block `b` (everything but a final jump). */
  body(b: number): void;
  /**
   * Push the i32 condition of block `b`'s conditional terminator (nonzero: jump taken); true when the
   * jump is rarely taken.
   */
  condition(b: number): boolean;
  /** Return r0 (block ends with exit). */
  exit(b: number): void;
  /** Control ran off the end of the subprogram. */
  fallOff(b: number): void;
  /** Charge the budget for the back edge from block `from` to block `to`. */
  backEdge(from: number, to: number): void;
}

type Frame = { kind: 'loop'; block: number } | { kind: 'block'; follow: number } | { kind: 'if' };

export function emitStructured(sub: Subprogram, e: BlockEmitter): void {
  const { blocks, rpo, idom, forwardPreds, loopHeader } = sub;
  const w = e.w;
  // Dominator-tree children that are merge nodes, largest reverse-postorder number first (outermost).
  const mergeChildren: number[][] = blocks.map(() => []);
  for (const b of sub.order) {
    if (b !== 0 && forwardPreds[b]! >= 2) mergeChildren[idom[b]!]!.push(b);
  }
  for (const list of mergeChildren) list.sort((a, b) => rpo[b]! - rpo[a]!);
  const frames: Frame[] = [];

  const depthOf = (match: (f: Frame) => boolean): number => {
    for (let i = frames.length - 1; i >= 0; i--) if (match(frames[i]!)) return frames.length - 1 - i;
    throw new JitCompileError('jit/internal', 'structurer: branch target not in scope');
  };
  const isBackward = (from: number, to: number): boolean => rpo[to]! <= rpo[from]!;
  /** The branch depth if the edge is a plain `br` (no code needed), else -1. */
  const plainBranch = (from: number, to: number): number => {
    if (isBackward(from, to)) return -1;
    if (forwardPreds[to]! >= 2) return depthOf((f) => f.kind === 'block' && f.follow === to);
    return -1;
  };

  // The method is naturally recursive; an explicit stack of pending actions keeps long programs
  // from exhausting the JS stack. `schedule(a, b, c)` runs a, then b, then c, each before anything
  // scheduled earlier.
  const work: (() => void)[] = [];
  const schedule = (...actions: (() => void)[]): void => {
    for (let i = actions.length - 1; i >= 0; i--) work.push(actions[i]!);
  };

  const doTree = (x: number): void => {
    if (loopHeader[x]) {
      schedule(
        () => { w.byte2(Op.loop, VOID_BLOCK); frames.push({ kind: 'loop', block: x }); },
        () => nodeWithin(x, mergeChildren[x]!, 0),
        () => { frames.pop(); w.byte(Op.end); },
      );
    } else nodeWithin(x, mergeChildren[x]!, 0);
  };

  const nodeWithin = (x: number, merges: readonly number[], i: number): void => {
    if (i === merges.length) {
      e.body(x);
      terminate(x);
      return;
    }
    const y = merges[i]!;
    schedule(
      () => { w.byte2(Op.block, VOID_BLOCK); frames.push({ kind: 'block', follow: y }); },
      () => nodeWithin(x, merges, i + 1),
      () => { frames.pop(); w.byte(Op.end); },
      () => doTree(y),
    );
  };

  const doBranch = (from: number, to: number): void => {
    if (isBackward(from, to)) {
      e.backEdge(from, to);
      w.byte(Op.br);
      w.u32(depthOf((f) => f.kind === 'loop' && f.block === to));
    } else if (forwardPreds[to]! >= 2) {
      w.byte(Op.br);
      w.u32(depthOf((f) => f.kind === 'block' && f.follow === to));
    } else doTree(to);
  };

  const terminate = (x: number): void => {
    const t = blocks[x]!.terminator;
    switch (t.kind) {
      case 'exit': e.exit(x); return;
      case 'falloff': e.fallOff(x); return;
      case 'goto': doBranch(x, t.target); return;
      case 'cond': {
        const rare = e.condition(x);
        if (t.taken === t.fallthrough) {
          w.byte(Op.drop);
          doBranch(x, t.taken);
          return;
        }
        const takenDepth = plainBranch(x, t.taken);
        if (takenDepth >= 0) {
          if (rare) e.unlikely.push(w.length);
          w.byte(Op.br_if); w.u32(takenDepth);
          doBranch(x, t.fallthrough);
          return;
        }
        const fallDepth = plainBranch(x, t.fallthrough);
        if (fallDepth >= 0) {
          w.byte(Op.i32_eqz);
          w.byte(Op.br_if); w.u32(fallDepth);
          doBranch(x, t.taken);
          return;
        }
        schedule(
          () => { if (rare) e.unlikely.push(w.length); w.byte2(Op.if, VOID_BLOCK); frames.push({ kind: 'if' }); },
          () => doBranch(x, t.taken),
          () => w.byte(Op.else),
          () => doBranch(x, t.fallthrough),
          () => { frames.pop(); w.byte(Op.end); },
        );
      }
    }
  };

  doTree(0);
  while (work.length > 0) work.pop()!();
}

/**
 * The dispatch-loop form for any graph. `labelLocal` is an i32 local holding the next block's position
 * in `sub.order` (0 on entry, which is the local's default).
 */
export function emitDispatch(sub: Subprogram, e: BlockEmitter, labelLocal: number): void {
  const w = e.w;
  const { order, rpo, blocks } = sub;
  const n = order.length;
  w.byte2(Op.loop, VOID_BLOCK);
  for (let i = 0; i < n; i++) w.byte2(Op.block, VOID_BLOCK);
  w.byte(Op.local_get); w.u32(labelLocal);
  w.byte(Op.br_table); w.u32(n);
  for (let i = 0; i < n; i++) w.u32(i);
  w.u32(n - 1);
  // After the `end` of block i we are inside blocks i+1..n-1 and the loop.
  for (let i = 0; i < n; i++) {
    w.byte(Op.end);
    const x = order[i]!;
    const loopDepth = n - 1 - i;
    const jump = (to: number): void => {
      const target = rpo[to]!;
      if (target <= i) e.backEdge(x, to);
      else if (target === i + 1) return; // falls into the next block's code
      w.byte(Op.i32_const); w.s32(target);
      w.byte(Op.local_set); w.u32(labelLocal);
      w.byte(Op.br); w.u32(loopDepth);
    };
    e.body(x);
    const t = blocks[x]!.terminator;
    switch (t.kind) {
      case 'exit': e.exit(x); break;
      case 'falloff': e.fallOff(x); break;
      case 'goto': jump(t.target); break;
      case 'cond':
        e.condition(x);
        w.byte2(Op.if, VOID_BLOCK);
        // Inside the `if` every branch depth grows by one.
        jumpInIf(t.taken);
        w.byte(Op.end);
        jump(t.fallthrough);
        break;
    }
    function jumpInIf(to: number): void {
      const target = rpo[to]!;
      if (target <= i) e.backEdge(x, to);
      w.byte(Op.i32_const); w.s32(target);
      w.byte(Op.local_set); w.u32(labelLocal);
      w.byte(Op.br); w.u32(loopDepth + 1);
    }
  }
  w.byte(Op.unreachable);
  w.byte(Op.end);
}
