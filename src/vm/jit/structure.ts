import { Op, VOID_BLOCK, type ByteWriter } from './wasm.js';
import { JitCompileError, type Subprogram } from './cfg.js';

/**
 * Turns a subprogram's control-flow graph into WebAssembly's structured control flow.
 *
 * Reducible graphs use the dominator-tree method (Ramsey, "Beyond Relooper", 2022): a block whose code
 * is placed inside its immediate dominator; each dominator-tree child reached by two or more forward
 * edges (a merge node) is placed after a wasm `block` that forward branches leave; a loop header wraps
 * its subtree in a wasm `loop` that back edges continue. Each basic block is emitted exactly once.
 * One change to the method: the blocks a loop exits to are placed after its wasm `loop` (behind
 * `block`s the exits leave), not inside it, so the wasm `loop` holds just the natural loop, as
 * TurboFan's loop analysis sees it (its loop unrolling takes only small loops without calls).
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
  /**
   * Charge the budget for the back edge from block `from` to block `to`; `outside` is the branch depth
   * of a label just outside the structured code (the emitter may wrap it in a `block`).
   */
  backEdge(from: number, to: number, outside: number): void;
  /** Whether block `b` is small, straight-line code without calls that may be emitted once per unrolled iteration. */
  repeatable(b: number): boolean;
  /** Push the i32 1 when the budget covers `times` back edges from `from` to `to`. */
  budgetCovers(from: number, to: number, times: number): void;
  /**
   * Whether block `b` (a loop header whose conditional jump leaves the loop) can tell in one test that
   * the jump is not taken in UNROLLED_ITERATIONS iterations in a row (a checked loop's range test).
   */
  testsTrip(b: number): boolean;
  /** Push that test (the i32 1 when all those iterations stay in the loop); only when `testsTrip(b)`. */
  fitsTrip(b: number): void;
  /**
   * Charge `times` back edges from `from` to `to` without a check (`budgetCovers` said so); a negative
   * `times` gives back what was charged for back edges not taken.
   */
  spend(from: number, to: number, times: number): void;
}

/** Loops of at most this many blocks may be unrolled (unrolledLoop). */
const MAX_UNROLLED_BLOCKS = 4;
/**
 * Iterations per wasm `loop` trip of a simple loop: the trip's budget test and charge, V8's loop check,
 * the back jump (and a checked loop's range test, when one covers the trip) spread over sixteen
 * (checksum of 1500 bytes, a 2-block loop: 325 ns per run with two, 257 with eight, 244 with sixteen;
 * memcpy and strcmp_full about -15% against two, unchecked and checked alike).
 */
export const UNROLLED_ITERATIONS = 16;

type Frame = { kind: 'loop'; block: number } | { kind: 'block'; follow: number } | { kind: 'if' };

