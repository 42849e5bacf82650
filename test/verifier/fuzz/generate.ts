import type { Instruction } from '../../../src/isa/instruction.js';
import { HelperId } from '../../../src/uapi/index.js';
import type { Rng } from './rng.js';
import { MAPS, PROFILES, RINGBUF_MAP, VALUE_MAPS, type FuzzProgType, type TypeProfile } from './targets.js';

/**
 * Random programs built from the constructs real programs use (context loads, packet access behind a
 * data_end check, map lookups with null checks, ring buffer records, helper calls, stack spills,
 * bounded loops, bpf-to-bpf calls), each construct written correctly most of the time and with one
 * plausible mistake otherwise, so that many programs sit near the verifier's boundary.
 */

export interface FuzzProgram {
  type: FuzzProgType;
  insns: Instruction[];
  /** Where it came from: `random`, `mutant`, or the seed's name. */
  origin: string;
}

const I = (code: number, dst = 0, src = 0, off = 0, imm = 0): Instruction => ({ code, dst, src, off, imm });

/** An instruction or a label; jumps and local calls name their target label. */
type Item = { insn: Instruction; target?: string } | { label: string };

/** Registers snippets keep values in across helper calls (r6 always holds the context). */
const R_CTX = 6;
const KEEP = [7, 8] as const;
const LOOP = 9;

const ALU64_IMM = [0x07, 0x17, 0x27, 0x37, 0x47, 0x57, 0x67, 0x77, 0x97, 0xa7, 0xb7, 0xc7];
const ALU32_IMM = [0x04, 0x14, 0x24, 0x54, 0x64, 0x74, 0xa4, 0xb4, 0xc4];
const ALU_REG = [0x0f, 0x1f, 0x2f, 0x4f, 0x5f, 0xaf, 0xbf, 0x0c, 0x1c, 0x5c, 0xbc, 0x6f, 0x7f];
const JMP_IMM = [0x15, 0x25, 0x35, 0x45, 0x55, 0x65, 0x75, 0xa5, 0xb5, 0xc5, 0xd5, 0x16, 0x26, 0xa6, 0xb6, 0x56];
const JMP_REG = [0x1d, 0x2d, 0x3d, 0x5d, 0x6d, 0x7d, 0xad, 0xbd, 0xcd, 0xdd, 0x1e, 0x2e];
const IMMS = [0, 1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 47, 48, 63, 64, 255, 0x7fff, -1, -8, -16, -48, 0x7fffffff, -0x80000000];
const SIZE_CODE = { 1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18 } as const;
type Size = keyof typeof SIZE_CODE;
const ldx = (size: Size, dst: number, src: number, off: number): Instruction => I(0x61 | SIZE_CODE[size], dst, src, off);
const stx = (size: Size, dst: number, src: number, off: number): Instruction => I(0x63 | SIZE_CODE[size], dst, src, off);
const st = (size: Size, dst: number, off: number, imm: number): Instruction => I(0x62 | SIZE_CODE[size], dst, 0, off, imm);
const mov = (dst: number, src: number): Instruction => I(0xbf, dst, src);
const movImm = (dst: number, imm: number): Instruction => I(0xb7, dst, 0, 0, imm);
const addImm = (dst: number, imm: number): Instruction => I(0x07, dst, 0, 0, imm);
const call = (helper: number): Instruction => I(0x85, 0, 0, 0, helper);
const mapRef = (index: number): Instruction[] => [I(0x18, 1, 5, 0, index), I(0, 0, 0, 0, 0)];

class Emitter {
  readonly items: Item[] = [];
  private labels = 0;
  /** Subprogram bodies, appended after the main program. */
  readonly subprograms: Item[][] = [];

  constructor(readonly rng: Rng, readonly profile: TypeProfile, readonly badRate: number) {}

  emit(...insns: Instruction[]): void {
    for (const insn of insns) this.items.push({ insn });
  }
  jump(insn: Instruction, target: string): void {
    this.items.push({ insn, target });
  }
  label(): string {
    return `L${this.labels++}`;
  }
  place(label: string): void {
    this.items.push({ label });
  }
  /** Whether this construct gets its mistake. */
  bad(): boolean {
    return this.rng.chance(this.badRate);
  }
}

