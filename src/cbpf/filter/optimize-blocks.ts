/**
 * The per-node rewrites of one optimiser pass: value numbering a node's statements, peephole rewrites
 * of its statement tail and branch, dead-store removal, and the branch moves (jump threading through
 * dominating edges, and the `or`/`and` chain pull-ups).
 */
import { CbpfAluOp, CbpfClass, CbpfJmpOp, CbpfMiscOp, CbpfMode, CbpfSize, CbpfSrc, cbpfClass, cbpfMode, cbpfOp, cbpfSrc } from '../opcodes.js';
import type { Stmt } from './cfg.js';
import {
  A_ATOM, AX_ATOM, atomBit, atomDef, atomUse, type Edge, jf, jt, N_ATOMS, NOP, type OptGraph, type OptNode, X_ATOM, foldKey,
} from './optimize-graph.js';
import { noteChange, type PassProgress, StatementEvaluator, VAL_UNKNOWN, ValueTable } from './optimize-values.js';

const JEQ_K = CbpfClass.JMP | CbpfJmpOp.JEQ | CbpfSrc.K;
const JSET_K = CbpfClass.JMP | CbpfJmpOp.JSET | CbpfSrc.K;
const LD_IMM = CbpfClass.LD | CbpfMode.IMM;
const TAX = CbpfClass.MISC | CbpfMiscOp.TAX;
const TXA = CbpfClass.MISC | CbpfMiscOp.TXA;

/** Index of the first live statement at or after i, or -1. */
function liveFrom(stmts: Stmt[], i: number): number {
  while (i < stmts.length && stmts[i]!.code === NOP) i++;
  return i < stmts.length ? i : -1;
}

function swapBranches(b: OptNode): void {
  const t = b.et.succ;
  b.et.succ = b.ef.succ;
  b.ef.succ = t;
}

/** The dominating edges that may decide branches of one key, and what their decisions depend on. */
interface Deciders {
  edges: Edge[];
  signature: number;
}

interface FoldRun {
  end: OptNode;
  stuck: boolean;
}

interface Decision {
  node: OptNode | undefined;
  /** Decided without looking at the jumping node's values. */
  pure: boolean;
}

const NO_DECISION: Decision = { node: undefined, pure: true };
const IMPURE_MISS = Symbol('undecided after looking at the jumping node');

export class BlockPass {
  readonly values = new ValueTable();
  private readonly decidersByHead = new Map<Edge, Deciders>();
  private readonly signatureIds = new Map<string, number>();
  private readonly runs = new Map<number, FoldRun>();
  private readonly evaluator: StatementEvaluator;

  constructor(private readonly graph: OptGraph, private readonly progress: PassProgress) {
    this.evaluator = new StatementEvaluator(this.values, progress);
  }

  /** One pass over all nodes, root first; branch moves only while statements are left alone. */
  run(doStmts: boolean): void {
    const g = this.graph;
    g.findInEdges();
    g.forLevelsDown(0, (b) => this.optimizeNode(b, doStmts));
    // Once statements are being rewritten, moving branches cannot change anything more.
    if (doStmts) return;
    g.indexEdgeDominators();
    g.forLevelsUp(1, (b) => {
      this.threadEdge(b.et);
      this.threadEdge(b.ef);
    });
    g.findInEdges();
    g.forLevelsUp(1, (b) => {
      this.pullUp(b, 'or');
      this.pullUp(b, 'and');
    });
  }

