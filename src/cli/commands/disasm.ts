import { readFileSync } from 'node:fs';
import { EXIT_OK, UsageError, type CliIO, type Command, parseCommandArgs } from '../command.js';
import { TsbpfError } from '../../errors.js';
import { btfExtFromElf, btfFromElf } from '../../btf/index.js';
import { parseElf, SHF_EXECINSTR, STT_FILE, STT_SECTION, type ElfFile, type ElfSymbol } from '../../elf/index.js';
import { decode, jumpTarget, parseHexBytes, type Instruction } from '../../isa/instruction.js';
import { formatInstruction, slotsAt, tryClassify, type Syntax } from '../../isa/disasm.js';
import { disassemble } from '../../isa/disasm.js';

const USAGE = `usage: tsbpf disasm FILE [--syntax llvm|ubpf] [--hex-imm] [--bytes] [--no-addresses] [--objdump] [--source]

Disassemble eBPF bytecode. FILE ('-' for standard input) is raw little-endian bytecode, hex text
(detected when the file is only hex digits, whitespace, commas, 0x prefixes and # comments) or an ELF
object, whose executable sections are listed the way llvm-objdump -d lists them.

  --syntax llvm|ubpf  output syntax (default llvm, as llvm-objdump prints it; ubpf as bpf_conformance)
  --hex-imm           hex immediates and offsets (llvm-objdump-16's default; LLVM syntax only)
  --bytes             show each instruction's raw bytes (always shown for ELF objects)
  --no-addresses      leave out the instruction index column
  --objdump           print calls and map loads exactly as llvm-objdump does (loses the call kind)
  --source            ELF objects: show the C source lines (BTF line_info) above their code, like
                      llvm-objdump -S

Exit codes: 0 ok, 2 usage or unreadable input.`;

export interface ElfListingOptions {
  syntax?: Syntax;
  hex?: boolean;
  /** Show raw bytes (llvm-objdump's default). */
  bytes?: boolean;
  /** Print exactly what llvm-objdump prints (see FormatOptions.objdump); default true here. */
  objdump?: boolean;
  /** Name printed in the `file format` line. */
  fileName?: string;
  /**
   * Source lines (from BTF line_info) by section name and byte offset, printed as `; line` before the
   * instruction they start at, like `llvm-objdump -S`.
   */
  source?: ReadonlyMap<string, ReadonlyMap<number, string>>;
}

/** Symbols that label code in a section, the ones llvm-objdump prints as `<name>:` headers. */
function sectionSymbols(elf: ElfFile, sectionIndex: number): ElfSymbol[] {
  return elf.symbols
    .filter((s) => s.sectionIndex === sectionIndex && s.type !== STT_SECTION && s.type !== STT_FILE && s.name !== '')
    .sort((a, b) => a.value - b.value || a.index - b.index);
}

/**
 * An ELF object's executable sections, listed like `llvm-objdump -d` (with `--no-print-imm-hex` unless
 * `hex`): `Disassembly of section xdp:`, `<func>:` headers and the `<func+0x40>` branch-target notes.
 */
export function disassembleElf(elf: ElfFile, options: ElfListingOptions = {}): string {
  const syntax = options.syntax ?? 'llvm';
  const format = { hex: options.hex ?? false, objdump: options.objdump ?? true };
  const showBytes = options.bytes ?? true;
  let out = `\n${options.fileName ?? elf.fileName ?? '-'}:\tfile format elf64-bpf\n`;
  for (const section of elf.sections) {
    if ((section.flags & SHF_EXECINSTR) === 0 || section.size === 0) continue;
    const bytes = elf.sectionBytes(section);
    const insns = decode(bytes.subarray(0, bytes.length - (bytes.length % 8)), elf.littleEndian);
    const symbols = sectionSymbols(elf, section.index);
    const byAddress = new Map<number, ElfSymbol>();
    // When several symbols share an address llvm-objdump shows the last of them.
    for (const s of symbols) byAddress.set(s.value, s);
    out += `\nDisassembly of section ${section.name}:\n`;
    if (!byAddress.has(0)) out += `\n${'0'.repeat(16)} <${section.name}>:\n`;
    const lines = options.source?.get(section.name);
    let lastLine: string | undefined;
    for (let i = 0; i < insns.length;) {
      const symbol = byAddress.get(i * 8);
      if (symbol) out += `\n${(i * 8).toString(16).padStart(16, '0')} <${symbol.name}>:\n`;
      const sourceLine = lines?.get(i * 8);
      if (sourceLine !== undefined && sourceLine !== lastLine) out += `; ${sourceLine.trim()}\n`;
      if (sourceLine !== undefined) lastLine = sourceLine;
      const width = slotsAt(insns, i);
      let line = `${String(i).padStart(8)}:\t`;
      if (showBytes) line += Array.from(bytes.subarray(i * 8, (i + width) * 8), (b) => b.toString(16).padStart(2, '0')).join(' ') + '\t';
      line += formatInstruction(insns, i, syntax, format);
      if (syntax === 'llvm') line += branchNote(insns, i, symbols);
      out += line + '\n';
      i += width;
    }
  }
  return out;
}

