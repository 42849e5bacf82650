/**
 * The optimiser's working graph: one node per reachable CFG block, each with its two out-edges as
 * objects (so an edge can be re-pointed), plus the per-pass analyses the BPF paper's optimiser needs:
 * levels (longest distance to a leaf), dominators, edge dominators and register use/def sets.
 *
 * The order in which nodes are numbered, levels are listed and in-edges are chained matches libpcap's
 * optimiser, because several of its rewrites (pull-ups, jump folding) pick the first candidate they
 * meet and the output would otherwise differ.
 */
import { CbpfClass, cbpfClass, cbpfMiscOp, cbpfMode, cbpfRval, cbpfSrc, CbpfMiscOp, CbpfMode, CbpfRval, CbpfSrc } from '../opcodes.js';
import type { Block, Stmt } from './cfg.js';
import { EdgeDominators, NodeDominators } from './optimize-dominators.js';

/** A statement the optimiser deleted; dropped when the graph is written back. */
export const NOP = -1;
/** Atoms: M[0..15] are 0..15, then the accumulator and the index register. */
export const A_ATOM = 16;
export const X_ATOM = 17;
export const N_ATOMS = 18;
/** A statement that reads both A and X. */
export const AX_ATOM = N_ATOMS;

export interface Edge {
  id: number;
  pred: OptNode;
  succ: OptNode | undefined;
  /** The predecessor's branch opcode, negated for the false edge (set by the block pass). */
  code: number;
  /** Next edge in the successor's in-edge chain. */
  next: Edge | undefined;
}

export interface OptNode {
  id: number;
  /** The CFG block this node writes back to. */
  block: Block;
  stmts: Stmt[];
  branch: Stmt;
  et: Edge;
  ef: Edge;
  level: number;
  /** Next node in the same level list, or (in block interning) the equal node this one merges into. */
  link: OptNode | undefined;
  /** Value number of each atom on exit. */
  val: Int32Array;
  /** Value number of the branch's second operand. */
  oval: number;
  def: number;
  kill: number;
  inUse: number;
  outUse: number;
  inEdges: Edge | undefined;
  mark: number;
}

/** The key jump threading indexes edges by: a comparison opcode and the accumulator's value number. */
export const foldKey = (code: number, aval: number): number => (aval === 0 ? -1 : aval * 65536 + code);

export const jt = (n: OptNode): OptNode | undefined => n.et.succ;
export const jf = (n: OptNode): OptNode | undefined => n.ef.succ;


const copyStmt = (s: Stmt): Stmt => ({ code: s.code, k: s.k >>> 0 });

/** Copies a block's statements, re-pointing in-block jump targets at the copies. */
function copyStmts(stmts: Stmt[]): Stmt[] {
  const copies = stmts.map(copyStmt);
  stmts.forEach((s, i) => {
    if (s.jt) copies[i]!.jt = copies[stmts.indexOf(s.jt)];
    if (s.jf) copies[i]!.jf = copies[stmts.indexOf(s.jf)];
  });
  return copies;
}

export class OptGraph {
  readonly nodes: OptNode[] = [];
  readonly edges: Edge[] = [];
  root: OptNode;
  private readonly nodeDominators: NodeDominators;
  /** As of the last `findEdgeDominators`. */
  readonly edgeDominators: EdgeDominators;
  /** levels[i] heads the list (through `link`) of nodes at level i. */
  levels: (OptNode | undefined)[] = [];
  private markGen = 0;

