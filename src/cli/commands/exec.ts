import { existsSync, readFileSync } from 'node:fs';
import { DEFAULT_ENGINE } from '../../vm/engines.js';
import { EXIT_OK, UsageError, type CliIO, type Command, parseCommandArgs } from '../command.js';
import { assemble } from '../../isa/asm.js';
import { decode, parseHexBytes, type Instruction } from '../../isa/instruction.js';
import { CONFORMANCE_HELPERS } from '../../conformance/helpers.js';
import { hex64 } from '../../conformance/run.js';
import { isEngineName, loadEngine } from '../../vm/engines.js';
import type { InterpreterRunOptions } from '../../vm/interpreter.js';
import { AddressSpace } from '../../vm/memory.js';

const USAGE = `usage: tsbpf exec [FILE] [--mem HEX | --mem-file F] [--engine interp|jit] [--checked] [--budget N]

Run an eBPF program once over a memory buffer and print r0 in hex (0x2a). r1 points at a copy of the
memory (NULL when there is none) and r2 holds its length; helpers are the conformance suites' (uBPF's
0-5: gather_bytes, memfrob, no_op, sqrti, strcmp_ext, unwind).

FILE is raw little-endian bytecode (e.g. a bpf-benchmark .bpf.bin), hex text, or assembly (LLVM or
uBPF syntax); which one is detected. Without FILE, hex bytecode is read from standard input (the
bpf_conformance plugin convention); there, a lone hex argument that is not a file is the memory
(\`tsbpf exec 0a0b0c < prog.hex\`, as bpf_conformance calls its plugins).

  --mem HEX         memory contents as hex bytes
  --mem-file F      memory contents from a file (raw bytes)
  --engine E        jit (default where WebAssembly exists) or interp
  --checked         check every load and store against the memory regions (for unverified code)
  --budget N        stop after N executed instructions

Exit codes: 0 ok, 2 usage, unreadable input or a runtime error.`;

/** Text that is only hex digits, whitespace, commas, 0x prefixes and # comments. */
function looksLikeHex(text: string): boolean {
  return /^[0-9a-fA-F\s,x]*$/.test(text.replace(/#[^\n]*/g, '').replace(/0x/gi, '')) && /[0-9a-fA-F]/.test(text);
}

/** Program bytes or text to instructions: raw bytecode, hex text or assembly. */
export function programFromFile(bytes: Uint8Array, file: string): Instruction[] {
  const isText = bytes.every((b) => b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f));
  if (!isText) return decode(bytes);
  const text = new TextDecoder().decode(bytes);
  if (looksLikeHex(text)) return decode(parseHexBytes(text));
  return assemble(text, { file });
}

function parseBudget(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--budget must be a positive integer, got '${value}'`);
  return n;
}

export const command: Command = {
  name: 'exec',
  summary: 'run a program over a memory buffer and print r0',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs(argv, {
      mem: { type: 'string' },
      'mem-file': { type: 'string' },
      engine: { type: 'string', default: DEFAULT_ENGINE },
      checked: { type: 'boolean', default: false },
      budget: { type: 'string' },
    });
    const { values, positionals } = parsed;
    if (positionals.length > 1) throw new UsageError(`expected at most one FILE, got ${positionals.length}`);
    if (values.mem !== undefined && values['mem-file'] !== undefined) throw new UsageError('give --mem or --mem-file, not both');
    const engineName = values.engine!;
    if (!isEngineName(engineName)) throw new UsageError(`unknown engine '${engineName}' (interp or jit)`);

    let file: string | undefined = positionals[0];
    let memHex = values.mem;
    if (file !== undefined && !existsSync(file) && /^[0-9a-fA-F]*$/.test(file) && memHex === undefined && values['mem-file'] === undefined) {
      memHex = file;
      file = undefined;
    }
    const insns = file === undefined
      ? decode(parseHexBytes((await io.readStdin()).toString('utf8')))
      : programFromFile(readFileSync(file), file);
    const mem = values['mem-file'] !== undefined
      ? new Uint8Array(readFileSync(values['mem-file']))
      : memHex !== undefined ? parseHexBytes(memHex) : new Uint8Array(0);

    const engine = loadEngine(engineName);
    const space = new AddressSpace();
    const region = space.allocateWith(mem, 'packet', 'mem');
    const program = engine.load(insns, { space, helpers: CONFORMANCE_HELPERS, checked: values.checked!, name: file ?? 'stdin' });
    const options: InterpreterRunOptions = {
      args: [mem.length === 0 ? 0 : region.start, mem.length],
      packet: { start: region.start, length: mem.length },
    };
    const budget = parseBudget(values.budget);
    if (budget !== undefined) options.budget = budget;
    const result = program.run(options);
    program.dispose();
    io.stdout(hex64(result.r0) + '\n');
    return EXIT_OK;
  },
};
