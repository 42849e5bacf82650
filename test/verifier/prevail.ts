import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assemble } from '../../src/isa/asm.js';
import type { Instruction } from '../../src/isa/instruction.js';
import type { MapSpec } from '../../src/maps/spec.js';
import { MapType } from '../../src/uapi/index.js';
import { verify, type InitialRegister, type VerifierResult } from '../../src/verifier/index.js';
import { corpus } from '../support/paths.js';

/**
 * PREVAIL's YAML tests (code fragments with pre/post conditions in PREVAIL's domain), translated for
 * tsbpf's verifier. Only the verdict is compared: PREVAIL rejects when the case expects an error
 * message (its "Code becomes unreachable" reachability notes and `observe` failures are not errors).
 * How each PREVAIL form is translated, and what stays skipped, is in docs/prevail.md.
 */
export interface PrevailCase {
  /** `file.yaml: test-case`. */
  name: string;
  insns?: Instruction[];
  /** Why the case is not run: its `pre` says what tsbpf cannot seed, or it is a harness fixture. */
  skip?: string;
  initial: Map<number, InitialRegister>;
  expected: 'accept' | 'reject';
  /**
   * PREVAIL's harness context (64 bytes, data at 0, data_end at 4) is closest to XDP's; cases with
   * legacy packet loads (`skb[...]`) need a socket filter, where the kernel allows them.
   */
  type: 'xdp' | 'socket_filter';
  /** Index 0 is PREVAIL's test map (every `map_fd N`); further ones back `shared` registers of `pre`. */
  maps: MapSpec[];
  /** PREVAIL's expected messages, verbatim. */
  messages: string[];
  /** PREVAIL options (`!allow_division_by_zero`, `termination`, `big_endian` ...). */
  options: string[];
  /** The case uses `assume` (translated to a branch to a dead end). */
  assumes: boolean;
  /** Some scalar of `pre` was widened to a signed range the initial state can hold. */
  approximate: boolean;
  /** The translated assembly, for reading and for the kernel. */
  text: string;
}

type YamlValue = string | string[] | Map<string, string>;

/** The few YAML forms the test files use: scalars, flow lists, block lists, `code:` label blocks. */
function parseDoc(doc: string): Map<string, YamlValue> {
  const out = new Map<string, YamlValue>();
  const lines = doc.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^([\w-]+):\s*(.*)$/.exec(lines[i]!);
    if (!m) continue;
    const key = m[1]!;
    const rest = m[2]!.replace(/\s+#.*$/, '');
    if (key === 'code') {
      const blocks = new Map<string, string>();
      let label = '';
      for (i++; i < lines.length && (lines[i]!.startsWith(' ') || lines[i]!.trim() === ''); i++) {
        const l = lines[i]!;
        const lm = /^ {2}<(\w+)>:\s*\|?\s*(.*)$/.exec(l);
        if (lm) {
          label = lm[1]!;
          blocks.set(label, lm[2] ? `${lm[2]}\n` : '');
        } else if (label) blocks.set(label, blocks.get(label)! + l.trim() + '\n');
      }
      i--;
      out.set(key, blocks);
    } else if (rest.startsWith('[')) {
      let text = rest;
      while (!text.trimEnd().endsWith(']') && i + 1 < lines.length) text += ' ' + lines[++i]!.trim();
      // Items are quoted ("r1.svalue=[0, 4]") or bare (r1.type=number).
      const inner = text.trim().slice(1, -1);
      out.set(key, [...inner.matchAll(/"([^"]*)"|([^,"]+)/g)].map((x) => (x[1] ?? x[2]!).trim()).filter((x) => x !== ''));
    } else if (rest === '' || rest === '|') {
      const items: string[] = [];
      for (i++; i < lines.length && (/^\s+- /.test(lines[i]!) || lines[i]!.trim() === ''); i++) {
        const item = /^\s+- (.*)$/.exec(lines[i]!);
        if (item) items.push(item[1]!.trim().replace(/^"|"$/g, ''));
      }
      i--;
      out.set(key, items);
    } else {
      out.set(key, rest.trim().replace(/^"|"$/g, ''));
    }
  }
  return out;
}

const listOf = (v: YamlValue | undefined): string[] => (Array.isArray(v) ? v : []);

