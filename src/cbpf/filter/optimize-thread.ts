/**
 * Jump threading: an edge is re-pointed past every branch whose outcome an edge dominating it already
 * decided (the same comparison of the same value, or on a true `jeq #k` edge an equality test of that
 * value against another constant).
 *
 * libpcap scans the edge's whole dominator bit set, in edge-id order, for each branch it skips, and
 * takes the first edge that decides it: quadratic or worse on long `or` chains. Here the scan is
 * replaced by lookups giving the same first edge, and runs of skipped branches are remembered:
 *
 * - Only dominating edges with the branch's key (opcode and accumulator value) can decide it.
 * - True edges have lower ids than false ones, and on a `jeq #k` branch every true edge decides, so
 *   the first deciding edge is the first true edge with that key if there is one; otherwise (and for
 *   other comparisons) it is the first edge that compared the same operand.
 * - Consecutive branches of one key are all decided by the same dominating edges, so where such a run
 *   ends depends only on those, not on the edge being threaded; runs are remembered per (deciding
 *   edges, branch), unless the registers of the jumping node had to be consulted.
 */
import { CbpfClass, CbpfJmpOp, CbpfSrc } from '../opcodes.js';
import { KeyedChains } from './optimize-dominators.js';
import { A_ATOM, atomBit, type Edge, foldKey, jf, jt, N_ATOMS, type OptGraph, type OptNode } from './optimize-graph.js';
import { noteChange, type PassProgress, VAL_UNKNOWN } from './optimize-values.js';

const JEQ_K = CbpfClass.JMP | CbpfJmpOp.JEQ | CbpfSrc.K;
const UNKNOWN = -2;

interface Run {
  /** Where the run of decided branches ends. */
  end: OptNode;
  /** The run ended at a branch of its key that nothing decides. */
  stuck: boolean;
}

interface Step {
  target: OptNode | undefined;
  /** Decided without looking at the jumping node's registers. */
  pure: boolean;
}

export class EdgeThreader {
  private readonly nodeCount: number;
  private readonly byKey: KeyedChains;
  private readonly byKeyAndOperand: KeyedChains;
  private readonly keyIds = new Map<number, number>();
  /** Per keyed edge: the lowest-id true edge from it up its key chain (-1 none). */
  private readonly firstTrue: Int32Array;
  /** Per (key, operand) edge: the lowest-id edge from it up its chain. */
  private readonly firstAny: Int32Array;
  private readonly runs = new Map<number, Run>();
  private readonly trueRunIds = new Map<number, number>();

  /** Call once value numbering has set the pass's edge codes and values. */
  constructor(private readonly graph: OptGraph, private readonly progress: PassProgress) {
    const edges = graph.edges;
    const doms = graph.edgeDominators;
    this.nodeCount = graph.nodes.length;
    const keyOf = (e: number): number => {
      const edge = edges[e]!;
      return foldKey(Math.abs(edge.code), edge.pred.val[A_ATOM]!);
    };
    this.byKey = new KeyedChains(doms, keyOf);
    this.byKeyAndOperand = new KeyedChains(doms, (e) => {
      const key = keyOf(e);
      const operand = edges[e]!.pred.oval;
      return key < 0 || operand === VAL_UNKNOWN ? -1 : this.operandKey(key, operand, true);
    });
    this.firstTrue = new Int32Array(edges.length).fill(UNKNOWN);
    this.firstAny = new Int32Array(edges.length).fill(UNKNOWN);
  }

  /** A key and a compared operand as one number (-1 if the key was never indexed and `add` is false). */
  private operandKey(key: number, operand: number, add: boolean): number {
    let id = this.keyIds.get(key);
    if (id === undefined) {
      if (!add) return -1;
      this.keyIds.set(key, (id = this.keyIds.size));
    }
    return id * 0x1_0000_0000 + operand;
  }

  /** Re-points edge `ep` past branches whose outcome a dominating edge already decided. */
  threadEdge(ep: Edge): void {
    const succ = ep.succ!;
    if (!jt(succ)) return;
    if (jt(succ) === jf(succ) && !useConflict(ep.pred, jt(succ)!)) {
      // Both branches of the successor go the same way: skip it.
      noteChange(this.progress);
      ep.succ = jt(succ);
    }
    for (;;) {
      const child = ep.succ!;
      const key = foldKey(child.branch.code, child.val[A_ATOM]!);
      if (key < 0) return;
      const head = this.byKey.deepest(ep.id, key);
      if (head < 0) return;
      const run = this.run(ep, key, head, child);
      if (run.end !== child) {
        this.progress.done = false;
        ep.succ = run.end;
      }
      if (run.stuck || !jt(run.end)) return;
    }
  }

  /**
   * Runs decided by one true `jeq` edge depend only on the constant it compared: they share memos
   * (numbered after the edge ids, which name the runs decided along a key chain).
   */
  private trueRunsId(key: number, edge: number): number {
    const operand = this.operandKey(key, this.graph.edges[edge]!.pred.oval, true);
    let id = this.trueRunIds.get(operand);
    if (id === undefined) this.trueRunIds.set(operand, (id = this.graph.edges.length + this.trueRunIds.size));
    return id;
  }

