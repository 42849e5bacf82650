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
import { type Edge, jf, jt, NOP, OptGraph, type OptNode } from './optimize-graph.js';
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
    // Edge dominators serve jump threading, which only the first loop does.
    if (!doStmts) graph.findEdgeDominators();
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
 * Merges blocks with equal code and equal successors, until none are left: libpcap's rounds, in which
 * every live node equal to a later-numbered live node is replaced by the last such node, all at once,
 * and the next round looks again. Only classes of equal nodes that gained a member can merge in the next
 * round, so each round looks at those instead of comparing every pair of nodes (libpcap), or hashing
 * every node again; liveness follows the moved edges instead of a walk from the root.
 */
function internBlocks(graph: OptGraph): void {
  const nodes = graph.nodes;
  const root = graph.root;
  // Live nodes and the live edges into each.
  const live = graph.reachable(root);
  const inEdges: Set<Edge>[] = nodes.map(() => new Set<Edge>());
  for (const n of live) {
    if (!jt(n) || !jf(n)) continue;
    inEdges[jt(n)!.id]!.add(n.et);
    inEdges[jf(n)!.id]!.add(n.ef);
  }
  const signatures: string[] = new Array<string>(nodes.length);
  const classes = new Map<string, Set<OptNode>>();
  const dirty = new Set<string>();
  const join = (n: OptNode): void => {
    const sig = blockSignature(n);
    signatures[n.id] = sig;
    let members = classes.get(sig);
    if (!members) classes.set(sig, (members = new Set()));
    members.add(n);
    dirty.add(sig);
  };
  const leave = (n: OptNode): void => {
    classes.get(signatures[n.id]!)!.delete(n);
  };
  const kill = (n: OptNode): void => {
    const doomed = [n];
    while (doomed.length) {
      const d = doomed.pop()!;
      if (!live.delete(d)) continue;
      leave(d);
      if (!jt(d) || !jf(d)) continue;
      for (const e of [d.et, d.ef]) {
        const succ = e.succ!;
        const into = inEdges[succ.id]!;
        into.delete(e);
        if (into.size === 0 && succ !== root) doomed.push(succ);
      }
    }
  };
  for (const n of live) join(n);
  for (;;) {
    // This round's merges, decided before any edge moves: each non-last member goes to the last.
    const merges: [OptNode, OptNode][] = [];
    for (const sig of dirty) {
      const members = classes.get(sig);
      if (!members || members.size < 2) continue;
      let last: OptNode | undefined;
      for (const m of members) if (!last || m.id > last.id) last = m;
      for (const m of members) if (m !== last) merges.push([m, last!]);
    }
    dirty.clear();
    const moved = new Set<OptNode>();
    for (const [from, to] of merges) {
      const into = inEdges[from.id]!;
      for (const e of into) {
        e.succ = to;
        inEdges[to.id]!.add(e);
        moved.add(e.pred);
      }
      into.clear();
    }
    if (moved.size === 0) return;
    for (const [from] of merges) if (from !== root) kill(from);
    for (const p of moved) {
      if (!live.has(p)) continue;
      leave(p);
      join(p);
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
