import type { BtfExt, LineInfo } from '../btf/index.js';
import {
  R_BPF_64_32, R_BPF_64_64, SHF_EXECINSTR, SHN_UNDEF, STT_FUNC, STT_SECTION,
  type ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol,
} from '../elf/index.js';
import { decode, isLdImm64, type Instruction } from '../isa/instruction.js';
import { PseudoCall, PseudoLdImm64 } from '../isa/opcodes.js';
import { matchSection } from '../progtypes/sections.js';
import { isDataSection, isLegacyMapSection } from './maps.js';
import { KCONFIG_MAP } from './externs.js';
import { ObjectError, type ExternReference, type MapReference, type ObjectExtern, type ObjectMap, type ObjectProgram } from './types.js';

/**
 * Programs and their linking, as libbpf does it: every function in an executable section other than
 * .text is a program (and .text functions when there is no such section); functions it calls (in
 * .text or elsewhere) are appended after it, once each, and call offsets rewritten; LD_IMM64
 * relocations become map references (maps, global data) or callback addresses.
 */

interface Func {
  name: string;
  section: ElfSection;
  /** Slot range inside the section. */
  start: number;
  end: number;
  global: boolean;
  hidden: boolean;
}

interface Context {
  elf: ElfFile;
  /** Decoded (and CO-RE-patched) instructions per executable section index. */
  code: Map<number, Instruction[]>;
  funcs: Func[];
  /** Relocations per section index, by slot. */
  relocs: Map<number, Map<number, ElfRelocation>>;
  /** Maps by (section index, offset) for map-section symbols. */
  mapAt: (section: ElfSection, offset: number) => ObjectMap | undefined;
  dataMapFor: (section: ElfSection) => ObjectMap | undefined;
  externs: ReadonlyMap<string, ObjectExtern>;
  btfExt?: BtfExt;
}

const STV_HIDDEN = 2;

function where(ctx: Context, section: ElfSection, insn?: number) {
  return { ...(ctx.elf.fileName === undefined ? {} : { file: ctx.elf.fileName }), section: section.name, ...(insn === undefined ? {} : { insn }) };
}

/** The functions of every executable section, from FUNC symbols (or one per section without any). */
function findFunctions(elf: ElfFile, code: Map<number, Instruction[]>): Func[] {
  const funcs: Func[] = [];
  for (const [index, insns] of code) {
    const section = elf.sections[index]!;
    const symbols = elf.symbols
      .filter((s) => s.sectionIndex === index && s.type === STT_FUNC)
      .sort((a, b) => a.value - b.value);
    if (symbols.length === 0) {
      // Old objects: one program per section, named by a global symbol at 0 or the section.
      const label = elf.symbols.find((s) => s.sectionIndex === index && s.value === 0 && s.type !== STT_SECTION && s.name !== '');
      funcs.push({ name: label?.name ?? section.name, section, start: 0, end: insns.length, global: true, hidden: false });
      continue;
    }
    symbols.forEach((sym, i) => {
      const start = sym.value / 8;
      const next = symbols[i + 1];
      const end = sym.size > 0 ? start + sym.size / 8 : next ? next.value / 8 : insns.length;
      funcs.push({ name: sym.name, section, start, end: Math.min(end, insns.length), global: sym.bind !== 0, hidden: (sym.visibility & 3) === STV_HIDDEN });
    });
  }
  return funcs;
}

function funcAt(ctx: Context, section: ElfSection, slot: number): Func | undefined {
  return ctx.funcs.find((f) => f.section.index === section.index && slot >= f.start && slot < f.end);
}

/** Link one program: the entry function, then each callee once, appended. */
type Linked = Pick<ObjectProgram, 'insns' | 'mapRefs' | 'functions' | 'lineInfo'> & { externRefs: ExternReference[] };

function link(ctx: Context, entry: Func): Linked {
  const insns: Instruction[] = [];
  const mapRefs: MapReference[] = [];
  const externRefs: ExternReference[] = [];
  const placed = new Map<Func, number>();
  const functions: ObjectProgram['functions'] = [];
  const queue: Func[] = [];
  const place = (f: Func): number => {
    const known = placed.get(f);
    if (known !== undefined) return known;
    const at = insns.length;
    placed.set(f, at);
    functions.push({ name: f.name, start: at, length: f.end - f.start, ...(f.hidden ? { hidden: true } : {}) });
    const code = ctx.code.get(f.section.index)!;
    for (let i = f.start; i < f.end; i++) insns.push({ ...code[i]! });
    queue.push(f);
    return at;
  };
  place(entry);
  // Fixups for each placed function; placing a callee appends it to the queue.
  while (queue.length) {
    const f = queue.shift()!;
    const base = placed.get(f)!;
    const relocs = ctx.relocs.get(f.section.index);
    for (let slot = f.start; slot < f.end; slot++) {
      const at = base + slot - f.start;
      const insn = insns[at]!;
      const reloc = relocs?.get(slot);
      const symbol = reloc ? ctx.elf.symbols[reloc.symbolIndex] : undefined;
      if (reloc && symbol) {
        resolveRelocation(ctx, f, slot, at, insns, reloc, symbol, { mapRefs, externRefs }, place);
      } else if (insn.code === 0x85 && insn.src === PseudoCall.LOCAL) {
        // A call inside the same section with no relocation: the offset is section-relative.
        const target = slot + 1 + insn.imm;
        const callee = funcAt(ctx, f.section, target);
        if (!callee) throw new ObjectError('bad-call', `call to slot ${target}, which is not inside a function`, where(ctx, f.section, slot));
        insn.imm = place(callee) + (target - callee.start) - (at + 1);
      }
      if (isLdImm64(insn)) slot++;
    }
  }
  return { insns, mapRefs, externRefs, functions, lineInfo: collectLineInfo(ctx, placed) };
}

