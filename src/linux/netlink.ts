import { TsbpfError } from '../errors.js';
import { Errno } from './errno.js';
import { BpfSyscallError, ClosedObjectError } from './errors.js';
import { closeFd, lastErrno, libc } from './libc.js';

/**
 * rtnetlink (NETLINK_ROUTE) over a raw socket: messages with attribute tables, one request at a time,
 * replies collected until the kernel's ack, dump end or error. Errors carry the kernel's extended-ack
 * text ("XDP program already attached"), which says far more than the errno.
 *
 * A socket belongs to the network namespace of the thread that opened it, for its whole life: an
 * attachment keeps its socket so it can detach later from any thread.
 */

/** Message types (linux/rtnetlink.h, linux/netlink.h). */
export const RtmType = {
  NEWLINK: 16, GETLINK: 18, SETLINK: 19,
  NEWQDISC: 36, DELQDISC: 37,
  NEWTFILTER: 44, DELTFILTER: 45, GETTFILTER: 46,
} as const;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;

/** nlmsg_flags: the request bits, then the modifiers of NEW (create) and GET (dump) requests. */
export const NlmFlag = {
  REQUEST: 0x1, ACK: 0x4, ECHO: 0x8,
  EXCL: 0x200, CREATE: 0x400,
  DUMP: 0x300,
} as const;
/** In an error message: the echoed request was cut to its header / extended-ack attributes follow. */
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;

const NLMSGERR_ATTR_MSG = 1;

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;

const HEADER_SIZE = 16;
const NLA_HEADER_SIZE = 4;
const NLA_F_NESTED = 0x8000;
const NLA_TYPE_MASK = 0x3fff;
/** How long a request may wait for its reply before it counts as lost (rtnetlink answers at once). */
const REPLY_TIMEOUT_SECONDS = 5;

const align4 = (n: number): number => (n + 3) & ~3;

/** A netlink request refused by the kernel: errno plus the kernel's own explanation when it gave one. */
export class NetlinkError extends BpfSyscallError {
  override name = 'NetlinkError';
  /** The extended-ack message (NLMSGERR_ATTR_MSG), e.g. "Active program does not match expected". */
  readonly kernelMessage: string | undefined;

  constructor(request: string, errno: number, kernelMessage?: string) {
    super(request, errno, kernelMessage ? `kernel says "${kernelMessage}"` : undefined);
    this.kernelMessage = kernelMessage;
  }
}

/** One attribute to encode: a payload, or nested attributes. */
export interface NlAttr {
  readonly type: number;
  readonly value: Uint8Array | readonly NlAttr[];
}

export const u8Attr = (type: number, value: number): NlAttr => ({ type, value: Uint8Array.of(value) });
export const u32Attr = (type: number, value: number): NlAttr => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value >>> 0, true);
  return { type, value: bytes };
};
export const s32Attr = (type: number, value: number): NlAttr => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return { type, value: bytes };
};
export const stringAttr = (type: number, value: string): NlAttr => ({ type, value: new TextEncoder().encode(value + '\0') });
export const nestedAttr = (type: number, children: readonly NlAttr[]): NlAttr => ({ type, value: children });

function attrSize(a: NlAttr): number {
  return NLA_HEADER_SIZE + (a.value instanceof Uint8Array ? align4(a.value.byteLength) : attrsSize(a.value));
}
function attrsSize(list: readonly NlAttr[]): number {
  return list.reduce((sum, a) => sum + attrSize(a), 0);
}

/** Writes attributes at `offset`; returns the offset after them. */
function writeAttrs(view: DataView, offset: number, list: readonly NlAttr[]): number {
  for (const a of list) {
    const start = offset;
    offset += NLA_HEADER_SIZE;
    let length: number;
    if (a.value instanceof Uint8Array) {
      new Uint8Array(view.buffer, view.byteOffset + offset, a.value.byteLength).set(a.value);
      length = NLA_HEADER_SIZE + a.value.byteLength;
      offset += align4(a.value.byteLength);
    } else {
      offset = writeAttrs(view, offset, a.value);
      length = offset - start;
    }
    view.setUint16(start, length, true);
    view.setUint16(start + 2, a.type | (a.value instanceof Uint8Array ? 0 : NLA_F_NESTED), true);
  }
  return offset;
}

