import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIO, type Command } from '../command.js';
import { BpfProgram, type ProgramInfo } from '../../linux/program.js';
import { BpfSyscallError } from '../../linux/errors.js';

const USAGE = `usage: tsbpf prog list [--json]
       tsbpf prog show ID [--json]

List the programs loaded in the kernel (id, type, name, tag, maps), like 'bpftool prog list'.
Needs root.

options:
  --json   print JSON
`;

function describe(info: ProgramInfo): string {
  const head = `${info.id}: ${info.typeName.toLowerCase()}  ${info.name ? `name ${info.name}  ` : ''}tag ${info.tag}${info.gplCompatible ? '  gpl' : ''}`;
  const sizes = `\txlated ${info.xlatedSize}B  jited ${info.jitedSize}B${info.mapIds.length ? `  map_ids ${info.mapIds.join(',')}` : ''}${info.btfId ? `  btf_id ${info.btfId}` : ''}`;
  return `${head}\n${sizes}\n`;
}

function jsonOf(info: ProgramInfo): Record<string, unknown> {
  return { ...info, loadTime: info.loadTime.toString() };
}

/** Info of every program alive now (programs unloaded between listing and opening are skipped). */
export function listPrograms(): ProgramInfo[] {
  const out: ProgramInfo[] = [];
  for (const id of BpfProgram.ids()) {
    const prog = BpfProgram.fromId(id);
    if (!prog) continue;
    try {
      out.push(prog.info());
    } finally {
      prog.close();
    }
  }
  return out;
}

export const command: Command = {
  name: 'prog',
  summary: 'list and inspect programs in the kernel',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const json = argv.includes('--json');
    const [sub, ...rest] = argv.filter((a) => a !== '--json');
    try {
      if (sub === 'list' || sub === 'show' && rest.length === 0) {
        if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
        const infos = listPrograms();
        io.stdout(json ? JSON.stringify(infos.map(jsonOf), null, 2) + '\n' : infos.map(describe).join(''));
        return EXIT_OK;
      }
      if (sub === 'show') {
        const text = rest[0] === 'id' ? rest[1] : rest[0];
        const id = Number(text);
        if (!Number.isInteger(id) || id <= 0) throw new UsageError(`bad program id '${text ?? ''}'`);
        const prog = BpfProgram.fromId(id);
        if (!prog) {
          io.stderr(`tsbpf prog: no program with id ${id}\n`);
          return EXIT_FAILURE;
        }
        try {
          const info = prog.info();
          io.stdout(json ? JSON.stringify(jsonOf(info), null, 2) + '\n' : describe(info));
        } finally {
          prog.close();
        }
        return EXIT_OK;
      }
      throw new UsageError(sub === undefined ? 'missing subcommand (list, show)' : `unknown subcommand '${sub}'`);
    } catch (err) {
      if (err instanceof BpfSyscallError) {
        io.stderr(`tsbpf prog: ${err.message}\n`);
        return EXIT_FAILURE;
      }
      throw err;
    }
  },
};
