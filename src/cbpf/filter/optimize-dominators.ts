/**
 * Dominators for the optimiser without one bit set per node and edge (which costs O(n²) time and
 * memory: 1,000 `host and port` pairs made 24,000 edges with a 3 KB edge set each), and without
 * recomputing them all after every pull-up.
 *
 * libpcap computes dominators in one sweep over the nodes in level order: every node starts as the full
 * set (the root as the empty set), takes its own bit when the sweep reaches it, and then intersects its
 * set into its successors'. With fresh levels that order is topological and the result is the exact
 * dominator sets, which form a tree (intersecting root paths gives the root path of their lowest
 * common ancestor). After a pull-up libpcap sweeps again in the old order, which may no longer be
 * topological; those sets are answered one question at a time (see `NodeDominators`). Either way the
 * answers are the bit sets' answers.
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

/**
 * libpcap's node dominator sets, answering "is x in n's set" on demand instead of sweeping all sets
 * again after every pull-up (hundreds of thousands of sweeps on long `or` chains).
 *
 * What the sweep computes, per node y with sweep position pos(y): the set y holds when reached is
 * {y} plus the intersection of what its earlier-swept predecessors hold (everything if there are
 * none; the root holds just itself). So x is in it unless some path of earlier-swept predecessors
 * leads from y back to the root without passing x; a backward search finds out. The final set of a
 * node also meets what its later-swept predecessors held when they were reached.
 */
export class NodeDominators {
  /** Sweep position, or -1 for a node the sweep does not visit. */
  private readonly pos: Int32Array;
  /** Predecessors (branching nodes only, as the sweep uses), one entry per edge. */
  private readonly preds: number[][];
  private readonly trueSucc: Int32Array;
  private readonly falseSucc: Int32Array;
  private readonly seen: Int32Array;
  private generation = 0;
  private root = 0;
  /** Memo of answers for one x on one graph version (epoch). */
  private readonly knownIn: Int32Array;
  private readonly knownOut: Int32Array;
  private epoch = 0;
  private version = 0;
  private memoFor = -1;
  private memoVersion = -1;
  /** The dominator tree, while the sweep order is topological and nothing moved since. */
  private readonly tree: JumpForest;
  private treeValid = false;
  private readonly received: Int32Array;
  /** Tree mode: 1 for a swept node that no swept predecessor reaches (its set is everything). */
  private readonly universal: Uint8Array;

  constructor(size: number) {
    this.pos = new Int32Array(size);
    this.preds = Array.from({ length: size }, () => []);
    this.trueSucc = new Int32Array(size);
    this.falseSucc = new Int32Array(size);
    this.seen = new Int32Array(size);
    this.knownIn = new Int32Array(size);
    this.knownOut = new Int32Array(size);
    this.tree = new JumpForest(size);
    this.received = new Int32Array(size);
    this.universal = new Uint8Array(size);
  }

  /**
   * Takes the sweep `order` and the graph: `trueSucc`/`falseSucc` give a branching node's successors
   * (-1 for a leaf).
   */
  compute(order: ArrayLike<number>, root: number, trueSucc: Int32Array, falseSucc: Int32Array): void {
    this.root = root;
    this.version++;
    this.pos.fill(-1);
    for (let i = 0; i < order.length; i++) this.pos[order[i]!] = i;
    for (const list of this.preds) list.length = 0;
    this.trueSucc.set(trueSucc);
    this.falseSucc.set(falseSucc);
    for (let id = 0; id < trueSucc.length; id++) this.link(id);
    this.treeValid = this.sweepAsTree(order);
  }

