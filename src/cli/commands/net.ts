import { EXIT_FAILURE, EXIT_OK, UsageError, type Command } from '../command.js';
import { BpfSyscallError } from '../../linux/errors.js';
import { listInterfaces, netOverview, type NetInterface, type NetOverview } from '../../linux/net-query.js';

const USAGE = `usage: tsbpf net [list] [dev IFACE] [--json]

The BPF programs on the network interfaces of the current network namespace, like 'bpftool net'
(needs root):
  xdp   XDP programs per mode (generic, native, offload), whether attached by link or netlink
  tcx   tcx programs on ingress/egress in run order, with the link holding each (Linux 6.6+)
  tc    cls_bpf filters on the clsact qdisc (priority, handle, direct-action)

options:
  dev IFACE   only this interface
  --json      { xdp: [...], tcx: [...], tc: [...] }
`;

const where = (i: NetInterface): string => `${i.name}(${i.ifindex})`;
const named = (progId: number, progName: string): string => `prog ${progId}${progName ? ` name ${progName}` : ''}`;

function describe(net: NetOverview): string {
  const lines = ['xdp:'];
  for (const x of net.xdp) lines.push(`${where(x)} ${x.mode} ${named(x.progId, x.progName)}`);
  lines.push('', 'tc:');
  for (const t of net.tcx) lines.push(`${where(t)} tcx/${t.direction} ${named(t.progId, t.progName)}${t.linkId ? ` link ${t.linkId}` : ''}`);
  for (const t of net.tc) {
    lines.push(`${where(t)} clsact/${t.direction} ${t.filterName ? `${t.filterName} ` : ''}${named(t.progId, t.progName)} prio ${t.priority} handle 0x${t.handle.toString(16)}${t.directAction ? ' direct-action' : ''}`);
  }
  return lines.join('\n') + '\n';
}

function parse(argv: string[]): { json: boolean; dev?: string } {
  const json = argv.includes('--json');
  const words = argv.filter((a) => a !== '--json');
  if (words[0] === 'list' || words[0] === 'show') words.shift();
  if (words.length === 0) return { json };
  if (words[0] !== 'dev' || words.length !== 2) {
    throw new UsageError(words[0]?.startsWith('--') ? `unknown option '${words[0]}'` : `unexpected argument '${words[0] === 'dev' ? words[2] ?? 'dev' : words[0]}'`);
  }
  return { json, dev: words[1]! };
}

export const command: Command = {
  name: 'net',
  summary: 'list the XDP, tcx and tc programs on network interfaces',
  usage: USAGE,
  async run(argv, io) {
    const { json, dev } = parse(argv);
    try {
      let only: NetInterface | undefined;
      if (dev !== undefined) {
        only = listInterfaces().find((i) => i.name === dev || String(i.ifindex) === dev);
        if (!only) {
          io.stderr(`tsbpf net: no network interface ${dev} (in this network namespace)\n`);
          return EXIT_FAILURE;
        }
      }
      const net = netOverview(only);
      io.stdout(json ? JSON.stringify(net, null, 2) + '\n' : describe(net));
      return EXIT_OK;
    } catch (err) {
      if (err instanceof BpfSyscallError) {
        io.stderr(`tsbpf net: ${err.message}\n`);
        return EXIT_FAILURE;
      }
      throw err;
    }
  },
};