  constructor(rootBlock: Block) {
    // Number blocks in depth-first preorder, true branch before false, as libpcap does (with an
    // explicit stack: filters with thousands of blocks are too deep for recursion).
    const byBlock = new Map<Block, OptNode>();
    const seen = new Set<Block>();
    const order: Block[] = [];
    const stack: Block[] = [rootBlock];
    while (stack.length) {
      const b = stack.pop()!;
      if (seen.has(b)) continue;
      seen.add(b);
      order.push(b);
      if (b.jf) stack.push(b.jf);
      if (b.jt) stack.push(b.jt);
    }
    const n = order.length;
    this.nodeDominators = new NodeDominators(n);
    this.edgeDominators = new EdgeDominators(n);
    for (let i = 0; i < n; i++) {
      const block = order[i]!;
      // The node's two edges point back at it, so they are attached right after it is made.
      const node = {
        id: i, block, stmts: copyStmts(block.stmts), branch: copyStmt(block.branch), et: undefined, ef: undefined, level: 0,
        link: undefined, val: new Int32Array(N_ATOMS), oval: 0,
        def: 0, kill: 0, inUse: 0, outUse: 0, inEdges: undefined, mark: 0,
      } as unknown as OptNode;
      node.et = { id: i, pred: node, succ: undefined, code: 0, next: undefined };
      node.ef = { id: n + i, pred: node, succ: undefined, code: 0, next: undefined };
      byBlock.set(block, node);
      this.nodes.push(node);
    }
    for (const node of this.nodes) {
      if (node.block.jt) node.et.succ = byBlock.get(node.block.jt);
      if (node.block.jf) node.ef.succ = byBlock.get(node.block.jf);
      this.edges[node.et.id] = node.et;
      this.edges[node.ef.id] = node.ef;
    }
    this.root = this.nodes[0]!;
  }

  newMark(): number {
    return ++this.markGen;
  }

  /** Levels: leaves are 0, a node is one above its higher successor. */
  findLevels(): void {
    this.levels = new Array<OptNode | undefined>(this.nodes.length).fill(undefined);
    const mark = this.newMark();
    // Depth-first postorder (true branch first); a node joins the front of its level's list when done.
    // The stack holds nodes and, beside them, how far each got (0 new, 1 true side taken, 2 both).
    const stack: OptNode[] = [this.root];
    const stages: number[] = [0];
    while (stack.length) {
      const top = stack.length - 1;
      const b = stack[top]!;
      const t = jt(b);
      const f = jf(b);
      if (stages[top] === 0) {
        if (b.mark === mark) {
          stack.pop();
          stages.pop();
          continue;
        }
        b.mark = mark;
        b.link = undefined;
        if (t && f) {
          stages[top] = 1;
          stack.push(t);
          stages.push(0);
          continue;
        }
      } else if (stages[top] === 1) {
        stages[top] = 2;
        stack.push(f!);
        stages.push(0);
        continue;
      }
      stack.pop();
      stages.pop();
      b.level = t && f ? Math.max(t.level, f.level) + 1 : 0;
      b.link = this.levels[b.level];
      this.levels[b.level] = b;
    }
  }

  /** Every node reachable from `from` (through both branches). */
  reachable(from: OptNode): Set<OptNode> {
    const seen = new Set<OptNode>();
    const stack = [from];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n)) continue;
      seen.add(n);
      const t = jt(n);
      const f = jf(n);
      if (t) stack.push(t);
      if (f) stack.push(f);
    }
    return seen;
  }

  /** Calls `fn` for every listed node from the root's level down to `lowest`. */
  forLevelsDown(lowest: number, fn: (b: OptNode) => void): void {
    for (let i = this.root.level; i >= lowest; i--) {
      for (let b = this.levels[i]; b; b = b.link) fn(b);
    }
  }

  /** Calls `fn` for every listed node from level `lowest` up to the root's level. */
  forLevelsUp(lowest: number, fn: (b: OptNode) => void): void {
    const top = this.root.level;
    for (let i = lowest; i <= top; i++) {
      for (let b = this.levels[i]; b; b = b.link) fn(b);
    }
  }

  /** Node ids from the root's level down, in level-list order (libpcap's sweep order). */
  private levelOrder(): number[] {
    const order: number[] = [];
    this.forLevelsDown(0, (b) => order.push(b.id));
    return order;
  }

  /** Dominator sets swept in level order (stale after a pull-up, as in libpcap). */
  findDominators(): void {
    const n = this.nodes.length;
    const trueSucc = new Int32Array(n);
    const falseSucc = new Int32Array(n);
    for (const b of this.nodes) {
      const t = jt(b);
      const f = jf(b);
      trueSucc[b.id] = t && f ? t.id : -1;
      falseSucc[b.id] = t && f ? f.id : -1;
    }
    this.nodeDominators.compute(this.levelOrder(), this.root.id, trueSucc, falseSucc);
  }

  /** `findDominators` for a graph in which only the branches of `changed` nodes moved since. */
  updateDominators(changed: OptNode[]): void {
    for (const b of changed) {
      const t = jt(b);
      const f = jf(b);
      this.nodeDominators.update(b.id, t && f ? t.id : -1, t && f ? f.id : -1);
    }
  }

  /** True if `x` is in `n`'s dominator set (as of the last `findDominators`). */
  dominates(x: OptNode, n: OptNode): boolean {
    return this.nodeDominators.dominates(x.id, n.id);
  }

  /** Edge dominators, swept in fresh level order (call right after `findLevels`). */
  findEdgeDominators(): void {
    this.edgeDominators.compute(this.levelOrder(), this.root.id, (e) => this.edges[e]!.succ?.id ?? -1);
  }

  /** Registers used on entry (before any definition) and on exit of every node. */
  findUseDef(): void {
    this.forLevelsDown(0, (b) => {
      computeLocalUseDef(b);
      b.outUse = 0;
    });
    this.forLevelsUp(1, (b) => {
      b.outUse |= jt(b)!.inUse | jf(b)!.inUse;
      b.inUse |= b.outUse & ~b.kill;
    });
  }

  /** Chains each edge into its successor's in-edge list (most recently linked first). */
  findInEdges(): void {
    for (const b of this.nodes) b.inEdges = undefined;
    const link = (e: Edge): void => {
      const child = e.succ!;
      e.next = child.inEdges;
      child.inEdges = e;
    };
    this.forLevelsDown(1, (b) => {
      link(b.et);
      link(b.ef);
    });
  }
}

