/**
 * Dominators for the optimiser as trees instead of one bit set per node (which costs O(n²) time and
 * memory: 1,000 `host and port` pairs made 24,000 edges with a 3 KB edge set each).
 *
 * libpcap computes dominators in one sweep over the nodes in level order: every node starts as the full
 * set (the root as the empty set), takes its own bit when the sweep reaches it, and then intersects its
 * set into its successors'. With fresh levels that order is topological and the result is the exact
 * dominator sets; after a pull-up libpcap sweeps again in the old order, which may no longer be
 * topological. Both are reproduced here exactly:
 *
 * - The set a node holds when the sweep reaches it (plus its own bit) is either "everything" or a path
 *   from that node to the root of a tree, because intersecting root paths gives the root path of their
 *   lowest common ancestor. So one parent per node describes all of them.
 * - What a node receives from predecessors swept after it ("late" predecessors) is kept as a list; its
 *   final set is its own path intersected with theirs.
 */
import { TsbpfError } from '../../errors.js';

/** A set holding everything (a node no swept predecessor reached yet). */
export const UNIVERSAL = -2;
/** The empty set (the root before it takes its own bit); also "no parent". */
export const EMPTY = -1;

/**
 * A forest with skew-binary jump pointers: ancestor and lowest-common-ancestor queries in O(log n)
 * with three integers per node.
 */
export class JumpForest {
  readonly parent: Int32Array;
  readonly depth: Int32Array;
  private readonly jump: Int32Array;

  constructor(size: number) {
    this.parent = new Int32Array(size);
    this.depth = new Int32Array(size);
    this.jump = new Int32Array(size);
  }

  /** Adds `node` below `parent` (EMPTY: as a root); the parent must already be in the forest. */
  attach(node: number, parent: number): void {
    this.parent[node] = parent;
    if (parent < 0) {
      this.depth[node] = 0;
      this.jump[node] = node;
      return;
    }
    const depth = this.depth;
    const jump = this.jump;
    depth[node] = depth[parent]! + 1;
    const pj = jump[parent]!;
    const pjj = jump[pj]!;
    jump[node] = depth[parent]! - depth[pj]! === depth[pj]! - depth[pjj]! ? pjj : parent;
  }

  /** The ancestor of `node` at depth `d` (d ≤ depth of node). */
  ancestorAt(node: number, d: number): number {
    const depth = this.depth;
    let v = node;
    while (depth[v]! > d) {
      const j = this.jump[v]!;
      v = depth[j]! >= d ? j : this.parent[v]!;
    }
    return v;
  }

  /** True if `a` is `node` or one of its ancestors. */
  isAncestorOrSelf(a: number, node: number): boolean {
    const da = this.depth[a]!;
    return da <= this.depth[node]! && this.ancestorAt(node, da) === a;
  }

  /** The lowest common ancestor of a and b, or EMPTY when they are in different trees. */
  lca(a: number, b: number): number {
    const depth = this.depth;
    if (depth[a]! > depth[b]!) a = this.ancestorAt(a, depth[b]!);
    else if (depth[b]! > depth[a]!) b = this.ancestorAt(b, depth[a]!);
    const jump = this.jump;
    const parent = this.parent;
    while (a !== b) {
      if (depth[a] === 0) return EMPTY;
      const ja = jump[a]!;
      const jb = jump[b]!;
      // Jump targets of nodes at one depth share a depth: when they differ, the ancestor is above them.
      if (ja !== jb) {
        a = ja;
        b = jb;
      } else {
        a = parent[a]!;
        b = parent[b]!;
      }
    }
    return a;
  }
}

/** libpcap's node dominator sets, answering "does x dominate n" as libpcap's bit sets would. */
export class NodeDominators {
  private readonly forest: JumpForest;
  /** Intersection received so far from swept predecessors (a tree node, UNIVERSAL or EMPTY). */
  private readonly received: Int32Array;
  /** 0: not swept; 1: swept, its set is a tree path; 2: swept, its set is everything. */
  private readonly state: Uint8Array;
  private readonly lateHead: Int32Array;
  private lateNext = new Int32Array(0);
  private latePred = new Int32Array(0);
  private lateCount = 0;

