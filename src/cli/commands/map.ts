import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { openCapture } from '../../net/index.js';
import { BpfMap, joinPerCpu, splitPerCpu, type MapInfo } from '../../linux/map.js';
import type { Decoded } from '../../object/decode.js';
import { BpfSyscallError } from '../../linux/errors.js';
import { dumpKernelMap, isDumpable, kernelMapDecoder } from '../../linux/map-dump.js';
import { MapType, UpdateFlag, lookupName, type UpdateFlagName } from '../../linux/constants.js';
import { NoSuchObjectError, openMapRef, takeObjectRef } from '../../linux/object-ref.js';
import { possibleCpuCount } from '../../linux/cpus.js';
import { toJson } from '../../object/index.js';
import { runOverCapture } from '../../runtime/capture-run.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliIO, type Command } from '../command.js';
import { dataArgument, formatDecoded, loadObjectFile, parseCommandArgs } from '../object-args.js';
import { RUN_OPTIONS, dumpAllMaps, loadForRun } from '../run-common.js';

const usage = `usage: tsbpf map dump OBJ [--map NAME] [--prog NAME (--pcap IN | --data HEX | --data-file F) [--repeat N]] [--json]
       tsbpf map list [--json]
       tsbpf map show ID|PIN [--json]
       tsbpf map dump ID|PIN [--json]
       tsbpf map lookup ID|PIN key BYTES... [--json]
       tsbpf map update ID|PIN key BYTES... value BYTES... [any|noexist|exist|lock]
       tsbpf map delete ID|PIN key BYTES...
       tsbpf map getnext ID|PIN [key BYTES...] [--json]
       tsbpf map create PATH type TYPE key N value N entries N [name NAME] [flags F]
       tsbpf map pin ID|PIN PATH
       tsbpf map freeze ID|PIN

Kernel maps (needs root), like bpftool: 'map list' shows every map in the kernel; 'map dump ID' or
'map dump /sys/fs/bpf/PATH' prints a kernel map's entries, decoded through the BTF it was created
with when it has one (hex otherwise); so do lookup and getnext ('formatted' in JSON). ID is a map id
('id N' also works), PIN a path in bpffs ('pinned PATH'). BYTES are hex bytes, one or more per word,
in memory order: 'key 01 00 00 00', 'key 0x01000000' (bpftool's 'hex' keyword is accepted); a per-CPU
map's update value is given once for every CPU, or once per possible CPU in a row. create makes a map
(TYPE as 'hash', 'percpu_array', 'BPF_MAP_TYPE_LRU_HASH'; flags a number, e.g. 0x400 for mmapable)
and pins it at PATH; pin pins an existing one; freeze makes it read-only for userspace for good.

An ELF file (OBJ) means the userspace runtime instead:

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
  summary: 'inspect maps; look up, update, create and pin kernel maps',
  usage,
  async run(argv, io) {
    const kernelForm = kernelMapCommand(argv);
    if (kernelForm) {
      try {
        return kernelForm(io);
      } catch (err) {
        if (err instanceof BpfSyscallError || err instanceof NoSuchObjectError) {
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

/**
 * The kernel forms: `map list|show`, `map dump ID|PIN` (also bpftool's `id N` / `pinned PATH`) and the
 * editing subcommands; undefined for the object form.
 */
function kernelMapCommand(argv: string[]): ((io: CliIO) => number) | undefined {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const [sub, ...rest] = args;
  if (sub !== undefined && EDIT_COMMANDS.has(sub)) return (io) => editMap(sub, rest, json, io);
  if (sub === 'show' && rest.length) {
    const { ref, rest: extra } = takeObjectRef(rest, 'map');
    if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
    return (io) => {
      using map = openMapRef(ref);
      const info = map.info();
      io.stdout(json ? JSON.stringify(info, null, 2) + '\n' : describeMap(info));
      return EXIT_OK;
    };
  }
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

const EDIT_COMMANDS: ReadonlySet<string> = new Set(['lookup', 'update', 'delete', 'getnext', 'create', 'pin', 'freeze']);

/** Hex bytes in memory order: each word one or more bytes, with or without 0x ('01', '0x0100', '2a000000'). */
function parseBytes(words: readonly string[], what: string): Uint8Array {
  const out: number[] = [];
  for (const word of words) {
    const digits = word.replace(/^0x/i, '');
    if (!/^[0-9a-f]+$/i.test(digits)) throw new UsageError(`${what}: '${word}' is not hex bytes`);
    const even = digits.length % 2 ? `0${digits}` : digits;
    for (let i = 0; i < even.length; i += 2) out.push(parseInt(even.slice(i, i + 2), 16));
  }
  return Uint8Array.from(out);
}

/** Splits `key BYTES... value BYTES... [flag]` into its parts (the words after each keyword). */
function keyValueWords(words: readonly string[]): { key?: string[]; value?: string[]; flag?: string } {
  const parts: { key?: string[]; value?: string[]; flag?: string } = {};
  let current: string[] | undefined;
  for (const word of words) {
    if (word === 'key' || word === 'value') {
      if (parts[word]) throw new UsageError(`'${word}' given twice`);
      current = parts[word] = [];
    } else if (word === 'hex') {
      // bpftool's marker for hex bytes; here every byte is hex.
    } else if (Object.prototype.hasOwnProperty.call(UpdateFlag, word) && parts.value?.length) {
      parts.flag = word;
      current = undefined;
    } else if (current) {
      current.push(word);
    } else {
      throw new UsageError(`unexpected argument '${word}'`);
    }
  }
  return parts;
}

function sizedBytes(words: readonly string[] | undefined, size: number, what: string): Uint8Array {
  if (!words?.length) throw new UsageError(`${what} needs bytes (e.g. ${what} 01 00 00 00)`);
  const bytes = parseBytes(words, what);
  if (bytes.byteLength !== size) throw new UsageError(`${what} is ${bytes.byteLength} byte${bytes.byteLength === 1 ? '' : 's'}; the map's ${what} size is ${size}`);
  return bytes;
}

