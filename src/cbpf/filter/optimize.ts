/**
 * The pcap-filter optimiser: the BPF paper's (and libpcap's) flow-graph optimiser, rewritten.
 *
 * Two fixpoint loops run over the graph: the first moves branches (jump threading through dominating
 * edges, `or`/`and` pull-ups) and cleans up locally; the second also rewrites statements with value
 * numbering (constant folding/propagation, redundant loads). Then equal blocks are merged and the root
 * skips branches that go the same way on both sides. The result is meant to equal libpcap's optimised
 * code instruction for instruction, except where libpcap is known to be wrong.
 *
 * Owner: the optimiser (this file and optimize-*.ts). The compiler calls `optimize(cfg)`.
 */
import { CbpfClass, cbpfClass } from '../opcodes.js';
import type { Block, Cfg, Stmt } from './cfg.js';
import { BlockPass } from './optimize-blocks.js';
import { jf, jt, NOP, OptGraph, type OptNode } from './optimize-graph.js';
import type { PassProgress } from './optimize-values.js';

/** Passes doing nothing but branch moves before the loop is taken to be cycling (libpcap's guard). */
const MAX_BRANCH_ONLY_PASSES = 100;

/** Optimises `cfg` in place (blocks are rewritten, `root` may change) and returns it. */
export function optimize(cfg: Cfg): Cfg {
  if (cfg.noOptimize) return cfg;
  const graph = new OptGraph(cfg.root);
  optimizeLoop(graph, false);
  optimizeLoop(graph, true);
  internBlocks(graph);
  const root = hoistRoot(graph.root);
  cfg.root = writeBack(graph, root);
  return cfg;
}

function optimizeLoop(graph: OptGraph, doStmts: boolean): void {
  let branchOnlyPasses = 0;
  for (;;) {
    const progress: PassProgress = { done: true, nonBranchMovement: false };
    graph.findLevels();
    graph.findDominators();
    graph.findUseDef();
    graph.findEdgeDominators();
    new BlockPass(graph, progress).run(doStmts);
    if (progress.done) return;
    if (progress.nonBranchMovement) {
      branchOnlyPasses = 0;
    } else if (++branchOnlyPasses >= MAX_BRANCH_ONLY_PASSES) {
      return;
    }
  }
}

function liveStmts(stmts: Stmt[]): Stmt[] {
  return stmts.filter((s) => s.code !== NOP);
}

/** What makes two nodes equal for merging: branch, successors and live statements. */
function blockSignature(n: OptNode): string {
  let sig = `${n.branch.code},${n.branch.k},${jt(n)?.id ?? -1},${jf(n)?.id ?? -1}`;
  for (const s of n.stmts) if (s.code !== NOP) sig += `;${s.code},${s.k}`;
  return sig;
}

/**
 * Merges blocks with equal code and equal successors, until none are left. Each live node links to
 * the first equal live node after it in numbering order (libpcap compares all pairs; a table of the
 * nearest one seen so far, scanning down, finds the same one).
 */
function internBlocks(graph: OptGraph): void {
  const nodes = graph.nodes;
  for (let changed = true; changed; ) {
    changed = false;
    for (const n of nodes) n.link = undefined;
    const live = graph.newMark();
    for (const n of graph.reachable(graph.root)) n.mark = live;
    const nearest = new Map<string, OptNode>();
    for (let i = nodes.length - 1; i >= 0; i--) {
      const bi = nodes[i]!;
      if (bi.mark !== live) continue;
      const sig = blockSignature(bi);
      const bj = nearest.get(sig);
      if (bj) bi.link = bj.link ?? bj;
      nearest.set(sig, bi);
    }
    for (const p of nodes) {
      const t = jt(p);
      const f = jf(p);
      if (!t || !f) continue;
      if (t.link) {
        changed = true;
        p.et.succ = t.link;
      }
      if (f.link) {
        changed = true;
        p.ef.succ = f.link;
      }
    }
  }
}

/** Skips root branches whose two sides agree, carrying the root's statements down; a return needs none. */
function hoistRoot(root: OptNode): OptNode {
  const carried = root.stmts;
  root.stmts = [];
  let b = root;
  while (cbpfClass(b.branch.code) === CbpfClass.JMP && jt(b) === jf(b)) b = jt(b)!;
  b.stmts = carried.concat(b.stmts);
  if (cbpfClass(b.branch.code) === CbpfClass.RET) b.stmts = [];
  return b;
}

/** Writes the optimised nodes back into their CFG blocks; returns the new root block. */
function writeBack(graph: OptGraph, root: OptNode): Block {
  for (const n of graph.reachable(root)) {
    const block = n.block;
    block.stmts = liveStmts(n.stmts);
    block.branch = n.branch;
    const t = jt(n);
    const f = jf(n);
    if (t && f && cbpfClass(n.branch.code) === CbpfClass.JMP) {
      block.jt = t.block;
      block.jf = f.block;
    } else {
      delete block.jt;
      delete block.jf;
    }
  }
  return root.block;
}