type Snippet = (e: Emitter, depth: number) => void;

const keep = (e: Emitter): number => e.rng.pick(KEEP);
const sizeOf = (e: Emitter): Size => e.rng.pick([1, 2, 4, 8] as const);
const nudge = (e: Emitter, v: number): number => v + e.rng.pick([-8, -4, -2, -1, 1, 2, 4, 8]);

const scalarAlu: Snippet = (e) => {
  const { rng } = e;
  const dst = keep(e);
  const rare = rng.next();
  if (rare < 0.15) {
    // movsx, bswap, neg, sdiv/smod: the newer ALU forms.
    e.emit(rng.pick([
      I(0xbf, dst, keep(e), rng.pick([8, 16, 32])), I(0xbc, dst, keep(e), rng.pick([8, 16])), I(0xd7, dst, 0, 0, rng.pick([16, 32, 64])),
      I(0x87, dst), I(0x3f, dst, keep(e), 1), I(0x9f, dst, keep(e), 1), I(0x34, dst, 0, 1, rng.pick([-3, 7, 0])),
    ]));
    return;
  }
  if (rng.chance(0.5)) e.emit(I(rng.pick(rng.chance(0.6) ? ALU64_IMM : ALU32_IMM), dst, 0, 0, rng.pick(IMMS) & (rng.chance(0.5) ? 63 : -1)));
  else e.emit(I(rng.pick(ALU_REG), dst, e.bad() ? rng.pick([R_CTX, 10, 1, 0]) : keep(e)));
};

const ctxLoad: Snippet = (e) => {
  const field = e.rng.pick(e.profile.fields);
  let { off, size } = field as { off: number; size: Size };
  const write = field.writable && e.rng.chance(0.4);
  if (e.bad()) {
    if (e.rng.chance(0.5)) off = nudge(e, off);
    else size = sizeOf(e);
  }
  e.emit(write ? (e.rng.chance(0.5) ? stx(size, R_CTX, keep(e), off) : st(size, R_CTX, off, e.rng.pick(IMMS))) : ldx(size, keep(e), R_CTX, off));
};

/** Direct packet access: bounds from a data_end comparison. */
const packet: Snippet = (e) => {
  const { rng, profile } = e;
  if (!profile.packet) return ldAbs(e, 0);
  const span = rng.pick([1, 2, 4, 8, 14, 20, 34, 64]);
  let size: Size = rng.pick([1, 2, 4, 8] as const);
  let at = rng.below(Math.max(1, span - size + 1));
  const bad = e.bad();
  const skip = e.label();
  e.emit(ldx(4, 2, R_CTX, profile.packet.data), ldx(4, 3, R_CTX, profile.packet.dataEnd));
  if (rng.chance(0.3)) {
    // A variable offset into the packet, bounded by a mask (the mistake: no mask).
    e.emit(mov(5, keep(e)));
    if (!(bad && rng.chance(0.4))) e.emit(I(0x57, 5, 0, 0, rng.pick([0, 1, 3, 7, 15, 0xff])));
    e.emit(I(0x0f, 2, 5));
  }
  e.emit(mov(4, 2), addImm(4, span));
  const cmp = bad && rng.chance(0.3) ? rng.pick([0x3d, 0xad, 0x1d, 0xbd]) : rng.pick([0x2d, 0x2d, 0xbd]);
  // r4 > r3 (data + span past the end) skips; the mistakes flip the test or its operands.
  if (cmp === 0xbd || cmp === 0xad) e.jump(I(cmp, 3, 4), skip);
  else e.jump(I(cmp, 4, 3), skip);
  if (bad && rng.chance(0.5)) at = span - size + rng.range(1, 4);
  else if (bad) size = 8;
  let base = bad && rng.chance(0.2) ? 4 : 2;
  if (rng.chance(0.2)) {
    // Through the stack: a spilled packet pointer keeps its range (a narrow fill would not).
    e.emit(stx(8, 10, base, -24), ldx(bad && rng.chance(0.3) ? 4 : 8, 5, 10, -24));
    base = 5;
  }
  if (rng.chance(0.15) && size !== 8) e.emit(I(0x81 | SIZE_CODE[size], keep(e), base, at));
  else if (rng.chance(0.5)) e.emit(ldx(size, keep(e), base, at));
  else e.emit(stx(size, base, keep(e), at));
  e.place(skip);
  if (bad && rng.chance(0.3)) e.emit(ldx(1, keep(e), 2, 0));
};

