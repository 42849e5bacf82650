import { TsbpfError } from '../errors.js';
import { Errno } from './errno.js';
import { ClosedObjectError } from './errors.js';
import {
  attrString, attrU32, nestedAttr, NetlinkError, NetlinkSocket, NlmFlag, parseAttrs, RtmType, stringAttr, u32Attr,
  type NetlinkMessage,
} from './netlink.js';
import type { BpfProgram } from './program.js';

/**
 * tc over rtnetlink, as `tc qdisc add dev X clsact` + `tc filter add dev X ingress bpf da fd N`: a
 * cls_bpf filter in direct-action mode (the program's return value is the verdict) on the clsact
 * qdisc's ingress or egress hook. The attachment before tcx links (Linux 6.6), and beside them since.
 */

export type TcDirection = 'ingress' | 'egress';

const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_FD = 6;
const TCA_BPF_NAME = 7;
const TCA_BPF_FLAGS = 8;
const TCA_BPF_ID = 11;
const TCA_BPF_FLAG_ACT_DIRECT = 1;

/** clsact's handle ffff: and its parent (TC_H_CLSACT, the same number as TC_H_INGRESS). */
const CLSACT_HANDLE = 0xffff0000;
const CLSACT_PARENT = 0xfffffff1;
/** The filter parents ffff:fff2 (ingress) and ffff:fff3 (egress). */
const HOOK_PARENT: Readonly<Record<TcDirection, number>> = { ingress: 0xfffffff2, egress: 0xfffffff3 };
/** ETH_P_ALL in network byte order, as tcm_info's low half wants it. */
const ETH_P_ALL_BE = 0x0300;

export interface TcFilterOptions {
  /** Filter priority ("pref"), 1..65535; 0 or absent lets the kernel pick one. */
  priority?: number;
  /** Filter handle; 0 or absent lets the kernel pick one. */
  handle?: number;
  /** Name shown by `tc filter show` (default: the program's name). */
  name?: string;
}

export interface TcFilterInfo {
  direction: TcDirection;
  priority: number;
  handle: number;
  /** The classifier kind ("bpf", "u32", "flower" ...). */
  kind: string;
  /** cls_bpf only: the name given at attach, the program id, and whether it is in direct-action mode. */
  name?: string;
  progId?: number;
  directAction?: boolean;
}

/** struct tcmsg. */
function tcmsg(ifindex: number, parent: number, handle = 0, info = 0): Uint8Array {
  const bytes = new Uint8Array(20);
  const view = new DataView(bytes.buffer);
  view.setInt32(4, ifindex, true);
  view.setUint32(8, handle >>> 0, true);
  view.setUint32(12, parent >>> 0, true);
  view.setUint32(16, info >>> 0, true);
  return bytes;
}

/** tcm_info of a filter: priority in the high half, protocol in the low half. */
const filterInfo = (priority: number): number => ((priority << 16) | ETH_P_ALL_BE) >>> 0;

function decodeFilter(direction: TcDirection, m: NetlinkMessage): TcFilterInfo {
  const view = new DataView(m.body.buffer, m.body.byteOffset, m.body.byteLength);
  const attrs = parseAttrs(m.body.subarray(20));
  const out: TcFilterInfo = {
    direction, handle: view.getUint32(8, true), priority: view.getUint32(16, true) >>> 16, kind: attrString(attrs, TCA_KIND) ?? '',
  };
  const optionBytes = attrs.get(TCA_OPTIONS);
  if (out.kind === 'bpf' && optionBytes) {
    const options = parseAttrs(optionBytes);
    const name = attrString(options, TCA_BPF_NAME);
    const progId = attrU32(options, TCA_BPF_ID);
    if (name !== undefined) out.name = name;
    if (progId !== undefined) out.progId = progId;
    out.directAction = ((attrU32(options, TCA_BPF_FLAGS) ?? 0) & TCA_BPF_FLAG_ACT_DIRECT) !== 0;
  }
  return out;
}

/**
 * The filters on an interface's clsact hook (RTM_GETTFILTER dump), without the per-priority entries
 * the kernel lists with handle 0. Empty when the interface has no clsact qdisc.
 */
export function listTcFilters(ifindex: number, direction: TcDirection, socket?: NetlinkSocket): TcFilterInfo[] {
  const own = socket ? undefined : NetlinkSocket.open();
  try {
    const replies = (socket ?? own!).dump(`tc filter list (${direction}) on ifindex ${ifindex}`, RtmType.GETTFILTER, tcmsg(ifindex, HOOK_PARENT[direction]));
    return replies.filter((m) => m.type === RtmType.NEWTFILTER).map((m) => decodeFilter(direction, m)).filter((f) => f.handle !== 0);
  } catch (e) {
    // No clsact qdisc: nothing to list.
    if (e instanceof NetlinkError && (e.errno === Errno.EINVAL || e.errno === Errno.ENOENT)) return [];
    throw e;
  } finally {
    own?.close();
  }
}

/** Creates clsact on the interface; false when one is already there (someone else's: we leave it alone). */
function addClsact(socket: NetlinkSocket, ifindex: number): boolean {
  try {
    socket.request(`tc qdisc add clsact on ifindex ${ifindex}`, RtmType.NEWQDISC, NlmFlag.CREATE | NlmFlag.EXCL,
      tcmsg(ifindex, CLSACT_PARENT, CLSACT_HANDLE), [stringAttr(TCA_KIND, 'clsact')]);
    return true;
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === Errno.EEXIST) return false;
    throw e;
  }
}