  constructor(size: number) {
    this.forest = new JumpForest(size);
    this.received = new Int32Array(size);
    this.state = new Uint8Array(size);
    this.lateHead = new Int32Array(size);
  }

  /**
   * Sweeps the nodes in `order`; `trueSucc`/`falseSucc` give a branching node's successors (-1 for a
   * leaf).
   */
  compute(order: ArrayLike<number>, root: number, trueSucc: Int32Array, falseSucc: Int32Array): void {
    this.received.fill(UNIVERSAL);
    this.received[root] = EMPTY;
    this.state.fill(0);
    this.lateHead.fill(-1);
    this.lateCount = 0;
    for (let i = 0; i < order.length; i++) {
      const id = order[i]!;
      const got = this.received[id]!;
      if (got === UNIVERSAL) {
        this.state[id] = 2;
      } else {
        this.state[id] = 1;
        this.forest.attach(id, got);
      }
      const t = trueSucc[id]!;
      const f = falseSucc[id]!;
      if (t < 0 || f < 0) continue;
      this.meet(t, id);
      this.meet(f, id);
    }
  }

  /** Intersects the set of swept node `pred` into node `id`'s. */
  private meet(id: number, pred: number): void {
    if (this.state[id] !== 0) {
      this.addLate(id, pred);
      return;
    }
    if (this.state[pred] === 2) return;
    const got = this.received[id]!;
    this.received[id] = got === UNIVERSAL ? pred : got === EMPTY ? EMPTY : this.forest.lca(got, pred);
  }

  private addLate(id: number, pred: number): void {
    const i = this.lateCount++;
    if (i >= this.latePred.length) {
      const grown = Math.max(16, i * 2);
      const next = new Int32Array(grown);
      next.set(this.lateNext);
      const preds = new Int32Array(grown);
      preds.set(this.latePred);
      this.lateNext = next;
      this.latePred = preds;
    }
    this.latePred[i] = pred;
    this.lateNext[i] = this.lateHead[id]!;
    this.lateHead[id] = i;
  }

  /** True if x is in the set of swept node `id` as it was when the sweep reached it. */
  private inSweptSet(x: number, id: number): boolean {
    if (this.state[id] === 2) return true;
    return this.state[x] === 1 && this.forest.isAncestorOrSelf(x, id);
  }

  /** True if x is in n's dominator set. */
  dominates(x: number, n: number): boolean {
    if (this.state[n] === 0) {
      // Never swept: only what its swept predecessors sent.
      const got = this.received[n]!;
      if (got === UNIVERSAL) return true;
      if (got === EMPTY) return false;
      return this.state[x] === 1 && this.forest.isAncestorOrSelf(x, got);
    }
    if (!this.inSweptSet(x, n)) return false;
    for (let i = this.lateHead[n]!; i >= 0; i = this.lateNext[i]!) {
      if (!this.inSweptSet(x, this.latePred[i]!)) return false;
    }
    return true;
  }
}

/**
 * libpcap's edge dominator sets, swept in fresh level order (so exact): every edge's dominating edges
 * are its ancestors in a forest over edge ids. Ancestors are also indexed by a key (the optimiser's
 * "same comparison of the same value") so that jump threading only looks at the edges that can matter.
 */
export class EdgeDominators {
  readonly forest: JumpForest;
  /** Per node: the edge intersection its in-edges sent. */
  private readonly received: Int32Array;
  private readonly swept: Uint8Array;
  /** Preorder number and end of subtree (exclusive) per edge. */
  private readonly pre: Int32Array;
  private readonly end: Int32Array;
  /** Nearest proper ancestor with the same key, or -1. */
  private readonly keyParent: Int32Array;
  /** Edges with a key, in preorder. */
  private byKey = new Map<number, number[]>();

  constructor(private readonly nodeCount: number) {
    const edgeCount = 2 * nodeCount;
    this.forest = new JumpForest(edgeCount);
    this.received = new Int32Array(nodeCount);
    this.swept = new Uint8Array(nodeCount);
    this.pre = new Int32Array(edgeCount);
    this.end = new Int32Array(edgeCount);
    this.keyParent = new Int32Array(edgeCount);
  }