/** Legacy packet loads (socket filters, tc): LD_ABS / LD_IND, r6 = ctx. */
const ldAbs: Snippet = (e) => {
  const { rng } = e;
  if (!e.profile.ldAbs) return ctxLoad(e, 0);
  const sizeBits = rng.pick([0x00, 0x08, 0x10]);
  const off = rng.pick([0, 12, 14, 23, 26, 30, 1500, -0x1000, 0x7ffffff]);
  if (e.bad() && rng.chance(0.5)) e.emit(mov(R_CTX, 10));
  e.emit(rng.chance(0.6) ? I(0x20 | sizeBits, 0, 0, 0, off) : I(0x40 | sizeBits, 0, keep(e), 0, off & 0xff));
  e.emit(mov(keep(e), 0));
};

const stack: Snippet = (e) => {
  const { rng } = e;
  const r = keep(e);
  const choice = rng.below(3);
  if (choice === 0) {
    // Scalar store then load (the mistake: read past what was written, or outside the frame).
    const size = sizeOf(e);
    const off = -size * rng.range(1, 8);
    e.emit(rng.chance(0.5) ? stx(size, 10, r, off) : st(size, 10, off, rng.pick(IMMS)));
    const readOff = e.bad() ? rng.pick([nudge(e, off), off - 8, 0, -520, off + size]) : off;
    e.emit(ldx(e.bad() ? sizeOf(e) : size, keep(e), 10, readOff));
  } else if (choice === 1) {
    // Spill the context pointer and fill it back (the mistakes: a partial overwrite or a narrow fill).
    const off = -8 * rng.range(1, 6);
    e.emit(stx(8, 10, R_CTX, off));
    if (e.bad()) e.emit(rng.chance(0.5) ? st(1, 10, off + rng.below(8), 0) : stx(4, 10, r, off));
    e.emit(ldx(e.bad() ? 4 : 8, 1, 10, off));
    const field = rng.pick(e.profile.fields);
    e.emit(ldx(field.size as Size, keep(e), 1, field.off));
  } else {
    // A pointer into the stack with a (maybe variable) offset.
    e.emit(mov(1, 10), addImm(1, -8 * rng.range(1, 8)));
    if (e.bad()) e.emit(mov(2, r), I(0x57, 2, 0, 0, rng.pick([7, 15, 63])), I(0x1f, 1, 2));
    e.emit(st(8, 1, 0, rng.pick(IMMS)), ldx(8, keep(e), 1, 0));
  }
};

/** A map value: lookup, null check, access (constant or bounded variable offset). */
const mapLookup: Snippet = (e, depth) => {
  const { rng } = e;
  const index = rng.pick(VALUE_MAPS);
  const map = MAPS[index]!;
  const skip = e.label();
  const keyOff = map.keySize === 4 && rng.chance(0.5) ? -4 : -8;
  if (!(e.bad() && rng.chance(0.3))) e.emit(rng.chance(0.7) ? st(8, 10, -8, 0) : stx(8, 10, keep(e), -8));
  e.emit(...mapRef(index), mov(2, 10), addImm(2, e.bad() && rng.chance(0.2) ? keyOff + 4 : keyOff), call(HelperId.map_lookup_elem));
  const copy = rng.chance(0.2);
  if (copy) e.emit(mov(8, 0));
  if (!(e.bad() && rng.chance(0.3))) e.jump(I(rng.chance(0.9) ? 0x15 : 0x55, 0, 0, 0, 0), skip);
  const ptr = copy && rng.chance(0.5) ? 8 : 0;
  const size = sizeOf(e);
  let off = rng.below(Math.max(1, map.valueSize - size + 1));
  if (rng.chance(0.35)) {
    // Variable offset bounded by a branch or a mask.
    const v = 1;
    e.emit(mov(v, 7));
    const limit = map.valueSize - size;
    if (rng.chance(0.5)) {
      const mask = e.bad() ? rng.pick([limit + 1, 63, 0xff, -1]) : rng.pick([0, 1, 3, 7, 15].filter((m) => m <= limit));
      e.emit(I(0x57, v, 0, 0, mask));
    } else {
      // if v > bound (or v >= bound + 1) skip; the mistakes: a bound too large, a signed or inverted test.
      const bound = e.bad() ? limit + rng.range(1, 8) : rng.range(0, Math.max(0, limit));
      const op = rng.pick(e.bad() ? [0x25, 0x65, 0xa5] : [0x25, 0x35]);
      e.jump(I(op, v, 0, 0, op === 0x35 ? bound + 1 : bound), skip);
      if (rng.chance(0.3)) e.jump(I(0xc5, v, 0, 0, 0), skip);
    }
    e.emit(I(0x0f, ptr, v));
    off = 0;
  } else if (e.bad()) {
    off = rng.pick([map.valueSize - size + rng.range(1, 4), -rng.range(1, 8), map.valueSize]);
  }
  e.emit(rng.chance(0.5) ? ldx(size, keep(e), ptr, off) : stx(size, ptr, keep(e), off));
  if (depth < 2 && rng.chance(0.2)) pickSnippet(e)(e, depth + 1);
  if (rng.chance(0.15)) e.emit(I(0xdb, ptr, 7, 0, rng.pick([0x00, 0x01, 0xe1])));
  e.place(skip);
};

