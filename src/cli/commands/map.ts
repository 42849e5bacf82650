import { openCapture } from '../../net/index.js';
import { toJson } from '../../object/index.js';
import { runOverCapture } from '../../runtime/capture-run.js';
import { EXIT_OK, UsageError, type Command } from '../command.js';
import { dataArgument, formatDecoded, loadObjectFile, parseCommandArgs } from '../object-args.js';
import { RUN_OPTIONS, dumpAllMaps, loadForRun } from '../run-common.js';

const usage = `usage: tsbpf map dump OBJ [--map NAME] [--prog NAME (--pcap IN | --data HEX | --data-file F) [--repeat N]] [--json]

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
