import { TsbpfError } from '../errors.js';
import { LinkCreateAttr, LinkDetachAttr, LinkUpdateAttr, ProgAttachAttr, RawTracepointAttr } from './attr.js';
import { openPinned, pinFd } from './bpffs.js';
import { AttachType, LinkType, nameOf, XdpMode, type AttachTypeName, type XdpModeName } from './constants.js';
import { BpfSyscallError } from './errors.js';
import { FdObject } from './fd.js';
import { readNumber } from './layout.js';
import { LinkInfoLayout } from './info.js';
import { closeFd, lastErrno, libc } from './libc.js';
import { fdFromId, objectIds, objectInfo } from './objects.js';
import { PerfIoctl, PerfType, perfEventOpen, perfIoctl, tracepointId } from './perf.js';
import type { BpfProgram } from './program.js';
import { bpf } from './syscall.js';

/** BPF_F_REPLACE (1 << 2): LINK_UPDATE only if the link still runs the expected old program. */
const BPF_F_REPLACE = 1 << 2;

export interface LinkInfo {
  id: number;
  type: number;
  typeName: string;
  progId: number;
  /** xdp / tcx / netkit: the interface index. */
  ifindex?: number;
}

/**
 * An attachment that lives as long as its fd: closing the link detaches the program (unless the link
 * was pinned, in which case the pin keeps it alive).
 */
export class BpfLink extends FdObject {
  readonly description: string;
  /** Extra fd this link owns (the perf event of a tracepoint link), closed after the link. */
  #companionFd: number;

  constructor(fd: number, description: string, companionFd = -1) {
    super(fd);
    this.description = description;
    this.#companionFd = companionFd;
  }

  static fromPin(path: string): BpfLink {
    return new BpfLink(openPinned(path), `pinned link ${path}`);
  }

  static fromId(id: number): BpfLink | undefined {
    const fd = fdFromId('link', id);
    return fd === undefined ? undefined : new BpfLink(fd, `link ${id}`);
  }

  static ids(): Generator<number> {
    return objectIds('link');
  }

  protected describe(): string {
    return this.description;
  }

  protected override onClose(): void {
    const fd = this.#companionFd;
    this.#companionFd = -1;
    // Runs after the link fd is closed, so the program is detached before its perf event goes away.
    closeFd(fd);
  }

  info(): LinkInfo {
    const info = objectInfo(this.fd, LinkInfoLayout);
    const type = readNumber(info, 'type');
    const out: LinkInfo = { id: readNumber(info, 'id'), type, typeName: nameOf(LinkType, type), progId: readNumber(info, 'prog_id') };
    if (type === LinkType.XDP || type === LinkType.TCX || type === LinkType.NETKIT) out.ifindex = readNumber(info, 'union_u32_0');
    return out;
  }

  pin(path: string): void {
    pinFd(this.fd, path);
  }

  /** Swaps the program behind the link atomically (BPF_LINK_UPDATE). */
  update(program: BpfProgram, expectedOld?: BpfProgram): void {
    bpf('LINK_UPDATE', LinkUpdateAttr, {
      link_fd: this.fd, new_prog_fd: program.fd, old_prog_fd: expectedOld?.fd ?? 0, flags: expectedOld ? BPF_F_REPLACE : 0,
    });
  }

  /** Detaches now, even if the link is pinned or its fd shared; the fd stays open (BPF_LINK_DETACH). */
  detach(): void {
    bpf('LINK_DETACH', LinkDetachAttr, { link_fd: this.fd });
  }
}

function linkCreate(program: BpfProgram, targetFd: number, attachType: number, flags: number, description: string,
  extra: { relativeFd?: number; cookie?: bigint } = {}): BpfLink {
  const { ret } = bpf('LINK_CREATE', LinkCreateAttr, {
    prog_fd: program.fd, target_fd: targetFd, attach_type: attachType, flags,
    ...(extra.relativeFd !== undefined ? { relative_fd: extra.relativeFd } : {}),
    ...(extra.cookie !== undefined ? { bpf_cookie: extra.cookie } : {}),
  });
  return new BpfLink(ret, description);
}

/** XDP on an interface (of the calling thread's network namespace) as a link. */
export function attachXdp(program: BpfProgram, ifindex: number, mode: XdpModeName = 'generic'): BpfLink {
  return linkCreate(program, ifindex, AttachType.XDP, XdpMode[mode], `xdp link on ifindex ${ifindex} (${mode})`);
}

/** tcx ingress/egress link (Linux 6.6+). */
export function attachTcx(program: BpfProgram, ifindex: number, direction: 'ingress' | 'egress'): BpfLink {
  const type = direction === 'ingress' ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS;
  return linkCreate(program, ifindex, type, 0, `tcx ${direction} link on ifindex ${ifindex}`);
}

