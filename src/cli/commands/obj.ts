import { mapTypeName } from '../../maps/spec.js';
import { toJson, type BpfObject } from '../../object/index.js';
import { EXIT_OK, UsageError, type Command } from '../command.js';
import { loadObjectFile, parseCommandArgs } from '../object-args.js';

const usage = `usage: tsbpf obj show OBJ [--json]

Shows what an ELF object holds, as libbpf sees it: programs (function, section, type, attach
target, instructions, subprograms), maps (type, key/value sizes, entries, flags, where declared),
global variables, license, and a BTF summary.

  --json   machine-readable output`;

function summary(object: BpfObject) {
  return {
    file: object.fileName,
    license: object.license,
    kernel_version: object.kernelVersion,
    byte_order: object.littleEndian ? 'little' : 'big',
    warnings: object.warnings ?? [],
    btf: object.btf
      ? {
          types: object.btf.typeCount - 1,
          func_info: object.btfExt?.funcInfo.reduce((n, s) => n + s.records.length, 0) ?? 0,
          line_info: object.btfExt?.lineInfo.reduce((n, s) => n + s.records.length, 0) ?? 0,
          core_relocations: object.btfExt?.coreRelos.reduce((n, s) => n + s.records.length, 0) ?? 0,
        }
      : null,
    programs: object.programs.map((p) => ({
      name: p.name,
      section: p.section,
      type: p.type ?? null,
      attach: p.sectionDef?.attach ?? null,
      attach_target: p.attachTarget ?? null,
      insns: p.insns.length,
      subprograms: p.functions.slice(1).map((f) => f.name),
      maps: [...new Set(p.mapRefs.map((r) => r.map))],
      ...(p.error ? { error: p.error.message } : {}),
    })),
    maps: object.maps.map((m) => ({
      name: m.name,
      type: mapTypeName(m.type),
      key_size: m.keySize,
      value_size: m.valueSize,
      max_entries: m.maxEntries,
      flags: m.flags ?? 0,
      declared_in: m.origin === 'btf' ? 'BTF (.maps)' : m.origin === 'legacy' ? 'legacy maps section' : `global data (${m.section})`,
      ...(m.innerMap ? { inner_map: { type: mapTypeName(m.innerMap.type), key_size: m.innerMap.keySize, value_size: m.innerMap.valueSize, max_entries: m.innerMap.maxEntries } } : {}),
    })),
    globals: object.maps.filter((m) => m.variables?.length).flatMap((m) => m.variables!.map((v) => ({ section: m.section, ...v }))),
  };
}

export const command: Command = {
  name: 'obj',
  summary: 'inspect an ELF object: programs, maps, globals, BTF',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' } });
    const [sub, path, ...rest] = positionals;
    if (sub !== 'show' || path === undefined || rest.length) throw new UsageError('expected: obj show OBJ');
    const s = summary(loadObjectFile(path));
    if (values.json) {
      io.stdout(toJson(s, 2) + '\n');
      return EXIT_OK;
    }
    const lines = [`${path}: license ${JSON.stringify(s.license)}${s.kernel_version !== undefined ? `, kernel version ${s.kernel_version}` : ''}, ${s.byte_order}-endian`];
    lines.push(s.btf ? `BTF: ${s.btf.types} types, ${s.btf.func_info} func_info, ${s.btf.line_info} line_info, ${s.btf.core_relocations} CO-RE relocations` : 'BTF: none');
    for (const w of s.warnings) lines.push(`warning: ${w}`);
    lines.push('', `programs (${s.programs.length}):`);
    for (const p of s.programs) {
      lines.push(`  ${p.name}  section ${p.section}  type ${p.type ?? '? (section does not say; use --type)'}${p.attach_target ? `  target ${p.attach_target}` : ''}  ${p.insns} insns`
        + (p.subprograms.length ? `  calls ${p.subprograms.join(', ')}` : '') + (p.maps.length ? `  maps ${p.maps.join(', ')}` : ''));
      if (p.error) lines.push(`    cannot be loaded: ${p.error}`);
    }
    lines.push('', `maps (${s.maps.length}):`);
    for (const m of s.maps) {
      lines.push(`  ${m.name}  ${m.type}  key ${m.key_size}B  value ${m.value_size}B  max_entries ${m.max_entries}${m.flags ? `  flags 0x${m.flags.toString(16)}` : ''}  [${m.declared_in}]`);
    }
    if (s.globals.length) {
      lines.push('', 'globals:');
      for (const g of s.globals) lines.push(`  ${g.section}+${g.offset}  ${g.name}  (${g.size} bytes)`);
    }
    io.stdout(lines.join('\n') + '\n');
    return EXIT_OK;
  },
};
