import { readFileSync } from 'node:fs';
import type { Btf } from '../btf/index.js';
import { decode, type Instruction } from '../isa/index.js';
import { ProgInfoLayout } from './info.js';
import { readNumber } from './layout.js';
import { btfById } from './map-dump.js';
import { objectInfo } from './objects.js';
import type { BpfProgram } from './program.js';

/**
 * A loaded program as the kernel holds it (what `bpftool prog dump xlated` reads): the rewritten
 * instructions, with function names and source lines from the program's BTF when it has one. In the
 * xlated form LD_IMM64 map loads carry the map id, and helper calls the helper's address relative to
 * `__bpf_call_base`, which /proc/kallsyms turns back into a name.
 */

export interface SourceLine {
  file: string;
  line: number;
  column: number;
  text: string;
}

export interface XlatedProgram {
  insns: Instruction[];
  /** Function names by the instruction index they start at (func_info). */
  functions: Map<number, string>;
  /** Source lines by the instruction index they start at (line_info). */
  lines: Map<number, SourceLine>;
  /** Kernel symbol names of helper calls, by instruction index (when /proc/kallsyms shows addresses). */
  helperCalls: Map<number, string>;
}

const FUNC_RECORD_BYTES = 8;
const LINE_RECORD_BYTES = 16;

/** Reads the xlated instructions and their func_info/line_info records in one go. */
export function xlatedProgram(program: BpfProgram): XlatedProgram {
  const head = objectInfo(program.fd, ProgInfoLayout);
  const xlatedLength = readNumber(head, 'xlated_prog_len');
  const funcCount = readNumber(head, 'nr_func_info');
  const lineCount = readNumber(head, 'nr_line_info');
  const btfId = readNumber(head, 'btf_id');
  const bytecode = new Uint8Array(xlatedLength);
  const funcRecords = new Uint8Array(funcCount * FUNC_RECORD_BYTES);
  const lineRecords = new Uint8Array(lineCount * LINE_RECORD_BYTES);
  objectInfo(program.fd, ProgInfoLayout, {
    xlated_prog_len: xlatedLength, xlated_prog_insns: bytecode,
    ...(funcCount ? { nr_func_info: funcCount, func_info_rec_size: FUNC_RECORD_BYTES, func_info: funcRecords } : {}),
    ...(lineCount ? { nr_line_info: lineCount, line_info_rec_size: LINE_RECORD_BYTES, line_info: lineRecords } : {}),
  });
  const insns = decode(bytecode);
  const btf = btfId && (funcCount || lineCount) ? btfById(btfId) : undefined;
  return {
    insns,
    functions: btf ? functionNames(btf, funcRecords) : new Map(),
    lines: btf ? sourceLines(btf, lineRecords) : new Map(),
    helperCalls: helperCallNames(insns),
  };
}

function functionNames(btf: Btf, records: Uint8Array): Map<number, string> {
  const view = new DataView(records.buffer);
  const out = new Map<number, string>();
  for (let at = 0; at < records.byteLength; at += FUNC_RECORD_BYTES) {
    const type = btf.type(view.getUint32(at + 4, true));
    out.set(view.getUint32(at, true), type.kind === 'FUNC' ? type.name : '');
  }
  return out;
}

function sourceLines(btf: Btf, records: Uint8Array): Map<number, SourceLine> {
  const view = new DataView(records.buffer);
  const out = new Map<number, SourceLine>();
  for (let at = 0; at < records.byteLength; at += LINE_RECORD_BYTES) {
    const lineCol = view.getUint32(at + 12, true);
    out.set(view.getUint32(at, true), {
      file: btf.stringAt(view.getUint32(at + 4, true)),
      text: btf.stringAt(view.getUint32(at + 8, true)),
      line: lineCol >>> 10,
      column: lineCol & 0x3ff,
    });
  }
  return out;
}

const CALL = 0x85;

/** Helper calls (src 0) resolved through /proc/kallsyms; empty when addresses are hidden. */
function helperCallNames(insns: readonly Instruction[]): Map<number, string> {
  const out = new Map<number, string>();
  const calls = insns.flatMap((insn, index) => (insn.code === CALL && insn.src === 0 ? [index] : []));
  if (!calls.length) return out;
  const symbols = kernelSymbols();
  const base = symbols?.byName.get('__bpf_call_base');
  if (!symbols || base === undefined || base === 0n) return out;
  for (const index of calls) {
    const name = symbols.byAddress.get(base + BigInt(insns[index]!.imm));
    if (name) out.set(index, name);
  }
  return out;
}

interface KernelSymbols {
  byName: Map<string, bigint>;
  byAddress: Map<bigint, string>;
}

let symbolCache: KernelSymbols | null | undefined;

/** Text symbols of the running kernel (read once); null when /proc/kallsyms cannot be read. */
function kernelSymbols(): KernelSymbols | null {
  if (symbolCache !== undefined) return symbolCache;
  let text: string;
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return (symbolCache = null);
  }
  const byName = new Map<string, bigint>();
  const byAddress = new Map<bigint, string>();
  for (const line of text.split('\n')) {
    const [address, kind, name, module] = line.split(/\s+/);
    if (!address || !name || module !== undefined && module !== '' || (kind !== 'T' && kind !== 't')) continue;
    const value = BigInt(`0x${address}`);
    byName.set(name, value);
    if (!byAddress.has(value)) byAddress.set(value, name);
  }
  return (symbolCache = { byName, byAddress });
}
