import { readFileSync, writeFileSync } from 'node:fs';
import { EXIT_OK, UsageError, type CliIO, type Command, parseCommandArgs } from '../command.js';
import { assemble } from '../../isa/asm.js';
import { encode } from '../../isa/instruction.js';

const USAGE = `usage: tsbpf asm FILE [-o OUT] [--hex]

Assemble eBPF assembly to bytecode. FILE ('-' for standard input) may use the LLVM/kernel syntax
(r0 = *(u32 *)(r1 + 4), if r1 > r2 goto +3, lock *(u64 *)(r10 - 8) += r1), the uBPF/bpf_conformance
syntax (mov %r0, 1, ldxw %r0, [%r1+4], lock fetch add [%r10-8], %r1) or both; labels, # ; // comments
and pasted llvm-objdump -d or verifier-log listings are fine.

  -o, --output OUT  write the bytecode to OUT (raw little-endian bytes unless --hex)
  --hex             write hex text, one 8-byte instruction slot per line (the default without -o)

Exit codes: 0 ok, 2 usage error or bad assembly (the message gives line and column).`;

/** One slot per line: `b7 00 00 00 01 00 00 00`. */
function hexLines(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 8) {
    out += Array.from(bytes.subarray(i, i + 8), (b) => b.toString(16).padStart(2, '0')).join(' ') + '\n';
  }
  return out;
}

export const command: Command = {
  name: 'asm',
  summary: 'assemble a program (LLVM or uBPF syntax) to bytecode',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const parsed = parseCommandArgs(argv, {
      output: { type: 'string', short: 'o' },
      hex: { type: 'boolean', default: false },
    });
    const { values, positionals } = parsed;
    if (positionals.length !== 1) throw new UsageError('expected exactly one FILE');
    const file = positionals[0]!;
    const text = file === '-' ? (await io.readStdin()).toString('utf8') : readFileSync(file, 'utf8');
    const bytes = encode(assemble(text, { file: file === '-' ? '<stdin>' : file }));
    if (values.output === undefined) {
      io.stdout(hexLines(bytes));
    } else {
      writeFileSync(values.output, values.hex ? hexLines(bytes) : bytes);
    }
    return EXIT_OK;
  },
};