const hexWords = (bytes: Uint8Array): string[] => Array.from(bytes, (b) => b.toString(16).padStart(2, '0'));

/** bpftool's shape: bytes as "0x.." words, and `formatted` when the map has BTF. */
function entryJson(map: BpfMap, info: MapInfo, key: Uint8Array, value?: Uint8Array): Record<string, unknown> {
  const decoder = info.btfId ? kernelMapDecoder(info) : undefined;
  const out: Record<string, unknown> = { key: hexWords(key).map((b) => `0x${b}`) };
  const perCpu = value && map.isPerCpu ? splitPerCpu(value, info.valueSize) : undefined;
  if (value) out['value'] = perCpu ? perCpu.map((v) => hexWords(v).map((b) => `0x${b}`)) : hexWords(value).map((b) => `0x${b}`);
  if (decoder) {
    out['formatted'] = {
      key: decoder.key(key),
      ...(value ? { value: perCpu ? perCpu.map((v) => decoder.value(v)) : decoder.value(value) } : {}),
    };
  }
  return out;
}

function entryText(entry: Record<string, unknown>): string {
  const formatted = entry['formatted'] as { key: Decoded; value?: Decoded } | undefined;
  const bytes = (v: unknown): string => (Array.isArray(v) && Array.isArray(v[0]) ? (v as string[][]).map((cpu, i) => `cpu${i}: ${cpu.map((b) => b.slice(2)).join(' ')}`).join('\n       ') : (v as string[]).map((b) => b.slice(2)).join(' '));
  let text = `key: ${bytes(entry['key'])}${entry['value'] !== undefined ? `  value: ${bytes(entry['value'])}` : ''}\n`;
  if (formatted) text += `  ${formatDecoded(formatted.key)}${formatted.value !== undefined ? ` => ${formatDecoded(formatted.value)}` : ''}\n`;
  return text;
}

/** The value bytes for an update: per-CPU maps take one value for every CPU, or one per possible CPU. */
function updateValue(map: BpfMap, words: readonly string[] | undefined): Uint8Array {
  if (!map.isPerCpu) return sizedBytes(words, map.valueSize, 'value');
  const bytes = parseBytes(words ?? [], 'value');
  const cpus = possibleCpuCount();
  if (bytes.byteLength === map.valueSize) return joinPerCpu(Array.from({ length: cpus }, () => bytes), map.valueSize);
  if (bytes.byteLength === map.valueSize * cpus) {
    return joinPerCpu(Array.from({ length: cpus }, (_, i) => bytes.subarray(i * map.valueSize, (i + 1) * map.valueSize)), map.valueSize);
  }
  throw new UsageError(`value is ${bytes.byteLength} bytes; a per-CPU value is ${map.valueSize} bytes (or ${map.valueSize * cpus} for all ${cpus} CPUs)`);
}