  private optimizeNode(b: OptNode, doStmts: boolean): void {
    // Entry values: those all predecessors agree on, unknown elsewhere.
    let p = b.inEdges;
    if (!p) {
      b.val.fill(0);
    } else {
      b.val.set(p.pred.val);
      for (p = p.next; p; p = p.next) {
        for (let i = 0; i < N_ATOMS; i++) if (b.val[i] !== p.pred.val[i]) b.val[i] = 0;
      }
    }
    const aval = b.val[A_ATOM]!;
    const xval = b.val[X_ATOM]!;
    // Value numbering assumes straight-line code: a block with in-block jumps keeps its statements
    // untouched (deleting one would shift the jumps' targets), and what it defines from its first
    // jump on may or may not have run, so is unknown on exit.
    const firstJump = b.stmts.findIndex((s) => cbpfClass(s.code) === CbpfClass.JMP);
    if (firstJump >= 0) doStmts = false;
    for (const s of b.stmts) this.evaluator.evaluate(s, b.val, doStmts);
    if (firstJump >= 0) {
      for (let i = firstJump; i < b.stmts.length; i++) {
        const atom = atomDef(b.stmts[i]!);
        if (atom >= 0) b.val[atom] = VAL_UNKNOWN;
      }
    }

    // A node whose statements change nothing anyone uses (or that returns a constant) needs none.
    const unchanged = b.outUse === 0 && aval !== 0 && b.val[A_ATOM] === aval && xval !== 0 && b.val[X_ATOM] === xval;
    if (doStmts && (unchanged || cbpfClass(b.branch.code) === CbpfClass.RET)) {
      if (b.stmts.length !== 0) {
        b.stmts = [];
        noteChange(this.progress);
      }
    } else if (firstJump < 0) {
      this.peephole(b);
      this.removeDeadStores(b);
    }
    b.oval = cbpfSrc(b.branch.code) === CbpfSrc.K ? this.values.k(b.branch.k) : b.val[X_ATOM]!;
    b.et.code = b.branch.code;
    b.ef.code = -b.branch.code;
  }

  private peephole(b: OptNode): void {
    const ss = b.stmts;
    if (ss.length === 0) return;
    let last = 0;
    for (let s = liveFrom(ss, 0); s >= 0; ) {
      const next = liveFrom(ss, s + 1);
      if (next < 0) break;
      last = next;
      const cur = ss[s]!;
      const nxt = ss[next]!;
      // st M[k]; ldx M[k]  ->  st M[k]; tax
      if (cur.code === CbpfClass.ST && nxt.code === (CbpfClass.LDX | CbpfMode.MEM) && cur.k === nxt.k) {
        noteChange(this.progress);
        nxt.code = TAX;
      }
      // ld #k; tax  ->  ldx #k; txa
      if (cur.code === LD_IMM && nxt.code === TAX) {
        cur.code = CbpfClass.LDX | CbpfMode.IMM;
        nxt.code = TXA;
        noteChange(this.progress);
      }
      // ld #k; [ldxms]; add x; tax; ld [x+j]  ->  [ldxms]; ld [x+j+k]  (what `tcp[k]` compiles to)
      if (cur.code === LD_IMM && !(b.outUse & atomBit(X_ATOM))) this.foldIndexConstant(ss, s, next);
      s = next;
    }

    const br = b.branch;
    const tail = ss[last]!;
    if (br.code === JEQ_K && !(b.outUse & atomBit(A_ATOM))) {
      if (tail.code === (CbpfClass.ALU | CbpfAluOp.SUB | CbpfSrc.X)) {
        const x = b.val[X_ATOM]!;
        if (this.values.isConst(x)) {
          // sub x; jeq #y  ->  jeq #(y + x)
          br.k = (br.k + this.values.constOf(x)) >>> 0;
          tail.code = NOP;
          noteChange(this.progress);
        } else if (br.k === 0) {
          // sub x; jeq #0  ->  jeq x
          tail.code = NOP;
          br.code = CbpfClass.JMP | CbpfJmpOp.JEQ | CbpfSrc.X;
          noteChange(this.progress);
        }
      } else if (tail.code === (CbpfClass.ALU | CbpfAluOp.SUB | CbpfSrc.K)) {
        // sub #x; jeq #y  ->  jeq #(x + y)
        tail.code = NOP;
        br.k = (br.k + tail.k) >>> 0;
        noteChange(this.progress);
      } else if (tail.code === (CbpfClass.ALU | CbpfAluOp.AND | CbpfSrc.K) && br.k === 0 && tail.k === 0xffffffff) {
        // and #0xffffffff changes nothing (and `jset #0xffffffff` is not "always").
        tail.code = NOP;
        noteChange(this.progress);
      } else if (tail.code === (CbpfClass.ALU | CbpfAluOp.AND | CbpfSrc.K) && br.k === 0) {
        // and #k; jeq #0  ->  jset #k with the branches swapped
        br.k = tail.k;
        br.code = JSET_K;
        tail.code = NOP;
        noteChange(this.progress);
        swapBranches(b);
      }
    }
    // `jset #0` is never true. (libpcap 1.10 also took `jset #0xffffffff` as always true: wrong for A = 0.)
    if (br.code === JSET_K && br.k === 0) b.et.succ = b.ef.succ;

    // A comparison against an X of known value compares against that constant.
    const x = b.val[X_ATOM]!;
    if (this.values.isConst(x) && cbpfSrc(br.code) === CbpfSrc.X) {
      br.code &= ~CbpfSrc.X;
      br.k = this.values.constOf(x);
    }
    // A comparison of a known accumulator has a known outcome.
    const a = b.val[A_ATOM]!;
    if (this.values.isConst(a) && cbpfSrc(br.code) === CbpfSrc.K && cbpfClass(br.code) === CbpfClass.JMP) {
      const v = this.values.constOf(a);
      let taken: boolean;
      switch (cbpfOp(br.code)) {
        case CbpfJmpOp.JEQ: taken = v === br.k; break;
        case CbpfJmpOp.JGT: taken = v > br.k; break;
        case CbpfJmpOp.JGE: taken = v >= br.k; break;
        case CbpfJmpOp.JSET: taken = (v & br.k) !== 0; break;
        default: return;
      }
      if (b.ef.succ !== b.et.succ) noteChange(this.progress);
      if (taken) b.ef.succ = b.et.succ;
      else b.et.succ = b.ef.succ;
    }
  }