  /**
   * When every swept edge goes forward in the sweep order (as with fresh levels), the sets are the
   * exact dominators: a tree whose parent links are the meets of the predecessors, each a lowest common
   * ancestor. Queries are then ancestor tests. Returns false (no tree) otherwise.
   */
  private sweepAsTree(order: ArrayLike<number>): boolean {
    const pos = this.pos;
    for (let i = 0; i < order.length; i++) {
      const id = order[i]!;
      const t = this.trueSucc[id]!;
      const f = this.falseSucc[id]!;
      if (t >= 0 && f >= 0 && (pos[t]! <= i || pos[f]! <= i)) return false;
    }
    const received = this.received;
    received.fill(UNIVERSAL);
    received[this.root] = EMPTY;
    for (let i = 0; i < order.length; i++) {
      const id = order[i]!;
      const got = received[id]!;
      this.universal[id] = got === UNIVERSAL ? 1 : 0;
      if (got !== UNIVERSAL) this.tree.attach(id, got);
      const t = this.trueSucc[id]!;
      const f = this.falseSucc[id]!;
      if (t < 0 || f < 0 || got === UNIVERSAL) continue;
      for (const succ of [t, f]) {
        const prev = received[succ]!;
        received[succ] = prev === UNIVERSAL ? id : prev === EMPTY ? EMPTY : this.tree.lca(prev, id);
      }
    }
    return true;
  }

  /** Node `id`'s successors changed (the sweep order stays). */
  update(id: number, trueSucc: number, falseSucc: number): void {
    this.version++;
    this.treeValid = false;
    this.unlink(id);
    this.trueSucc[id] = trueSucc;
    this.falseSucc[id] = falseSucc;
    this.link(id);
  }

  private link(id: number): void {
    const t = this.trueSucc[id]!;
    const f = this.falseSucc[id]!;
    if (t < 0 || f < 0) return;
    this.preds[t]!.push(id);
    this.preds[f]!.push(id);
  }

  private unlink(id: number): void {
    const t = this.trueSucc[id]!;
    const f = this.falseSucc[id]!;
    if (t < 0 || f < 0) return;
    for (const succ of [t, f]) {
      const list = this.preds[succ]!;
      const at = list.indexOf(id);
      list[at] = list[list.length - 1]!;
      list.pop();
    }
  }

  /** True if x is in the set swept node y holds when the sweep reaches it. */
  private inSweptSet(x: number, y: number): boolean {
    if (x !== this.memoFor || this.version !== this.memoVersion) {
      // Answers hold for one x and one graph.
      this.memoFor = x;
      this.memoVersion = this.version;
      this.epoch++;
    }
    const epoch = this.epoch;
    if (this.knownIn[y] === epoch) return true;
    if (this.knownOut[y] === epoch) return false;
    const gen = ++this.generation;
    const pos = this.pos;
    const visited: number[] = [];
    const stack = [y];
    while (stack.length) {
      const v = stack.pop()!;
      if (v === x || this.knownIn[v] === epoch) continue;
      if (v === this.root || this.knownOut[v] === epoch) {
        this.knownOut[y] = epoch;
        return false;
      }
      if (this.seen[v] === gen) continue;
      this.seen[v] = gen;
      visited.push(v);
      const at = pos[v]!;
      // Earliest-swept predecessor last, so it is searched first: it heads for the root.
      let first = -1;
      for (const p of this.preds[v]!) {
        const pp = pos[p]!;
        if (pp < 0 || pp >= at) continue;
        if (first < 0 || pp < pos[first]!) {
          if (first >= 0) stack.push(first);
          first = p;
        } else {
          stack.push(p);
        }
      }
      if (first >= 0) stack.push(first);
    }
    // No way back to the root avoids x from anything searched: x is in all their sets.
    for (const v of visited) this.knownIn[v] = epoch;
    return true;
  }

  /** True if x is in n's dominator set. */
  dominates(x: number, n: number): boolean {
    const at = this.pos[n]!;
    if (this.treeValid && at >= 0) {
      if (this.universal[n]) return true;
      return !this.universal[x] && this.pos[x]! >= 0 && this.tree.isAncestorOrSelf(x, n);
    }
    // A node the sweep never reaches holds only what its swept predecessors sent it.
    if (at >= 0 && !this.inSweptSet(x, n)) return false;
    for (const p of this.preds[n]!) {
      const pp = this.pos[p]!;
      if (pp > at && !this.inSweptSet(x, p)) return false;
    }
    return true;
  }
}

/**
 * libpcap's edge dominator sets, swept in fresh level order (so exact): every edge's dominating edges
 * are its ancestors in a forest over edge ids. The forest is numbered in preorder so that `KeyedChains`
 * can index ancestors by key.
 */
