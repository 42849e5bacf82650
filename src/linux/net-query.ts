import { ProgQueryAttr } from './attr.js';
import { AttachType } from './constants.js';
import { readBigInt, readNumber } from './layout.js';
import { attrString, NetlinkSocket, parseAttrs, RtmType } from './netlink.js';
import { BpfProgram } from './program.js';
import { bpf } from './syscall.js';
import { listTcFilters, type TcDirection } from './tc-netlink.js';
import { queryXdp, type XdpQuery } from './xdp-netlink.js';

/**
 * What `bpftool net` shows: the BPF programs on the network interfaces of the calling thread's network
 * namespace. XDP per mode (RTM_GETLINK), tcx links and programs (BPF_PROG_QUERY), cls_bpf filters on
 * clsact (RTM_GETTFILTER).
 */

const IFLA_IFNAME = 3;

export interface NetInterface {
  ifindex: number;
  name: string;
}

export interface XdpEntry extends NetInterface {
  mode: string;
  progId: number;
  progName: string;
}

export interface TcxEntry extends NetInterface {
  direction: TcDirection;
  progId: number;
  progName: string;
  /** The tcx link holding the program; absent for programs attached with PROG_ATTACH. */
  linkId?: number;
}

export interface TcEntry extends NetInterface {
  direction: TcDirection;
  priority: number;
  handle: number;
  /** The name given at attach (tc shows it), the program id and whether it runs direct-action. */
  filterName: string;
  progId: number;
  progName: string;
  directAction: boolean;
}

export interface NetOverview {
  xdp: XdpEntry[];
  tcx: TcxEntry[];
  tc: TcEntry[];
}

/** Every interface of the namespace, by index (RTM_GETLINK dump). */
export function listInterfaces(socket?: NetlinkSocket): NetInterface[] {
  const own = socket ? undefined : NetlinkSocket.open();
  try {
    const replies = (socket ?? own!).dump('interface list', RtmType.GETLINK, new Uint8Array(16));
    return replies.filter((m) => m.type === RtmType.NEWLINK).map((m) => ({
      ifindex: new DataView(m.body.buffer, m.body.byteOffset).getInt32(4, true),
      name: attrString(parseAttrs(m.body.subarray(16)), IFLA_IFNAME) ?? '',
    })).sort((a, b) => a.ifindex - b.ifindex);
  } finally {
    own?.close();
  }
}

export interface TcxQuery {
  progIds: number[];
  /** Per program, its link id or 0 (attached without a link). */
  linkIds: number[];
  revision: bigint;
}

const TCX_TYPE: Readonly<Record<TcDirection, number>> = { ingress: AttachType.TCX_INGRESS, egress: AttachType.TCX_EGRESS };

/** The tcx chain of one hook (BPF_PROG_QUERY on the ifindex), in run order. */
export function queryTcx(ifindex: number, direction: TcDirection): TcxQuery {
  const attachType = TCX_TYPE[direction];
  const { attr: sized } = bpf('PROG_QUERY', ProgQueryAttr, { target_fd: ifindex, attach_type: attachType });
  const count = readNumber(sized, 'count');
  if (count === 0) return { progIds: [], linkIds: [], revision: readBigInt(sized, 'revision') };
  const progs = new Uint8Array(count * 4);
  const links = new Uint8Array(count * 4);
  const { attr } = bpf('PROG_QUERY', ProgQueryAttr, { target_fd: ifindex, attach_type: attachType, prog_ids: progs, link_ids: links, count });
  const got = Math.min(count, readNumber(attr, 'count'));
  return {
    progIds: Array.from(new Uint32Array(progs.buffer, 0, got)),
    linkIds: Array.from(new Uint32Array(links.buffer, 0, got)),
    revision: readBigInt(attr, 'revision'),
  };
}

/** A program's name by id ('' when it is gone or unnamed). */
export function programName(id: number): string {
  const program = BpfProgram.fromId(id);
  if (!program) return '';
  try {
    return program.info().name;
  } finally {
    program.close();
  }
}

const DIRECTIONS: readonly TcDirection[] = ['ingress', 'egress'];

function xdpEntries(iface: NetInterface, query: XdpQuery): XdpEntry[] {
  return Object.entries(query.byMode).map(([mode, progId]) => ({ ...iface, mode, progId, progName: programName(progId) }));
}

/** The programs on `only` (or every interface), one netlink socket for the whole walk. */
export function netOverview(only?: NetInterface): NetOverview {
  using socket = NetlinkSocket.open();
  const out: NetOverview = { xdp: [], tcx: [], tc: [] };
  for (const iface of only ? [only] : listInterfaces(socket)) {
    out.xdp.push(...xdpEntries(iface, queryXdp(iface.ifindex, socket)));
    for (const direction of DIRECTIONS) {
      const tcx = queryTcx(iface.ifindex, direction);
      tcx.progIds.forEach((progId, i) => {
        const linkId = tcx.linkIds[i];
        out.tcx.push({ ...iface, direction, progId, progName: programName(progId), ...(linkId ? { linkId } : {}) });
      });
      for (const filter of listTcFilters(iface.ifindex, direction, socket)) {
        if (filter.kind !== 'bpf' || filter.progId === undefined) continue;
        out.tc.push({
          ...iface, direction, priority: filter.priority, handle: filter.handle, filterName: filter.name ?? '',
          progId: filter.progId, progName: programName(filter.progId), directAction: filter.directAction ?? false,
        });
      }
    }
  }
  return out;
}
