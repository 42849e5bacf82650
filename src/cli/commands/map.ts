import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { openCapture } from '../../net/index.js';
import { BpfMap, type MapInfo } from '../../linux/map.js';
import { BpfSyscallError } from '../../linux/errors.js';
import { dumpKernelMap, isDumpable } from '../../linux/map-dump.js';
import { toJson } from '../../object/index.js';
import { runOverCapture } from '../../runtime/capture-run.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliIO, type Command } from '../command.js';
import { dataArgument, formatDecoded, loadObjectFile, parseCommandArgs } from '../object-args.js';
import { RUN_OPTIONS, dumpAllMaps, loadForRun } from '../run-common.js';

const usage = `usage: tsbpf map dump OBJ [--map NAME] [--prog NAME (--pcap IN | --data HEX | --data-file F) [--repeat N]] [--json]
       tsbpf map list [--json]
       tsbpf map dump ID|PIN [--json]

Kernel maps (needs root): 'map list' shows every map in the kernel (like 'bpftool map list');
'map dump ID' or 'map dump /sys/fs/bpf/PATH' prints a kernel map's entries, decoded through the
BTF it was created with when it has one (hex otherwise). An ELF file (OBJ) means the userspace
runtime instead:

Prints an object's maps, keys and values decoded through its BTF (like \`bpftool map dump\`): as
declared (global data with its initial values), or after running --prog over a capture or a packet.

  --map NAME        only this map
  --prog NAME       program to run first
  --pcap IN         run it over every packet of this capture
  --data HEX        or over this one packet (--data-file F: from a file), --repeat N times
  --type, --engine, --cpus   as for test-run
  --json            { map: [ { key, value } ] }`;

export const command: Command = {
  name: 'map',
  summary: 'inspect maps',
  usage,
  async run(argv, io) {
    const kernelForm = kernelMapCommand(argv);
    if (kernelForm) {
      try {
        return kernelForm(io);
      } catch (err) {
        if (err instanceof BpfSyscallError) {
          io.stderr(`tsbpf map: ${err.message}\n`);
          return EXIT_FAILURE;
        }
        throw err;
      }
    }
    const { values, positionals } = parseCommandArgs(argv, {
      ...RUN_OPTIONS,
      map: { type: 'string' },
      pcap: { type: 'string' },
      data: { type: 'string' },
      'data-file': { type: 'string' },
      repeat: { type: 'string', default: '1' },
    });
    const [sub, path, ...rest] = positionals;
    if (sub !== 'dump' || path === undefined || rest.length) throw new UsageError('expected: map dump OBJ');
    const object = loadObjectFile(path);
    const data = dataArgument(values);
    if ((data || values.pcap) && values.prog === undefined && object.programs.length !== 1) throw new UsageError('--prog is required to run a program first');
    const repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1) throw new UsageError('--repeat must be a whole number >= 1');
    const { runtime, loaded, program } = await loadForRun(object, values.prog === undefined && object.programs.length !== 1 ? { ...values, prog: object.programs[0]?.name } : values);
    try {
      if (values.pcap !== undefined) runOverCapture(loaded.program(program), openCapture(values.pcap));
      else if (data) loaded.program(program).testRun({ data, repeat });
      const maps = dumpAllMaps(object, loaded, values.map);
      if (values.json) {
        io.stdout(toJson(maps, 2) + '\n');
        return EXIT_OK;
      }
      const lines: string[] = [];
      for (const [name, entries] of Object.entries(maps)) {
        lines.push(`map ${name}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`);
        for (const e of entries) lines.push(`  ${formatDecoded(e.key)} => ${formatDecoded(e.value)}`);
      }
      io.stdout(lines.join('\n') + '\n');
      return EXIT_OK;
    } finally {
      runtime.close();
    }
  },
};

/** An ELF object (the userspace form) rather than a bpffs pin or an id. */
function isElfFile(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const magic = new Uint8Array(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic[0] === 0x7f && magic[1] === 0x45 && magic[2] === 0x4c && magic[3] === 0x46;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function describeMap(info: MapInfo): string {
  return `${info.id}: ${info.typeName.toLowerCase()}  ${info.name ? `name ${info.name}  ` : ''}flags 0x${info.flags.toString(16)}\n`
    + `\tkey ${info.keySize}B  value ${info.valueSize}B  max_entries ${info.maxEntries}${info.btfId ? `  btf_id ${info.btfId}` : ''}\n`;
}

function listMaps(): MapInfo[] {
  const out: MapInfo[] = [];
  for (const id of BpfMap.ids()) {
    const map = BpfMap.fromId(id);
    if (!map) continue;
    try {
      out.push(map.info());
    } finally {
      map.close();
    }
  }
  return out;
}

/** `map list`, `map dump ID|PIN` (also bpftool's `id N` / `pinned PATH`), or undefined for the object form. */
function kernelMapCommand(argv: string[]): ((io: CliIO) => number) | undefined {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const [sub, ...rest] = args;
  if (sub === 'list' || sub === 'show') {
    if (rest.length) throw new UsageError(`unexpected argument '${rest[0]}'`);
    return (io) => {
      const infos = listMaps();
      io.stdout(json ? JSON.stringify(infos, null, 2) + '\n' : infos.map(describeMap).join(''));
      return EXIT_OK;
    };
  }
  if (sub !== 'dump') return undefined;
  const [first, second, ...extra] = rest;
  const target = first === 'id' || first === 'pinned' ? second : first;
  const trailing = first === 'id' || first === 'pinned' ? extra : second === undefined ? [] : [second, ...extra];
  if (target === undefined || trailing.length) return undefined;
  const byId = first === 'id' || (first !== 'pinned' && /^\d+$/.test(target));
  if (!byId && first !== 'pinned' && isElfFile(target)) return undefined;
  // A path that does not exist is neither an object nor a pin: say so plainly, not as a bpf() errno.
  if (!byId && !existsSync(target)) {
    return (io) => {
      io.stderr(`tsbpf map: ${target}: no such file (expected an ELF object, a bpffs pin or a map id)\n`);
      return EXIT_USAGE;
    };
  }
  return (io) => {
    const map = byId ? BpfMap.fromId(Number(target)) : BpfMap.fromPin(target);
    if (!map) {
      io.stderr(`tsbpf map: no map with id ${target}\n`);
      return EXIT_FAILURE;
    }
    try {
      const info = map.info();
      if (!isDumpable(info.type)) throw new UsageError(`map ${info.id} is a ${info.typeName.toLowerCase()}: its contents cannot be listed by key`);
      const entries = dumpKernelMap(map, info);
      if (json) {
        io.stdout(toJson({ [info.name || String(info.id)]: entries }, 2) + '\n');
      } else {
        const lines = [`map ${info.id} ${info.name}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`];
        for (const e of entries) lines.push(`  ${formatDecoded(e.key)} => ${formatDecoded(e.value)}`);
        io.stdout(lines.join('\n') + '\n');
      }
      return EXIT_OK;
    } finally {
      map.close();
    }
  };
}