function deleteClsact(socket: NetlinkSocket, ifindex: number): void {
  socket.request(`tc qdisc del clsact on ifindex ${ifindex}`, RtmType.DELQDISC, 0, tcmsg(ifindex, CLSACT_PARENT, CLSACT_HANDLE), [stringAttr(TCA_KIND, 'clsact')]);
}

/**
 * A cls_bpf filter attached over netlink (the filter holds the program). Owns a netlink socket, so
 * detaching happens in the namespace it attached in. close() deletes the filter, then the clsact qdisc
 * if this attachment created it and no filter is left on either hook.
 */
export class TcAttachment implements Disposable {
  readonly ifindex: number;
  readonly direction: TcDirection;
  readonly priority: number;
  readonly handle: number;
  /** Whether attaching created the clsact qdisc (then close() removes it once it is empty). */
  readonly createdQdisc: boolean;
  readonly description: string;
  #socket: NetlinkSocket;

  private constructor(socket: NetlinkSocket, ifindex: number, direction: TcDirection, priority: number, handle: number, createdQdisc: boolean) {
    this.#socket = socket;
    this.ifindex = ifindex;
    this.direction = direction;
    this.priority = priority;
    this.handle = handle;
    this.createdQdisc = createdQdisc;
    this.description = `tc ${direction} filter on ifindex ${ifindex} (bpf direct-action, pref ${priority} handle 0x${handle.toString(16)}, netlink)`;
  }

  static attach(program: BpfProgram, ifindex: number, direction: TcDirection, options: TcFilterOptions = {}): TcAttachment {
    const socket = NetlinkSocket.open();
    let createdQdisc = false;
    try {
      createdQdisc = addClsact(socket, ifindex);
      const replies = socket.request(`tc filter add (${direction}) on ifindex ${ifindex}`, RtmType.NEWTFILTER, NlmFlag.CREATE | NlmFlag.EXCL | NlmFlag.ECHO,
        tcmsg(ifindex, HOOK_PARENT[direction], options.handle ?? 0, filterInfo(options.priority ?? 0)), [
          stringAttr(TCA_KIND, 'bpf'),
          nestedAttr(TCA_OPTIONS, [
            u32Attr(TCA_BPF_FD, program.fd), stringAttr(TCA_BPF_NAME, options.name ?? (program.name || 'tsbpf')), u32Attr(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT),
          ]),
        ]);
      // The echoed filter carries the priority and handle the kernel chose (deleting with priority 0
      // would remove every filter on the hook, so guessing is not an option).
      const echoed = replies.find((m) => m.type === RtmType.NEWTFILTER);
      if (!echoed) throw new TsbpfError('linux/netlink-bad-reply', `tc filter add on ifindex ${ifindex}: the kernel did not echo the new filter`);
      const filter = decodeFilter(direction, echoed);
      return new TcAttachment(socket, ifindex, direction, filter.priority, filter.handle, createdQdisc);
    } catch (e) {
      if (createdQdisc) {
        try {
          deleteClsact(socket, ifindex);
        } catch {
          // The attach error is the one to report; a failed clean-up must not hide it.
        }
      }
      socket.close();
      throw e;
    }
  }

  get attached(): boolean {
    return !this.#socket.closed;
  }

  /** This filter as the kernel lists it now, or undefined if it is gone. */
  info(): TcFilterInfo | undefined {
    if (this.#socket.closed) throw new ClosedObjectError(this.description);
    return listTcFilters(this.ifindex, this.direction, this.#socket).find((f) => f.priority === this.priority && f.handle === this.handle);
  }

  /**
   * Deletes the filter (already gone: nothing to do), then the clsact qdisc if we created it and it is
   * empty. Other failures are thrown; the attachment counts as closed all the same.
   */
  close(): void {
    if (this.#socket.closed) return;
    const socket = this.#socket;
    try {
      try {
        socket.request(`tc filter del (${this.direction}) on ifindex ${this.ifindex}`, RtmType.DELTFILTER, 0,
          tcmsg(this.ifindex, HOOK_PARENT[this.direction], this.handle, filterInfo(this.priority)), [stringAttr(TCA_KIND, 'bpf')]);
      } catch (e) {
        const gone = e instanceof NetlinkError && (e.errno === Errno.ENOENT || e.errno === Errno.EINVAL || e.errno === Errno.ENODEV);
        if (!gone) throw e;
      }
      if (this.createdQdisc && listTcFilters(this.ifindex, 'ingress', socket).length === 0 && listTcFilters(this.ifindex, 'egress', socket).length === 0) {
        try {
          deleteClsact(socket, this.ifindex);
        } catch (e) {
          if (!(e instanceof NetlinkError && (e.errno === Errno.ENOENT || e.errno === Errno.EINVAL || e.errno === Errno.ENODEV))) throw e;
        }
      }
    } finally {
      socket.close();
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** A direct-action cls_bpf filter on an interface of the calling thread's network namespace. */
export function attachTcNetlink(program: BpfProgram, ifindex: number, direction: TcDirection, options: TcFilterOptions = {}): TcAttachment {
  return TcAttachment.attach(program, ifindex, direction, options);
}
