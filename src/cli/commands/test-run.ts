import { toJson } from '../../object/index.js';
import { EXIT_OK, UsageError, type Command } from '../command.js';
import { dataArgument, formatDecoded, hex, loadObjectFile, parseCommandArgs, readInputFile, type MapEntryView } from '../object-args.js';
import { RUN_OPTIONS, dumpAllMaps, loadForRun } from '../run-common.js';

const usage = `usage: tsbpf test-run OBJ --prog NAME (--data HEX | --data-file F) [options]

Runs one program once (or --repeat times) like BPF_PROG_TEST_RUN and prints its return value
(with its meaning: XDP_PASS, TC_ACT_SHOT ...), the average duration, the output packet and the
contents of every map afterwards.

  --prog NAME        program (function or section name); optional when the object has one
  --data HEX         input packet as hex
  --data-file F      input packet from a file
  --ctx-file F       input context (xdp_md, __sk_buff ...) from a file
  --repeat N         runs; the duration is their average (default 1)
  --type TYPE        program type for sections that do not name one (xdp, sched_cls ...)
  --engine E         jit (default where WebAssembly exists) or interp
  --cpus N           possible CPUs (slots of per-CPU maps; default 1)
  --kernel           run in the kernel (BPF_PROG_TEST_RUN through bpf()) instead of user space
  --json             {retval, verdict, duration_ns, data_out, ctx_out, maps, trace}

bpf_printk output appears as \`trace:\` lines, in the kernel's trace_pipe format.`;

export const command: Command = {
  name: 'test-run',
  summary: 'run a program once over data, like BPF_PROG_TEST_RUN',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommandArgs(argv, {
      ...RUN_OPTIONS,
      data: { type: 'string' },
      'data-file': { type: 'string' },
      'ctx-file': { type: 'string' },
      repeat: { type: 'string', default: '1' },
      kernel: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('expected one object file');
    const repeat = Number(values.repeat);
    if (!Number.isInteger(repeat) || repeat < 1) throw new UsageError('--repeat must be a whole number >= 1');
    let object = loadObjectFile(positionals[0]!);
    const data = dataArgument(values);
    const ctx = values['ctx-file'] !== undefined ? readInputFile(values['ctx-file'], 'context file') : undefined;
    const input = { ...(data ? { data } : {}), ...(ctx ? { ctx } : {}), repeat };

    let result: { retval: number; verdict: string; durationNs: number; dataOut?: Uint8Array; ctxOut?: Uint8Array };
    /** bpf_printk/bpf_trace_printk lines the run produced (userspace runs). */
    let trace: string[] = [];
    let maps: Record<string, MapEntryView[]>;
    if (values.kernel) {
      const { loadObjectIntoKernel } = await import('../../linux/kernel-object.js');
      const { openObjectForKernel } = await import('../../linux/vmlinux.js');
      // CO-RE against the running kernel's BTF, as libbpf does when loading.
      object = openObjectForKernel(readInputFile(positionals[0]!, 'object'), { fileName: positionals[0]! });
      const program = values.prog ?? object.programs[0]?.name;
      if (program === undefined) throw new UsageError('--prog is required');
      const kernel = loadObjectIntoKernel(object, { programs: [program], ...(values.type ? { type: values.type } : {}) });
      try {
        const r = kernel.program(program).testRun(input);
        const { progTypeInfo, returnName } = await import('../../progtypes/table.js');
        const info = progTypeInfo(values.type ?? object.programs.find((p) => p.name === program)?.type ?? '');
        result = { retval: r.retval, verdict: info ? returnName(info, r.retval | 0) : String(r.retval), durationNs: r.durationNs, dataOut: r.dataOut, ctxOut: r.ctxOut };
        const { dumpMap } = await import('../object-args.js');
        maps = {};
        for (const spec of object.maps) {
          const km = kernel.map(spec.name);
          const entries = function* (): IterableIterator<[Uint8Array, Uint8Array]> {
            for (let k = km.nextKey(); k !== undefined; k = km.nextKey(k)) {
              const v = km.lookup(k);
              if (v) yield [k, v];
            }
          };
          maps[spec.name] = dumpMap(object, spec, { entries, perCpu: false, cpus: 1 });
        }
      } finally {
        kernel.close();
      }
    } else {
      const { runtime, loaded, program } = await loadForRun(object, values);
      try {
        result = loaded.program(program).testRun(input);
        maps = dumpAllMaps(object, loaded);
        trace = runtime.services.traceLog.slice();
      } finally {
        runtime.close();
      }
    }
    if (values.json) {
      io.stdout(toJson({
        retval: result.retval,
        verdict: result.verdict,
        duration_ns: Math.round(result.durationNs),
        data_out: result.dataOut ? hex(result.dataOut) : null,
        ctx_out: result.ctxOut ? hex(result.ctxOut) : null,
        maps,
        trace,
      }, 2) + '\n');
      return EXIT_OK;
    }
    const lines = [`retval ${result.retval} (${result.verdict})`, `duration ${Math.round(result.durationNs)} ns${repeat > 1 ? ` (average of ${repeat})` : ''}`];
    if (result.dataOut) lines.push(`data_out ${hex(result.dataOut)}${data && hex(data) === hex(result.dataOut) ? ' (unchanged)' : ''}`);
    for (const line of trace.slice(0, 100)) lines.push(`trace: ${line}`);
    if (trace.length > 100) lines.push(`trace: ... ${trace.length - 100} more lines (use --json)`);
    for (const [name, entries] of Object.entries(maps)) {
      lines.push(`map ${name}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`);
      for (const e of entries.slice(0, 50)) lines.push(`  ${formatDecoded(e.key)} => ${formatDecoded(e.value)}`);
      if (entries.length > 50) lines.push(`  ... ${entries.length - 50} more (use --json)`);
    }
    io.stdout(lines.join('\n') + '\n');
    return EXIT_OK;
  },
};