const mapUpdate: Snippet = (e) => {
  const { rng } = e;
  const index = rng.pick(VALUE_MAPS);
  const map = MAPS[index]!;
  const valueOff = -8 - Math.ceil(map.valueSize / 8) * 8;
  e.emit(st(8, 10, -8, rng.pick([0, 0, 1])));
  const words = e.bad() ? rng.below(map.valueSize / 8) : map.valueSize / 8;
  for (let w = 0; w < words; w++) e.emit(stx(8, 10, keep(e), valueOff + 8 * w));
  e.emit(...mapRef(index), mov(2, 10), addImm(2, -8), mov(3, 10), addImm(3, valueOff), movImm(4, rng.pick([0, 0, 1, 2])));
  e.emit(call(rng.chance(0.8) ? HelperId.map_update_elem : HelperId.map_delete_elem), mov(keep(e), 0));
};

/** Ring buffer record: reserve, null check, write, submit or discard (mistakes: leak, use after, bad size). */
const ringbuf: Snippet = (e) => {
  const { rng } = e;
  const skip = e.label();
  const size = rng.pick([8, 16, 24, 48]);
  e.emit(...mapRef(RINGBUF_MAP));
  if (e.bad() && rng.chance(0.3)) e.emit(mov(2, keep(e)), I(0x57, 2, 0, 0, 63));
  else e.emit(movImm(2, size));
  e.emit(movImm(3, 0), call(HelperId.ringbuf_reserve));
  if (!(e.bad() && rng.chance(0.3))) e.jump(I(0x15, 0, 0, 0, 0), skip);
  const writeOff = e.bad() && rng.chance(0.4) ? size - rng.pick([1, 4]) : rng.below(size / 8) * 8;
  e.emit(stx(8, 0, keep(e), writeOff));
  if (!(e.bad() && rng.chance(0.3))) {
    e.emit(mov(1, 0), movImm(2, 0), call(rng.chance(0.7) ? HelperId.ringbuf_submit : HelperId.ringbuf_discard));
  }
  if (e.bad() && rng.chance(0.3)) e.emit(ldx(8, keep(e), 0, 0));
  e.place(skip);
  if (e.bad() && rng.chance(0.2)) e.emit(mov(1, 0), movImm(2, 0), call(HelperId.ringbuf_submit));
};

