/**
 * CFG -> classic BPF, laid out as libpcap's icode_to_fcode does: blocks are placed from the end of
 * the program backwards in a depth-first walk (false branch first, then true branch), so the root
 * comes first. A branch further than 255 instructions gets a following `ja`, and the layout is redone.
 */
import type { CbpfInstruction } from '../opcodes.js';
import type { Block, Cfg, Stmt } from './cfg.js';
import { FilterError } from './errors.js';

const JMP = 0x05;
const JA = 0x00;

/** Blocks in the order libpcap emits them into the tail of the buffer (post-order, jf before jt). */
function placementOrder(root: Block): Block[] {
  const order: Block[] = [];
  const seen = new Set<Block>();
  const stack: { b: Block; state: number }[] = [];
  const enter = (b: Block | undefined): void => {
    if (!b || seen.has(b)) return;
    seen.add(b);
    stack.push({ b, state: 0 });
  };
  enter(root);
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.state === 0) { top.state = 1; enter(top.b.jf); continue; }
    if (top.state === 1) { top.state = 2; enter(top.b.jt); continue; }
    stack.pop();
    order.push(top.b);
  }
  return order;
}

export function emitCfg(cfg: Cfg): CbpfInstruction[] {
  const order = placementOrder(cfg.root);
  const n = order.length;
  const index = new Map<Block, number>();
  order.forEach((b, i) => index.set(b, i));
  const jtIdx = new Int32Array(n).fill(-1);
  const jfIdx = new Int32Array(n).fill(-1);
  order.forEach((b, i) => {
    if (b.jt && b.jf) { jtIdx[i] = index.get(b.jt)!; jfIdx[i] = index.get(b.jf)!; }
  });
  const offset = new Int32Array(n);
  const longJt = new Uint8Array(n);
  const longJf = new Uint8Array(n);
  // libpcap restarts at the first long jump it meets; marking every long jump of a pass reaches the
  // same fixed point (distances only grow as trampolines are added) in a few passes.
  for (let pass = 0; ; pass++) {
    if (pass > n + 1) throw new FilterError('cannot lay out the filter program');
    let total = 0;
    for (let i = 0; i < n; i++) total += order[i]!.stmts.length + 1 + longJt[i]! + longJf[i]!;
    let tail = total;
    let again = false;
    for (let i = 0; i < n; i++) {
      const slen = order[i]!.stmts.length;
      tail -= slen + 1 + longJt[i]! + longJf[i]!;
      offset[i] = tail;
      if (jtIdx[i]! >= 0) {
        if (!longJt[i] && offset[jtIdx[i]!]! - (tail + slen) - 1 >= 256) { longJt[i] = 1; again = true; }
        if (!longJf[i] && offset[jfIdx[i]!]! - (tail + slen) - 1 >= 256) { longJf[i] = 1; again = true; }
      }
    }
    if (again) continue;
    // Final layout: write the instructions.
    const out: CbpfInstruction[] = [];
    for (let i = 0; i < total; i++) out.push({ code: 0, jt: 0, jf: 0, k: 0 });
    for (let i = 0; i < n; i++) {
      const b = order[i]!;
      const at = offset[i]! + b.stmts.length;
      emitStmts(b.stmts, out, offset[i]!);
      const br = out[at]!;
      br.code = b.branch.code;
      br.k = b.branch.k >>> 0;
      if (jtIdx[i]! < 0) continue;
      let extra = 0;
      let off = offset[jtIdx[i]!]! - at - 1;
      if (longJt[i] && off >= 256) {
        br.jt = extra; extra++;
        out[at + extra] = { code: JMP | JA, jt: 0, jf: 0, k: (off - extra) >>> 0 };
      } else br.jt = off;
      off = offset[jfIdx[i]!]! - at - 1;
      if (longJf[i] && off >= 256) {
        br.jf = extra; extra++;
        out[at + extra] = { code: JMP | JA, jt: 0, jf: 0, k: (off - extra) >>> 0 };
      } else br.jf = off;
    }
    return out;
  }
}

/** Copies a block's statements; in-block jumps (protochain, 802.11 headers) get their displacements. */
function emitStmts(stmts: Stmt[], out: CbpfInstruction[], at: number): void {
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i]!;
    const ins = out[at + i]!;
    ins.code = s.code;
    ins.k = s.k >>> 0;
    if ((s.code & 0x07) === JMP && s.code !== (JMP | JA) && (s.jt || s.jf)) {
      const t = s.jt ? stmts.indexOf(s.jt) : i + 1;
      const f = s.jf ? stmts.indexOf(s.jf) : i + 1;
      if (t < 0 || f < 0 || t - i - 1 > 255 || f - i - 1 > 255) throw new FilterError('internal error: bad in-block jump');
      ins.jt = t - i - 1;
      ins.jf = f - i - 1;
    }
  }
}
