/**
 * The optimiser's passes on hand-built CFGs: each case checks the rewrite it is about and that the
 * optimised program still returns what the original returns, over a spread of packets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TsbpfError } from '../../src/errors.js';
import type { Block, Cfg, Stmt } from '../../src/cbpf/filter/cfg.js';
import { optimize } from '../../src/cbpf/filter/optimize.js';
import { liftToCfg } from '../../src/cbpf/filter/optimize-lift.js';
import { linearizeLikeLibpcap } from '../../src/cbpf/filter/optimize-linearize.js';
import { runCbpf } from '../../src/cbpf/interpret.js';
import { insn, type CbpfInstruction } from '../../src/cbpf/opcodes.js';

let nextId = 0;
const s = (code: number, k = 0): Stmt => ({ code, k: k >>> 0 });
const ret = (k: number): Block => ({ id: nextId++, stmts: [], branch: s(0x06, k) });
const br = (stmts: Stmt[], code: number, k: number, jt: Block, jf: Block): Block =>
  ({ id: nextId++, stmts, branch: s(code, k), jt, jf });

const LD_W = 0x20, LDH = 0x28, LDB = 0x30, LDB_IND = 0x50, LD_IMM = 0x00, LDX_IMM = 0x01, TAX = 0x07, ST = 0x02, LDX_MEM = 0x61;
const ADD_K = 0x04, AND_K = 0x54, DIV_K = 0x34, DIV_X = 0x3c;
const JEQ = 0x15, JGT = 0x25, JSET = 0x45;

/** Packets whose first bytes take the values the tests compare against, plus some noise. */
const packets: Uint8Array[] = (() => {
  const out: Uint8Array[] = [];
  for (const first of [0, 1, 2, 5, 7, 0x80, 0xff]) {
    for (const len of [1, 4, 16, 64]) {
      const p = new Uint8Array(len).map((_, i) => (i * 37 + first) & 0xff);
      p[0] = first;
      if (len > 12) { p[12] = 0x08; p[13] = first & 1 ? 0x00 : 0x06; }
      out.push(p);
    }
  }
  out.push(new Uint8Array(64));
  return out;
})();

function clone(cfg: Cfg): Cfg {
  return liftToCfg(linearizeLikeLibpcap(cfg));
}

/** Optimises `cfg` and checks it agrees with the original on every packet; returns the program. */
function optimised(cfg: Cfg): CbpfInstruction[] {
  const before = linearizeLikeLibpcap(cfg);
  const after = linearizeLikeLibpcap(optimize(clone(cfg)));
  for (const p of packets) assert.equal(runCbpf(after, p), runCbpf(before, p), `packet ${Array.from(p.slice(0, 4))}`);
  return after;
}

test('a test repeated on the true path is threaded away, its reload removed', () => {
  const inner = br([s(LDH, 12)], JEQ, 0x800, ret(1), ret(0));
  const prog = optimised({ root: br([s(LDH, 12)], JEQ, 0x800, inner, ret(0)) });
  assert.deepEqual(prog, [insn(LDH, 0, 0, 12), insn(JEQ, 0, 1, 0x800), insn(0x06, 0, 0, 1), insn(0x06, 0, 0, 0)]);
});

test('a comparison of constants is decided at compile time', () => {
  const prog = optimised({ root: br([s(LD_IMM, 2), s(ADD_K, 3)], JEQ, 5, ret(9), ret(0)) });
  assert.deepEqual(prog, [insn(0x06, 0, 0, 9)]);
});

test('a load through X of a known constant becomes an absolute load', () => {
  const root = br([s(LDX_IMM, 14), s(LDB_IND, 2)], JEQ, 7, ret(1), ret(0));
  const prog = optimised({ root });
  assert.deepEqual(prog[0], insn(LDB, 0, 0, 16));
  assert.equal(prog.length, 4);
});