const helperCall: Snippet = (e) => {
  const { rng, profile } = e;
  const helper = rng.pick(profile.helpers);
  switch (helper) {
    case HelperId.probe_read_kernel:
      e.emit(mov(1, 10), addImm(1, -16), movImm(2, e.bad() ? rng.pick([0, 17, 24]) : rng.pick([4, 8, 16])), mov(3, keep(e)), call(helper));
      e.emit(ldx(8, keep(e), 10, -16));
      return;
    case HelperId.skb_load_bytes:
      e.emit(mov(1, R_CTX), movImm(2, rng.pick([0, 12, 14, 40])), mov(3, 10), addImm(3, -16));
      if (e.bad()) e.emit(mov(4, keep(e)), I(0x57, 4, 0, 0, rng.pick([15, 31])));
      else e.emit(movImm(4, rng.pick([1, 4, 8, 16])));
      e.emit(call(helper), ldx(rng.pick([1, 4, 8] as const), keep(e), 10, -16));
      return;
    case HelperId.xdp_adjust_head:
    case HelperId.xdp_adjust_tail: {
      // The mistake: keep using a packet pointer the helper invalidated.
      const stale = e.bad();
      if (stale && profile.packet) e.emit(ldx(4, LOOP, R_CTX, profile.packet.data));
      e.emit(mov(1, R_CTX), movImm(2, rng.pick([-14, -4, 0, 4, 14])), call(helper), mov(keep(e), 0));
      if (stale) e.emit(ldx(1, keep(e), LOOP, 0));
      return;
    }
    case HelperId.ringbuf_output:
      e.emit(st(8, 10, -8, 7), ...mapRef(RINGBUF_MAP), mov(2, 10), addImm(2, -8), movImm(3, e.bad() ? 16 : 8), movImm(4, 0), call(helper));
      return;
    case HelperId.map_lookup_elem:
      return mapLookup(e, 2);
    case HelperId.map_update_elem:
    case HelperId.map_delete_elem:
      return mapUpdate(e, 2);
    case HelperId.ringbuf_reserve:
      return ringbuf(e, 2);
    default:
      e.emit(call(helper), mov(keep(e), 0));
  }
};

const branch: Snippet = (e, depth) => {
  const { rng } = e;
  const skip = e.label();
  const r = keep(e);
  if (rng.chance(0.6)) e.jump(I(rng.pick(JMP_IMM), r, 0, 0, rng.pick(IMMS)), skip);
  else e.jump(I(rng.pick(JMP_REG), r, e.bad() ? rng.pick([R_CTX, 10]) : keep(e)), skip);
  pickSnippet(e)(e, depth + 1);
  e.place(skip);
};

/**
 * A counted loop (the mistake: a bound beyond what the body may index). Loops without progress or
 * with an unknown bound are left out: both verifiers spend the full 1M-instruction budget on them.
 */
const loop: Snippet = (e, depth) => {
  const { rng } = e;
  const top = e.label();
  e.emit(movImm(LOOP, 0));
  e.place(top);
  if (depth < 2 && rng.chance(0.5)) pickSnippet(e)(e, depth + 1);
  else if (rng.chance(0.5)) e.emit(I(0x0f, keep(e), LOOP));
  else e.emit(mov(1, 10), addImm(1, -64), I(0x0f, 1, LOOP), st(1, 1, 0, 1));
  e.emit(addImm(LOOP, 1));
  const bound = e.bad() ? rng.pick([65, 100, 1000]) : rng.range(1, 24);
  e.jump(I(rng.pick([0xa5, 0x35, 0x55]), LOOP, 0, 0, bound), top);
};

/** A bpf-to-bpf call taking the context or a stack pointer. */
const subprogram: Snippet = (e) => {
  const { rng } = e;
  const name = `sub${e.subprograms.length}`;
  const body: Item[] = [{ label: name }];
  const arg = rng.below(3);
  if (arg === 2 && e.profile.packet) {
    // A packet pointer whose range the caller proved: the callee may read within it.
    const skip = e.label();
    const span = rng.pick([1, 4, 8, 14]);
    e.emit(ldx(4, 1, R_CTX, e.profile.packet.data), ldx(4, 3, R_CTX, e.profile.packet.dataEnd), mov(4, 1), addImm(4, span));
    e.jump(I(0x2d, 4, 3), skip);
    e.jump(I(0x85, 0, 1, 0, 0), name);
    e.emit(mov(keep(e), 0));
    e.place(skip);
    body.push({ insn: ldx(1, 0, 1, e.bad() ? span : rng.below(span)) }, { insn: I(0x95) });
    e.subprograms.push(body);
    return;
  }
  if (arg === 1) {
    if (!(e.bad() && rng.chance(0.4))) e.emit(stx(8, 10, keep(e), -8));
    e.emit(mov(1, 10), addImm(1, -8));
    body.push({ insn: ldx(8, 0, 1, e.bad() ? rng.pick([-8, 8, 4]) : 0) });
  } else {
    e.emit(mov(1, R_CTX));
    const field = rng.pick(e.profile.fields);
    body.push({ insn: ldx(field.size as Size, 0, 1, e.bad() ? nudge(e, field.off) : field.off) });
  }
  if (rng.chance(0.3)) body.push({ insn: stx(8, 10, 0, -8) }, { insn: ldx(8, 0, 10, e.bad() ? -16 : -8) });
  if (e.bad() && rng.chance(0.3)) body.push({ insn: movImm(1, 0) }, { insn: mov(0, 1) }, { insn: I(0xbf, 0, 2) });
  body.push({ insn: I(0x95) });
  e.subprograms.push(body);
  e.jump(I(0x85, 0, 1, 0, 0), name);
  e.emit(mov(keep(e), 0));
};

