import { TsbpfError } from '../errors.js';
import { XdpMode, type XdpModeName } from './constants.js';
import { Errno } from './errno.js';
import { BpfSyscallError, ClosedObjectError } from './errors.js';
import { closeFd, dupFd, lastErrno } from './libc.js';
import {
  attrU32, attrU8, nestedAttr, NetlinkError, NetlinkSocket, parseAttrs, RtmType, s32Attr, u32Attr, type NlAttr,
} from './netlink.js';
import type { BpfProgram } from './program.js';

/**
 * XDP through rtnetlink (RTM_SETLINK with IFLA_XDP), the attachment every kernel since 4.8 has and the
 * one `ip link set dev X xdp ...` makes. Unlike an XDP link it outlives the process unless detached:
 * XdpAttachment detaches on close(), and only if its own program is still the one attached.
 */

const IFLA_XDP = 43;
const IFLA_XDP_FD = 1;
const IFLA_XDP_ATTACHED = 2;
const IFLA_XDP_FLAGS = 3;
const IFLA_XDP_PROG_ID = 4;
const IFLA_XDP_DRV_PROG_ID = 5;
const IFLA_XDP_SKB_PROG_ID = 6;
const IFLA_XDP_HW_PROG_ID = 7;
const IFLA_XDP_EXPECTED_FD = 8;

/** XDP_FLAGS_UPDATE_IF_NOEXIST: refuse (EBUSY) when a program is already attached in the mode. */
const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
/** XDP_FLAGS_REPLACE: change only if IFLA_XDP_EXPECTED_FD is the program attached now (else EEXIST). */
const XDP_FLAGS_REPLACE = 1 << 4;

/** IFLA_XDP_ATTACHED values (XDP_ATTACHED_*), by what they mean. */
const ATTACHED_MODES = ['none', 'native', 'generic', 'offload', 'multi'] as const;
export type XdpAttachedMode = (typeof ATTACHED_MODES)[number];

export interface XdpQuery {
  /** What IFLA_XDP_ATTACHED reports: one mode, several (`multi`), or none. */
  attached: XdpAttachedMode;
  /** The program id when exactly one mode has a program. */
  progId?: number;
  /** Program id per mode with a program (netlink or link attachments alike). */
  byMode: Partial<Record<XdpModeName, number>>;
}

/** struct ifinfomsg for one interface (family AF_UNSPEC). */
function ifinfomsg(ifindex: number): Uint8Array {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setInt32(4, ifindex, true);
  return bytes;
}

/** The XDP state of an interface (RTM_GETLINK), through `socket` or a socket of the calling thread's namespace. */
export function queryXdp(ifindex: number, socket?: NetlinkSocket): XdpQuery {
  const own = socket ? undefined : NetlinkSocket.open();
  try {
    const replies = (socket ?? own!).request(`XDP query of ifindex ${ifindex}`, RtmType.GETLINK, 0, ifinfomsg(ifindex));
    const link = replies.find((m) => m.type === RtmType.NEWLINK);
    if (!link) throw new TsbpfError('linux/netlink-bad-reply', `RTM_GETLINK for ifindex ${ifindex} returned no link`);
    const xdpBytes = parseAttrs(link.body.subarray(16)).get(IFLA_XDP);
    if (!xdpBytes) return { attached: 'none', byMode: {} };
    const xdp = parseAttrs(xdpBytes);
    const byMode: Partial<Record<XdpModeName, number>> = {};
    for (const [mode, type] of [['native', IFLA_XDP_DRV_PROG_ID], ['generic', IFLA_XDP_SKB_PROG_ID], ['offload', IFLA_XDP_HW_PROG_ID]] as const) {
      const id = attrU32(xdp, type);
      if (id) byMode[mode] = id;
    }
    const progId = attrU32(xdp, IFLA_XDP_PROG_ID);
    return { attached: ATTACHED_MODES[attrU8(xdp, IFLA_XDP_ATTACHED) ?? 0] ?? 'multi', ...(progId ? { progId } : {}), byMode };
  } finally {
    own?.close();
  }
}

function setXdp(socket: NetlinkSocket, what: string, ifindex: number, attrs: readonly NlAttr[]): void {
  socket.request(what, RtmType.SETLINK, 0, ifinfomsg(ifindex), [nestedAttr(IFLA_XDP, attrs)]);
}

