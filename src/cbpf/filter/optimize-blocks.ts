/**
 * The per-node rewrites of one optimiser pass: value numbering a node's statements, peephole rewrites
 * of its statement tail and branch, dead-store removal, and the branch moves (jump threading through
 * dominating edges, and the `or`/`and` chain pull-ups).
 */
import { CbpfAluOp, CbpfClass, CbpfJmpOp, CbpfMiscOp, CbpfMode, CbpfSize, CbpfSrc, cbpfClass, cbpfMode, cbpfOp, cbpfSrc } from '../opcodes.js';
import type { Stmt } from './cfg.js';
import {
  A_ATOM, AX_ATOM, atomBit, atomDef, atomUse, type Edge, jt, N_ATOMS, NOP, type OptGraph, type OptNode, X_ATOM,
} from './optimize-graph.js';
import { EdgeThreader } from './optimize-thread.js';
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

export class BlockPass {
  readonly values = new ValueTable();
  private readonly evaluator: StatementEvaluator;
  /** A pull-up happened in this pass (the dominators then follow each graph change). */
  private pulledUp = false;

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
    const threader = new EdgeThreader(g, this.progress);
    g.forLevelsUp(1, (b) => {
      threader.threadEdge(b.et);
      threader.threadEdge(b.ef);
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
    const moved = [same.pred, pull];
    same.succ = chain(pull).succ;
    chain(pull).succ = diff.succ;
    if (atTop) {
      for (let ep = b.inEdges; ep; ep = ep.next) {
        if (jt(ep.pred) === b) ep.pred.et.succ = pull;
        else ep.pred.ef.succ = pull;
        moved.push(ep.pred);
      }
    } else {
      diff.succ = pull;
      moved.push(diff.pred);
    }
    this.progress.done = false;
    // The graph changed under the dominator sets the next pull-up consults. The first pull-up of a
    // pass also sees what threading moved; later ones only their own moves.
    if (this.pulledUp) {
      this.graph.updateDominators(moved);
    } else {
      this.pulledUp = true;
      this.graph.findDominators();
    }
  }
}