/** The atom a statement reads (AX_ATOM for both A and X), or -1. */
export function atomUse(s: Stmt): number {
  const c = s.code;
  if (c === NOP) return -1;
  switch (cbpfClass(c)) {
    case CbpfClass.RET: {
      const r = cbpfRval(c);
      return r === CbpfRval.A ? A_ATOM : r === CbpfRval.X ? X_ATOM : -1;
    }
    case CbpfClass.LD:
    case CbpfClass.LDX:
      return cbpfMode(c) === CbpfMode.IND ? X_ATOM : cbpfMode(c) === CbpfMode.MEM ? s.k : -1;
    case CbpfClass.ST:
      return A_ATOM;
    case CbpfClass.STX:
      return X_ATOM;
    case CbpfClass.JMP:
    case CbpfClass.ALU:
      return cbpfSrc(c) === CbpfSrc.X ? AX_ATOM : A_ATOM;
    default:
      return cbpfMiscOp(c) === CbpfMiscOp.TXA ? X_ATOM : A_ATOM;
  }
}

/** The atom a statement writes, or -1. */
export function atomDef(s: Stmt): number {
  if (s.code === NOP) return -1;
  switch (cbpfClass(s.code)) {
    case CbpfClass.LD:
    case CbpfClass.ALU:
      return A_ATOM;
    case CbpfClass.LDX:
      return X_ATOM;
    case CbpfClass.ST:
    case CbpfClass.STX:
      return s.k;
    case CbpfClass.MISC:
      return cbpfMiscOp(s.code) === CbpfMiscOp.TAX ? X_ATOM : A_ATOM;
    default:
      return -1;
  }
}

export const atomBit = (atom: number): number => 1 << atom;

function computeLocalUseDef(b: OptNode): void {
  let def = 0;
  let use = 0;
  let killed = 0;
  const noteUse = (atom: number): void => {
    if (atom < 0) return;
    if (atom === AX_ATOM) {
      if (!(def & atomBit(X_ATOM))) use |= atomBit(X_ATOM);
      if (!(def & atomBit(A_ATOM))) use |= atomBit(A_ATOM);
    } else if (!(def & atomBit(atom))) {
      use |= atomBit(atom);
    }
  };
  for (const s of b.stmts) {
    if (s.code === NOP) continue;
    noteUse(atomUse(s));
    const atom = atomDef(s);
    if (atom >= 0) {
      if (!(use & atomBit(atom))) killed |= atomBit(atom);
      def |= atomBit(atom);
    }
  }
  // Like libpcap, only a conditional jump counts as a use here; a `ret a` does not.
  if (cbpfClass(b.branch.code) === CbpfClass.JMP) noteUse(atomUse(b.branch));
  b.def = def;
  b.kill = killed;
  b.inUse = use;
}
