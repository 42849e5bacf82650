/**
 * Rebuilds the CFG of a linear classic-BPF filter program (the inverse of linearisation), so that
 * existing filter code, libpcap's unoptimised output above all, can be fed to the optimiser.
 * Blocks start at the program start and at branch targets, and end at a conditional jump or a return;
 * a `ja` is followed to its target (libpcap only emits them as long-branch trampolines). A conditional
 * jump whose farther target is also reached by falling through straight-line code is an in-block jump
 * (libpcap's 802.11 header-length code): it stays a statement of its block, with `jt`/`jf` pointing at
 * the target statements.
 */
import { TsbpfError } from '../../errors.js';
import { CbpfClass, CbpfJmpOp, cbpfClass, cbpfOp, type CbpfInstruction } from '../opcodes.js';
import type { Block, Cfg, Stmt } from './cfg.js';

const isJa = (i: CbpfInstruction): boolean => i.code === (CbpfClass.JMP | CbpfJmpOp.JA);

export function liftToCfg(prog: CbpfInstruction[]): Cfg {
  if (prog.length === 0) throw new TsbpfError('FILTER_LIFT', 'empty program');
  const blocks = new Map<number, Block>();
  let nextId = 0;

  /** The first non-`ja` instruction reached from pc. */
  const resolve = (pc: number): number => {
    for (let hops = 0; hops <= prog.length; hops++) {
      const insn = prog[pc];
      if (!insn) throw new TsbpfError('FILTER_LIFT', `jump target ${pc} is outside the program`, { insn: pc });
      if (!isJa(insn)) return pc;
      pc = pc + 1 + insn.k;
    }
    throw new TsbpfError('FILTER_LIFT', 'jump loop', { insn: pc });
  };

  const fallsThrough = (pc: number): boolean => {
    const insn = prog[pc];
    return insn !== undefined && cbpfClass(insn.code) !== CbpfClass.JMP && cbpfClass(insn.code) !== CbpfClass.RET;
  };
  // In-block jumps, to a fixpoint: a `ja` after straight-line code (after a conditional jump it is a
  // trampoline), and a conditional jump with a target that straight-line code or another in-block
  // jump also runs into.
  const inBlock = new Array<boolean>(prog.length).fill(false);
  const continuesBlock = (pc: number): boolean => fallsThrough(pc) || inBlock[pc] === true;
  for (let changed = true; changed; ) {
    changed = false;
    prog.forEach((insn, pc) => {
      if (inBlock[pc] || cbpfClass(insn.code) !== CbpfClass.JMP) return;
      const yes = isJa(insn)
        ? fallsThrough(pc - 1)
        : [insn.jt, insn.jf].some((off) => off > 0 && continuesBlock(pc + off));
      if (yes) inBlock[pc] = changed = true;
    });
  }
  const isInBlockJump = (pc: number): boolean => inBlock[pc] === true;

  // Blocks are made when first named and filled from a work list (long filters are too deep to recurse).
  const unfilled: [Block, number][] = [];
  const blockAt = (start: number): Block => {
    const known = blocks.get(start);
    if (known) return known;
    const block: Block = { id: nextId++, stmts: [], branch: { code: CbpfClass.RET, k: 0 } };
    blocks.set(start, block);
    unfilled.push([block, start]);
    return block;
  };
  const fill = (block: Block, start: number): Block => {
    let pc = start;
    const stmtAt = new Map<number, Stmt>();
    const localJumps: [Stmt, number][] = [];
    for (;;) {
      const insn = prog[pc];
      if (!insn) throw new TsbpfError('FILTER_LIFT', 'control runs off the end of the program', { insn: pc });
      const cls = cbpfClass(insn.code);
      if (cls === CbpfClass.RET) {
        block.branch = { code: insn.code, k: insn.k >>> 0 };
        return linkLocalJumps(block, stmtAt, localJumps);
      }
      if (isInBlockJump(pc)) {
        const s: Stmt = { code: insn.code, k: insn.k >>> 0 };
        stmtAt.set(pc, s);
        localJumps.push([s, pc]);
        block.stmts.push(s);
        pc++;
        continue;
      }
      if (cls === CbpfClass.JMP && cbpfOp(insn.code) !== CbpfJmpOp.JA) {
        block.branch = { code: insn.code, k: insn.k >>> 0 };
        block.jt = blockAt(resolve(pc + 1 + insn.jt));
        block.jf = blockAt(resolve(pc + 1 + insn.jf));
        return linkLocalJumps(block, stmtAt, localJumps);
      }

      const s: Stmt = { code: insn.code, k: insn.k >>> 0 };
      stmtAt.set(pc, s);
      block.stmts.push(s);
      pc++;
    }
  };
  const linkLocalJumps = (block: Block, stmtAt: Map<number, Stmt>, jumps: [Stmt, number][]): Block => {
    for (const [s, pc] of jumps) {
      const insn = prog[pc]!;
      if (isJa(insn)) {
        // The emitter keeps an in-block `ja`'s displacement in k; jt names the target too.
        const t = stmtAt.get(pc + 1 + (insn.k | 0));
        if (!t) throw new TsbpfError('FILTER_LIFT', 'in-block jump leaves its block', { insn: pc });
        s.jt = t;
        continue;
      }
      const t = stmtAt.get(pc + 1 + insn.jt);
      const f = stmtAt.get(pc + 1 + insn.jf);
      if (!t || !f) throw new TsbpfError('FILTER_LIFT', 'in-block jump leaves its block', { insn: pc });
      s.jt = t;
      s.jf = f;
    }
    return block;
  };
  const root = blockAt(resolve(0));
  while (unfilled.length) fill(...unfilled.pop()!);
  return { root };
}