/** `map create PATH type T key N value N entries N [name NAME] [flags F]`. */
function createMap(words: readonly string[], json: boolean, io: CliIO): number {
  const [path, ...pairs] = words;
  if (path === undefined || !path.startsWith('/')) throw new UsageError('map create needs an absolute pin PATH first');
  const fields = new Map<string, string>();
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1];
    if (!['type', 'key', 'value', 'entries', 'name', 'flags'].includes(name)) throw new UsageError(`unexpected argument '${name}'`);
    if (value === undefined) throw new UsageError(`'${name}' needs a value`);
    fields.set(name, value);
  }
  const number = (name: string, fallback?: number): number => {
    const text = fields.get(name);
    if (text === undefined) {
      if (fallback !== undefined) return fallback;
      throw new UsageError(`map create needs '${name}'`);
    }
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UsageError(`${name} must be a whole number (got '${text}')`);
    return n;
  };
  const typeText = fields.get('type');
  if (typeText === undefined) throw new UsageError("map create needs 'type'");
  const type = lookupName(MapType, typeText, 'BPF_MAP_TYPE_');
  if (type === undefined) throw new UsageError(`unknown map type '${typeText}'`);
  using map = BpfMap.create({
    type, keySize: number('key'), valueSize: number('value'), maxEntries: number('entries'), flags: number('flags', 0),
    ...(fields.has('name') ? { name: fields.get('name')! } : {}),
  });
  map.pin(path);
  io.stdout(json ? JSON.stringify({ id: map.id, pinned: path }) + '\n' : `map ${map.id} created and pinned at ${path}\n`);
  return EXIT_OK;
}

function editMap(sub: string, words: readonly string[], json: boolean, io: CliIO): number {
  if (sub === 'create') return createMap(words, json, io);
  const { ref, rest } = takeObjectRef(words, 'map');
  using map = openMapRef(ref);
  const info = map.info();
  const name = `map ${info.id}${info.name ? ` (${info.name})` : ''}`;
  if (sub === 'pin' || sub === 'freeze') {
    const [path, ...extra] = rest;
    if (sub === 'pin' ? path === undefined || extra.length > 0 : rest.length > 0) throw new UsageError(sub === 'pin' ? 'expected: map pin ID|PIN PATH' : `unexpected argument '${rest[0]}'`);
    if (sub === 'pin') map.pin(path!);
    else map.freeze();
    io.stdout(json ? JSON.stringify({ id: info.id, ...(sub === 'pin' ? { pinned: path } : { frozen: true }) }) + '\n' : `${name} ${sub === 'pin' ? `pinned at ${path}` : 'frozen'}\n`);
    return EXIT_OK;
  }
  const parts = keyValueWords(rest);
  if (sub !== 'update' && (parts.value || parts.flag)) throw new UsageError(`map ${sub} takes no value`);
  if (sub === 'getnext') {
    const key = parts.key ? sizedBytes(parts.key, info.keySize, 'key') : undefined;
    const next = map.nextKey(key);
    if (!next) {
      io.stderr(`tsbpf map: ${name}: ${key ? 'no key after this one' : 'the map is empty'}\n`);
      return EXIT_FAILURE;
    }
    const entry = entryJson(map, info, next);
    io.stdout(json ? toJson({ next_key: entry['key'], ...(entry['formatted'] ? { formatted: entry['formatted'] } : {}) }, 2) + '\n' : `next ${entryText(entry)}`);
    return EXIT_OK;
  }
  const key = sizedBytes(parts.key, info.keySize, 'key');
  if (sub === 'update') {
    map.update(key, updateValue(map, parts.value), (parts.flag ?? 'any') as UpdateFlagName);
    io.stdout(json ? JSON.stringify({ id: info.id, updated: true }) + '\n' : `${name}: updated\n`);
    return EXIT_OK;
  }
  if (sub === 'delete') {
    if (!map.delete(key)) {
      io.stderr(`tsbpf map: ${name}: key not found\n`);
      return EXIT_FAILURE;
    }
    io.stdout(json ? JSON.stringify({ id: info.id, deleted: true }) + '\n' : `${name}: deleted\n`);
    return EXIT_OK;
  }
  const value = map.lookup(key);
  if (!value) {
    io.stderr(`tsbpf map: ${name}: key not found\n`);
    return EXIT_FAILURE;
  }
  const entry = entryJson(map, info, key, value);
  io.stdout(json ? toJson(entry, 2) + '\n' : entryText(entry));
  return EXIT_OK;
}