/**
 * PREVAIL's test map (its YAML harness answers every fd with it): key and value 4 bytes, 4 entries.
 * An array, whose key must be 4 bytes; with 4 entries the kernel gives no direct value address into it.
 */
const TEST_MAP: MapSpec = { name: 'test_map', type: MapType.array, keySize: 4, valueSize: 4, maxEntries: 4 };

const INT32_MAX = 2n ** 31n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

/** `pre` as register facts, the initial registers, and a prologue for what only code can create. */
interface Seed {
  initial: Map<number, InitialRegister>;
  prologue: string[];
  maps: MapSpec[];
  approximate: boolean;
  skip?: string;
}

/** A PREVAIL number or `[lo, hi]` interval, read as signed (`svalue`) or unsigned (`uvalue`). */
function interval(text: string | undefined): [bigint, bigint] | undefined {
  if (text === undefined) return undefined;
  const range = /^\[\s*([-+]?\d+)\s*,\s*([-+]?\d+)\s*\]$/.exec(text);
  if (range) return [BigInt(range[1]!), BigInt(range[2]!)];
  return /^[-+]?\d+$/.test(text) ? [BigInt(text), BigInt(text)] : undefined;
}

/**
 * The signed range holding every value with signed value in `s` and unsigned value in `u`; `exact`
 * is false when the set is not one signed interval (an unsigned range across 2^63 with a wide `s`).
 */
function signedRange(s: [bigint, bigint] | undefined, u: [bigint, bigint] | undefined): { range?: [bigint, bigint]; exact: boolean } {
  const pieces: [bigint, bigint][] = [];
  if (u) {
    const [lo, hi] = u;
    const half = 2n ** 63n;
    if (hi < half) pieces.push([lo, hi]);
    else if (lo >= half) pieces.push([lo - 2n ** 64n, hi - 2n ** 64n]);
    else pieces.push([lo, half - 1n], [-half, hi - 2n ** 64n]);
  } else if (s) pieces.push(s);
  else return { exact: true };
  const clipped = pieces
    .map(([lo, hi]): [bigint, bigint] => (s ? [lo > s[0] ? lo : s[0], hi < s[1] ? hi : s[1]] : [lo, hi]))
    .filter(([lo, hi]) => lo <= hi);
  if (clipped.length === 0) return { range: s ?? pieces[0]!, exact: false };
  const lo = clipped.reduce((a, p) => (p[0] < a ? p[0] : a), clipped[0]![0]);
  const hi = clipped.reduce((a, p) => (p[1] > a ? p[1] : a), clipped[0]![1]);
  const full = lo === -(2n ** 63n) && hi === 2n ** 63n - 1n;
  return { ...(full ? {} : { range: [lo, hi] as [bigint, bigint] }), exact: clipped.length === 1 };
}