const pointerArith: Snippet = (e) => {
  const { rng } = e;
  const r = keep(e);
  switch (rng.below(4)) {
    case 0:
      e.emit(mov(1, R_CTX), I(rng.pick([0x0f, 0x1f, 0x07]), 1, r, 0, rng.pick([4, 8, -4])));
      e.emit(ldx(4, keep(e), 1, 0));
      return;
    case 1:
      e.emit(mov(r, rng.pick([R_CTX, 10])), I(rng.pick(ALU64_IMM), r, 0, 0, rng.pick(IMMS)));
      return;
    case 2:
      e.emit(mov(1, 10), I(0x1f, 1, R_CTX), mov(r, 1));
      return;
    default:
      e.emit(mov(r, 10), I(0x1f, r, 10));
  }
};

const SNIPPETS: readonly [Snippet, number][] = [
  [scalarAlu, 3], [ctxLoad, 2], [packet, 3], [ldAbs, 1], [stack, 2], [mapLookup, 3], [mapUpdate, 1], [ringbuf, 2],
  [helperCall, 2], [branch, 2], [loop, 1], [subprogram, 1], [pointerArith, 1],
];
const TOTAL_WEIGHT = SNIPPETS.reduce((s, [, w]) => s + w, 0);

function pickSnippet(e: Emitter): Snippet {
  let x = e.rng.next() * TOTAL_WEIGHT;
  for (const [snippet, weight] of SNIPPETS) {
    x -= weight;
    if (x < 0) return snippet;
  }
  return scalarAlu;
}

/** Labels to slot indexes; jumps get `off`, local calls `imm`. */
function assemble(items: readonly Item[]): Instruction[] {
  const at = new Map<string, number>();
  let n = 0;
  for (const item of items) {
    if ('label' in item) at.set(item.label, n);
    else n++;
  }
  const out: Instruction[] = [];
  for (const item of items) {
    if ('label' in item) continue;
    if (item.target === undefined) {
      out.push(item.insn);
      continue;
    }
    const rel = at.get(item.target)! - (out.length + 1);
    out.push(item.insn.code === 0x85 ? { ...item.insn, imm: rel } : { ...item.insn, off: rel });
  }
  return out;
}

/** A random program of `type`; `badRate` is the chance each construct carries a mistake. */
export function randomProgram(rng: Rng, type: FuzzProgType, badRate = 0.12): FuzzProgram {
  const profile = PROFILES[type];
  const e = new Emitter(rng, profile, badRate);
  e.emit(mov(R_CTX, 1));
  for (const r of KEEP) if (!(e.bad() && rng.chance(0.3))) e.emit(movImm(r, rng.pick(IMMS)));
  const count = rng.range(1, 6);
  for (let i = 0; i < count; i++) pickSnippet(e)(e, 0);
  if (e.bad() && rng.chance(0.3)) e.emit(mov(0, rng.pick([7, R_CTX, 2])));
  else e.emit(movImm(0, rng.pick(profile.returns)));
  e.emit(I(0x95));
  for (const body of e.subprograms) e.items.push(...body);
  return { type, insns: assemble(e.items), origin: 'random' };
}