  /**
   * Sweeps nodes in `order` (topological). A node's edges are `id` (true) and `id + nodeCount` (false);
   * `target(edge)` is the node an edge leads to or -1.
   */
  compute(order: readonly number[], root: number, target: (edge: number) => number): void {
    const n = this.nodeCount;
    const forest = this.forest;
    this.received.fill(UNIVERSAL);
    this.received[root] = EMPTY;
    this.swept.fill(0);
    for (const id of order) {
      const got = this.received[id]!;
      if (got === UNIVERSAL) throw new TsbpfError('FILTER_OPTIMIZER', `edge dominators: node ${id} swept before its predecessors`);
      this.swept[id] = 1;
      for (const edge of [id, id + n]) {
        forest.attach(edge, got);
        const succ = target(edge);
        if (succ < 0) continue;
        if (this.swept[succ]) throw new TsbpfError('FILTER_OPTIMIZER', `edge dominators: node ${succ} swept before its predecessors`);
        const prev = this.received[succ]!;
        this.received[succ] = prev === UNIVERSAL ? edge : prev === EMPTY ? EMPTY : forest.lca(prev, edge);
      }
    }
  }

  /**
   * Numbers the forest in preorder and lists keyed edges per key in that order; `keyOf(edge)` is an
   * edge's key or -1 for none. `order` is the sweep order given to `compute`.
   */
  indexByKey(order: readonly number[], keyOf: (edge: number) => number): void {
    const n = this.nodeCount;
    const edges: number[] = [];
    for (const id of order) edges.push(id, id + n);
    const parent = this.forest.parent;
    // Children lists (first child / next sibling), then an iterative depth-first walk.
    const firstChild = new Int32Array(2 * n).fill(-1);
    const nextSibling = new Int32Array(2 * n).fill(-1);
    const roots: number[] = [];
    for (let i = edges.length - 1; i >= 0; i--) {
      const e = edges[i]!;
      const p = parent[e]!;
      if (p < 0) {
        roots.push(e);
      } else {
        nextSibling[e] = firstChild[p]!;
        firstChild[p] = e;
      }
    }
    this.byKey = new Map();
    const deepest = new Map<number, number>();
    let counter = 0;
    const stack: number[] = [];
    for (let r = roots.length - 1; r >= 0; r--) {
      stack.push(roots[r]!);
      while (stack.length) {
        const top = stack.pop()!;
        if (top < 0) {
          // Leaving an edge: close its subtree, restore its key's deepest edge.
          const e = ~top;
          this.end[e] = counter;
          const key = keyOf(e);
          if (key >= 0) {
            if (this.keyParent[e]! < 0) deepest.delete(key);
            else deepest.set(key, this.keyParent[e]!);
          }
          continue;
        }
        const e = top;
        this.pre[e] = counter++;
        const key = keyOf(e);
        if (key >= 0) {
          this.keyParent[e] = deepest.get(key) ?? -1;
          deepest.set(key, e);
          let list = this.byKey.get(key);
          if (!list) this.byKey.set(key, (list = []));
          list.push(e);
        } else {
          this.keyParent[e] = -1;
        }
        stack.push(~e);
        for (let c = firstChild[e]!; c >= 0; c = nextSibling[c]!) stack.push(c);
      }
    }
  }

  /** The deepest edge with key `key` among those dominating `edge` (itself included), or -1. */
  deepestWithKey(edge: number, key: number): number {
    const list = this.byKey.get(key);
    if (!list) return -1;
    const pre = this.pre;
    const at = pre[edge]!;
    if (pre[list[0]!]! > at) return -1;
    // The last keyed edge at or before `edge` in preorder: its keyed ancestors include all of edge's.
    let lo = 0;
    let hi = list.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (pre[list[mid]!]! <= at) lo = mid;
      else hi = mid - 1;
    }
    let x = list[lo]!;
    while (x >= 0 && !(pre[x]! <= at && at < this.end[x]!)) x = this.keyParent[x]!;
    return x;
  }

  /** The nearest edge dominating `edge` (not itself) with the same key, or -1. */
  nextWithKey(edge: number): number {
    return this.keyParent[edge]!;
  }
}