function seed(pre: readonly string[], code: string): Seed {
  const out: Seed = { initial: new Map(), prologue: [], maps: [TEST_MAP], approximate: false };
  const facts = new Map<string, string>();
  /** `s[a...b]` facts by range: numbers only (spilled pointers have no store to make them). */
  const cells = new Map<string, Map<string, string>>();
  for (const p of pre) {
    const fact = p.trim();
    const cell = /^s\[(\d+)\.\.\.(\d+)\]\.(\w+)=(.*)$/.exec(fact);
    if (cell) {
      if ((cell[3] === 'type' && cell[4] !== 'number') || !['type', 'svalue', 'uvalue'].includes(cell[3]!)) {
        return { ...out, skip: `pre spills a pointer to the stack (${fact}): no store can seed it` };
      }
      const key = `${cell[1]}...${cell[2]}`;
      if (!cells.has(key)) cells.set(key, new Map());
      cells.get(key)!.set(cell[3]!, cell[4]!);
      continue;
    }
    if (/^(packet_size|meta_offset)\b/.test(fact)) return { ...out, skip: `pre bounds the packet (${fact}): the initial state has no packet size` };
    const m = /^r(\d+)\.(\w+)=(.*)$/.exec(fact);
    if (!m) return { ...out, skip: `pre fact '${fact}' has no register form` };
    facts.set(`${m[1]}.${m[2]}`, m[3]!);
  }
  for (let r = 0; r <= 10; r++) {
    const type = facts.get(`${r}.type`);
    const fact = (kind: string): string | undefined => facts.get(`${r}.${kind}`);
    if (r === 10) {
      if (type !== undefined && (type !== 'stack' || (fact('stack_offset') ?? '512') !== '512')) return { ...out, skip: `pre moves r10 (${type})` };
      continue;
    }
    if (type === undefined) {
      if ([...facts.keys()].some((k) => k.startsWith(`${r}.`))) return { ...out, skip: `pre constrains r${r} without a type` };
      continue;
    }
    const numeric = (kind: string): number | undefined => {
      const v = fact(kind);
      return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
    };
    switch (type) {
      case 'number': {
        const svalue = fact('svalue');
        const uvalue = fact('uvalue');
        const s = interval(svalue);
        const u = interval(uvalue);
        if ((svalue !== undefined && !s && !/^r\d+\.\w+$/.test(svalue)) || (uvalue !== undefined && !u && !/^r\d+\.\w+$/.test(uvalue))) {
          return { ...out, skip: `pre gives r${r} a value the initial state cannot hold (${svalue ?? uvalue})` };
        }
        const { range, exact } = signedRange(s, u);
        if (!exact) out.approximate = true;
        out.initial.set(r, range ? { type: 'scalar', range } : { type: 'scalar' });
        break;
      }
      case 'ctx':
        out.initial.set(r, { type: 'ctx', offset: numeric('ctx_offset') ?? 0 });
        break;
      case 'stack': {
        const offset = numeric('stack_offset');
        if (offset === undefined) return { ...out, skip: `pre leaves r${r}'s stack offset open` };
        const numericSize = numeric('stack_numeric_size');
        if (numericSize) {
          const key = `${offset}...${offset + numericSize - 1}`;
          if (!cells.has(key)) cells.set(key, new Map([['type', 'number']]));
        }
        out.initial.set(r, { type: 'fp', offset: offset - 512 });
        break;
      }
      case 'packet': {
        const offset = numeric('packet_offset');
        if (offset === undefined) return { ...out, skip: `pre gives r${r} a packet offset the initial state cannot hold (${fact('packet_offset') ?? 'none'})` };
        out.initial.set(r, { type: 'pkt', offset });
        break;
      }
      case 'map_fd':
        // Every fd is the test map in PREVAIL's harness; the kernel's map pointer comes from an LD_IMM64.
        out.prologue.push(`r${r} = map_idx[0] ll`);
        break;
      case 'shared': {
        // A shared region is a map value of that size: a non-null map value pointer, made by LD_IMM64.
        const size = numeric('shared_region_size');
        const offset = numeric('shared_offset');
        if (size === undefined || offset === undefined) return { ...out, skip: `pre leaves r${r}'s shared region open` };
        if (size === 0) return { ...out, skip: `pre gives r${r} an empty shared region (no map value is empty)` };
        const address = interval(fact('svalue')) ?? interval(fact('uvalue'));
        if (address && address[0] <= 0n) return { ...out, skip: `pre lets shared r${r} be null: only code (a lookup) makes a map value or null` };
        out.prologue.push(`r${r} = map_idx_value[${out.maps.length}]+${offset} ll`);
        out.maps.push({ name: `shared_r${r}`, type: MapType.array, keySize: 4, valueSize: size, maxEntries: 1 });
        break;
      }
      default:
        return { ...out, skip: `pre gives r${r} type ${type}, which the initial state cannot hold` };
    }
  }
  if (cells.size === 0) return out;
  // Stack contents are stored by a prologue; unknown numbers come from a scratch register the
  // fragment never names, seeded as an unknown scalar.
  const scratch = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0].find((r) => !new RegExp(`\\b[rw]${r}\\b`).test(code) && !out.initial.has(r)
    && !out.prologue.some((l) => l.startsWith(`r${r} `)));
  if (scratch === undefined) return { ...out, skip: 'pre sets stack contents and the fragment leaves no register free to store them' };
  out.initial.set(scratch, { type: 'scalar' });
  const unknown: string[] = [];
  const known: string[] = [];
  for (const [key, cell] of cells) {
    const [first, last] = key.split('...').map(Number) as [number, number];
    const value = interval(cell.get('svalue') ?? cell.get('uvalue'));
    const exact = value !== undefined && value[0] === value[1];
    if (value !== undefined && !exact) out.approximate = true;
    // Natural-size, aligned stores (the kernel checks stack alignment always).
    for (let at = first; at <= last;) {
      let size = 8;
      while (size > 1 && (at % size !== 0 || at + size - 1 > last)) size /= 2;
      const target = `*(u${size * 8} *)(r10 - ${512 - at})`;
      if (!exact) unknown.push(`${target} = r${scratch}`);
      else {
        const bytes = BigInt.asUintN(64, value[0]) >> BigInt((at - first) * 8);
        const part = BigInt.asIntN(64, BigInt.asUintN(size * 8, bytes));
        if (part >= -(2n ** 31n) && part <= INT32_MAX) known.push(`${target} = ${part}`);
        else known.push(`r${scratch} = ${part} ll`, `${target} = r${scratch}`);
      }
      at += size;
    }
  }
  out.prologue.push(...unknown, ...known);
  return out;
}

