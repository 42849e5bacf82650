import { TsbpfError } from '../../errors.js';
import { decode, parseHexBytes, type Instruction } from '../../isa/instruction.js';
import type { MapSpec } from '../../maps/spec.js';
import { progTypeOf } from '../../uapi/index.js';
import { programBtfFacts, verify, type VerifierProgram, type VerifierResult } from '../../verifier/index.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, parseCommandArgs, type CliIO, type Command } from '../command.js';
import { loadObjectFile, readInputFile } from '../object-args.js';

const USAGE = `usage: tsbpf verify OBJ [--prog NAME] [--type TYPE] [--log-level N] [--unpriv] [--kernel] [--json]
       tsbpf verify --bundle FILE [--log-level N] [--unpriv] [--json]

Statically verify eBPF programs the way the Linux verifier does (kernel messages, plus a plain-words
explanation of a rejection: the path that led there and the C source line when the object has BTF).

  --prog NAME      only this program of the object
  --type TYPE      program type when the section name does not say (xdp, socket_filter, 3 ...)
  --log-level N    0 (default), 1 (the failing path) or 2 (every instruction with register states)
  --unpriv         verify as an unprivileged user would be
  --kernel         ask the running kernel's verifier instead (BPF_PROG_LOAD through bpf(); root)
  --json           {"programs": [{name, section, type, verdict, error, processed_insns, time_us}]}
  --bundle FILE    JSON {"prog_type", "insns": [hex...], "maps": [{name, type, key_size, value_size,
                   max_entries, flags}], "map_relocs": [{insn, map}]}

Exit codes: 0 all accepted, 1 some rejected, 2 bad input.`;

interface Bundle {
  prog_type: string | number;
  insns: string[];
  maps?: { name?: string; type: string | number; key_size: number; value_size: number; max_entries: number; flags?: number }[];
  map_relocs?: { insn: number; map: number | string }[];
}

interface Target { name: string; section: string; type: string; program: VerifierProgram }

