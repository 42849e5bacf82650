/**
 * The optimiser's dominators against libpcap's way of computing them (one bit set per node or edge,
 * one sweep in a given order) on random acyclic graphs: topological sweeps, stale sweeps after edges
 * moved (as after a pull-up), and edges moved after the last sweep.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EdgeDominators, KeyedChains, NodeDominators } from '../../src/cbpf/filter/optimize-dominators.js';

let seed = 1;
const random = (n: number): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
};

/** A random DAG over n nodes: node i branches to two later nodes, or is a leaf (-1). */
function randomDag(n: number): { t: Int32Array; f: Int32Array } {
  const t = new Int32Array(n).fill(-1);
  const f = new Int32Array(n).fill(-1);
  for (let i = 0; i < n - 2; i++) {
    if (random(5) === 0) continue;
    t[i] = i + 1 + random(Math.min(6, n - i - 1));
    f[i] = i + 1 + random(Math.min(6, n - i - 1));
  }
  return { t, f };
}

/** libpcap's sweep: full sets, the root's empty; each swept node adds itself and meets into successors. */
function bitsetSweep(n: number, order: number[], t: Int32Array, f: Int32Array): boolean[][] {
  const sets = Array.from({ length: n }, () => new Array<boolean>(n).fill(true));
  sets[0]!.fill(false);
  for (const b of order) {
    sets[b]![b] = true;
    if (t[b]! < 0 || f[b]! < 0) continue;
    for (const s of [t[b]!, f[b]!]) for (let i = 0; i < n; i++) sets[s]![i] = sets[s]![i]! && sets[b]![i]!;
  }
  return sets;
}

/** Nodes reachable from the root, in an order that is topological (ids ascend along edges). */
function reachableOrder(n: number, t: Int32Array, f: Int32Array): number[] {
  const seen = new Array<boolean>(n).fill(false);
  seen[0] = true;
  for (let i = 0; i < n; i++) {
    if (!seen[i] || t[i]! < 0) continue;
    seen[t[i]!] = seen[f[i]!] = true;
  }
  return [...Array(n).keys()].filter((i) => seen[i]);
}

test('node dominators answer as libpcap bit-set sweeps do, in fresh and stale orders', () => {
  for (let round = 0; round < 300; round++) {
    const n = 4 + random(40);
    const { t, f } = randomDag(n);
    // The sweep order: topological, or one from before some edges moved.
    const order = reachableOrder(n, t, f);
    const stale = round % 2 === 1;
    const doms = new NodeDominators(n);
    if (stale) {
      // Move some edges forward (keeping the graph acyclic), as pull-ups do, then sweep in the old order.
      for (let k = 0; k < 3; k++) {
        const a = random(n);
        if (t[a]! < 0) continue;
        t[a] = a + 1 + random(n - a - 1);
      }
    }
    if (stale) {
      // An order that is no longer topological: some swept nodes come before their predecessors.
      for (let k = 0; k < 4; k++) {
        const i = 1 + random(Math.max(1, order.length - 1));
        const j = 1 + random(Math.max(1, order.length - 1));
        if (i < order.length && j < order.length) [order[i], order[j]] = [order[j]!, order[i]!];
      }
    }
    doms.compute(order, 0, t, f);
    let expected = bitsetSweep(n, order, t, f);
    const check = (what: string): void => {
      for (let x = 0; x < n; x++) {
        for (let y = 0; y < n; y++) assert.equal(doms.dominates(x, y), expected[y]![x], `${what}: ${x} in dom(${y})`);
      }
    };
    check(`round ${round}`);
    // Later edge moves, told to the structure without a full recompute.
    for (let k = 0; k < 3; k++) {
      const a = random(n);
      if (t[a]! < 0) continue;
      f[a] = a + 1 + random(n - a - 1);
      doms.update(a, t[a]!, f[a]!);
      expected = bitsetSweep(n, order, t, f);
      check(`round ${round}, move ${k}`);
    }
  }
});

test('edge dominators and their key chains match libpcap edge bit sets', () => {
  for (let round = 0; round < 200; round++) {
    const n = 4 + random(40);
    const { t, f } = randomDag(n);
    const order = reachableOrder(n, t, f);
    const target = (e: number): number => (e < n ? t[e % n]! : f[e % n]!);
    // libpcap: edge sets over 2n edges, the root's two edges empty.
    const sets = Array.from({ length: 2 * n }, () => new Array<boolean>(2 * n).fill(true));
    sets[0]!.fill(false);
    sets[n]!.fill(false);
    for (const b of order) {
      for (const e of [b, b + n]) {
        sets[e]![e] = true;
        const s = target(e);
        if (s < 0) continue;
        for (const out of [s, s + n]) for (let i = 0; i < 2 * n; i++) sets[out]![i] = sets[out]![i]! && sets[e]![i]!;
      }
    }
    const doms = new EdgeDominators(n);
    doms.compute(order, 0, target);
    const keyOf = (e: number): number => (e % n) % 3;
    const chains = new KeyedChains(doms, keyOf);
    for (const b of order) {
      if (t[b]! < 0) continue;
      for (const e of [b, b + n]) {
        for (let d = 0; d < 2 * n; d++) {
          if (order.includes(d % n)) assert.equal(doms.dominates(d, e), sets[e]![d], `edge ${d} dominates ${e}`);
        }
        for (let key = 0; key < 3; key++) {
          const got: number[] = [];
          for (let x = chains.deepest(e, key); x >= 0; x = chains.next(x)) got.push(x);
          const want = [...Array(2 * n).keys()].filter((d) => order.includes(d % n) && sets[e]![d] && keyOf(d) === key);
          assert.deepEqual(got.sort((a, c) => a - c), want, `edge ${e}, key ${key}`);
        }
      }
    }
  }
});
