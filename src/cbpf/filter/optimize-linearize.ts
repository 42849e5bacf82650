/**
 * Linearisation of a CFG into classic BPF exactly the way libpcap lays it out (icode_to_fcode): blocks
 * are placed from the end of the program backwards, each after its false successor and then its true
 * successor, so a block's code precedes everything it jumps to; a branch further than 255 instructions
 * gets a `ja` right after it (and the layout is redone until none is missing).
 *
 * The emitter owns linearisation; this copy lets the optimiser's tests compare with libpcap byte for
 * byte, and documents the details the emitter must reproduce to match it.
 */
import { TsbpfError } from '../../errors.js';
import { CbpfClass, CbpfJmpOp, cbpfClass, type CbpfInstruction } from '../opcodes.js';
import type { Block, Cfg, Stmt } from './cfg.js';

interface Placement {
  offset: number;
  longJt: number;
  longJf: number;
}

export function linearizeLikeLibpcap(cfg: Cfg): CbpfInstruction[] {
  const placement = new Map<Block, Placement>();
  const place = (b: Block): Placement => {
    let p = placement.get(b);
    if (!p) placement.set(b, (p = { offset: 0, longJt: 0, longJf: 0 }));
    return p;
  };
  for (;;) {
    const reachable = blocksOf(cfg.root);
    let total = 0;
    for (const b of reachable) {
      const p = place(b);
      total += b.stmts.length + 1 + p.longJt + p.longJf;
    }
    const out: CbpfInstruction[] = new Array<CbpfInstruction>(total);
    for (let i = 0; i < total; i++) out[i] = { code: 0, jt: 0, jf: 0, k: 0 };
    let tail = total;

    /** Places one block below what is placed so far; false when a branch was too long (now marked). */
    const emitBlock = (b: Block): boolean => {
      const p = place(b);
      const slen = b.stmts.length;
      tail -= slen + 1 + p.longJt + p.longJf;
      p.offset = tail;
      let dst = tail;
      for (let i = 0; i < slen; i++) out[dst++] = localJump(b.stmts, i);
      const br = out[dst]!;
      br.code = b.branch.code;
      br.k = b.branch.k >>> 0;
      if (!b.jt || !b.jf) return true;
      let extra = 0;
      const jtOff = place(b.jt).offset - (p.offset + slen) - 1;
      if (jtOff >= 256) {
        if (p.longJt === 0) {
          p.longJt++;
          return false;
        }
        br.jt = extra;
        extra++;
        out[dst + extra] = { code: CbpfClass.JMP | CbpfJmpOp.JA, jt: 0, jf: 0, k: jtOff - extra };
      } else {
        br.jt = jtOff;
      }
      const jfOff = place(b.jf).offset - (p.offset + slen) - 1;
      if (jfOff >= 256) {
        if (p.longJf === 0) {
          p.longJf++;
          return false;
        }
        br.jf = extra;
        extra++;
        out[dst + extra] = { code: CbpfClass.JMP | CbpfJmpOp.JA, jt: 0, jf: 0, k: jfOff - extra };
      } else {
        br.jf = jfOff;
      }
      return true;
    };

    // Depth-first postorder, false branch first (explicit stack: programs can be thousands deep).
    const placed = new Set<Block>();
    const stack: { block: Block; stage: number }[] = [{ block: cfg.root, stage: 0 }];
    let ok = true;
    while (ok && stack.length) {
      const frame = stack[stack.length - 1]!;
      const b = frame.block;
      if (frame.stage === 0) {
        if (placed.has(b)) {
          stack.pop();
          continue;
        }
        placed.add(b);
        frame.stage = 1;
        if (b.jf) stack.push({ block: b.jf, stage: 0 });
      } else if (frame.stage === 1) {
        frame.stage = 2;
        if (b.jt) stack.push({ block: b.jt, stage: 0 });
      } else {
        stack.pop();
        ok = emitBlock(b);
      }
    }
    if (ok) return out;
  }
}

function blocksOf(root: Block): Set<Block> {
  const seen = new Set<Block>();
  const stack = [root];
  while (stack.length) {
    const b = stack.pop()!;
    if (seen.has(b)) continue;
    seen.add(b);
    if (b.jt) stack.push(b.jt);
    if (b.jf) stack.push(b.jf);
  }
  return seen;
}

/** A statement, with its in-block jump targets (protochain's loop) turned into offsets. */
function localJump(stmts: Stmt[], i: number): CbpfInstruction {
  const s = stmts[i]!;
  const insn: CbpfInstruction = { code: s.code, jt: 0, jf: 0, k: s.k >>> 0 };
  if (cbpfClass(s.code) !== CbpfClass.JMP) return insn;
  if (s.code === (CbpfClass.JMP | CbpfJmpOp.JA)) {
    if (s.jt) insn.k = (stmts.indexOf(s.jt) - i - 1) >>> 0;
    return insn;
  }
  if (!s.jt || !s.jf) throw new TsbpfError('FILTER_EMIT', `in-block jump ${i} has no destination`);
  const t = stmts.indexOf(s.jt);
  const f = stmts.indexOf(s.jf);
  if (t < 0 || f < 0) throw new TsbpfError('FILTER_EMIT', `in-block jump ${i} has no destination in its block`);
  insn.jt = t - i - 1;
  insn.jf = f - i - 1;
  return insn;
}
