import { CbpfError } from './cbpf-error.js';
import { decodeCbpf, Op, type DecodedCbpf } from './decode.js';
import type { AncillaryData } from './interpret.js';
import { SkfAd, type CbpfInstruction } from './opcodes.js';

/** A classic program compiled to JavaScript: same results as `runCbpf`, several times faster. */
export type CompiledFilter = (packet: Uint8Array, wirelen: number) => number;

/** A compiled filter over the packet at `buffer[offset .. offset + caplen)`. */
export type WindowFilter = (buffer: Uint8Array, offset: number, caplen: number, wirelen: number) => number;

export interface CompileJsOptions {
  ancillary?: AncillaryData;
  /** As in `CbpfRunOptions`: backward jumps allowed per run. */
  maxBackwardJumps?: number;
}

/** Basic-block leaders: the entry, every jump target, and whatever follows a jump or return. */
function blockStarts(d: DecodedCbpf): number[] {
  const leaders = new Set<number>([0]);
  for (let pc = 0; pc < d.length; pc++) {
    const op = d.op[pc]!;
    if (op === Op.JA) leaders.add(d.jt[pc]!);
    else if (op >= Op.JEQ_K && op <= Op.JSET_X) { leaders.add(d.jt[pc]!); leaders.add(d.jf[pc]!); }
    else if (op < Op.RET_K || op > Op.RET_X) continue;
    if (pc + 1 < d.length) leaders.add(pc + 1);
  }
  return [...leaders].sort((a, b) => a - b);
}

/** How the generated function sees the packet: its own array, or a slice of a larger buffer. */
export type FilterEntry = 'packet' | 'window';

/**
 * `p[at + delta]` in the packet (`o` is the packet's offset in a window), with constant offsets
 * folded.
 */
function byteAt(entry: FilterEntry, at: string, delta: number): string {
  const constant = /^\d+$/.test(at);
  const index = constant ? String(Number(at) + delta) : delta === 0 ? at : `${at} + ${delta}`;
  return entry === 'window' ? `p[o + ${index}]` : `p[${index}]`;
}

function loadBytes(entry: FilterEntry, size: number, at: string): string {
  const b = (delta: number): string => byteAt(entry, at, delta);
  if (size === 4) return `((${b(0)} << 24) | (${b(1)} << 16) | (${b(2)} << 8) | ${b(3)}) >>> 0`;
  if (size === 2) return `(${b(0)} << 8) | ${b(1)}`;
  return b(0);
}

const CONDITIONS: Readonly<Record<number, (k: string) => string>> = {
  [Op.JEQ_K]: (k) => `A === ${k}`, [Op.JGT_K]: (k) => `A > ${k}`, [Op.JGE_K]: (k) => `A >= ${k}`, [Op.JSET_K]: (k) => `(A & ${k}) !== 0`,
  [Op.JEQ_X]: () => 'A === X', [Op.JGT_X]: () => 'A > X', [Op.JGE_X]: () => 'A >= X', [Op.JSET_X]: () => '(A & X) !== 0',
};

/** Bytes a load at a constant offset needs in the packet (0: not such a load). */
function constantNeed(op: number, k: number): number {
  switch (op) {
    case Op.LD_W_ABS: return k + 4;
    case Op.LD_H_ABS: return k + 2;
    case Op.LD_B_ABS: case Op.LDX_MSH: return k + 1;
    default: return 0;
  }
}

/**
 * JavaScript for one straight-line instruction (not a jump or return). Loads at constant offsets
 * carry no bounds check: the block's guard (see `compileCbpfToSource`) has covered them.
 */