test('a store reloaded into X becomes tax, and a dead store goes', () => {
  const root = br([s(LDB, 0), s(ST, 3), s(LDX_MEM, 3), s(LDB_IND, 1)], JGT, 4, ret(1), ret(0));
  const prog = optimised({ root });
  assert.ok(!prog.some((i) => i.code === ST), 'the store to M[3] is dead');
  assert.ok(prog.some((i) => i.code === TAX));
});

test('`and #k; jeq #0` becomes jset with the branches swapped', () => {
  const prog = optimised({ root: br([s(LDB, 0), s(AND_K, 0x80)], JEQ, 0, ret(1), ret(0)) });
  assert.deepEqual(prog, [insn(LDB, 0, 0, 0), insn(JSET, 0, 1, 0x80), insn(0x06, 0, 0, 0), insn(0x06, 0, 0, 1)]);
});

test('jset #0xffffffff is not taken as always true, and `and #0xffffffff` is dropped', () => {
  const viaJset = optimised({ root: br([s(LD_W, 0)], JSET, 0xffffffff, ret(1), ret(0)) });
  assert.equal(viaJset.length, 4);
  const viaAnd = optimised({ root: br([s(LDB, 0), s(AND_K, 0xffffffff)], JEQ, 0, ret(1), ret(0)) });
  assert.deepEqual(viaAnd, [insn(LDB, 0, 0, 0), insn(JEQ, 0, 1, 0), insn(0x06, 0, 0, 1), insn(0x06, 0, 0, 0)]);
});

test('dividing a zero accumulator by X still rejects when X is 0', () => {
  const root = br([s(LDB, 0), s(TAX), s(LD_IMM, 0), s(DIV_X)], JEQ, 0, ret(1), ret(2));
  const prog = optimised({ root });
  assert.equal(runCbpf(prog, new Uint8Array([0])), 0);
  assert.equal(runCbpf(prog, new Uint8Array([3])), 1);
});

test('a constant division by zero is a compile error', () => {
  const root = br([s(LDB, 0), s(DIV_K, 0)], JEQ, 1, ret(1), ret(0));
  assert.throws(() => optimize({ root }), (e: unknown) => e instanceof TsbpfError && e.code === 'FILTER_DIVISION_BY_ZERO');
});

test('`or` chains over the same value are pulled up and merged', () => {
  // (ldh[12] == 0x800 || ldb[0] == 1 || ldh[12] == 0x806): the two ldh tests end up adjacent.
  const accept = ret(1);
  const reject = ret(0);
  const third = br([s(LDH, 12)], JEQ, 0x806, accept, reject);
  const second = br([s(LDB, 0)], JEQ, 1, accept, third);
  const prog = optimised({ root: br([s(LDH, 12)], JEQ, 0x800, accept, second) });
  assert.equal(prog.filter((i) => i.code === LDH).length, 1, 'ldh [12] is loaded once');
});

test('noOptimize leaves the graph alone', () => {
  const root = br([s(LD_IMM, 2), s(ADD_K, 3)], JEQ, 5, ret(9), ret(0));
  const cfg: Cfg = { root, noOptimize: true };
  assert.equal(optimize(cfg), cfg);
  assert.equal(linearizeLikeLibpcap(cfg).length, 5);
});

test('blocks with in-block jumps keep their statements', () => {
  // ldb [0]; jset #1 (in-block) -> skip the add; add #4; st M[1] ... then a real branch.
  const prog: CbpfInstruction[] = [
    insn(LDB, 0, 0, 0), insn(JSET, 0, 1, 1), insn(ADD_K, 0, 0, 4), insn(ST, 0, 0, 1),
    insn(0x60, 0, 0, 1), insn(JGT, 0, 1, 3), insn(0x06, 0, 0, 1), insn(0x06, 0, 0, 0),
  ];
  const cfg = liftToCfg(prog);
  assert.equal(cfg.root.stmts.length, 5);
  const out = linearizeLikeLibpcap(optimize(cfg));
  assert.deepEqual(out.slice(0, 4), prog.slice(0, 4));
  for (const p of packets) assert.equal(runCbpf(out, p), runCbpf(prog, p));
});
