import { CbpfError } from './cbpf-error.js';
import { decodeCbpf, Op, type DecodedCbpf } from './decode.js';
import type { AncillaryData } from './interpret.js';
import { SkfAd, type CbpfInstruction } from './opcodes.js';

/** A classic program compiled to JavaScript: same results as `runCbpf`, several times faster. */
export type CompiledFilter = (packet: Uint8Array, wirelen: number) => number;

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

/** `p[at + delta]`, folded when the offset is a constant. */
const byte = (at: string, delta: number): string => {
  if (delta === 0) return `p[${at}]`;
  return /^\d+$/.test(at) ? `p[${Number(at) + delta}]` : `p[${at} + ${delta}]`;
};

const load = (size: number, at: string): string => {
  if (size === 4) return `A = ((${byte(at, 0)} << 24) | (${byte(at, 1)} << 16) | (${byte(at, 2)} << 8) | ${byte(at, 3)}) >>> 0;`;
  if (size === 2) return `A = (${byte(at, 0)} << 8) | ${byte(at, 1)};`;
  return `A = ${byte(at, 0)};`;
};

const CONDITIONS: Readonly<Record<number, (k: string) => string>> = {
  [Op.JEQ_K]: (k) => `A === ${k}`, [Op.JGT_K]: (k) => `A > ${k}`, [Op.JGE_K]: (k) => `A >= ${k}`, [Op.JSET_K]: (k) => `(A & ${k}) !== 0`,
  [Op.JEQ_X]: () => 'A === X', [Op.JGT_X]: () => 'A > X', [Op.JGE_X]: () => 'A >= X', [Op.JSET_X]: () => '(A & X) !== 0',
};

/** JavaScript for one straight-line instruction (not a jump or return). */
function statement(op: number, k: number, pc: number): string {
  switch (op) {
    case Op.LD_W_ABS: return `if (${k + 4} > n) return 0; ${load(4, String(k))}`;
    case Op.LD_H_ABS: return `if (${k + 2} > n) return 0; ${load(2, String(k))}`;
    case Op.LD_B_ABS: return `if (${k} >= n) return 0; ${load(1, String(k))}`;
    case Op.LD_W_IND: return `k = X + ${k}; if (k + 4 > n) return 0; ${load(4, 'k')}`;
    case Op.LD_H_IND: return `k = X + ${k}; if (k + 2 > n) return 0; ${load(2, 'k')}`;
    case Op.LD_B_IND: return `k = X + ${k}; if (k >= n) return 0; ${load(1, 'k')}`;
    case Op.LD_LEN: return 'A = wirelen;';
    case Op.LDX_LEN: return 'X = wirelen;';
    case Op.LD_IMM: return `A = ${k};`;
    case Op.LDX_IMM: return `X = ${k};`;
    case Op.LD_MEM: return `A = m${k};`;
    case Op.LDX_MEM: return `X = m${k};`;
    case Op.LDX_MSH: return `if (${k} >= n) return 0; X = (p[${k}] & 15) << 2;`;
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
export function compileCbpfToSource(prog: readonly CbpfInstruction[], options: CompileJsOptions = {}): string {
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
  const lines: string[] = ['const n = p.length;', 'let A = 0, X = 0, k = 0;'];
  if (usedMem.size) lines.push(`let ${[...usedMem].sort((a, b) => a - b).map((i) => `m${i} = 0`).join(', ')};`);
  if (!structured) lines.push('let b = 0;', `let budget = ${options.maxBackwardJumps ?? 1_000_000};`);

  /** How one block jumps to the block starting at `target`. */
  const goTo = (target: number, from: number): string => {
    if (structured) return `break L${target};`;
    const guard = target <= from ? `if (--budget < 0) throw loopLimit(${from}); ` : '';
    return `${guard}b = ${blockOf.get(target)!}; continue;`;
  };

  const emitBlock = (start: number, end: number): void => {
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
      } else lines.push(`  ${statement(op, k, pc)}`);
    }
  };

  if (structured) {
    // Open the labels outermost-last-target first; each closes right before its target block.
    for (const target of [...targets].sort((a, b) => b - a)) lines.push(`L${target}: {`);
    starts.forEach((start, blockIndex) => {
      if (targets.has(start)) lines.push('}');
      emitBlock(start, starts[blockIndex + 1] ?? d.length);
    });
    lines.push('return 0;');
  } else {
    lines.push('for (;;) switch (b) {');
    starts.forEach((start, blockIndex) => {
      lines.push(`case ${blockIndex}:`);
      emitBlock(start, starts[blockIndex + 1] ?? d.length);
    });
    lines.push('default: return 0;', '}');
  }
  return lines.join('\n');
}

function ancillaryReader(data: AncillaryData): (which: number, A: number, X: number) => number {
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

/**
 * Compiles a classic program to a JavaScript function (via `new Function`): one `case` per basic
 * block, constant offsets folded into the bounds checks, scratch memory in local variables.
 */
export function compileCbpfToJs(prog: readonly CbpfInstruction[], options: CompileJsOptions = {}): CompiledFilter {
  const body = compileCbpfToSource(prog, options);
  const factory = new Function('anc', 'loopLimit', `"use strict"; return function cbpfFilter(p, wirelen) {\n${body}\n};`) as (
    anc: ((which: number, A: number, X: number) => number) | undefined,
    loopLimit: (pc: number) => Error,
  ) => CompiledFilter;
  const loopLimit = (pc: number): Error => new CbpfError('cbpf/loop-limit', 'too many backward jumps in one run', { insn: pc });
  return factory(options.ancillary ? ancillaryReader(options.ancillary) : undefined, loopLimit);
}