function duplicate(program: BpfProgram): number {
  const fd = dupFd(program.fd);
  if (fd < 0) throw new BpfSyscallError('fcntl(F_DUPFD_CLOEXEC)', lastErrno(), `program ${program.name || '(unnamed)'}`);
  return fd;
}

/**
 * An XDP program attached over netlink. Holds its own reference to the attached program (so detach
 * and replace can name it as the expected one) and its own netlink socket (so it detaches in the
 * namespace it attached in, whichever thread calls close()).
 */
export class XdpAttachment implements Disposable {
  readonly ifindex: number;
  readonly mode: XdpModeName;
  readonly description: string;
  #socket: NetlinkSocket;
  #programFd: number;

  private constructor(socket: NetlinkSocket, ifindex: number, mode: XdpModeName, programFd: number) {
    this.#socket = socket;
    this.ifindex = ifindex;
    this.mode = mode;
    this.#programFd = programFd;
    this.description = `xdp on ifindex ${ifindex} (${mode}, netlink)`;
  }

  /** Attaches with XDP_FLAGS_UPDATE_IF_NOEXIST: an interface that already runs XDP in this mode refuses (EBUSY). */
  static attach(program: BpfProgram, ifindex: number, mode: XdpModeName): XdpAttachment {
    const socket = NetlinkSocket.open();
    let programFd = -1;
    try {
      programFd = duplicate(program);
      setXdp(socket, `XDP attach (${mode}) on ifindex ${ifindex}`, ifindex, [
        s32Attr(IFLA_XDP_FD, programFd), u32Attr(IFLA_XDP_FLAGS, XdpMode[mode] | XDP_FLAGS_UPDATE_IF_NOEXIST),
      ]);
    } catch (e) {
      closeFd(programFd);
      socket.close();
      throw e;
    }
    return new XdpAttachment(socket, ifindex, mode, programFd);
  }

  get attached(): boolean {
    return !this.#socket.closed;
  }

  /** The interface's XDP state now (through this attachment's namespace). */
  query(): XdpQuery {
    this.#assertOpen();
    return queryXdp(this.ifindex, this.#socket);
  }

  /** The id of the program attached in this attachment's mode, if any. */
  attachedProgramId(): number | undefined {
    return this.query().byMode[this.mode];
  }

  /** Swaps in `program` atomically, only if this attachment's program is still the one running (else EEXIST). */
  replace(program: BpfProgram): void {
    this.#assertOpen();
    const fd = duplicate(program);
    try {
      setXdp(this.#socket, `XDP replace (${this.mode}) on ifindex ${this.ifindex}`, this.ifindex, [
        s32Attr(IFLA_XDP_FD, fd), s32Attr(IFLA_XDP_EXPECTED_FD, this.#programFd), u32Attr(IFLA_XDP_FLAGS, XdpMode[this.mode] | XDP_FLAGS_REPLACE),
      ]);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    closeFd(this.#programFd);
    this.#programFd = fd;
  }

  /**
   * Detaches, unless another program has replaced ours meanwhile (that one stays) or the interface is
   * gone. Other failures (EPERM ...) are thrown, and the attachment counts as closed all the same.
   */
  close(): void {
    if (this.#socket.closed) return;
    try {
      setXdp(this.#socket, `XDP detach (${this.mode}) from ifindex ${this.ifindex}`, this.ifindex, [
        s32Attr(IFLA_XDP_FD, -1), s32Attr(IFLA_XDP_EXPECTED_FD, this.#programFd), u32Attr(IFLA_XDP_FLAGS, XdpMode[this.mode] | XDP_FLAGS_REPLACE),
      ]);
    } catch (e) {
      const gone = e instanceof NetlinkError && (e.errno === Errno.EEXIST || e.errno === Errno.ENODEV);
      if (!gone) throw e;
    } finally {
      this.#socket.close();
      closeFd(this.#programFd);
      this.#programFd = -1;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): void {
    if (this.#socket.closed) throw new ClosedObjectError(this.description);
  }
}

/** XDP on an interface of the calling thread's network namespace, over netlink. */
export function attachXdpNetlink(program: BpfProgram, ifindex: number, mode: XdpModeName = 'generic'): XdpAttachment {
  return XdpAttachment.attach(program, ifindex, mode);
}