/** A whole message: header, the fixed family header (ifinfomsg, tcmsg ...), attributes. */
export function encodeMessage(type: number, flags: number, seq: number, familyHeader: Uint8Array, attrs: readonly NlAttr[]): Uint8Array {
  const size = HEADER_SIZE + align4(familyHeader.byteLength) + attrsSize(attrs);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, size, true);
  view.setUint16(4, type, true);
  view.setUint16(6, flags, true);
  view.setUint32(8, seq, true);
  bytes.set(familyHeader, HEADER_SIZE);
  writeAttrs(view, HEADER_SIZE + align4(familyHeader.byteLength), attrs);
  return bytes;
}

/** Attributes of a message part by type (flags stripped); the last one wins, as in the kernel's nla_parse. */
export function parseAttrs(bytes: Uint8Array): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + NLA_HEADER_SIZE <= bytes.byteLength) {
    const length = view.getUint16(offset, true);
    if (length < NLA_HEADER_SIZE || offset + length > bytes.byteLength) {
      throw new TsbpfError('linux/netlink-bad-reply', `malformed netlink attribute (length ${length})`, { offset });
    }
    out.set(view.getUint16(offset + 2, true) & NLA_TYPE_MASK, bytes.subarray(offset + NLA_HEADER_SIZE, offset + length));
    offset += align4(length);
  }
  return out;
}

export function attrU32(attrs: ReadonlyMap<number, Uint8Array>, type: number): number | undefined {
  const b = attrs.get(type);
  return b && b.byteLength >= 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : undefined;
}
export function attrU8(attrs: ReadonlyMap<number, Uint8Array>, type: number): number | undefined {
  return attrs.get(type)?.[0];
}
export function attrString(attrs: ReadonlyMap<number, Uint8Array>, type: number): string | undefined {
  const b = attrs.get(type);
  if (!b) return undefined;
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

/** A received message: type, flags and what follows the 16-byte header. */
export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly body: Uint8Array;
}

export function splitMessages(bytes: Uint8Array): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset + HEADER_SIZE <= bytes.byteLength) {
    const length = view.getUint32(offset, true);
    if (length < HEADER_SIZE || offset + length > bytes.byteLength) {
      throw new TsbpfError('linux/netlink-bad-reply', `malformed netlink message (length ${length})`, { offset });
    }
    out.push({
      type: view.getUint16(offset + 4, true), flags: view.getUint16(offset + 6, true), seq: view.getUint32(offset + 8, true),
      body: bytes.subarray(offset + HEADER_SIZE, offset + length),
    });
    offset += align4(length);
  }
  return out;
}

/** An NLMSG_ERROR body: errno (0 for an ack) and the extended-ack message when present. */
export function parseErrorMessage(message: NetlinkMessage): { errno: number; kernelMessage?: string } {
  const view = new DataView(message.body.buffer, message.body.byteOffset, message.body.byteLength);
  const errno = -view.getInt32(0, true);
  if (!(message.flags & NLM_F_ACK_TLVS)) return { errno };
  // struct nlmsgerr { int error; struct nlmsghdr msg; } then the echoed payload unless capped.
  const echoedLength = view.getUint32(4, true);
  const tlvStart = 4 + (message.flags & NLM_F_CAPPED ? HEADER_SIZE : align4(echoedLength));
  const attrs = parseAttrs(message.body.subarray(Math.min(tlvStart, message.body.byteLength)));
  const kernelMessage = attrString(attrs, NLMSGERR_ATTR_MSG);
  return { errno, ...(kernelMessage ? { kernelMessage } : {}) };
}

function setIntOption(fd: number, level: number, option: number, value: number): boolean {
  return libc().setsockopt(fd, level, option, new Uint8Array(new Int32Array([value]).buffer), 4) === 0;
}

/** An rtnetlink socket of the calling thread's network namespace. */
export class NetlinkSocket implements Disposable {
  #fd: number;
  #seq = 1;
  #buffer = new Uint8Array(32 * 1024);

  private constructor(fd: number) {
    this.#fd = fd;
  }