function resolveRelocation(
  ctx: Context, f: Func, slot: number, at: number, insns: Instruction[], reloc: ElfRelocation, symbol: ElfSymbol,
  refs: { mapRefs: MapReference[]; externRefs: ExternReference[] }, place: (f: Func) => number,
): void {
  const { mapRefs } = refs;
  const insn = insns[at]!;
  const loc = where(ctx, f.section, slot);
  // Type 0 comes from old LLVM (e_machine 0): what it means follows from the instruction, as with libbpf.
  if (reloc.type !== R_BPF_64_64 && reloc.type !== R_BPF_64_32 && reloc.type !== 0) {
    throw new ObjectError('bad-relocation', `relocation type ${reloc.type} on an instruction is not supported`, loc);
  }
  if (symbol.sectionIndex === SHN_UNDEF) {
    linkExtern(ctx, at, insns, symbol.name, refs, loc);
    return;
  }
  const target = ctx.elf.sections[symbol.sectionIndex];
  if (!target) throw new ObjectError('bad-relocation', `symbol ${symbol.name} is in no section`, loc);
  if (insn.code === 0x85) {
    // A call: to a function symbol (imm is -1) or a section symbol (imm holds the offset).
    if (!(target.flags & SHF_EXECINSTR)) throw new ObjectError('bad-call', `call to ${symbol.name}, which is not code`, loc);
    const targetSlot = symbol.value / 8 + insn.imm + 1;
    const callee = funcAt(ctx, target, targetSlot);
    if (!callee) throw new ObjectError('bad-call', `call to ${symbol.name}+${targetSlot}, which is not a function`, loc);
    insn.src = PseudoCall.LOCAL;
    insn.imm = place(callee) + (targetSlot - callee.start) - (at + 1);
    return;
  }
  if (!isLdImm64(insn)) throw new ObjectError('bad-relocation', `relocation against ${symbol.name} on an instruction that is not lddw or call`, loc);
  const second = insns[at + 1]!;
  if (target.flags & SHF_EXECINSTR) {
    // The address of a function: a callback for bpf_loop, for_each_map_elem, timers.
    const targetSlot = (symbol.value + insn.imm) / 8;
    const callee = funcAt(ctx, target, targetSlot);
    if (!callee) throw new ObjectError('bad-relocation', `function address ${symbol.name} is not a function`, loc);
    insn.src = PseudoLdImm64.FUNC;
    insn.imm = place(callee) + (targetSlot - callee.start) - (at + 1);
    return;
  }
  const map = ctx.mapAt(target, symbol.value) ?? (isDataSection(target.name) ? ctx.dataMapFor(target) : undefined);
  if (!map) throw new ObjectError('bad-relocation', `${symbol.name} in section ${target.name} is neither a map nor global data`, loc);
  if (map.origin === 'btf' || map.origin === 'legacy') {
    insn.src = PseudoLdImm64.MAP_FD;
    insn.imm = 0;
    mapRefs.push({ insn: at, map: map.name, kind: 'fd', offset: 0 });
  } else {
    const offset = (symbol.type === STT_SECTION ? 0 : symbol.value) + insn.imm;
    insn.src = PseudoLdImm64.MAP_VALUE;
    insn.imm = 0;
    second.imm = offset;
    mapRefs.push({ insn: at, map: map.name, kind: 'value', offset });
  }
}

/**
 * An instruction naming an extern: a `.kconfig` variable becomes a reference into the `.kconfig`
 * map; a `__ksym` variable's lddw or a kfunc call is left for the backend to bind. An extern
 * without BTF in `.kconfig` or `.ksyms` (an undefined helper, a libc function) cannot be resolved.
 */