export class EdgeDominators {
  readonly forest: JumpForest;
  /** Per node: the edge intersection its in-edges sent. */
  private readonly received: Int32Array;
  private readonly swept: Uint8Array;
  /** Preorder number and end of subtree (exclusive) per edge. */
  readonly pre: Int32Array;
  readonly end: Int32Array;
  /** The edges of swept nodes in preorder. */
  preorder: number[] = [];

  constructor(private readonly nodeCount: number) {
    const edgeCount = 2 * nodeCount;
    this.forest = new JumpForest(edgeCount);
    this.received = new Int32Array(nodeCount);
    this.swept = new Uint8Array(nodeCount);
    this.pre = new Int32Array(edgeCount);
    this.end = new Int32Array(edgeCount);
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
      for (let side = 0; side < 2; side++) {
        const edge = id + side * n;
        forest.attach(edge, got);
        const succ = target(edge);
        if (succ < 0) continue;
        if (this.swept[succ]) throw new TsbpfError('FILTER_OPTIMIZER', `edge dominators: node ${succ} swept before its predecessors`);
        const prev = this.received[succ]!;
        this.received[succ] = prev === UNIVERSAL ? edge : prev === EMPTY ? EMPTY : forest.lca(prev, edge);
      }
    }
    this.number(order);
  }

  /** Preorder numbers and subtree ends, by an iterative depth-first walk. */
  private number(order: readonly number[]): void {
    const n = this.nodeCount;
    const parent = this.forest.parent;
    const firstChild = new Int32Array(2 * n).fill(-1);
    const nextSibling = new Int32Array(2 * n).fill(-1);
    const roots: number[] = [];
    for (let i = order.length - 1; i >= 0; i--) {
      for (const e of [order[i]! + n, order[i]!]) {
        const p = parent[e]!;
        if (p < 0) {
          roots.push(e);
        } else {
          nextSibling[e] = firstChild[p]!;
          firstChild[p] = e;
        }
      }
    }
    const preorder: number[] = [];
    const stack: number[] = [];
    for (let r = roots.length - 1; r >= 0; r--) {
      stack.push(roots[r]!);
      while (stack.length) {
        const top = stack.pop()!;
        if (top < 0) {
          this.end[~top] = preorder.length;
          continue;
        }
        this.pre[top] = preorder.length;
        preorder.push(top);
        stack.push(~top);
        for (let c = firstChild[top]!; c >= 0; c = nextSibling[c]!) stack.push(c);
      }
    }
    this.preorder = preorder;
  }

  /** True if edge `a` dominates edge `b` (or is b). */
  dominates(a: number, b: number): boolean {
    const at = this.pre[b]!;
    return this.pre[a]! <= at && at < this.end[a]!;
  }
}

/**
 * The dominating edges of every edge, grouped by a key: for an edge and a key, the deepest dominating
 * edge with that key, and from each keyed edge the next one up with the same key.
 */
export class KeyedChains {
  /** Keyed edges per key, in preorder. */
  private readonly byKey = new Map<number, number[]>();
  /** Nearest proper dominating edge with the same key, or -1. */
  private readonly up: Int32Array;

  /** `keyOf(edge)` is an edge's key, or -1 for none. */
  constructor(private readonly doms: EdgeDominators, keyOf: (edge: number) => number) {
    this.up = new Int32Array(doms.pre.length);
    // Per key, the open (still enclosing) keyed edges of the preorder walk.
    const open = new Map<number, number[]>();
    for (const e of doms.preorder) {
      const key = keyOf(e);
      if (key < 0) continue;
      let stack = open.get(key);
      if (!stack) {
        open.set(key, (stack = []));
        this.byKey.set(key, []);
      }
      while (stack.length && !doms.dominates(stack[stack.length - 1]!, e)) stack.pop();
      this.up[e] = stack.length ? stack[stack.length - 1]! : -1;
      stack.push(e);
      this.byKey.get(key)!.push(e);
    }
  }

  /** The deepest edge with key `key` dominating `edge` (itself included), or -1. */
  deepest(edge: number, key: number): number {
    const list = this.byKey.get(key);
    if (!list) return -1;
    const pre = this.doms.pre;
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
    while (x >= 0 && !this.doms.dominates(x, edge)) x = this.up[x]!;
    return x;
  }

  /** The next dominating edge up from keyed edge `edge` with the same key, or -1. */
  next(edge: number): number {
    return this.up[edge]!;
  }
}