/** ` <func+0x40>`: the symbol at or before a branch's target, as llvm-objdump annotates jumps. */
function branchNote(insns: readonly Instruction[], index: number, symbols: readonly ElfSymbol[]): string {
  const op = tryClassify(insns, index);
  if (op === undefined || (op.kind !== 'jcond' && !(op.kind === 'ja' && !op.wide))) return '';
  const target = BigInt.asUintN(64, BigInt(jumpTarget(insns[index]!, op, index)!) * 8n);
  let best: ElfSymbol | undefined;
  for (const s of symbols) if (BigInt(s.value) <= target) best = s;
  if (best === undefined) return '';
  const delta = target - BigInt(best.value);
  return delta === 0n ? ` <${best.name}>` : ` <${best.name}+0x${delta.toString(16)}>`;
}

/** line_info text by section and byte offset; an object without BTF line info has none. */
function sourceLines(elf: ElfFile): Map<string, Map<number, string>> {
  const out = new Map<string, Map<number, string>>();
  const btf = btfFromElf(elf);
  const ext = btf ? btfExtFromElf(elf, btf) : undefined;
  for (const group of ext?.lineInfo ?? []) {
    const lines = new Map<number, string>();
    for (const record of group.records) if (record.line) lines.set(record.insnOff, record.line);
    out.set(group.sectionName, lines);
  }
  return out;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const HEX_TEXT_RE = /^(?:\s|,|0x|#[^\n]*|[0-9a-fA-F])*$/;

/** Raw bytecode, hex text or ELF: decide by content. */
export function classifyInput(bytes: Uint8Array): 'elf' | 'hex' | 'raw' {
  if (ELF_MAGIC.every((b, i) => bytes[i] === b)) return 'elf';
  const text = Buffer.from(bytes).toString('latin1');
  if (bytes.length > 0 && /[0-9a-fA-F]/.test(text) && HEX_TEXT_RE.test(text)) return 'hex';
  return 'raw';
}

export const command: Command = {
  name: 'disasm',
  summary: 'disassemble bytecode, hex or an ELF object',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs(argv, {
      syntax: { type: 'string', default: 'llvm' },
      'hex-imm': { type: 'boolean', default: false },
      bytes: { type: 'boolean', default: false },
      'no-addresses': { type: 'boolean', default: false },
      objdump: { type: 'boolean', default: false },
      source: { type: 'boolean', default: false },
    });
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new UsageError('expected exactly one FILE');
    const syntax = values.syntax;
    if (syntax !== 'llvm' && syntax !== 'ubpf') throw new UsageError(`--syntax must be llvm or ubpf, not '${syntax}'`);
    const file = positionals[0]!;
    const bytes = file === '-' ? new Uint8Array(await io.readStdin()) : new Uint8Array(readFileSync(file));
    const kind = classifyInput(bytes);
    if (kind === 'elf') {
      const elf = parseElf(bytes, { fileName: file });
      const source = values.source ? sourceLines(elf) : undefined;
      io.stdout(disassembleElf(elf, { syntax, hex: values['hex-imm'], fileName: file, objdump: true, ...(source ? { source } : {}) }));
      return EXIT_OK;
    }
    const code = kind === 'hex' ? parseHexBytes(Buffer.from(bytes).toString('latin1')) : bytes;
    if (code.length % 8 !== 0) {
      throw new TsbpfError('isa/truncated', `${file}: ${code.length} bytes is not a whole number of 8-byte instructions`);
    }
    io.stdout(disassemble(decode(code), {
      syntax,
      hex: values['hex-imm'],
      bytes: values.bytes,
      addresses: !values['no-addresses'],
      objdump: values.objdump,
    }));
    return EXIT_OK;
  },
};
