import { TsbpfError } from '../errors.js';
import { decode, parseHexBytes, type Instruction } from '../isa/instruction.js';

/**
 * The `.data` test format of bpf_conformance and uBPF: sections introduced by `-- NAME` lines
 * (`asm`, `raw`, `mem`, `result`, `error`, `error pattern`, `no jit`, `c`, `pyelf`, ...), `#` comments.
 * `-- asm @ FILE` and `-- mem @ FILE` name a file beside the test instead of inline text.
 */

export interface ConformanceTest {
  /** File name without directory and `.data`. */
  readonly name: string;
  readonly file: string;
  /** Assembly text (uBPF syntax), when the test gives one. */
  asm?: string;
  /** `-- raw`: bytecode that replaces the assembled code. */
  raw?: Instruction[];
  /** `-- mem`: the buffer the program gets in r1 (length in r2). */
  mem: Uint8Array;
  /** `-- result`: expected r0 as an unsigned 64-bit value. */
  result?: bigint;
  /** `-- error`: the message the reference implementation prints; any error passes. */
  error?: string;
  /** `-- error pattern`: a regular expression for that message. */
  errorPattern?: string;
  /** `-- no jit`: the reason the reference JIT skips the test. */
  noJit?: string;
  /** Why this test cannot run here (it needs an ELF built by pyelf, a missing file ...). */
  unsupported?: string;
}

export class ConformanceFormatError extends TsbpfError {
  override name = 'ConformanceFormatError';
  constructor(message: string, file: string, line?: number) {
    super('conformance/format', message, line === undefined ? { file } : { file, line });
  }
}

/** Read a file a section names with `@` (relative to the test), or undefined when it is missing. */
export type ReadReference = (name: string) => string | undefined;

const SECTION_RE = /^--\s+([a-z][a-z ]*?)\s*(?:@\s*(\S+))?\s*$/i;

export function parseDataFile(text: string, file: string, readReference: ReadReference = () => undefined): ConformanceTest {
  const base = file.replace(/^.*[\\/]/, '').replace(/\.data$/, '');
  const test: ConformanceTest = { name: base, file, mem: new Uint8Array(0) };
  const sections = new Map<string, { lines: string[]; firstLine: number; reference?: string }>();
  let current: string[] | undefined;
  text.split(/\r?\n/).forEach((line, i) => {
    const header = SECTION_RE.exec(line);
    if (header) {
      const name = header[1]!.toLowerCase();
      const entry: { lines: string[]; firstLine: number; reference?: string } = { lines: [], firstLine: i + 2 };
      if (header[2] !== undefined) entry.reference = header[2];
      sections.set(name, entry);
      current = entry.lines;
      return;
    }
    current?.push(line);
  });

  const body = (name: string): string | undefined => {
    const section = sections.get(name);
    if (section === undefined) return undefined;
    if (section.reference !== undefined) {
      const referenced = readReference(section.reference);
      if (referenced === undefined) {
        test.unsupported = `needs ${section.reference}, which is not in the corpus`;
        return '';
      }
      return referenced;
    }
    return section.lines.join('\n');
  };
  const withoutComments = (s: string): string => s.split('\n').map((l) => l.replace(/#.*$/, '')).join('\n').trim();

  const asm = body('asm');
  if (asm !== undefined) test.asm = asm;
  const raw = body('raw');
  if (raw !== undefined) test.raw = parseRawWords(withoutComments(raw), file, sections.get('raw')!.firstLine);
  const mem = body('mem');
  if (mem !== undefined) {
    try {
      test.mem = parseHexBytes(withoutComments(mem));
    } catch (err) {
      throw new ConformanceFormatError(`bad -- mem section: ${(err as Error).message}`, file, sections.get('mem')!.firstLine);
    }
  }
  const result = body('result');
  if (result !== undefined && withoutComments(result) !== '') test.result = parseResult(withoutComments(result), file, sections.get('result')!.firstLine);
  const error = body('error');
  if (error !== undefined) test.error = withoutComments(error);
  const errorPattern = body('error pattern');
  if (errorPattern !== undefined) test.errorPattern = withoutComments(errorPattern);
  const noJit = body('no jit');
  if (noJit !== undefined) test.noJit = withoutComments(noJit) || 'no reason given';
  if (sections.has('pyelf')) test.unsupported = 'builds an ELF file with pyelf (the uBPF ELF loader tests)';
  return test;
}

/**
 * `-- raw`: one instruction per line, either a 64-bit word with the opcode in the low byte (as uBPF
 * prints them: `0x0000000000000095`) or its eight bytes in memory order (`95 00 00 00 00 00 00 00`).
 */
function parseRawWords(text: string, file: string, firstLine: number): Instruction[] {
  const chunks: Uint8Array[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter((t) => t !== '');
    if (tokens.length === 0) continue;
    if (tokens.length === 1 && /^0x[0-9a-f]+$/i.test(tokens[0]!)) {
      const word = new Uint8Array(8);
      new DataView(word.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(tokens[0]!)), true);
      chunks.push(word);
      continue;
    }
    try {
      chunks.push(parseHexBytes(tokens.join(' ')));
    } catch {
      throw new ConformanceFormatError(`bad -- raw line '${line.trim()}'`, file, firstLine);
    }
  }
  const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { bytes.set(c, at); at += c.length; }
  try {
    return decode(bytes);
  } catch (err) {
    throw new ConformanceFormatError(`bad -- raw section: ${(err as Error).message}`, file, firstLine);
  }
}

function parseResult(text: string, file: string, line: number): bigint {
  const word = text.split(/\s+/)[0]!;
  try {
    const negative = word.startsWith('-');
    const magnitude = BigInt(negative ? word.slice(1) : word);
    return BigInt.asUintN(64, negative ? -magnitude : magnitude);
  } catch {
    throw new ConformanceFormatError(`bad -- result '${word}'`, file, line);
  }
}
