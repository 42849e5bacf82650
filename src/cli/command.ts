import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TsbpfError } from '../errors.js';

/** Exit codes every subcommand uses. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A subcommand module (`src/cli/commands/<name>.ts`) exports `command: Command`. */
export interface Command {
  name: string;
  /** One line for `tsbpf --help`. */
  summary: string;
  /** Full `tsbpf NAME --help` text. */
  usage: string;
  run(argv: string[], io: CliIO): Promise<number>;
}

export interface CliIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads all of standard input (for `exec` with no file). */
  readStdin: () => Promise<Buffer>;
  isTTY: boolean;
}

export class UsageError extends TsbpfError {
  override name = 'UsageError';
  constructor(message: string) {
    super('usage', message);
  }
}

export function nodeIO(): CliIO {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    },
    isTTY: Boolean(process.stdout.isTTY),
  };
}

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>>;

/** node:util parseArgs (strict, with positionals) whose errors become UsageError: exit 2 with the usage. */
export function parseCommandArgs<const O extends ParseArgsOptionsConfig>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true as const, strict: true as const });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** tcpdump spells "no optimiser" -O; the spelling is -O0. Both become --no-optimize. */
export function tcpdumpOptimizerFlag(arg: string): string {
  return arg === '-O0' || arg === '-O' ? '--no-optimize' : arg;
}