  static open(): NetlinkSocket {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new BpfSyscallError('socket(AF_NETLINK, NETLINK_ROUTE)', lastErrno());
    try {
      // Extended acks are best effort (4.12+); capped acks keep error replies small.
      setIntOption(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1);
      setIntOption(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1);
      const timeout = new Uint8Array(16);
      new DataView(timeout.buffer).setBigInt64(0, BigInt(REPLY_TIMEOUT_SECONDS), true);
      c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, 16);
      const address = new Uint8Array(12);
      new DataView(address.buffer).setUint16(0, AF_NETLINK, true);
      if (c.bind(fd, address, 12) < 0) throw new BpfSyscallError('bind(AF_NETLINK)', lastErrno());
    } catch (e) {
      closeFd(fd);
      throw e;
    }
    return new NetlinkSocket(fd);
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Sends one request, acked, and returns the messages before the ack (a GET's answer, an ECHO's
   * copy). A kernel error throws NetlinkError naming `what`.
   */
  request(what: string, type: number, flags: number, familyHeader: Uint8Array, attrs: readonly NlAttr[] = []): NetlinkMessage[] {
    return this.#exchange(what, type, NlmFlag.ACK | flags, familyHeader, attrs);
  }

  /** A dump request (GET with NLM_F_DUMP): every message up to NLMSG_DONE. */
  dump(what: string, type: number, familyHeader: Uint8Array): NetlinkMessage[] {
    return this.#exchange(what, type, NlmFlag.DUMP, familyHeader, []);
  }

  #exchange(what: string, type: number, flags: number, familyHeader: Uint8Array, attrs: readonly NlAttr[]): NetlinkMessage[] {
    if (this.#fd < 0) throw new ClosedObjectError(`netlink socket (for ${what})`);
    const seq = this.#seq++;
    const message = encodeMessage(type, NlmFlag.REQUEST | flags, seq, familyHeader, attrs);
    const kernel = new Uint8Array(12);
    new DataView(kernel.buffer).setUint16(0, AF_NETLINK, true);
    if (libc().sendto(this.#fd, message, message.byteLength, 0, kernel, 12) < 0) throw new BpfSyscallError(`sendto(netlink ${what})`, lastErrno());
    const replies: NetlinkMessage[] = [];
    for (;;) {
      for (const m of splitMessages(this.#receive(what))) {
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_ERROR) {
          const { errno, kernelMessage } = parseErrorMessage(m);
          if (errno !== 0) throw new NetlinkError(`${what} (${describeRequest(type)})`, errno, kernelMessage);
          return replies;
        }
        if (m.type === NLMSG_DONE) {
          const errno = m.body.byteLength >= 4 ? -new DataView(m.body.buffer, m.body.byteOffset).getInt32(0, true) : 0;
          if (errno > 0) throw new NetlinkError(`${what} (${describeRequest(type)} dump)`, errno);
          return replies;
        }
        replies.push(m);
      }
    }
  }

  /** One datagram, the buffer grown first when the kernel's next one is larger (peeked with MSG_TRUNC). */
  #receive(what: string): Uint8Array {
    const c = libc();
    for (;;) {
      const size = c.recv(this.#fd, this.#buffer, this.#buffer.byteLength, MSG_PEEK | MSG_TRUNC);
      if (size < 0) {
        const errno = lastErrno();
        if (errno === Errno.EINTR) continue;
        if (errno === Errno.EAGAIN) throw new BpfSyscallError(`recv(netlink ${what})`, errno, `no reply from the kernel within ${REPLY_TIMEOUT_SECONDS} s`);
        throw new BpfSyscallError(`recv(netlink ${what})`, errno);
      }
      if (size > this.#buffer.byteLength) this.#buffer = new Uint8Array(align4(size));
      const n = c.recv(this.#fd, this.#buffer, this.#buffer.byteLength, 0);
      if (n < 0) throw new BpfSyscallError(`recv(netlink ${what})`, lastErrno());
      return this.#buffer.slice(0, n);
    }
  }

  close(): void {
    closeFd(this.#fd);
    this.#fd = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function describeRequest(type: number): string {
  for (const [name, value] of Object.entries(RtmType)) if (value === type) return `RTM_${name}`;
  return `netlink message type ${type}`;
}