  private foldIndexConstant(ss: Stmt[], s: number, next: number): void {
    const add = ss[next]!.code !== (CbpfClass.LDX | CbpfMode.MSH | CbpfSize.B) ? next : liveFrom(ss, next + 1);
    if (add < 0 || ss[add]!.code !== (CbpfClass.ALU | CbpfAluOp.ADD | CbpfSrc.X)) return;
    const tax = liveFrom(ss, add + 1);
    if (tax < 0 || ss[tax]!.code !== TAX) return;
    const load = liveFrom(ss, tax + 1);
    if (load < 0 || cbpfClass(ss[load]!.code) !== CbpfClass.LD || cbpfMode(ss[load]!.code) !== CbpfMode.IND) return;
    ss[load]!.k = (ss[load]!.k + ss[s]!.k) >>> 0;
    ss[s]!.code = NOP;
    ss[add]!.code = NOP;
    ss[tax]!.code = NOP;
    noteChange(this.progress);
  }

  /** Deletes definitions overwritten before any use, and those nobody after the node reads. */
  private removeDeadStores(b: OptNode): void {
    const last: (Stmt | undefined)[] = new Array<Stmt | undefined>(N_ATOMS).fill(undefined);
    const visit = (s: Stmt): void => {
      const used = atomUse(s);
      if (used === AX_ATOM) {
        last[X_ATOM] = undefined;
        last[A_ATOM] = undefined;
      } else if (used >= 0) {
        last[used] = undefined;
      }
      const defined = atomDef(s);
      if (defined >= 0) {
        const prev = last[defined];
        if (prev) {
          noteChange(this.progress);
          prev.code = NOP;
        }
        last[defined] = s;
      }
    };
    for (const s of b.stmts) visit(s);
    visit(b.branch);
    for (let atom = 0; atom < N_ATOMS; atom++) {
      const s = last[atom];
      if (s && !(b.outUse & atomBit(atom))) {
        s.code = NOP;
        noteChange(this.progress);
      }
    }
  }

  /** Re-points edge `ep` past branches whose outcome a dominating edge already decided. */
  private threadEdge(ep: Edge): void {
    const succ = ep.succ!;
    if (!jt(succ)) return;
    if (jt(succ) === jf(succ) && !useConflict(ep.pred, jt(succ)!)) {
      // Both branches of the successor go the same way: skip it.
      noteChange(this.progress);
      ep.succ = jt(succ);
    }
    // libpcap re-points one branch at a time, restarting its scan of the dominating edges each time;
    // runs of branches decided by the same dominating edges are taken in one go here (and remembered).
    for (;;) {
      const child = ep.succ!;
      const key = foldKey(child.branch.code, child.val[A_ATOM]!);
      if (key < 0) return;
      const head = this.graph.deepestDominatingWithKey(ep, key);
      if (!head) return;
      const run = this.foldRun(ep.pred, this.deciders(head), key, child);
      if (run.end !== child) {
        this.progress.done = false;
        ep.succ = run.end;
      }
      if (run.stuck || !jt(run.end)) return;
    }
  }