function bundleTargets(path: string): Target[] {
  let bundle: Bundle;
  try {
    bundle = JSON.parse(new TextDecoder().decode(readInputFile(path, 'bundle'))) as Bundle;
  } catch (e) {
    if (e instanceof TsbpfError) throw e;
    throw new TsbpfError('cli/bad-bundle', `${path}: not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(bundle.insns)) throw new TsbpfError('cli/bad-bundle', `${path}: "insns" must be an array of hex strings`);
  const insns: Instruction[] = decode(parseHexBytes(bundle.insns.join('')));
  const maps: MapSpec[] = (bundle.maps ?? []).map((m, i) => {
    const type = typeof m.type === 'number' ? m.type : undefined;
    if (type === undefined) throw new TsbpfError('cli/bad-bundle', `${path}: map ${i} type must be a number`);
    return { name: m.name ?? `map${i}`, type, keySize: m.key_size, valueSize: m.value_size, maxEntries: m.max_entries, flags: m.flags ?? 0 };
  });
  const type = progTypeOf(bundle.prog_type);
  if (type === undefined) throw new TsbpfError('cli/bad-bundle', `${path}: unknown prog_type ${bundle.prog_type}`);
  const program: VerifierProgram = {
    insns, type, maps,
    ...(bundle.map_relocs ? { mapRefs: bundle.map_relocs.map((r) => ({ insn: r.insn, map: r.map })) } : {}),
    name: path,
  };
  return [{ name: path, section: '', type: String(bundle.prog_type), program }];
}

function objectTargets(path: string, only: string | undefined, typeOverride: string | undefined): Target[] {
  const object = loadObjectFile(path);
  const out: Target[] = [];
  for (const p of object.programs) {
    if (only !== undefined && p.name !== only) continue;
    const type = typeOverride ?? p.type;
    if (type === undefined) throw new UsageError(`program ${p.name} (section ${p.section}): give its type with --type`);
    if (progTypeOf(/^\d+$/.test(type) ? Number(type) : type) === undefined) throw new UsageError(`unknown program type ${type}`);
    out.push({
      name: p.name, section: p.section, type,
      program: {
        insns: p.insns, type: /^\d+$/.test(type) ? Number(type) : type, maps: object.maps,
        mapRefs: p.mapRefs.map((r) => ({ insn: r.insn, map: r.map, kind: r.kind, offset: r.offset })),
        lineInfo: p.lineInfo, name: p.name, attachType: p.section,
        // As the runtime and the Linux backend load it: global functions verified on their own, func_info.
        ...programBtfFacts(object.btf, p.functions),
      },
    });
  }
  if (only !== undefined && out.length === 0) throw new UsageError(`no program named ${only} in ${path}`);
  return out;
}

export const command: Command = {
  name: 'verify',
  summary: 'statically verify programs as the Linux verifier does',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values, positionals } = parseCommandArgs(argv, {
      prog: { type: 'string' }, type: { type: 'string' }, 'log-level': { type: 'string' },
      unpriv: { type: 'boolean' }, json: { type: 'boolean' }, bundle: { type: 'string' }, help: { type: 'boolean' },
      kernel: { type: 'boolean' },
    });
    if (values.help) {
      io.stdout(USAGE + '\n');
      return EXIT_OK;
    }
    const logLevel = Number(values['log-level'] ?? 0);
    if (logLevel !== 0 && logLevel !== 1 && logLevel !== 2) throw new UsageError('--log-level must be 0, 1 or 2');
    if (values.kernel) {
      if (values.bundle !== undefined || positionals.length !== 1) throw new UsageError('--kernel verifies an object file: tsbpf verify OBJ --kernel');
      return verifyWithKernel(positionals[0]!, values.prog, values.type, logLevel, values.json ?? false, io);
    }
    let targets: Target[];
    if (values.bundle !== undefined) {
      if (positionals.length) throw new UsageError('give an object or --bundle, not both');
      targets = bundleTargets(values.bundle);
    } else {
      if (positionals.length !== 1) throw new UsageError('expected one object file');
      targets = objectTargets(positionals[0]!, values.prog, values.type);
    }
    const results: { target: Target; result: VerifierResult }[] = targets.map((target) => ({
      target, result: verify(target.program, { mode: values.unpriv ? 'unpriv' : 'priv', logLevel: logLevel as 0 | 1 | 2 }),
    }));
    if (values.json) {
      io.stdout(JSON.stringify({
        programs: results.map(({ target, result }) => ({
          name: target.name, section: target.section, type: target.type, verdict: result.verdict,
          error: result.error ?? null, processed_insns: result.stats.processedInsns, time_us: result.stats.timeUs,
          ...(logLevel ? { log: result.log } : {}),
        })),
      }, null, 2) + '\n');
    } else {
      for (const { target, result } of results) {
        if (logLevel) io.stdout(result.log);
        const where = target.section ? ` (${target.section})` : '';
        if (result.verdict === 'accept') {
          io.stdout(`${target.name}${where}: accepted, ${result.stats.processedInsns} insns processed\n`);
        } else {
          io.stdout(`${target.name}${where}: rejected at insn ${result.error!.insn}: ${result.error!.message}\n`);
          io.stdout(result.error!.explanation.split('\n').map((l) => `  ${l}`).join('\n') + '\n');
        }
      }
    }
    return results.every((r) => r.result.verdict === 'accept') ? EXIT_OK : EXIT_FAILURE;
  },
};

/** `--kernel`: the object's programs through the running kernel's verifier, reported like ours. */
async function verifyWithKernel(path: string, only: string | undefined, type: string | undefined, logLevel: number, json: boolean, io: CliIO): Promise<number> {
  const { openObjectForKernel } = await import('../../linux/vmlinux.js');
  const { loadObjectIntoKernel } = await import('../../linux/kernel-object.js');
  const { verifyLoadedObject } = await import('../../linux/verify.js');
  const object = openObjectForKernel(readInputFile(path, 'object'), { fileName: path });
  const names = object.programs.filter((p) => only === undefined || p.name === only || p.section === only).map((p) => p.name);
  if (names.length === 0) throw new UsageError(`no program${only ? ` named ${only}` : ''} in ${path}`);
  const kernel = loadObjectIntoKernel(object, { programs: [], ignorePinning: true });
  try {
    const verdicts = names.map((name) => ({ name, verdict: verifyLoadedObject(kernel, name, { logLevel: logLevel || 1, ...(type ? { type } : {}) }) }));
    if (json) {
      io.stdout(JSON.stringify({
        programs: verdicts.map(({ name, verdict }) => ({
          name, section: object.programs.find((p) => p.name === name)?.section ?? '', verdict: verdict.verdict,
          error: verdict.error ?? null, processed_insns: verdict.processedInsns ?? null, time_us: verdict.timeUs ?? null,
          ...(logLevel ? { log: verdict.log } : {}),
        })),
      }, null, 2) + '\n');
    } else {
      for (const { name, verdict } of verdicts) {
        if (logLevel) io.stdout(verdict.log);
        io.stdout(verdict.verdict === 'accept'
          ? `${name}: accepted by the kernel, ${verdict.processedInsns ?? '?'} insns processed\n`
          : `${name}: rejected by the kernel: ${verdict.error ?? 'see the log (--log-level 1)'}\n`);
      }
    }
    return verdicts.every((v) => v.verdict.verdict === 'accept') ? EXIT_OK : EXIT_FAILURE;
  } finally {
    kernel.close();
  }
}