function statement(entry: FilterEntry, op: number, k: number, pc: number): string {
  switch (op) {
    case Op.LD_W_ABS: return `A = ${loadBytes(entry, 4, String(k))};`;
    case Op.LD_H_ABS: return `A = ${loadBytes(entry, 2, String(k))};`;
    case Op.LD_B_ABS: return `A = ${loadBytes(entry, 1, String(k))};`;
    case Op.LD_W_IND: return `k = X + ${k}; if (k + 4 > n) return 0; A = ${loadBytes(entry, 4, 'k')};`;
    case Op.LD_H_IND: return `k = X + ${k}; if (k + 2 > n) return 0; A = ${loadBytes(entry, 2, 'k')};`;
    case Op.LD_B_IND: return `k = X + ${k}; if (k >= n) return 0; A = ${loadBytes(entry, 1, 'k')};`;
    case Op.LD_LEN: return 'A = wirelen;';
    case Op.LDX_LEN: return 'X = wirelen;';
    case Op.LD_IMM: return `A = ${k};`;
    case Op.LDX_IMM: return `X = ${k};`;
    case Op.LD_MEM: return `A = m${k};`;
    case Op.LDX_MEM: return `X = m${k};`;
    case Op.LDX_MSH: return `X = (${byteAt(entry, String(k), 0)} & 15) << 2;`;
    case Op.ST: return `m${k} = A;`;
    case Op.STX: return `m${k} = X;`;
    case Op.ADD_K: return `A = (A + ${k}) >>> 0;`;
    case Op.SUB_K: return `A = (A - ${k}) >>> 0;`;
    case Op.MUL_K: return `A = Math.imul(A, ${k}) >>> 0;`;
    case Op.DIV_K: return k === 0 ? 'return 0;' : `A = Math.floor(A / ${k});`;
    case Op.MOD_K: return k === 0 ? 'return 0;' : `A = A % ${k};`;
    case Op.AND_K: return `A = (A & ${k}) >>> 0;`;
    case Op.OR_K: return `A = (A | ${k}) >>> 0;`;
    case Op.XOR_K: return `A = (A ^ ${k}) >>> 0;`;
    case Op.LSH_K: return k < 32 ? `A = (A << ${k}) >>> 0;` : 'A = 0;';
    case Op.RSH_K: return k < 32 ? `A = A >>> ${k};` : 'A = 0;';
    case Op.ADD_X: return 'A = (A + X) >>> 0;';
    case Op.SUB_X: return 'A = (A - X) >>> 0;';
    case Op.MUL_X: return 'A = Math.imul(A, X) >>> 0;';
    case Op.DIV_X: return 'if (X === 0) return 0; A = Math.floor(A / X);';
    case Op.MOD_X: return 'if (X === 0) return 0; A = A % X;';
    case Op.AND_X: return 'A = (A & X) >>> 0;';
    case Op.OR_X: return 'A = (A | X) >>> 0;';
    case Op.XOR_X: return 'A = (A ^ X) >>> 0;';
    case Op.LSH_X: return 'A = X < 32 ? (A << X) >>> 0 : 0;';
    case Op.RSH_X: return 'A = X < 32 ? A >>> X : 0;';
    case Op.NEG: return 'A = -A >>> 0;';
    case Op.TAX: return 'X = A;';
    case Op.TXA: return 'A = X;';
    case Op.LD_ANC: return `if (anc === undefined) return 0; A = anc(${k}, A, X) >>> 0;`;
    default: throw new CbpfError('cbpf/unsupported', `cannot compile operation ${op}`, { insn: pc });
  }
}

/** Programs with more jump targets than this use the dispatch loop (deep block nesting strains parsers). */
const MAX_NESTED_LABELS = 1500;

/**
 * The source of the filter function's body (exposed for debugging and tests). Forward-only
 * programs (all of libpcap's but protochain) become straight-line code: every jump target gets a
 * labelled block that ends just before it, so a jump is a `break` out of that block, and V8 sees
 * plain branches. Programs that jump backwards run in a `switch` over basic blocks inside a loop.
 */