function linkExtern(
  ctx: Context, at: number, insns: Instruction[], name: string,
  refs: { mapRefs: MapReference[]; externRefs: ExternReference[] }, loc: ReturnType<typeof where>,
): void {
  const insn = insns[at]!;
  const ext = ctx.externs.get(name);
  const isCall = insn.code === 0x85;
  if (!ext) {
    throw new ObjectError('extern', `unrecognized extern ${isCall ? 'function' : 'variable'} ${name}: only __kconfig and __ksym externs (with BTF) resolve`, loc);
  }
  if (isCall) {
    if (ext.kind !== 'kfunc') throw new ObjectError('extern', `call to extern ${name}, which is not a kfunc`, loc);
    insn.src = PseudoCall.KFUNC;
    insn.imm = 0;
    refs.externRefs.push({ insn: at, extern: name, kind: 'call' });
    return;
  }
  if (!isLdImm64(insn)) throw new ObjectError('bad-relocation', `extern ${name} used by an instruction that is not lddw or call`, loc);
  if (ext.kind === 'kconfig') {
    const offset = ext.offset + insn.imm;
    insn.src = PseudoLdImm64.MAP_VALUE;
    insn.imm = 0;
    insns[at + 1]!.imm = offset;
    refs.mapRefs.push({ insn: at, map: KCONFIG_MAP, kind: 'value', offset });
    return;
  }
  insn.imm = 0;
  refs.externRefs.push({ insn: at, extern: name, kind: 'address' });
}

function collectLineInfo(ctx: Context, placed: Map<Func, number>): Map<number, LineInfo> {
  const out = new Map<number, LineInfo>();
  if (!ctx.btfExt) return out;
  for (const [f, base] of placed) {
    const records = ctx.btfExt.lineInfo.find((s) => s.sectionName === f.section.name)?.records ?? [];
    for (const r of records) {
      const slot = r.insnOff / 8;
      if (slot >= f.start && slot < f.end) out.set(base + slot - f.start, r);
    }
  }
  return out;
}

/**
 * libbpf's rule: .text holds subprograms of the programs in named sections. An object with no
 * named program section (hand-written or PREVAIL-style samples) has nothing else to load, so its
 * global .text functions (or its only function) are programs, each loadable on its own.
 */
function textFunctionIsProgram(funcs: readonly Func[], f: Func): boolean {
  if (funcs.some((g) => g.section.name !== '.text')) return false;
  return f.global || funcs.length === 1;
}

export interface ProgramExtraction {
  elf: ElfFile;
  /** Section bytes after CO-RE patching, by section index. */
  sectionCode: Map<number, Uint8Array>;
  maps: (ObjectMap & { offset?: number })[];
  externs: readonly ObjectExtern[];
  btfExt?: BtfExt;
}

export function extractPrograms(input: ProgramExtraction): ObjectProgram[] {
  const { elf } = input;
  const code = new Map<number, Instruction[]>();
  for (const [index, bytes] of input.sectionCode) code.set(index, decode(bytes, elf.littleEndian));
  const relocs = new Map<number, Map<number, ElfRelocation>>();
  for (const index of code.keys()) {
    const bySlot = new Map<number, ElfRelocation>();
    for (const r of elf.relocationsFor(index)) bySlot.set(r.offset / 8, r);
    relocs.set(index, bySlot);
  }
  const ctx: Context = {
    elf,
    code,
    funcs: findFunctions(elf, code),
    relocs,
    mapAt: (section, offset) =>
      isLegacyMapSection(section.name) || section.name === '.maps'
        ? input.maps.find((m) => m.section === section.name && m.offset === offset)
        : undefined,
    dataMapFor: (section) => input.maps.find((m) => m.section === section.name && m.origin !== 'btf' && m.origin !== 'legacy'),
    externs: new Map(input.externs.map((e) => [e.name, e])),
    ...(input.btfExt ? { btfExt: input.btfExt } : {}),
  };
  const programs: ObjectProgram[] = [];
  for (const f of ctx.funcs) {
    if (f.section.name === '.text' && !textFunctionIsProgram(ctx.funcs, f)) continue;
    const match = matchSection(f.section.name);
    // A program that cannot be linked (an unresolved extern, a bad relocation) keeps its error: the
    // rest of the object stays usable, and loading that program reports it.
    let linked: Linked;
    let error: ObjectError | undefined;
    try {
      linked = link(ctx, f);
    } catch (e) {
      if (!(e instanceof ObjectError)) throw e;
      error = e;
      linked = { insns: [], mapRefs: [], externRefs: [], functions: [], lineInfo: new Map() };
    }
    programs.push({
      name: f.name,
      section: f.section.name,
      ...(match ? { type: match.def.type, sectionDef: match.def } : {}),
      ...(match?.target !== undefined ? { attachTarget: match.target } : {}),
      ...linked,
      coreRelocations: { applied: 0, poisoned: 0 },
      ...(error ? { error } : {}),
    });
  }
  return programs;
}