/** PREVAIL's conditions; `&==` is "some bit set" (JSET), `&!=` "no bit set" (no eBPF encoding). */
const CONDITION_RE = /^([wr]\d+)\s*(&?[=!]=|s?[<>]=?)\s*(\S+)$/;
/** Per function: where a failed `assume` goes, and the exit given to a fragment that falls off its end. */
const failLabel = (fn: number): string => `__assume_failed${fn}`;
const endLabel = (fn: number): string => `__end${fn}`;

/** The right operand at the left's width (PREVAIL takes the width from the destination). */
function atWidth(left: string, right: string): string {
  return /^[wr]\d+$/.test(right) ? `${left[0]}${right.slice(1)}` : right;
}

/** A non-LD_IMM64 immediate, which PREVAIL truncates to 32 bits (sign-extended when the op is 64-bit). */
function truncateImmediates(line: string): string {
  if (/ll$/.test(line) || /map_|mva\(/.test(line)) return line;
  return line.replace(/(?<![\w.[-])(0x[0-9a-f]+|\d{10,})(?![\w\]])/gi, (token) => {
    const value = BigInt(token);
    return value > INT32_MAX && value <= UINT64_MAX ? String(BigInt.asIntN(32, value)) : token;
  });
}

/** Raw fixes the assembler cannot spell: (instruction index, patch). */
interface Patch {
  insn: number;
  off: number;
}

/**
 * One PREVAIL statement as tsbpf assembly lines (each one slot, or two for `ll`). Returns a patch
 * for `w2 s32= r1`, PREVAIL's 32-bit sign extension from 32 bits, which has no valid encoding.
 */
function translateLine(statement: string, fn: number): { lines: string[]; patchOff?: number; assume: boolean } {
  let s = statement.replace(/<(\w+)>/g, 'L_$1').replace(/\bgoto\s+[-+]?(?:0x)?[0-9a-f]+\s+(L_\w+)$/i, 'goto $1');
  s = s.replace(/=\s*map_fd\s+(\d+)$/, '= map_idx[0] ll')
    .replace(/=\s*map_val\((\d+)\)\s*\+\s*(\d+)$/, '= map_idx_value[0]+$2 ll')
    .replace(/=\s*map_by_idx\((\d+)\)$/, '= map_idx[$1] ll')
    .replace(/=\s*mva\(map_by_idx\((\d+)\)\)\s*\+\s*(\d+)$/, '= map_idx_value[$1]+$2 ll');
  s = truncateImmediates(s);
  let m: RegExpExecArray | null;
  if ((m = /^assume\s+(.*)$/.exec(s))) {
    const c = CONDITION_RE.exec(m[1]!.trim());
    if (!c) return { lines: [s], assume: true };
    const [, left, op, right] = c as unknown as [string, string, string, string];
    const r = atWidth(left, right);
    // The path goes on only where the condition holds; elsewhere it ends at a harmless exit.
    if (op === '&!=') return { lines: [`if ${left} & ${r} goto ${failLabel(fn)}`], assume: true };
    return { lines: [`if ${left} ${op} ${r} goto +1`, `goto ${failLabel(fn)}`], assume: true };
  }
  if ((m = /^if\s+(.*?)\s+goto\s+(\S+)$/.exec(s))) {
    const c = CONDITION_RE.exec(m[1]!.trim());
    if (c) {
      const [, left, op, right] = c as unknown as [string, string, string, string];
      const r = atWidth(left, right);
      if (op === '&!=') return { lines: [`if ${left} & ${r} goto +1`, `goto ${m[2]}`], assume: false };
      return { lines: [`if ${left} ${op} ${r} goto ${m[2]}`], assume: false };
    }
  }
  if ((m = /^([wr]\d+)\s*(s8|s16|s32)=\s*([wr]\d+)$/.exec(s))) {
    const [, dst, kind, src] = m as unknown as [string, string, string, string];
    const r = atWidth(dst, src);
    if (dst.startsWith('w') && kind === 's32') return { lines: [`${dst} = ${r}`], patchOff: 32, assume: false };
    return { lines: [`${dst} = (${kind})${r}`], assume: false };
  }
  if ((m = /^([wr]\d+)\s*(\S*=)\s*([wr]\d+)$/.exec(s))) return { lines: [`${m[1]} ${m[2]} ${atWidth(m[1]!, m[3]!)}`], assume: false };
  return { lines: [s], assume: false };
}

function translate(blocks: Map<string, string>, prologue: readonly string[]): { text: string; patches: Patch[] } {
  const lines = [...prologue];
  const patches: Patch[] = [];
  let slots = prologue.reduce((n, l) => n + (/ll$/.test(l) ? 2 : 1), 0);
  // Blocks named by `call <x>` start functions: each function gets its own exits (no jumps across).
  const callees = new Set([...blocks.values()].flatMap((body) => [...body.matchAll(/\bcall\s+<(\w+)>/g)].map((m) => m[1]!)));
  let fn = 0;
  let assumes = false;
  let last = '';
  const closeFunction = (): void => {
    const fallsOff = last !== '' && !/^(exit|goto\s+<\w+>)$/.test(last);
    if (fallsOff) lines.push(`${endLabel(fn)}:`, 'r0 = 0', 'exit');
    if (assumes) lines.push(`${failLabel(fn)}:`, 'r0 = 0', 'exit');
    slots += (fallsOff ? 2 : 0) + (assumes ? 2 : 0);
    assumes = false;
    last = '';
    fn++;
  };
  for (const [label, body] of blocks) {
    if (callees.has(label) && lines.length > prologue.length) closeFunction();
    lines.push(`L_${label}:`);
    for (const raw of body.split('\n')) {
      const statement = raw.replace(/;.*$/, '').trim();
      if (statement === '') continue;
      const t = translateLine(statement, fn);
      assumes ||= t.assume;
      if (t.patchOff !== undefined) patches.push({ insn: slots, off: t.patchOff });
      for (const l of t.lines) {
        lines.push(l);
        slots += /ll$/.test(l) ? 2 : 1;
      }
      last = statement;
    }
  }
  closeFunction();
  return { text: lines.join('\n') + '\n', patches };
}

/** PREVAIL errors, leaving out reachability notes and `observe` (test harness) failures. */
const isError = (message: string): boolean => !/Code becomes unreachable|observation \w+ failed/.test(message);

export function prevailCases(): PrevailCase[] {
  const dir = corpus('verifier', 'prevail-yaml');
  if (!dir) return [];
  const out: PrevailCase[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'test-schema.yaml').sort()) {
    for (const doc of readFileSync(join(dir, file), 'utf8').split(/^---\s*$/m)) {
      const d = parseDoc(doc);
      const name = d.get('test-case');
      if (typeof name !== 'string') continue;
      const messages = listOf(d.get('messages'));
      const options = listOf(d.get('options'));
      const code = d.get('code');
      const blocks = code instanceof Map ? code : new Map<string, string>();
      const s = seed(listOf(d.get('pre')), [...blocks.values()].join('\n'));
      const { text, patches } = translate(blocks, s.prologue);
      const assumes = /^assume\s/m.test([...blocks.values()].join('\n'));
      const base: PrevailCase = {
        name: `${file}: ${name}`, initial: s.initial, expected: messages.some(isError) ? 'reject' : 'accept',
        type: /skb\[/.test(text) ? 'socket_filter' : 'xdp', maps: s.maps, messages, options, assumes, approximate: s.approximate, text,
      };
      if (blocks.size === 0) { out.push({ ...base, skip: 'no code' }); continue; }
      const exception = d.get('expected-exception');
      let insns: Instruction[];
      try {
        insns = assemble(text);
      } catch (e) {
        out.push({ ...base, skip: `does not assemble: ${(e as Error).message}` });
        continue;
      }
      for (const p of patches) insns[p.insn]!.off = p.off;
      // A case that is not run carries no instructions (the corpus script runs what has them).
      const skip = typeof exception === 'string' ? `a harness fixture: PREVAIL expects the exception '${exception}', not a verdict` : s.skip;
      out.push(skip ? { ...base, skip } : { ...base, insns });
    }
  }
  return out;
}

/** tsbpf's verdict on a translated case, under the same budget the corpus script uses. */
export function verifyPrevailCase(c: PrevailCase): VerifierResult {
  return verify({ insns: c.insns ?? [], type: c.type, maps: c.maps }, { initialRegisters: c.initial, insnLimit: 100_000 });
}

/**
 * The same case for the running kernel, which starts every program with R1 = context: a prologue
 * gives the other registers their `pre`. Scalars with a range are two context words joined into an
 * unknown 64-bit value, then bounded by branches to an exit (the kernel learns the range from them);
 * packet pointers are loaded from the context; copies of the context or frame pointer and constants
 * are moves. Undefined when the fragment reads an r1 that `pre` leaves uninitialised (the kernel's r1
 * is always the context) or no register is free for the prologue's temporary.
 */
export function kernelInsns(c: PrevailCase): Instruction[] | undefined {
  if (!c.insns) return undefined;
  if (!c.initial.has(1) && !/^r1 = /m.test(c.text) && /\b[rw]1\b/.test(c.text)) return undefined;
  const temp = [9, 8, 7, 6, 5, 4, 3, 2, 0].find((r) => !c.initial.has(r) && !new RegExp(`\\b[rw]${r}\\b`).test(c.text));
  if (temp === undefined) return undefined;
  const dataOffset = c.type === 'xdp' ? 0 : 76;
  const t = `r${temp}`;
  const loads: string[] = [];
  const copies: string[] = [];
  const rest: string[] = [];
  // r1 last among the loads: they read the context through it.
  const regs = [...c.initial].sort(([a], [b]) => (a === 1 ? 1 : 0) - (b === 1 ? 1 : 0));
  for (const [r, init] of regs) {
    const offset = init.offset ? [`r${r} += ${init.offset}`] : [];
    if (init.type === 'ctx') {
      if (r !== 1 || offset.length) copies.push(`r${r} = r1`, ...offset);
    } else if (init.type === 'fp') rest.push(`r${r} = r10`, ...offset);
    else if (init.type === 'pkt') loads.push(`r${r} = *(u32 *)(r1 + ${dataOffset})`, ...offset);
    else if (init.type === 'scalar' && init.range && init.range[0] === init.range[1]) rest.push(`r${r} = ${init.range[0]} ll`);
    else if (init.type === 'scalar') {
      const bounds = init.range ? [`${t} = ${init.range[0]} ll`, `if r${r} s< ${t} goto __out_of_range`, `${t} = ${init.range[1]} ll`, `if r${r} s> ${t} goto __out_of_range`] : [];
      (r === 1 ? rest : loads).unshift(`${t} = *(u32 *)(r1 + 16)`, `r${r} = *(u32 *)(r1 + 12)`, `r${r} <<= 32`, `r${r} |= ${t}`, ...bounds);
    } else return undefined;
  }
  const prologue = [...loads, ...copies, ...rest];
  if (prologue.length === 0) return c.insns;
  const bounded = prologue.some((l) => l.includes('__out_of_range'));
  const text = [...prologue, ...(bounded ? ['goto __fragment', '__out_of_range:', 'r0 = 0', 'exit', '__fragment:'] : [])].join('\n');
  return [...assemble(text), ...c.insns];
}