  /** The dominating edges from `head` up that share its key, by edge id, with their signature. */
  private deciders(head: Edge): Deciders {
    let known = this.decidersByHead.get(head);
    if (known) return known;
    const edges: Edge[] = [];
    for (let e: Edge | undefined = head; e; e = this.graph.nextDominatingWithKey(e)) edges.push(e);
    edges.sort((a, b) => a.id - b.id);
    // What a decision depends on: each edge's sense and compared value, in id order.
    const signature = edges.map((e) => `${e.code},${e.pred.oval}`).join(';');
    let id = this.signatureIds.get(signature);
    if (id === undefined) this.signatureIds.set(signature, (id = this.signatureIds.size));
    known = { edges, signature: id };
    this.decidersByHead.set(head, known);
    return known;
  }

  /**
   * Follows decided branches from `start` while the nodes reached test `key`: where they end, and
   * whether the last one reached is undecided (stuck). A run that never needed `pred`'s values to
   * decide is remembered for every node on it, under the deciders' signature.
   */
  private foldRun(pred: OptNode, deciders: Deciders, key: number, start: OptNode): FoldRun {
    const base = deciders.signature * this.graph.nodes.length;
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
      const target = this.decide(pred, deciders.edges, node);
      if (target === IMPURE_MISS || target.node === undefined) {
        if (target === IMPURE_MISS || !target.pure) pure = false;
        stuck = true;
        break;
      }
      if (!target.pure) pure = false;
      node = target.node;
      if (!jt(node) || foldKey(node.branch.code, node.val[A_ATOM]!) !== key) break;
    }
    if (pure) for (const v of visited) this.runs.set(base + v.id, { end: node, stuck });
    return { end: node, stuck };
  }

  /** The first of `deciders` (by id) that decides `child` to a node `pred` may jump to. */
  private decide(pred: OptNode, deciders: Edge[], child: OptNode): Decision | typeof IMPURE_MISS {
    let pure = true;
    for (const d of deciders) {
      const target = foldEdge(child, d);
      if (!target) continue;
      // A target that passes no register on cannot conflict, whoever jumps to it.
      if (target.outUse === 0) return { node: target, pure };
      pure = false;
      if (!useConflict(pred, target)) return { node: target, pure };
    }
    return pure ? NO_DECISION : IMPURE_MISS;
  }

  /**
   * The `or` pull-up (and, mirrored, the `and` one): in a chain of tests of one value joined on their
   * true (for `and`, false) exits, a test of the value the predecessors loaded that sits below tests of
   * another value is moved to the top of the chain.
   */
  private pullUp(b: OptNode, kind: 'or' | 'and'): void {
    const first = b.inEdges;
    if (!first) return;
    // The "joined" side and the side the chain continues on.
    const joined = kind === 'or' ? (n: OptNode): Edge => n.et : (n: OptNode): Edge => n.ef;
    const chain = kind === 'or' ? (n: OptNode): Edge => n.ef : (n: OptNode): Edge => n.et;

    const val = first.pred.val[A_ATOM]!;
    for (let ep = first.next; ep; ep = ep.next) if (ep.pred.val[A_ATOM] !== val) return;

    let diff: Edge = jt(first.pred) === b ? first.pred.et : first.pred.ef;
    let atTop = true;
    for (;;) {
      const n = diff.succ;
      if (!n) return;
      if (joined(n).succ !== joined(b).succ) return;
      if (!this.graph.dominates(b, n)) return;
      if (n.val[A_ATOM] !== val) break;
      diff = chain(n);
      atTop = false;
    }
    let same: Edge = chain(diff.succ!);
    for (;;) {
      const n = same.succ;
      if (!n) return;
      if (joined(n).succ !== joined(b).succ) return;
      if (!this.graph.dominates(b, n)) return;
      if (n.val[A_ATOM] === val) break;
      same = chain(n);
    }
    const pull = same.succ!;
    same.succ = chain(pull).succ;
    chain(pull).succ = diff.succ;
    if (atTop) {
      for (let ep = b.inEdges; ep; ep = ep.next) {
        if (jt(ep.pred) === b) ep.pred.et.succ = pull;
        else ep.pred.ef.succ = pull;
      }
    } else {
      diff.succ = pull;
    }
    this.progress.done = false;
    // The graph changed under the dominator sets the next pull-up consults.
    this.graph.findDominators();
  }
}

/**
 * True if a register `succ` leaves for its successors to read differs from what `b` leaves. Two
 * unknown values are not known to be equal (libpcap takes them as equal).
 */
function useConflict(b: OptNode, succ: OptNode): boolean {
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
