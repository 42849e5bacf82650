#!/usr/bin/env node
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, nodeIO, UsageError, type CliIO, type Command } from './command.js';
import { TsbpfError } from '../errors.js';

/**
 * The command table: name, one-line summary, and the module that implements it. Modules load lazily
 * so `tsbpf --help` stays fast and one command's dependencies never slow another.
 */
export const COMMANDS: ReadonlyArray<{ name: string; summary: string; module: string }> = [
  { name: 'demo', summary: 'assemble and run an example program, and show what it did', module: 'demo' },
  { name: 'asm', summary: 'assemble a program (LLVM or uBPF syntax) to bytecode', module: 'asm' },
  { name: 'disasm', summary: 'disassemble bytecode, hex or an ELF object', module: 'disasm' },
  { name: 'exec', summary: 'run a program over a memory buffer and print r0', module: 'exec' },
  { name: 'conformance', summary: 'run a bpf_conformance/uBPF test directory', module: 'conformance' },
  { name: 'obj', summary: 'inspect an ELF object: programs, maps, globals, BTF', module: 'obj' },
  { name: 'btf', summary: 'dump BTF types from an object or vmlinux', module: 'btf' },
  { name: 'verify', summary: 'run the verifier over an object or bundle', module: 'verify' },
  { name: 'test-run', summary: 'run a program once over data, like BPF_PROG_TEST_RUN', module: 'test-run' },
  { name: 'run', summary: 'run an XDP or tc program over a capture', module: 'run' },
  { name: 'map', summary: 'inspect maps; look up, update, create and pin kernel maps', module: 'map' },
  { name: 'filter', summary: 'filter a capture with a pcap-filter expression (tcpdump -r)', module: 'filter' },
  { name: 'compile-filter', summary: 'compile a pcap-filter expression to classic BPF (tcpdump -d)', module: 'compile-filter' },
  { name: 'prog', summary: 'load, attach, list, dump and pin programs in the kernel', module: 'prog' },
  { name: 'link', summary: 'list, show, pin and detach bpf links in the kernel', module: 'link' },
  { name: 'net', summary: 'list the XDP, tcx and tc programs on network interfaces', module: 'net' },
  { name: 'feature', summary: 'probe what the running kernel supports', module: 'feature' },
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'tsbpf: the eBPF system in TypeScript',
    '',
    'usage: tsbpf <command> [options]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'tsbpf <command> --help' for a command's options.",
    'Exit codes: 0 ok, 1 failure (a test failed, a program was rejected), 2 usage or input error.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIO = nodeIO()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(mainHelp());
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    io.stdout('tsbpf 0.1.0\n');
    return EXIT_OK;
  }
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr(`tsbpf: unknown command '${name}'\n\n${mainHelp()}`);
    return EXIT_USAGE;
  }
  const { command } = (await import(`./commands/${entry.module}.js`)) as { command: Command };
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.usage.endsWith('\n') ? command.usage : command.usage + '\n');
    return EXIT_OK;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n\n${command.usage}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof TsbpfError) {
      io.stderr(`tsbpf ${name}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    if (err instanceof Error && 'code' in err && typeof (err as NodeJS.ErrnoException).code === 'string' && (err as NodeJS.ErrnoException).syscall) {
      io.stderr(`tsbpf ${name}: ${err.message}\n`);
      return EXIT_USAGE;
    }
    throw err;
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${(await import('node:fs')).realpathSync(process.argv[1])}`).href;
if (invokedDirectly) {
  main(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`tsbpf: internal error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
      process.exitCode = EXIT_FAILURE;
    },
  );
}
