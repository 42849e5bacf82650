import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { attachPerfEvent, type BpfLink } from './link.js';
import { dynamicPmuType, perfEventOpen } from './perf.js';
import type { BpfProgram } from './program.js';

/**
 * Uprobes: a perf event of the `uprobe` PMU on (binary path, file offset), with a KPROBE-type program
 * bound to it as a BPF_PERF_EVENT link. Symbols are looked up in .symtab, then .dynsym (shared
 * libraries are usually stripped down to the latter).
 */
export interface UprobeOptions {
  /** The binary or shared library, e.g. /usr/lib/x86_64-linux-gnu/libc.so.6. */
  path: string;
  /** Function to probe; its file offset comes from the ELF symbol tables. */
  symbol?: string;
  /** File offset to probe (added to the symbol's, when both are given). */
  offset?: number;
  /** Only this process (default: every process). */
  pid?: number;
  /** Fire on return instead of entry. */
  retprobe?: boolean;
  cookie?: bigint;
}

const SYMBOL_SIZE = 24;
const SECTION_HEADER_SIZE = 64;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;

interface NativeSection { type: number; addr: number; offset: number; size: number; link: number }

/**
 * Section headers of a native ELF64 little-endian binary. (src/elf reads BPF objects only, so the
 * few fields needed to resolve a symbol in a host binary are read here.)
 */
function nativeSections(bytes: Uint8Array, path: string): NativeSection[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string): never => {
    throw new TsbpfError('linux/bad-elf', `${why}`, { file: path });
  };
  if (bytes.byteLength < 64 || view.getUint32(0, false) !== 0x7f454c46) bad('not an ELF file');
  if (bytes[4] !== 2 || bytes[5] !== 1) bad('only 64-bit little-endian ELF binaries are supported');
  const shoff = Number(view.getBigUint64(0x28, true));
  const shnum = view.getUint16(0x3c, true);
  if (shoff + shnum * SECTION_HEADER_SIZE > bytes.byteLength) bad('section headers past the end of the file');
  const sections: NativeSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const p = shoff + i * SECTION_HEADER_SIZE;
    sections.push({
      type: view.getUint32(p + 4, true), addr: Number(view.getBigUint64(p + 16, true)),
      offset: Number(view.getBigUint64(p + 24, true)), size: Number(view.getBigUint64(p + 32, true)),
      link: view.getUint32(p + 40, true),
    });
  }
  return sections;
}

function cStringAt(bytes: Uint8Array, offset: number): string {
  let end = offset;
  while (end < bytes.byteLength && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(offset, end));
}

/** The file offset of function `name` in an ELF binary (its address translated through its section). */
export function symbolFileOffset(path: string, name: string): number {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const sections = nativeSections(bytes, path);
  for (const table of sections.filter((s) => s.type === SHT_SYMTAB || s.type === SHT_DYNSYM)) {
    const strings = sections[table.link];
    if (!strings) continue;
    for (let p = table.offset; p + SYMBOL_SIZE <= table.offset + table.size; p += SYMBOL_SIZE) {
      const type = bytes[p + 4]! & 0xf;
      const sectionIndex = view.getUint16(p + 6, true);
      if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || sectionIndex === 0 || sectionIndex >= sections.length) continue;
      if (cStringAt(bytes, strings.offset + view.getUint32(p, true)) !== name) continue;
      const section = sections[sectionIndex]!;
      return Number(view.getBigUint64(p + 8, true)) - section.addr + section.offset;
    }
  }
  throw new TsbpfError('linux/no-symbol', `no function ${name} in ${path}`, { file: path });
}

/** The config bit that turns a uprobe into a uretprobe (`config:0` in the PMU's format folder). */
function retprobeBit(): number {
  try {
    const m = /config:(\d+)/.exec(readFileSync('/sys/bus/event_source/devices/uprobe/format/retprobe', 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export function attachUprobe(program: BpfProgram, options: UprobeOptions): BpfLink {
  const pmu = dynamicPmuType('uprobe');
  if (pmu === undefined) throw new TsbpfError('linux/no-uprobes', 'this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)');
  const offset = (options.symbol ? symbolFileOffset(options.path, options.symbol) : 0) + (options.offset ?? 0);
  const perfFd = perfEventOpen({
    type: pmu, config: options.retprobe ? 1n << BigInt(retprobeBit()) : 0n, config1Path: options.path, config2: offset,
    pid: options.pid ?? -1, cpu: options.pid === undefined ? 0 : -1,
  });
  const what = `${options.retprobe ? 'uretprobe' : 'uprobe'} ${options.path}:${options.symbol ?? ''}+0x${(options.offset ?? 0).toString(16)}`;
  return attachPerfEvent(program, perfFd, what, options.cookie);
}