export function compileCbpfToSource(prog: readonly CbpfInstruction[], options: CompileJsOptions = {}, entry: FilterEntry = 'packet'): string {
  const d = decodeCbpf(prog, { ancillary: options.ancillary !== undefined });
  const starts = blockStarts(d);
  const blockOf = new Map(starts.map((pc, i) => [pc, i]));
  const usedMem = new Set<number>();
  let backward = false;
  const targets = new Set<number>();
  for (let pc = 0; pc < d.length; pc++) {
    const op = d.op[pc]!;
    if (op === Op.ST || op === Op.STX || op === Op.LD_MEM || op === Op.LDX_MEM) usedMem.add(d.k[pc]!);
    // Only targets reached by a jump need a label; the next instruction is reached by falling through.
    if (op === Op.JA) {
      if (d.jt[pc]! <= pc) backward = true;
      if (d.jt[pc] !== pc + 1) targets.add(d.jt[pc]!);
    } else if (op >= Op.JEQ_K && op <= Op.JSET_X) {
      if (d.jt[pc] !== pc + 1) targets.add(d.jt[pc]!);
      if (d.jf[pc] !== pc + 1) targets.add(d.jf[pc]!);
    }
  }
  const structured = !backward && targets.size <= MAX_NESTED_LABELS;
  // The window entry gets the packet's length as a parameter.
  const lines: string[] = entry === 'packet' ? ['const n = p.length;', 'let A = 0, X = 0, k = 0;'] : ['let A = 0, X = 0, k = 0;'];
  if (usedMem.size) lines.push(`let ${[...usedMem].sort((a, b) => a - b).map((i) => `m${i} = 0`).join(', ')};`);
  if (!structured) lines.push('let b = 0;', `let budget = ${options.maxBackwardJumps ?? 1_000_000};`);

  /** How one block jumps to the block starting at `target`. */
  const goTo = (target: number, from: number): string => {
    if (structured) return `break L${target};`;
    const guard = target <= from ? `if (--budget < 0) throw loopLimit(${from}); ` : '';
    return `${guard}b = ${blockOf.get(target)!}; continue;`;
  };

  /**
   * One bounds check per block for all its constant-offset loads, placed at the block's start
   * (nothing before a load in a block is observable, so failing early returns the same 0), and
   * none where every path into the block already checked as much: `knownIn[b]` is the length all
   * paths into block b have checked (forward-only programs; with loops, each block checks alone).
   */
  const knownIn: number[] = starts.map((_, i) => (i === 0 ? 0 : Infinity));
  const successors = (last: number, end: number): number[] => {
    const op = d.op[last]!;
    if (op >= Op.RET_K && op <= Op.RET_X) return [];
    if (op === Op.JA) return [d.jt[last]!];
    if (op >= Op.JEQ_K && op <= Op.JSET_X) return [d.jt[last]!, d.jf[last]!];
    return end < d.length ? [end] : [];
  };

  const emitBlock = (blockIndex: number, start: number, end: number): void => {
    let need = 0;
    for (let pc = start; pc < end; pc++) need = Math.max(need, constantNeed(d.op[pc]!, d.k[pc]!));
    const known = structured && Number.isFinite(knownIn[blockIndex]!) ? knownIn[blockIndex]! : 0;
    if (need > known) lines.push(`  if (n < ${need}) return 0;`);
    const knownOut = Math.max(known, need);
    if (structured) {
      for (const next of successors(end - 1, end)) {
        const b = blockOf.get(next)!;
        knownIn[b] = Math.min(knownIn[b]!, knownOut);
      }
    }
    for (let pc = start; pc < end; pc++) {
      const op = d.op[pc]!;
      const k = d.k[pc]!;
      if (op === Op.RET_K) lines.push(`  return ${k};`);
      else if (op === Op.RET_A) lines.push('  return A;');
      else if (op === Op.RET_X) lines.push('  return X;');
      else if (op === Op.JA) {
        if (d.jt[pc] !== end) lines.push(`  ${goTo(d.jt[pc]!, pc)}`);
      } else if (op >= Op.JEQ_K && op <= Op.JSET_X) {
        const cond = CONDITIONS[op]!(String(k));
        const t = d.jt[pc]!, f = d.jf[pc]!;
        if (t === f) { if (t !== end) lines.push(`  ${goTo(t, pc)}`); }
        else if (f === end) lines.push(`  if (${cond}) { ${goTo(t, pc)} }`);
        else if (t === end) lines.push(`  if (!(${cond})) { ${goTo(f, pc)} }`);
        else lines.push(`  if (${cond}) { ${goTo(t, pc)} } ${goTo(f, pc)}`);
      } else lines.push(`  ${statement(entry, op, k, pc)}`);
    }
  };

  if (structured) {
    // Open the labels outermost-last-target first; each closes right before its target block.
    for (const target of [...targets].sort((a, b) => b - a)) lines.push(`L${target}: {`);
    starts.forEach((start, blockIndex) => {
      if (targets.has(start)) lines.push('}');
      emitBlock(blockIndex, start, starts[blockIndex + 1] ?? d.length);
    });
    lines.push('return 0;');
  } else {
    lines.push('for (;;) switch (b) {');
    starts.forEach((start, blockIndex) => {
      lines.push(`case ${blockIndex}:`);
      emitBlock(blockIndex, start, starts[blockIndex + 1] ?? d.length);
    });
    lines.push('default: return 0;', '}');
  }
  return lines.join('\n');
}