  /** Follows decided branches from `start` while the nodes reached test `key`. */
  private run(ep: Edge, key: number, head: number, start: OptNode): Run {
    const first = start.branch.code === JEQ_K ? this.lowest(this.firstTrue, this.byKey, head, true) : -1;
    const base = (first >= 0 ? this.trueRunsId(key, first) : head) * this.nodeCount;
    const visited: OptNode[] = [];
    let pure = true;
    let node = start;
    let stuck = false;
    for (;;) {
      const known = this.runs.get(base + node.id);
      if (known) {
        node = known.end;
        stuck = known.stuck;
        break;
      }
      visited.push(node);
      const step = first >= 0 ? this.decideBy(ep, first, head, node) : this.decideByOperand(ep, key, head, node);
      if (!step.pure) pure = false;
      if (!step.target) {
        stuck = true;
        break;
      }
      node = step.target;
      if (!jt(node) || foldKey(node.branch.code, node.val[A_ATOM]!) !== key) break;
    }
    if (pure) for (const v of visited) this.runs.set(base + v.id, { end: node, stuck });
    return { end: node, stuck };
  }

  private decideByOperand(ep: Edge, key: number, head: number, child: OptNode): Step {
    if (child.oval === VAL_UNKNOWN) return { target: undefined, pure: true };
    const operandKey = this.operandKey(key, child.oval, false);
    const headSame = operandKey < 0 ? -1 : this.byKeyAndOperand.deepest(ep.id, operandKey);
    if (headSame < 0) return { target: undefined, pure: true };
    return this.decideBy(ep, this.lowest(this.firstAny, this.byKeyAndOperand, headSame, false), head, child);
  }

  /** `child` decided by dominating edge `by`, the first that can; on a register conflict, by a full scan. */
  private decideBy(ep: Edge, by: number, head: number, child: OptNode): Step {
    const target = foldEdge(child, this.graph.edges[by]!);
    if (!target) return this.scan(ep, head, child);
    // A target that passes no register on cannot conflict, whoever jumps to it.
    if (target.outUse === 0) return { target, pure: true };
    return useConflict(ep.pred, target) ? this.scan(ep, head, child) : { target, pure: false };
  }

  /** libpcap's scan: every dominating edge of the key chain, by id; the first that decides and fits. */
  private scan(ep: Edge, head: number, child: OptNode): Step {
    const chain: number[] = [];
    for (let e = head; e >= 0; e = this.byKey.next(e)) chain.push(e);
    chain.sort((a, b) => a - b);
    for (const e of chain) {
      const target = foldEdge(child, this.graph.edges[e]!);
      if (target && !useConflict(ep.pred, target)) return { target, pure: false };
    }
    return { target: undefined, pure: false };
  }

  /** The lowest edge id (true edges only if `trueOnly`) from `head` up its chain in `chains`, or -1. */
  private lowest(memo: Int32Array, chains: KeyedChains, head: number, trueOnly: boolean): number {
    const path: number[] = [];
    let e = head;
    while (e >= 0 && memo[e] === UNKNOWN) {
      path.push(e);
      e = chains.next(e);
    }
    let low = e >= 0 ? memo[e]! : -1;
    for (let i = path.length - 1; i >= 0; i--) {
      const x = path[i]!;
      if ((!trueOnly || x < this.nodeCount) && (low < 0 || x < low)) low = x;
      memo[x] = low;
    }
    return low;
  }
}

/**
 * True if a register `succ` leaves for its successors to read differs from what `b` leaves. Two
 * unknown values are not known to be equal (libpcap takes them as equal).
 */
export function useConflict(b: OptNode, succ: OptNode): boolean {
  const use = succ.outUse;
  if (use === 0) return false;
  for (let atom = 0; atom < N_ATOMS; atom++) {
    if (use & atomBit(atom) && (b.val[atom] !== succ.val[atom] || b.val[atom] === VAL_UNKNOWN)) return true;
  }
  return false;
}

/**
 * Where `child`'s branch goes, when the dominating edge `ep` already decided it: the same comparison
 * of the same values, or (on a true `jeq #k` edge) an equality test of the same value against another
 * constant, which must be false. Undefined when `ep` says nothing about it.
 */
function foldEdge(child: OptNode, ep: Edge): OptNode | undefined {
  let code = ep.code;
  let sense = true;
  if (code < 0) {
    code = -code;
    sense = false;
  }
  if (child.branch.code !== code) return undefined;
  // Unknown values (number 0) are not known to be equal to anything (libpcap compares them anyway).
  const a = child.val[A_ATOM]!;
  if (a === VAL_UNKNOWN || a !== ep.pred.val[A_ATOM]) return undefined;
  if (child.oval !== VAL_UNKNOWN && child.oval === ep.pred.oval) return sense ? jt(child) : jf(child);
  if (sense && code === JEQ_K) return jf(child);
  return undefined;
}