/** Any other LINK_CREATE attachment (cgroup, netns, iter ...): target fd and attach type as the kernel wants them. */
export function attachLink(program: BpfProgram, targetFd: number, attachType: AttachTypeName | number, flags = 0): BpfLink {
  const type = typeof attachType === 'number' ? attachType : AttachType[attachType];
  return linkCreate(program, targetFd, type, flags, `${nameOf(AttachType, type)} link`);
}

/** A raw tracepoint (BPF_RAW_TRACEPOINT_OPEN), e.g. `sys_enter`. */
export function attachRawTracepoint(program: BpfProgram, name: string): BpfLink {
  const { ret } = bpf('RAW_TRACEPOINT_OPEN', RawTracepointAttr, {
    name: new TextEncoder().encode(name + '\0'), prog_fd: program.fd,
  });
  return new BpfLink(ret, `raw tracepoint ${name}`);
}

/**
 * Binds a program to an open perf event as a BPF_PERF_EVENT link (5.15+), falling back to
 * PERF_EVENT_IOC_SET_BPF on older kernels. Takes ownership of `perfFd` (closed with the link, or at
 * once on failure).
 */
export function attachPerfEvent(program: BpfProgram, perfFd: number, description: string, cookie?: bigint): BpfLink {
  try {
    const { ret } = bpf('LINK_CREATE', LinkCreateAttr, {
      prog_fd: program.fd, target_fd: perfFd, attach_type: AttachType.PERF_EVENT, bpf_cookie: cookie ?? 0n,
    });
    return new BpfLink(ret, description, perfFd);
  } catch (err) {
    if (!(err instanceof BpfSyscallError) || err.errnoName !== 'EINVAL') {
      closeFd(perfFd);
      throw err;
    }
  }
  try {
    perfIoctl(perfFd, PerfIoctl.SET_BPF, program.fd);
    perfIoctl(perfFd, PerfIoctl.ENABLE);
  } catch (err) {
    closeFd(perfFd);
    throw err;
  }
  // The perf event fd itself is the attachment: closing it detaches.
  return new BpfLink(perfFd, description);
}

/** A tracefs tracepoint (`syscalls/sys_enter_getpid`) through a perf event. */
export function attachTracepoint(program: BpfProgram, category: string, name: string, cookie?: bigint): BpfLink {
  const perfFd = perfEventOpen({ type: PerfType.TRACEPOINT, config: tracepointId(category, name), pid: -1, cpu: 0 });
  return attachPerfEvent(program, perfFd, `tracepoint ${category}/${name}`, cookie);
}

/** Legacy attachment (BPF_PROG_ATTACH) for hooks without links, e.g. cgroup or sockmap. */
export function progAttach(program: BpfProgram, targetFd: number, attachType: AttachTypeName | number, flags = 0): void {
  const type = typeof attachType === 'number' ? attachType : AttachType[attachType];
  bpf('PROG_ATTACH', ProgAttachAttr, { target_fd: targetFd, attach_bpf_fd: program.fd, attach_type: type, attach_flags: flags });
}

export function progDetach(program: BpfProgram, targetFd: number, attachType: AttachTypeName | number): void {
  const type = typeof attachType === 'number' ? attachType : AttachType[attachType];
  bpf('PROG_DETACH', ProgAttachAttr, { target_fd: targetFd, attach_bpf_fd: program.fd, attach_type: type });
}

const SOL_SOCKET = 1;
const SO_ATTACH_BPF = 50;
const SO_DETACH_BPF = 27;

/** A socket filter on a socket (setsockopt SO_ATTACH_BPF); `close()` detaches it. Does not own the socket. */
export class SocketFilterAttachment implements Disposable {
  readonly socketFd: number;
  #attached = true;

  constructor(socketFd: number, program: BpfProgram) {
    const value = new Uint8Array(new Int32Array([program.fd]).buffer);
    if (libc().setsockopt(socketFd, SOL_SOCKET, SO_ATTACH_BPF, value, 4) < 0) {
      throw new BpfSyscallError('setsockopt(SO_ATTACH_BPF)', lastErrno(), `socket fd ${socketFd}`);
    }
    this.socketFd = socketFd;
  }

  get attached(): boolean {
    return this.#attached;
  }

  close(): void {
    if (!this.#attached) return;
    this.#attached = false;
    const dummy = new Uint8Array(4);
    // ENOENT here means the socket already lost its filter (or was closed): nothing left to undo.
    libc().setsockopt(this.socketFd, SOL_SOCKET, SO_DETACH_BPF, dummy, 4);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export function attachSocketFilter(socketFd: number, program: BpfProgram): SocketFilterAttachment {
  if (!Number.isInteger(socketFd) || socketFd < 0) throw new TsbpfError('linux/bad-socket', `bad socket fd ${socketFd}`);
  return new SocketFilterAttachment(socketFd, program);
}