function ancillaryReader(data: AncillaryData): Ancillary {
  const fields: Readonly<Record<number, () => number>> = {
    [SkfAd.PROTOCOL]: () => data.protocol ?? 0, [SkfAd.PKTTYPE]: () => data.pktType ?? 0,
    [SkfAd.IFINDEX]: () => data.ifindex ?? 0, [SkfAd.MARK]: () => data.mark ?? 0, [SkfAd.QUEUE]: () => data.queue ?? 0,
    [SkfAd.HATYPE]: () => data.hatype ?? 0, [SkfAd.RXHASH]: () => data.rxhash ?? 0, [SkfAd.CPU]: () => data.cpu ?? 0,
    [SkfAd.VLAN_TAG]: () => data.vlanTag ?? 0, [SkfAd.VLAN_TAG_PRESENT]: () => data.vlanTagPresent ?? 0,
    [SkfAd.PAY_OFFSET]: () => data.payloadOffset ?? 0, [SkfAd.RANDOM]: () => data.random?.() ?? 0,
    [SkfAd.VLAN_TPID]: () => data.vlanTpid ?? 0,
  };
  return (which, A, X) => {
    if (which === SkfAd.ALU_XOR_X) return A ^ X;
    const read = fields[which];
    if (!read) throw new CbpfError('cbpf/bad-ancillary', `unsupported ancillary load SKF_AD_OFF+${which}`);
    return read();
  };
}

type Ancillary = (which: number, A: number, X: number) => number;

/** Builds the generated function (via `new Function`) with its two free names bound. */
function instantiate<F>(parameters: string, body: string, options: CompileJsOptions): F {
  const factory = new Function('anc', 'loopLimit', `"use strict"; return function cbpfFilter(${parameters}) {\n${body}\n};`) as (
    anc: Ancillary | undefined,
    loopLimit: (pc: number) => Error,
  ) => F;
  const loopLimit = (pc: number): Error => new CbpfError('cbpf/loop-limit', 'too many backward jumps in one run', { insn: pc });
  return factory(options.ancillary ? ancillaryReader(options.ancillary) : undefined, loopLimit);
}

/**
 * Compiles a classic program to a JavaScript function: straight-line code for forward-only
 * programs, one bounds check per block for constant-offset loads, scratch memory in local variables.
 */
export function compileCbpfToJs(prog: readonly CbpfInstruction[], options: CompileJsOptions = {}): CompiledFilter {
  return instantiate<CompiledFilter>('p, wirelen', compileCbpfToSource(prog, options, 'packet'), options);
}

/**
 * The same filter over a packet held inside a larger buffer (a capture scanner's window): bytes
 * `offset .. offset + caplen` of `buffer`, so no per-packet view is made. The caller guarantees
 * `offset + caplen <= buffer.length`.
 */
export function compileCbpfToWindowJs(prog: readonly CbpfInstruction[], options: CompileJsOptions = {}): WindowFilter {
  return instantiate<WindowFilter>('p, o, n, wirelen', compileCbpfToSource(prog, options, 'window'), options);
}