export function emitStructured(sub: Subprogram, e: BlockEmitter): void {
  const { blocks, rpo, idom, forwardPreds, loopHeader } = sub;
  const w = e.w;
  const { exitLoop, loopOf, inLoop } = loopExitPlacement(sub);
  // Blocks placed after a `block` that branches to them leave: a loop's exits after the loop, then
  // dominator-tree children that are merge nodes; largest reverse-postorder number first (outermost).
  const loopExits: number[][] = blocks.map(() => []);
  const mergeChildren: number[][] = blocks.map(() => []);
  for (const b of sub.order) {
    if (exitLoop[b]! >= 0) loopExits[exitLoop[b]!]!.push(b);
    else if (b !== 0 && forwardPreds[b]! >= 2) mergeChildren[idom[b]!]!.push(b);
  }
  const outermostFirst = (a: number, b: number): number => rpo[b]! - rpo[a]!;
  for (const list of loopExits) if (list.length > 1) list.sort(outermostFirst);
  for (const list of mergeChildren) if (list.length > 1) list.sort(outermostFirst);
  const frames: Frame[] = [];

  const depthOf = (match: (f: Frame) => boolean): number => {
    for (let i = frames.length - 1; i >= 0; i--) if (match(frames[i]!)) return frames.length - 1 - i;
    throw new JitCompileError('jit/internal', 'structurer: branch target not in scope');
  };
  const isBackward = (from: number, to: number): boolean => rpo[to]! <= rpo[from]!;
  /** The branch depth if the edge is a plain `br` (no code needed), else -1. */
  const plainBranch = (from: number, to: number): number => {
    if (isBackward(from, to)) return -1;
    if (forwardPreds[to]! >= 2 || exitLoop[to]! >= 0) return depthOf((f) => f.kind === 'block' && f.follow === to);
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
    const chain = loopHeader[x] ? simpleLoop(x) : undefined;
    if (chain !== undefined) followedBy(loopExits[x]!, 0, () => unrolledLoop(x, chain));
    else if (loopHeader[x]) {
      followedBy(loopExits[x]!, 0, () => schedule(
        () => { w.byte2(Op.loop, VOID_BLOCK); frames.push({ kind: 'loop', block: x }); },
        () => nodeWithin(x),
        () => { frames.pop(); w.byte(Op.end); },
      ));
    } else nodeWithin(x);
  };

  const nodeWithin = (x: number): void => followedBy(mergeChildren[x]!, 0, () => {
    e.body(x);
    terminate(x);
  });

  /** `inner` inside one `block` per follower from `i` on, each follower's tree after its block. */
  const followedBy = (followers: readonly number[], i: number, inner: () => void): void => {
    if (i === followers.length) {
      inner();
      return;
    }
    const y = followers[i]!;
    schedule(
      () => { w.byte2(Op.block, VOID_BLOCK); frames.push({ kind: 'block', follow: y }); },
      () => followedBy(followers, i + 1, inner),
      () => { frames.pop(); w.byte(Op.end); },
      () => doTree(y),
    );
  };

  const doBranch = (from: number, to: number): void => {
    if (isBackward(from, to)) {
      e.backEdge(from, to, frames.length);
      w.byte(Op.br);
      w.u32(depthOf((f) => f.kind === 'loop' && f.block === to));
    } else if (forwardPreds[to]! >= 2 || exitLoop[to]! >= 0) {
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

  /**
   * The blocks of a small loop that runs straight from its header to its back edge, each block
   * leaving the loop at most by its conditional jump (header first, the block with the back edge
   * last); undefined for any other loop.
   */
  const simpleLoop = (h: number): number[] | undefined => {
    const chain: number[] = [];
    for (let b = h; chain.length < MAX_UNROLLED_BLOCKS;) {
      if (!e.repeatable(b) || mergeChildren[b]!.length > 0) return undefined;
      chain.push(b);
      const stay = blocks[b]!.successors.filter((s) => loopOf[s] === h);
      if (stay.length !== 1 || !blocks[b]!.successors.every((s) => loopOf[s] === h || leavesPlainly(b, s, h))) return undefined;
      const next = stay[0]!;
      if (next === h) return isBackward(b, h) ? chain : undefined;
      if (isBackward(b, next) || forwardPreds[next] !== 1 || loopHeader[next]) return undefined;
      b = next;
    }
    return undefined;
  };

  /** Whether the edge from `b` to `s` leaves loop `h` by a plain `br` forward (not to an outer loop's header). */
  const leavesPlainly = (b: number, s: number, h: number): boolean =>
    !inLoop(s, h) && !isBackward(b, s) && (forwardPreds[s]! >= 2 || exitLoop[s]! >= 0);

  /**
   * A simple loop as UNROLLED_ITERATIONS iterations per wasm `loop` while the budget covers all their
   * back edges (one budget test and one V8 loop check for them) and, when the emitter can test the
   * header's exit for the whole trip at once (a checked loop's range test), that test passes; then one
   * checked iteration at a time. The branches per iteration bound a small loop's speed.
   */
  const unrolledLoop = (h: number, chain: readonly number[]): void => {
    const latch = chain[chain.length - 1]!;
    const header = blocks[h]!.terminator;
    /** One iteration; leaving the loop gives back `refund` back edges charged ahead. */
    const iteration = (headerTested: boolean, refund: number): void => {
      for (const b of chain) {
        e.body(b);
        const t = blocks[b]!.terminator;
        if (t.kind !== 'cond' || (b === h && headerTested)) continue;
        if (t.taken === t.fallthrough) { e.condition(b); w.byte(Op.drop); continue; }
        const leaveTaken = loopOf[t.taken] !== h;
        const rare = e.condition(b);
        if (!leaveTaken) w.byte(Op.i32_eqz);
        else if (rare) e.unlikely.push(w.length);
        const exit = leaveTaken ? t.taken : t.fallthrough;
        if (refund === 0) { w.byte(Op.br_if); w.u32(plainBranch(b, exit)); continue; }
        w.byte2(Op.if, VOID_BLOCK); frames.push({ kind: 'if' });
        e.spend(latch, h, -refund);
        w.byte(Op.br); w.u32(plainBranch(b, exit));
        frames.pop(); w.byte(Op.end);
      }
    };
    // The header's exit test for the whole trip at once, when the emitter has one.
    const headerTested = header.kind === 'cond' && header.taken !== header.fallthrough && loopOf[header.taken] !== h
      && e.testsTrip(h);
    const copies = UNROLLED_ITERATIONS;
    w.byte2(Op.loop, VOID_BLOCK); frames.push({ kind: 'loop', block: h });
    e.budgetCovers(latch, h, copies);
    w.byte2(Op.if, VOID_BLOCK); frames.push({ kind: 'if' });
    if (headerTested) { e.fitsTrip(h); w.byte2(Op.if, VOID_BLOCK); frames.push({ kind: 'if' }); }
    // The copies' back edges are charged at once (one subtraction, not one per copy): an exit from
    // copy k gives back the copies - k not taken.
    e.spend(latch, h, copies);
    for (let k = 0; k < copies; k++) iteration(headerTested, copies - k);
    w.byte(Op.br); w.u32(depthOf((f) => f.kind === 'loop' && f.block === h));
    frames.pop(); w.byte(Op.end);
    if (headerTested) { frames.pop(); w.byte(Op.end); }
    iteration(false, 0);
    doBranch(latch, h);
    frames.pop(); w.byte(Op.end);
  };

  doTree(0);
  while (work.length > 0) work.pop()!();
}

/**
 * For each block, the loop header after whose wasm `loop` it is placed, or -1: a block outside the
 * natural loop of a header whose immediate dominator is inside it is placed after the outermost such
 * loop. Every branch to it comes from its immediate dominator's subtree, so from inside that loop or
 * from blocks placed after the loop before it; all are inside the `block` that precedes it.
 */
function loopExitPlacement(sub: Subprogram): {
  exitLoop: Int32Array; loopOf: Int32Array; inLoop: (b: number, h: number) => boolean;
} {
  const { blocks, order, rpo, idom, loopHeader } = sub;
  const n = blocks.length;
  const loopOf = new Int32Array(n).fill(-1);
  const exitLoop = new Int32Array(n).fill(-1);
  if (!loopHeader.includes(1)) return { exitLoop, loopOf, inLoop: () => false };
  const preds: number[][] = blocks.map(() => []);
  for (const b of order) for (const s of blocks[b]!.successors) preds[s]!.push(b);
  // Innermost loop of each block (a header is in its own loop) and the loop enclosing each loop:
  // headers from the innermost (largest reverse-postorder number) out, each claiming the blocks of
  // its natural loop that no inner loop claimed.
  const parentLoop = new Int32Array(n).fill(-1);
  const seen = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  for (let k = order.length - 1; k >= 0; k--) {
    const h = order[k]!;
    if (!loopHeader[h]) continue;
    loopOf[h] = h;
    seen[h] = h;
    for (const p of preds[h]!) {
      if (rpo[p]! >= rpo[h]! && seen[p] !== h) { seen[p] = h; stack.push(p); }
    }
    while (stack.length > 0) {
      const b = stack.pop()!;
      if (loopOf[b] === -1) loopOf[b] = h;
      else if (loopHeader[b] && b !== h && parentLoop[b] === -1) parentLoop[b] = h;
      for (const p of preds[b]!) {
        if (seen[p] !== h) { seen[p] = h; stack.push(p); }
      }
    }
  }
  const inLoop = (b: number, h: number): boolean => {
    for (let l = loopOf[b]!; l >= 0; l = parentLoop[l]!) if (l === h) return true;
    return false;
  };
  for (const y of order) {
    if (y === 0) continue;
    for (let h = loopOf[idom[y]!]!; h >= 0 && !inLoop(y, h); h = parentLoop[h]!) exitLoop[y] = h;
  }
  return { exitLoop, loopOf, inLoop };
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
      if (target <= i) e.backEdge(x, to, loopDepth + 1);
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
      if (target <= i) e.backEdge(x, to, loopDepth + 2);
      w.byte(Op.i32_const); w.s32(target);
      w.byte(Op.local_set); w.u32(labelLocal);
      w.byte(Op.br); w.u32(loopDepth + 1);
    }
  }
  w.byte(Op.unreachable);
  w.byte(Op.end);
}
