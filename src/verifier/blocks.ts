import { K_NONE } from './op-kinds.js';
import { scratchInt32 } from './scratch.js';

/**
 * Straight runs of instructions (basic blocks) inside each function, for the static passes: they
 * keep one set of facts per block, not per instruction. Only a block's first instruction can be
 * reached other than by falling through from the one before it.
 */
export interface Blocks {
  count: number;
  /** starts[i] = 1: insn i begins a block (entries, jump targets, after a jump, call or exit); length n + 1. */
  starts: Uint8Array;
  /** Block b holds insns first[b] .. first[b + 1] - 1. */
  first: Int32Array;
  /** blockOf[i]: the block holding insn i. */
  blockOf: Int32Array;
  /** Successor blocks, two per block (-1: none); calls do not enter their callee. */
  succ: Int32Array;
  /** Predecessors, flat: those of block b are predList[predStart[b] .. predStart[b + 1]). */
  predStart: Int32Array;
  predList: Int32Array;
  /** The block's last instruction that is not the second half of an LD_IMM64. */
  last: Int32Array;
}

/**
 * `succ` holds two successors per insn (-1: none; n: past the end), and `starts` (n + 1 long) marks
 * the insns that begin a block, as buildCfg makes them.
 */
export function buildBlocks(kinds: Uint8Array, succ: Int32Array, starts: Uint8Array): Blocks {
  const n = kinds.length;
  let count = 0;
  for (let i = 0; i < n; i++) count += starts[i]!;
  const first = new Int32Array(count + 1);
  const blockOf = new Int32Array(n);
  const last = new Int32Array(count);
  let b = -1;
  for (let i = 0; i < n; i++) {
    if (starts[i]) first[++b] = i;
    blockOf[i] = b;
    if (kinds[i] !== K_NONE) last[b] = i;
  }
  first[count] = n;
  const blockSucc = new Int32Array(2 * count).fill(-1);
  const counts = new Int32Array(count + 1);
  for (let k = 0; k < count; k++) {
    const l = last[k]!;
    for (let e = 0; e < 2; e++) {
      const s = succ[2 * l + e]!;
      if (s < 0 || s >= n) continue;
      blockSucc[2 * k + e] = blockOf[s]!;
      counts[blockOf[s]! + 1]!++;
    }
  }
  for (let k = 0; k < count; k++) counts[k + 1]! += counts[k]!;
  const predList = new Int32Array(counts[count]!);
  const fillAt = scratchInt32(count);
  fillAt.set(counts.subarray(0, count));
  for (let k = 0; k < 2 * count; k++) if (blockSucc[k]! >= 0) predList[fillAt[blockSucc[k]!]!++] = k >> 1;
  return { count, starts, first, blockOf, succ: blockSucc, predStart: counts, predList, last };
}
