import { readFileSync } from 'node:fs';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIO, type Command } from '../command.js';
import { BpfProgram, type ProgramInfo } from '../../linux/program.js';
import { BpfSyscallError, BpfVerifierError } from '../../linux/errors.js';
import { loadObjectIntoKernel, pinName, type KernelObject } from '../../linux/kernel-object.js';
import { openObjectForKernel } from '../../linux/vmlinux.js';
import { attachProgram, attachTo, parseTargetWords, type Attachment } from '../../linux/attach-object.js';
import { BpfLink, SocketFilterAttachment } from '../../linux/link.js';
import { PerfEventLinks } from '../../linux/perf-event.js';
import { TsbpfError } from '../../errors.js';
import { formatInstruction, slotsAt, type Instruction } from '../../isa/index.js';
import { NoSuchObjectError, openProgramRef, takeObjectRef } from '../../linux/object-ref.js';
import { xlatedProgram, type SourceLine, type XlatedProgram } from '../../linux/prog-dump.js';

const USAGE = `usage: tsbpf prog list [--json]
       tsbpf prog show ID [--json]
       tsbpf prog load OBJ [--pin DIR] [--type TYPE] [--prog NAME]... [--pin-root DIR] [--json]
       tsbpf prog attach PROG [TARGET...] [--pin PATH | --duration SECONDS]
       tsbpf prog dump xlated|jited ID|PIN [--json]
       tsbpf prog pin ID|PIN PATH

list/show: the programs loaded in the kernel (id, type, name, tag, maps), like 'bpftool prog list'.

load: opens OBJ (CO-RE relocated against this kernel's BTF), creates its maps and loads every
  program (or only --prog NAME); prints each program's id. Programs live only as long as this
  command unless --pin DIR pins them at DIR/progs/NAME and the maps at DIR/maps/NAME. Maps declared
  with pinning LIBBPF_PIN_BY_NAME are pinned (or reused) at /sys/fs/bpf/NAME (--pin-root DIR).
  On a verifier rejection the whole log is printed, after a one-line summary.

dump xlated: the instructions as the kernel rewrote them (BPF_OBJ_GET_INFO_BY_FD), with function
  names and source lines when the program has BTF, helper calls named through /proc/kallsyms and
  map loads as map[id:N]. dump jited: the native code's size only (tsbpf does not disassemble
  machine code; 'bpftool prog dump jited' does).
pin: pins a loaded program (by id or an existing pin) at PATH in bpffs.

attach: PROG is a pinned program (/sys/fs/bpf/...), a program id, or OBJ:NAME (loaded first).
  TARGET (optional for OBJ:NAME when its section names the attach point, e.g. tracepoint/x/y):
    xdp dev IFACE [generic|native|offload] [netlink|link]
    tcx ingress|egress dev IFACE               tc ingress|egress dev IFACE [priority N] [handle N]
    tracepoint CATEGORY:NAME                   raw_tp NAME
    uprobe BINARY:SYMBOL[+OFFSET]              uretprobe BINARY:SYMBOL[+OFFSET]
    usdt BINARY:PROVIDER:NAME                  (every site of the probe; semaphores raised)
    fentry | fexit | fmod_ret | tp_btf | lsm   (the function or event was fixed at load: fentry/FUNC)
    perf_event [EVENT] [period N | freq N] [pid N | cpu N]   (default: cpu-clock, 99 Hz, every CPU)
    cgroup PATH ATTACH_TYPE                    (cgroup v2 directory; inet_ingress, inet4_connect ...)
    sockmap MAP HOOK                           (pinned map or id; stream_parser, stream_verdict,
                                                skb_verdict, msg_verdict)
  For OBJ:NAME the section supplies what it can: cgroup_skb/egress needs only PATH, sk_msg only
  MAP (a map of the object by name, a pin or an id), perf_event nothing.
  xdp is a bpf_link (generic mode unless told), or over netlink with 'netlink' (as 'ip link set
  dev IFACE xdp...'; also the fallback on kernels without XDP links). tcx is a tcx link (Linux
  6.6+; a netlink tc filter before that). tc is a cls_bpf direct-action filter on the clsact qdisc
  (created if absent, removed on detach when it was created and is empty), as 'tc filter add'.
  The program stays attached until Ctrl-C (or --duration SECONDS), or, with --pin PATH (or
  --pin-link PATH), the link is pinned and stays after the command exits (remove the pin to detach;
  netlink attachments are not links and cannot be pinned; a perf_event link per CPU is pinned at
  PATH/cpuN). kprobes: this kernel may have none (see 'tsbpf feature probe'); attaching one then
  says so.

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

interface Flags {
  json: boolean;
  pin?: string;
  pinRoot?: string;
  type?: string;
  progs: string[];
  pinLink?: string;
  duration?: number;
  positionals: string[];
}

function parseFlags(argv: string[]): Flags {
  const flags: Flags = { json: false, progs: [], positionals: [] };
  const value = (i: number, name: string): string => {
    const v = argv[i + 1];
    if (v === undefined) throw new UsageError(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    switch (arg) {
      case '--json': flags.json = true; break;
      case '--pin': flags.pin = value(i++, arg); break;
      case '--pin-root': flags.pinRoot = value(i++, arg); break;
      case '--type': flags.type = value(i++, arg).toLowerCase().replace(/^bpf_prog_type_/, ''); break;
      case '--prog': flags.progs.push(value(i++, arg)); break;
      case '--pin-link': flags.pinLink = value(i++, arg); break;
      case '--duration': {
        const seconds = Number(value(i++, arg));
        if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError('--duration must be a number of seconds >= 0');
        flags.duration = seconds;
        break;
      }
      default:
        if (arg.startsWith('--')) throw new UsageError(`unknown option '${arg}'`);
        flags.positionals.push(arg);
    }
  }
  return flags;
}

function openKernelObject(path: string, flags: Flags): KernelObject {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new TsbpfError('cli/read', `cannot read object ${path}: ${(e as Error).message}`, { file: path });
  }
  const object = openObjectForKernel(bytes, { fileName: path });
  return loadObjectIntoKernel(object, {
    ...(flags.progs.length ? { programs: flags.progs } : {}),
    ...(flags.type ? { type: flags.type } : {}),
    ...(flags.pinRoot ? { pinRoot: flags.pinRoot } : {}),
  });
}

function load(flags: Flags, io: CliIO): number {
  const [path, ...extra] = flags.positionals;
  if (path === undefined) throw new UsageError('prog load needs an object file');
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  using kernel = openKernelObject(path, flags);
  const pinned = flags.pin ? kernel.pin(flags.pin) : [];
  const rows = [...kernel.programs].map(([name, prog]) => {
    const info = prog.info();
    return { name, id: info.id, type: info.typeName.toLowerCase(), tag: info.tag, ...(flags.pin ? { pin: `${flags.pin}/progs/${pinName(name)}` } : {}) };
  });
  if (flags.json) {
    io.stdout(JSON.stringify({ programs: rows, pinned, pinnedByName: Object.fromEntries(kernel.pinnedByName) }, null, 2) + '\n');
  } else {
    for (const r of rows) io.stdout(`${r.name}: id ${r.id}  ${r.type}  tag ${r.tag}${r.pin ? `  pinned ${r.pin}` : ''}\n`);
    for (const [map, at] of kernel.pinnedByName) io.stdout(`map ${map}: pinned by name at ${at}\n`);
    if (!flags.pin) io.stdout('(not pinned: the programs are unloaded when this command exits; use --pin DIR to keep them)\n');
  }
  return EXIT_OK;
}

/** Resolves PROG (pin path, id or OBJ:NAME) and attaches it. */
function attach(flags: Flags): { attachment: Attachment; owned: { close(): void }[]; what: string } {
  const [spec, ...words] = flags.positionals;
  if (spec === undefined) throw new UsageError('prog attach needs a program (pinned path, id or OBJ:NAME)');
  const objectForm = /^(.+\.o):([A-Za-z_][\w.]*)$/.exec(spec);
  if (objectForm) {
    const kernel = openKernelObject(objectForm[1]!, { ...flags, progs: [objectForm[2]!] });
    try {
      const target = words.length ? parseTargetWords(words) : undefined;
      return { attachment: attachProgram(kernel, objectForm[2]!, target), owned: [kernel], what: spec };
    } catch (e) {
      kernel.close();
      throw e;
    }
  }
  if (!words.length) throw new UsageError('a program given by id or pin needs a TARGET (e.g. xdp dev eth0)');
  const target = parseTargetWords(words);
  const program = /^\d+$/.test(spec) ? BpfProgram.fromId(Number(spec)) : BpfProgram.fromPin(spec);
  if (!program) throw new TsbpfError('cli/no-program', `no program with id ${spec}`);
  try {
    return { attachment: attachTo(program, target), owned: [program], what: spec };
  } catch (e) {
    program.close();
    throw e;
  }
}

async function attachCommand(flags: Flags, io: CliIO): Promise<number> {
  const { attachment, owned, what } = attach(flags);
  try {
    const pinPath = flags.pinLink ?? flags.pin;
    if (pinPath) {
      if (attachment instanceof PerfEventLinks) {
        const paths = attachment.pin(pinPath);
        io.stdout(`${what}: ${attachment.description}: ${paths.length} link${paths.length === 1 ? '' : 's'} pinned at ${paths.join(', ')}; remove the pins to detach\n`);
        return EXIT_OK;
      }
      if (!(attachment instanceof BpfLink)) throw new UsageError(`--pin: ${attachment instanceof SocketFilterAttachment ? 'a socket filter' : attachment.description} is not a link and cannot be pinned`);
      attachment.pin(pinPath);
      const info = attachment.info();
      io.stdout(`${what}: link ${info.id} (${info.typeName.toLowerCase()}) pinned at ${pinPath}; remove the pin to detach\n`);
      return EXIT_OK;
    }
    io.stdout(`${what}: attached (${attachment instanceof SocketFilterAttachment ? 'socket filter' : attachment.description}); ${flags.duration !== undefined ? `detaching in ${flags.duration} s` : 'Ctrl-C to detach'}\n`);
    await new Promise<void>((resolve) => {
      const done = (): void => {
        process.off('SIGINT', done);
        process.off('SIGTERM', done);
        clearTimeout(timer);
        clearInterval(keepAlive);
        resolve();
      };
      const timer = flags.duration !== undefined ? setTimeout(done, flags.duration * 1000) : undefined;
      // Signal listeners alone do not keep Node running.
      const keepAlive = setInterval(() => {}, 2 ** 30);
      process.on('SIGINT', done);
      process.on('SIGTERM', done);
    });
    io.stdout(`${what}: detached\n`);
    return EXIT_OK;
  } finally {
    attachment.close();
    for (const o of owned) o.close();
  }
}

interface DumpedInsn {
  index: number;
  opcode: string;
  text: string;
  function?: string;
  source?: SourceLine;
}

const LD_IMM64 = 0x18;
const PSEUDO_MAP_FD = 1;
const PSEUDO_MAP_VALUE = 2;

/** One instruction as bpftool shows xlated code: map loads by map id, helper calls by kernel symbol. */
function xlatedText(program: XlatedProgram, index: number): string {
  const insn: Instruction = program.insns[index]!;
  const helper = program.helperCalls.get(index);
  if (helper) return `call ${helper}`;
  if (insn.code === LD_IMM64 && (insn.src === PSEUDO_MAP_FD || insn.src === PSEUDO_MAP_VALUE)) {
    const offset = program.insns[index + 1]?.imm ?? 0;
    return `r${insn.dst} = map[id:${insn.imm}]${insn.src === PSEUDO_MAP_VALUE ? `[0]+${offset}` : ''} ll`;
  }
  return formatInstruction(program.insns, index);
}

function dumpXlated(program: XlatedProgram): DumpedInsn[] {
  const out: DumpedInsn[] = [];
  for (let i = 0; i < program.insns.length; i += slotsAt(program.insns, i)) {
    const name = program.functions.get(i);
    const source = program.lines.get(i);
    out.push({
      index: i, opcode: program.insns[i]!.code.toString(16).padStart(2, '0'), text: xlatedText(program, i),
      ...(name !== undefined ? { function: name } : {}), ...(source ? { source } : {}),
    });
  }
  return out;
}

function dumpCommand(words: string[], json: boolean, io: CliIO): number {
  const [form, ...rest] = words;
  if (form !== 'xlated' && form !== 'jited') throw new UsageError('expected: prog dump xlated|jited ID|PIN');
  const { ref, rest: extra } = takeObjectRef(rest, 'program');
  if (extra.length) throw new UsageError(`unexpected argument '${extra[0]}'`);
  using program = openProgramRef(ref);
  const info = program.info();
  if (form === 'jited') {
    io.stdout(json ? JSON.stringify({ id: info.id, jitedSize: info.jitedSize }) + '\n'
      : `${info.id}: ${info.jitedSize ? `jited ${info.jitedSize} bytes of native code` : 'not jited'} (tsbpf does not disassemble machine code; 'bpftool prog dump jited' does)\n`);
    return EXIT_OK;
  }
  const insns = dumpXlated(xlatedProgram(program));
  if (json) {
    io.stdout(JSON.stringify(insns, null, 2) + '\n');
    return EXIT_OK;
  }
  const width = Math.max(4, String(insns.at(-1)?.index ?? 0).length);
  const lines: string[] = [];
  for (const insn of insns) {
    if (insn.function !== undefined) lines.push(`${insn.function || '(anonymous)'}:`);
    if (insn.source) lines.push(`; ${insn.source.text.trim()}  [${insn.source.file}:${insn.source.line}:${insn.source.column}]`);
    lines.push(`${String(insn.index).padStart(width)}: (${insn.opcode}) ${insn.text}`);
  }
  io.stdout(lines.join('\n') + '\n');
  return EXIT_OK;
}

function pinCommand(words: string[], io: CliIO): number {
  const { ref, rest } = takeObjectRef(words, 'program');
  const [path, ...extra] = rest;
  if (path === undefined || extra.length) throw new UsageError('expected: prog pin ID|PIN PATH');
  using program = openProgramRef(ref);
  program.pin(path);
  io.stdout(`program ${program.id} pinned at ${path}\n`);
  return EXIT_OK;
}

export const command: Command = {
  name: 'prog',
  summary: 'load, attach, list, dump and pin programs in the kernel',
  usage: USAGE,
  async run(argv: string[], io: CliIO): Promise<number> {
    const [sub, ...restArgs] = argv;
    const flags = parseFlags(restArgs);
    const rest = flags.positionals;
    const json = flags.json;
    try {
      if (sub === 'load') return load(flags, io);
      if (sub === 'attach') return await attachCommand(flags, io);
      if (sub === 'dump') return dumpCommand(rest, json, io);
      if (sub === 'pin') return pinCommand(rest, io);
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
      throw new UsageError(sub === undefined ? 'missing subcommand (list, show, load, attach, dump, pin)' : `unknown subcommand '${sub}'`);
    } catch (err) {
      if (err instanceof BpfVerifierError) {
        io.stderr(`tsbpf prog: ${err.fullReport()}`);
        return EXIT_FAILURE;
      }
      if (err instanceof BpfSyscallError || err instanceof NoSuchObjectError) {
        io.stderr(`tsbpf prog: ${err.message}\n`);
        return EXIT_FAILURE;
      }
      throw err;
    }
  },
};
