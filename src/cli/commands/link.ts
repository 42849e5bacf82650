import { EXIT_FAILURE, EXIT_OK, UsageError, type CliIO, type Command } from '../command.js';
import { BpfSyscallError } from '../../linux/errors.js';
import { BpfLink } from '../../linux/link.js';
import { linkDetails, type LinkDetails } from '../../linux/link-query.js';
import { listInterfaces, programName } from '../../linux/net-query.js';
import { describeRef, NoSuchObjectError, openLinkRef, takeObjectRef, type ObjectRef } from '../../linux/object-ref.js';

const USAGE = `usage: tsbpf link list [--json]
       tsbpf link show ID|PIN [--json]
       tsbpf link pin ID|PIN PATH
       tsbpf link detach ID|PIN

The kernel's bpf links, like 'bpftool link' (needs root). ID is a link id ('id N' also works), PIN a
path in bpffs ('pinned PATH' also works).

list, show: id, type, program, and what the kernel reports per type: ifindex (xdp, tcx, netkit),
  attach type (tcx, cgroup, tracing, netns, sockmap), tracepoint name (raw_tracepoint, perf_event
  tracepoint), file and offset (perf_event uprobe), cgroup id, iterator target ...
pin: pins the link at PATH (in bpffs), so it outlives the process holding it.
detach: detaches the link's program now (BPF_LINK_DETACH: xdp, tcx, netkit, cgroup, netns, sockmap,
  netfilter ...); the link object stays until its last fd or pin goes, but runs nothing. Tracepoint
  and tracing links have no such operation: remove their pins instead.

options:
  --json   print JSON
`;

interface ShownLink extends LinkDetails {
  progName: string;
  /** The interface name for links on an interface (in this network namespace). */
  ifname?: string;
}

function show(link: BpfLink, ifnames: () => Map<number, string>): ShownLink {
  const details = linkDetails(link);
  const ifindex = details.details['ifindex'];
  const ifname = typeof ifindex === 'number' ? ifnames().get(ifindex) : undefined;
  return { ...details, progName: programName(details.progId), ...(ifname !== undefined ? { ifname } : {}) };
}

function describe(link: ShownLink): string {
  const head = `${link.id}: ${link.type}  prog ${link.progId}${link.progName ? `  prog_name ${link.progName}` : ''}`;
  const fields = Object.entries(link.details).map(([key, value]) => (key === 'ifindex' && link.ifname !== undefined ? `ifindex ${link.ifname}(${value})` : `${key} ${value}`));
  return fields.length ? `${head}\n\t${fields.join('  ')}\n` : `${head}\n`;
}

/** Interface names by index, asked for once and only when a link needs one. */
function lazyInterfaceNames(): () => Map<number, string> {
  let names: Map<number, string> | undefined;
  return () => (names ??= new Map(listInterfaces().map((i) => [i.ifindex, i.name])));
}

function listLinks(): ShownLink[] {
  const ifnames = lazyInterfaceNames();
  const out: ShownLink[] = [];
  for (const id of BpfLink.ids()) {
    const link = BpfLink.fromId(id);
    if (!link) continue;
    try {
      out.push(show(link, ifnames));
    } finally {
      link.close();
    }
  }
  return out;
}

/** BPF_LINK_DETACH; link types without it (tracepoints, tracing) say how to detach them instead. */
function detach(link: BpfLink, ref: ObjectRef): void {
  try {
    link.detach();
  } catch (err) {
    if (!(err instanceof BpfSyscallError) || err.errnoName !== 'EOPNOTSUPP') throw err;
    const { type } = linkDetails(link);
    throw new BpfSyscallError(err.command, err.errno, `link ${describeRef(ref)} (${type}) cannot be detached while it is held: remove its pins and end the processes holding it`);
  }
}

function run(sub: string | undefined, words: string[], json: boolean, io: CliIO): number {
  const print = (links: ShownLink[]): void => io.stdout(json ? JSON.stringify(links, null, 2) + '\n' : links.map(describe).join(''));
  if (sub === 'list' || (sub === 'show' && words.length === 0)) {
    if (words.length) throw new UsageError(`unexpected argument '${words[0]}'`);
    print(listLinks());
    return EXIT_OK;
  }
  if (sub !== 'show' && sub !== 'pin' && sub !== 'detach') {
    throw new UsageError(sub === undefined ? 'missing subcommand (list, show, pin, detach)' : `unknown subcommand '${sub}'`);
  }
  const { ref, rest } = takeObjectRef(words, 'link');
  const [path, ...extra] = rest;
  if (sub === 'pin' ? path === undefined || extra.length > 0 : rest.length > 0) {
    throw new UsageError(sub === 'pin' ? 'expected: link pin ID|PIN PATH' : `unexpected argument '${rest[0]}'`);
  }
  using link = openLinkRef(ref);
  if (sub === 'show') {
    const shown = show(link, lazyInterfaceNames());
    io.stdout(json ? JSON.stringify(shown, null, 2) + '\n' : describe(shown));
  } else if (sub === 'pin') {
    link.pin(path!);
    io.stdout(json ? JSON.stringify({ id: link.info().id, pinned: path }) + '\n' : `link ${describeRef(ref)} pinned at ${path}\n`);
  } else {
    detach(link, ref);
    io.stdout(json ? JSON.stringify({ id: link.info().id, detached: true }) + '\n' : `link ${describeRef(ref)} detached\n`);
  }
  return EXIT_OK;
}

export const command: Command = {
  name: 'link',
  summary: 'list, show, pin and detach bpf links in the kernel',
  usage: USAGE,
  async run(argv, io) {
    const json = argv.includes('--json');
    const [sub, ...words] = argv.filter((a) => a !== '--json');
    const unknown = words.find((w) => w.startsWith('--'));
    if (unknown) throw new UsageError(`unknown option '${unknown}'`);
    try {
      return run(sub, words, json, io);
    } catch (err) {
      if (err instanceof BpfSyscallError || err instanceof NoSuchObjectError) {
        io.stderr(`tsbpf link: ${err.message}\n`);
        return EXIT_FAILURE;
      }
      throw err;
    }
  },
};
