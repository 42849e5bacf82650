import { ObjectArrayMap } from '../maps/array.js';
import { ObjectHashMap } from '../maps/hash.js';
import { copyBytes, zeroBytes } from '../maps/bytes.js';
import { Errno } from '../maps/spec.js';
import type { HelperIdName } from '../uapi/helper-ids.js';
import { argHi, argI32, argNumber, argPointer, argU32, setReturnNumber, type HelperCall } from '../vm/abi.js';
import { ExecutionError } from '../vm/engine.js';
import { checkMemory, mapArg, perfEventOutput, taskCgroupId, type HelperImpl } from './base.js';
import type { ExecEnv, PacketState } from './env.js';

/**
 * Helpers that read or change the packet: skb_* for socket filters and tc, xdp_* for XDP, the
 * checksum helpers and redirects. They work on env.packet (one region with head- and tailroom) and
 * ask the runtime to rewrite the context's data/data_end/data_meta/len after moving bounds.
 */

type Call = HelperCall<ExecEnv>;

export const ETH_HLEN = 14;
/** sizeof(struct xdp_frame): XDP keeps this much headroom for itself. */
export const XDP_FRAME_SIZE = 40;
/** sizeof(struct skb_shared_info) rounded as the kernel reserves it at the end of an XDP frame. */
export const XDP_TAILROOM = 320;

export const XdpAction = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
export const TC_ACT_REDIRECT = 7;
export const TC_ACT_SHOT = 2;

const BPF_F_RECOMPUTE_CSUM = 1;
const BPF_F_INVALIDATE_HASH = 2;
const BPF_F_HDR_FIELD_MASK = 0xf;
const BPF_F_PSEUDO_HDR = 0x10;
const BPF_F_MARK_MANGLED_0 = 0x20;
const BPF_F_MARK_ENFORCE = 0x40;
const BPF_F_IPV6 = 0x80;
const BPF_F_INGRESS = 1;
const ETH_P_8021Q = 0x8100;
const ETH_P_8021AD = 0x88a8;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

/** One fragment of a multi-buffer XDP frame: a page holding `size` bytes from its start. */
export interface XdpFragment {
  bytes: Uint8Array;
  size: number;
}

/** A fragment's page: what an XDP fragment can grow to (the test-run rxq's frag_size). */
const XDP_FRAG_SIZE = 4096;
const fragmentsOf = new WeakMap<PacketState, XdpFragment[]>();

/** Attach fragments (the bytes past the linear part) to an XDP packet. */
export function setXdpFragments(packet: PacketState, fragments: XdpFragment[]): void {
  fragmentsOf.set(packet, fragments);
}

export function xdpFragments(packet: PacketState): readonly XdpFragment[] {
  return fragmentsOf.get(packet) ?? [];
}

const xdpBufferLength = (packet: PacketState): number =>
  packet.dataEnd - packet.data + xdpFragments(packet).reduce((n, f) => n + f.size, 0);

/** Copy `len` bytes between memory at `address` and the frame (linear part, then fragments) at `offset`. */
function xdpCopy(call: Call, packet: PacketState, offset: number, address: number, len: number, toPacket: boolean): void {
  const u8 = call.space.u8;
  const segments = [u8.subarray(packet.data, packet.dataEnd), ...xdpFragments(packet).map((f) => f.bytes.subarray(0, f.size))];
  let skip = offset;
  let done = 0;
  for (const segment of segments) {
    if (done === len) break;
    if (skip >= segment.length) {
      skip -= segment.length;
      continue;
    }
    const n = Math.min(segment.length - skip, len - done);
    if (toPacket) segment.set(u8.subarray(address + done, address + done + n), skip);
    else u8.set(segment.subarray(skip, skip + n), address + done);
    done += n;
    skip = 0;
  }
}

function xdpBytes(toPacket: boolean): HelperImpl {
  return (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const address = argPointer(call, 3);
    const len = argU32(call, 4);
    checkMemory(call, address, len, !toPacket);
    if (offset + len > xdpBufferLength(packet)) return setReturnNumber(call, -Errno.EINVAL);
    xdpCopy(call, packet, offset, address, len, toPacket);
    setReturnNumber(call, 0);
  };
}

/** bpf_xdp_adjust_tail on a multi-buffer frame: only the last fragment grows; shrinking frees fragments. */
function adjustFragmentedTail(call: Call, packet: PacketState, fragments: XdpFragment[], delta: number): number {
  if (delta >= 0) {
    const last = fragments[fragments.length - 1]!;
    if (delta > XDP_FRAG_SIZE - last.size) return -Errno.EINVAL;
    last.bytes.fill(0, last.size, last.size + delta);
    last.size += delta;
    return 0;
  }
  let remaining = -delta;
  if (remaining > xdpBufferLength(packet) - ETH_HLEN) return -Errno.EINVAL;
  while (remaining > 0 && fragments.length) {
    const last = fragments[fragments.length - 1]!;
    const cut = Math.min(remaining, last.size);
    last.size -= cut;
    remaining -= cut;
    if (last.size === 0) fragments.pop();
  }
  packet.dataEnd -= remaining;
  return 0;
}

const swap16 = (v: number): number => ((v & 0xff) << 8) | (v >> 8);
const isVlan = (type: number): boolean => type === ETH_P_8021Q || type === ETH_P_8021AD;

const BPF_ADJ_ROOM_NET = 0;
const BPF_ADJ_ROOM_MAC = 1;
/** The BPF_F_ADJ_ROOM_* flags in the low word; the high word only carries the inner L2 length (bits 56..63). */
const ADJ_ROOM_LOW_FLAGS = 0x1ff;
const ADJ_ROOM_ENCAP_L3_IPV4 = 2;
const ADJ_ROOM_ENCAP_L3_IPV6 = 4;
const ADJ_ROOM_ENCAP_L4_GRE = 8;
const ADJ_ROOM_ENCAP_L4_UDP = 16;
const ADJ_ROOM_ENCAP_L2_ETH = 64;
const ADJ_ROOM_DECAP_L3_IPV4 = 128;
const ADJ_ROOM_DECAP_L3_IPV6 = 256;
const BPF_CSUM_LEVEL_QUERY = 0;
const BPF_CSUM_LEVEL_RESET = 3;
/** The largest skb helpers may build: SKB_MAX_ALLOC (a test-run skb has no device whose MTU would apply). */
const SKB_MAX_LEN = 4 * 4096 - 320;

/**
 * Ensure `head` free bytes before data and `tail` after data_end, moving the packet to a bigger
 * region when needed (what skb_cow/pskb_expand_head do). False when the packet cannot move.
 */
function makeRoom(call: Call, packet: PacketState, head: number, tail: number): boolean {
  const region = packet.region;
  const freeHead = packet.meta - region.start;
  const freeTail = region.start + region.size - packet.dataEnd;
  if (freeHead >= head && freeTail >= tail) return true;
  if (call.env.progType.name === 'xdp') return false;
  const length = packet.dataEnd - packet.meta;
  const newHead = Math.max(freeHead, head) + 64;
  const moved = call.space.allocate(newHead + length + Math.max(freeTail, tail) + 64, 'packet', 'packet');
  const start = moved.start + newHead;
  call.space.u8.copyWithin(start, packet.meta, packet.dataEnd);
  const shift = start - packet.meta;
  packet.meta += shift;
  packet.data += shift;
  packet.dataEnd += shift;
  packet.region = moved;
  call.space.release(region);
  return true;
}

/** Insert zeroed (len > 0) or remove (len < 0) bytes at `address` inside the packet; room must exist. */
function resizeAtAddress(call: Call, packet: PacketState, address: number, len: number): void {
  const u8 = call.space.u8;
  if (len > 0) {
    u8.copyWithin(address + len, address, packet.dataEnd);
    u8.fill(0, address, address + len);
  } else {
    u8.copyWithin(address, address - len, packet.dataEnd);
  }
  packet.dataEnd += len;
}

/** The runs whose skb an L3 encapsulation marked (skb->encapsulation): a second one is -EALREADY. */
const encapsulated = new WeakSet<ExecEnv>();
const EALREADY = 114;

/**
 * bpf_skb_adjust_room: open (len_diff > 0) or close room after the MAC header (BPF_ADJ_ROOM_MAC) or
 * after the base network header (BPF_ADJ_ROOM_NET). L3 encapsulation flags switch skb->protocol to
 * the new outer header; decapsulation flags to the inner one. 0 or -errno, checked in the kernel's order.
 */
function adjustRoom(call: Call): number {
  const packet = packetOf(call);
  const skb = skbFields(call);
  const lenDiff = argI32(call, 2);
  const mode = argU32(call, 3);
  const flags = argU32(call, 4);
  const innerMacLength = argHi(call, 4) >>> 24;
  const size = Math.abs(lenDiff);
  if (flags & ~ADJ_ROOM_LOW_FLAGS || argHi(call, 4) & 0x00ffffff) return -Errno.EINVAL;
  if (size > 0xfff) return -Errno.EFAULT;
  const protocol = skb.protocolHost();
  if (protocol !== ETH_P_IP && protocol !== ETH_P_IPV6) return -Errno.ENOTSUPP;
  if (mode !== BPF_ADJ_ROOM_NET && mode !== BPF_ADJ_ROOM_MAC) return -Errno.ENOTSUPP;
  const baseLength = protocol === ETH_P_IP ? 20 : 40;
  let minLength = baseLength;
  const decap = flags & (ADJ_ROOM_DECAP_L3_IPV4 | ADJ_ROOM_DECAP_L3_IPV6);
  if (decap) {
    if (lenDiff >= 0 || decap === (ADJ_ROOM_DECAP_L3_IPV4 | ADJ_ROOM_DECAP_L3_IPV6)) return -Errno.EINVAL;
    minLength = decap === ADJ_ROOM_DECAP_L3_IPV4 ? 20 : 40;
  }
  const mac = () => packet.data - skb.macOffset();
  const networkLength = packet.dataEnd - (mac() + ETH_HLEN);
  if (lenDiff < 0 && (size >= networkLength || networkLength - size < minLength)) return -Errno.ENOTSUPP;
  if (lenDiff > 0 && packet.dataEnd - mac() + size > SKB_MAX_LEN) return -Errno.ENOTSUPP;
  const encapIpv4 = (flags & ADJ_ROOM_ENCAP_L3_IPV4) !== 0;
  const encapIpv6 = (flags & ADJ_ROOM_ENCAP_L3_IPV6) !== 0;
  if (lenDiff < 0 && flags & (ADJ_ROOM_ENCAP_L3_IPV4 | ADJ_ROOM_ENCAP_L3_IPV6 | ADJ_ROOM_ENCAP_L4_GRE | ADJ_ROOM_ENCAP_L4_UDP | ADJ_ROOM_ENCAP_L2_ETH)) return -Errno.EINVAL;
  if (lenDiff > 0 && (encapIpv4 || encapIpv6)) {
    if (encapIpv4 && encapIpv6) return -Errno.EINVAL;
    if (flags & ADJ_ROOM_ENCAP_L4_GRE && flags & ADJ_ROOM_ENCAP_L4_UDP) return -Errno.EINVAL;
    if (flags & ADJ_ROOM_ENCAP_L2_ETH && innerMacLength < ETH_HLEN) return -Errno.EINVAL;
    if (encapsulated.has(call.env)) return -EALREADY;
    if (innerMacLength > lenDiff) return -Errno.EINVAL;
  }
  if (lenDiff > 0 && !makeRoom(call, packet, 0, size)) return -Errno.ENOMEM;
  resizeAtAddress(call, packet, mac() + ETH_HLEN + (mode === BPF_ADJ_ROOM_NET ? baseLength : 0), lenDiff);
  // The protocol follows the outer header an encapsulation adds, or the inner one a decapsulation exposes.
  if (lenDiff > 0 && encapIpv6 && protocol === ETH_P_IP) skb.setProtocolHost(ETH_P_IPV6);
  if (lenDiff > 0 && encapIpv4 && protocol === ETH_P_IPV6) skb.setProtocolHost(ETH_P_IP);
  if (lenDiff > 0 && (encapIpv4 || encapIpv6)) encapsulated.add(call.env);
  // Decapsulating does not clear skb->encapsulation: a later encapsulation is still -EALREADY.
  if (decap) skb.setProtocolHost(decap === ADJ_ROOM_DECAP_L3_IPV4 ? ETH_P_IP : ETH_P_IPV6);
  moved(call);
  return 0;
}

/** INET_ECN_set_ce on the network header: 1 when the packet now carries CE, 0 when it is not ECN-capable. */
function ecnSetCe(call: Call): number {
  const packet = packetOf(call);
  const skb = skbFields(call);
  const view = call.space.view;
  const mac = packet.data - skb.macOffset();
  const net = mac + ETH_HLEN;
  // The protocol under any VLAN tags in the payload; the network header stays where it was set.
  let protocol = skb.protocolHost();
  for (let tag = mac + 12; isVlan(protocol) && tag + 8 <= packet.dataEnd; tag += 4) protocol = view.getUint16(tag + 4, false);
  if (protocol === ETH_P_IP && net + 20 <= packet.dataEnd) {
    const tos = call.space.u8[net + 1]!;
    const ecn = (tos + 1) & 3;
    if (!(ecn & 2)) return ecn === 0 ? 1 : 0;
    const before = view.getUint16(net, true);
    call.space.u8[net + 1] = tos | 3;
    csumReplace(call, net + 10, before, view.getUint16(net, true), 2, false);
    return 1;
  }
  if (protocol === ETH_P_IPV6 && net + 40 <= packet.dataEnd) {
    const word = view.getUint32(net, false);
    if (((word >>> 20) & 3) === 0) return 0;
    view.setUint32(net, (word | (3 << 20)) >>> 0, false);
    return 1;
  }
  return 0;
}

function packetOf(call: Call): PacketState {
  const packet = call.env.packet;
  if (!packet) throw new ExecutionError('vm/no-packet', 'packet helper called by a program without a packet', call.insn);
  return packet;
}

const moved = (call: Call): void => call.env.syncPacket?.();

/** 32-bit ones'-complement add (csum_add). */
const csumAdd = (a: number, b: number): number => {
  const s = (a >>> 0) + (b >>> 0);
  return (s > 0xffffffff ? s - 0xffffffff : s) >>> 0;
};
/** Fold a 32-bit ones'-complement sum to 16 bits (csum_fold without the final inversion). */
const fold16 = (sum: number): number => {
  let s = (sum >>> 16) + (sum & 0xffff);
  s = (s >>> 16) + (s & 0xffff);
  return s & 0xffff;
};
/** csum_partial: memory summed as little-endian 16-bit words (an odd last byte as the low byte), seeded. */
function csumPartial(view: DataView, start: number, length: number, seed: number): number {
  let sum = seed >>> 0;
  let i = 0;
  for (; i + 4 <= length; i += 4) {
    sum += view.getUint32(start + i, true);
    // csum_add's end-around carry.
    if (sum > 0xffffffff) sum -= 0xffffffff;
  }
  if (i + 2 <= length) {
    sum = csumAdd(sum, view.getUint16(start + i, true));
    i += 2;
  }
  if (i < length) sum = csumAdd(sum, view.getUint8(start + i));
  return sum;
}

/** bpf_csum_diff's scratch buffer: from_size + to_size may not exceed it. */
const CSUM_DIFF_MAX = 512;

/** Replace `from` with `to` in the 16-bit checksum at `address` (RFC 1624), values in memory order. */
function csumReplace(call: Call, address: number, from: number, to: number, size: number, udpMangled: boolean): number {
  const view = call.space.view;
  const old = view.getUint16(address, true);
  if (udpMangled && old === 0) return 0;
  let sum = ~old & 0xffff;
  if (size === 0) {
    // `to` is a csum_diff result: a 32-bit ones'-complement difference.
    sum = csumAdd(sum, to);
  } else if (size === 2) {
    sum = csumAdd(csumAdd(sum, ~from & 0xffff), to & 0xffff);
  } else {
    sum = csumAdd(csumAdd(sum, ~from >>> 0), to >>> 0);
  }
  let result = ~fold16(sum) & 0xffff;
  if (udpMangled && result === 0) result = 0xffff;
  view.setUint16(address, result, true);
  return 0;
}

function loadBytes(call: Call): void {
  const packet = packetOf(call);
  const offset = argU32(call, 2);
  const to = argPointer(call, 3);
  const len = argU32(call, 4);
  checkMemory(call, to, len, true);
  const space = call.space;
  if (offset + len > packet.dataEnd - packet.data || len === 0) {
    zeroBytes(space.view, space.u8, to, len);
    return setReturnNumber(call, -Errno.EFAULT);
  }
  copyBytes(space.view, space.u8, to, packet.data + offset, len);
  setReturnNumber(call, 0);
}

const BPF_HDR_START_MAC = 0;
const BPF_HDR_START_NET = 1;

/** bpf_skb_load_bytes_relative: from the MAC or network header; anything else (or out of range) zeroes `to`. */
function loadBytesRelative(call: Call): void {
  const packet = packetOf(call);
  const offset = argU32(call, 2);
  const to = argPointer(call, 3);
  const len = argU32(call, 4);
  const header = argNumber(call, 5);
  checkMemory(call, to, len, true);
  const skb = skbFields(call);
  const mac = packet.data - skb.macOffset();
  const start = header === BPF_HDR_START_MAC ? mac : header === BPF_HDR_START_NET ? mac + ETH_HLEN : -1;
  const space = call.space;
  if (start < 0 || offset > 0xffff || start + offset + len > packet.dataEnd) {
    zeroBytes(space.view, space.u8, to, len);
    return setReturnNumber(call, -Errno.EFAULT);
  }
  copyBytes(space.view, space.u8, to, start + offset, len);
  setReturnNumber(call, 0);
}

function redirectMap(call: Call): void {
  const map = mapArg(call, 1);
  const key = argU32(call, 2);
  const flags = argNumber(call, 3);
  let present = false;
  if (map instanceof ObjectArrayMap) present = map.get(key) !== undefined;
  else if (map instanceof ObjectHashMap) {
    const scratch = call.space.allocate(4, 'scratch', 'redirect key');
    call.space.view.setUint32(scratch.start, key, true);
    present = map.getAt(scratch.start) !== undefined;
    call.space.release(scratch);
  }
  if (!present) return setReturnNumber(call, flags & 3);
  call.env.redirect = { ifindex: 0, flags, map, key };
  setReturnNumber(call, XdpAction.REDIRECT);
}

/** The one device a test run has: the loopback (ifindex 1, MTU 65536, an Ethernet-sized hard header). */
const LOOPBACK = { ifindex: 1, mtu: 65536, hardHeaderLen: ETH_HLEN } as const;
/** BPF_MTU_CHK_SEGS (skb only) and the BPF_MTU_CHK_RET_FRAG_NEEDED verdict. */
const MTU_CHECK_SEGS = 1;
const MTU_FRAG_NEEDED = 1;

/**
 * bpf_check_mtu(ctx, ifindex, *mtu_len, len_diff, flags): would the packet, `len_diff` bytes longer,
 * fit the device's MTU? A non-zero *mtu_len is an L3 length to check instead of the packet's. The
 * device's MTU is written back on every verdict.
 */
const checkMtu: HelperImpl = (call) => {
  const packet = packetOf(call);
  const ifindex = argU32(call, 2);
  const mtuLen = argPointer(call, 3);
  const lenDiff = argI32(call, 4);
  checkMemory(call, mtuLen, 4, true);
  const requested = call.space.view.getUint32(mtuLen, true);
  const flags = argU32(call, 5);
  const allowed = call.env.progType.name === 'xdp' ? 0 : MTU_CHECK_SEGS;
  if (argHi(call, 5) !== 0 || (flags & ~allowed) !== 0) return setReturnNumber(call, -Errno.EINVAL);
  if ((flags & MTU_CHECK_SEGS) !== 0 && (lenDiff !== 0 || requested !== 0)) return setReturnNumber(call, -Errno.EINVAL);
  if (ifindex !== 0 && ifindex !== LOOPBACK.ifindex) return setReturnNumber(call, -Errno.ENODEV);
  const length = (requested !== 0 ? requested + LOOPBACK.hardHeaderLen : packet.dataEnd - packet.data) + lenDiff;
  call.space.view.setUint32(mtuLen, LOOPBACK.mtu, true);
  setReturnNumber(call, length > LOOPBACK.mtu + LOOPBACK.hardHeaderLen ? MTU_FRAG_NEEDED : 0);
};

export const PACKET_HELPERS: Partial<Record<HelperIdName, HelperImpl>> = {
  skb_load_bytes: loadBytes,
  skb_load_bytes_relative: loadBytesRelative,
  xdp_load_bytes: xdpBytes(false),
  skb_store_bytes: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const from = argPointer(call, 3);
    const len = argU32(call, 4);
    const flags = argNumber(call, 5);
    if (flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return setReturnNumber(call, -Errno.EINVAL);
    checkMemory(call, from, len, false);
    if (offset + len > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EFAULT);
    copyBytes(call.space.view, call.space.u8, packet.data + offset, from, len);
    setReturnNumber(call, 0);
  },
  xdp_store_bytes: xdpBytes(true),
  xdp_get_buff_len: (call) => setReturnNumber(call, xdpBufferLength(packetOf(call))),
  l3_csum_replace: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const flags = argNumber(call, 5);
    const size = flags & BPF_F_HDR_FIELD_MASK;
    if (flags & ~BPF_F_HDR_FIELD_MASK || (size !== 0 && size !== 2 && size !== 4)) return setReturnNumber(call, -Errno.EINVAL);
    // The checksum field must be 16-bit aligned.
    if (offset & 1 || offset + 2 > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EFAULT);
    setReturnNumber(call, csumReplace(call, packet.data + offset, argNumber(call, 3), argNumber(call, 4), size, false));
  },
  l4_csum_replace: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const flags = argNumber(call, 5);
    const size = flags & BPF_F_HDR_FIELD_MASK;
    const allowed = BPF_F_HDR_FIELD_MASK | BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_IPV6;
    if (flags & ~allowed || (size !== 0 && size !== 2 && size !== 4)) return setReturnNumber(call, -Errno.EINVAL);
    if (offset & 1 || offset + 2 > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EFAULT);
    const mangled = (flags & BPF_F_MARK_MANGLED_0) !== 0;
    setReturnNumber(call, csumReplace(call, packet.data + offset, argNumber(call, 3), argNumber(call, 4), size, mangled));
  },
  csum_diff: (call) => {
    const from = argPointer(call, 1);
    const fromSize = argU32(call, 2);
    const to = argPointer(call, 3);
    const toSize = argU32(call, 4);
    const seed = argU32(call, 5);
    if (fromSize + toSize > CSUM_DIFF_MAX) return setReturnNumber(call, -Errno.EINVAL);
    checkMemory(call, from, fromSize, false);
    checkMemory(call, to, toSize, false);
    // Since 6.12 any byte count works and the result is folded to 16 bits on every architecture:
    // csum(to, seed) - csum(from).
    const view = call.space.view;
    const sum = csumAdd(csumPartial(view, to, toSize, seed), ~csumPartial(view, from, fromSize, 0) >>> 0);
    setReturnNumber(call, fold16(sum));
  },
  csum_update: (call) => setReturnNumber(call, -Errno.ENOTSUPP),
  // Test-run skbs are CHECKSUM_NONE: nothing to query; increments and resets change nothing.
  csum_level: (call) => {
    const level = argNumber(call, 2);
    setReturnNumber(call, level === BPF_CSUM_LEVEL_QUERY ? -Errno.EACCES : level <= BPF_CSUM_LEVEL_RESET && level > 0 ? 0 : -Errno.EINVAL);
  },
  xdp_adjust_head: (call) => {
    const packet = packetOf(call);
    const delta = argNumber(call, 2) | 0;
    const data = packet.data + delta;
    const metaLength = packet.data - packet.meta;
    if (data - metaLength < packet.region.start + XDP_FRAME_SIZE || data > packet.dataEnd - ETH_HLEN) return setReturnNumber(call, -Errno.EINVAL);
    if (metaLength) call.space.u8.copyWithin(packet.meta + delta, packet.meta, packet.data);
    packet.meta += delta;
    packet.data = data;
    moved(call);
    setReturnNumber(call, 0);
  },
  xdp_adjust_meta: (call) => {
    const packet = packetOf(call);
    const delta = argNumber(call, 2) | 0;
    const meta = packet.meta + delta;
    if (meta < packet.region.start + XDP_FRAME_SIZE || meta > packet.data) return setReturnNumber(call, -Errno.EINVAL);
    const length = packet.data - meta;
    // Metadata may fill the headroom down to the xdp_frame (no 32-byte cap since 6.x); it must stay u32-aligned.
    if (length % 4 !== 0) return setReturnNumber(call, -Errno.EACCES);
    packet.meta = meta;
    moved(call);
    setReturnNumber(call, 0);
  },
  xdp_adjust_tail: (call) => {
    const packet = packetOf(call);
    const delta = argNumber(call, 2) | 0;
    const fragments = fragmentsOf.get(packet);
    if (fragments?.length) {
      setReturnNumber(call, adjustFragmentedTail(call, packet, fragments, delta));
      return moved(call);
    }
    const end = packet.dataEnd + delta;
    const hardEnd = packet.region.start + packet.region.size - XDP_TAILROOM;
    if (end > hardEnd || end < packet.data + ETH_HLEN) return setReturnNumber(call, -Errno.EINVAL);
    if (delta > 0) call.space.u8.fill(0, packet.dataEnd, end);
    packet.dataEnd = end;
    moved(call);
    setReturnNumber(call, 0);
  },
  redirect: (call) => {
    const ifindex = argU32(call, 1);
    const flags = argNumber(call, 2);
    const xdp = call.env.progType.name === 'xdp';
    if (xdp ? flags !== 0 : flags & ~BPF_F_INGRESS) return setReturnNumber(call, xdp ? XdpAction.ABORTED : TC_ACT_SHOT);
    call.env.redirect = { ifindex, flags };
    setReturnNumber(call, xdp ? XdpAction.REDIRECT : TC_ACT_REDIRECT);
  },
  redirect_map: redirectMap,
  // Packet programs may append packet bytes to the record (BPF_F_CTXLEN in flags bits 32..51).
  perf_event_output: (call) => {
    const packet = call.env.packet;
    if (!packet) return perfEventOutput(call, 0);
    const appended = argHi(call, 3) & 0xfffff;
    const available = call.env.progType.name === 'xdp' ? xdpBufferLength(packet) : packet.dataEnd - packet.data;
    if (appended > available && (argHi(call, 3) & ~0xfffff) === 0) return setReturnNumber(call, -Errno.EFAULT);
    perfEventOutput(call, appended, (to) => {
      if (call.env.progType.name === 'xdp') xdpCopy(call, packet, 0, to, appended, false);
      else call.space.u8.copyWithin(to, packet.data, packet.data + appended);
    });
  },
  redirect_neigh: (call) => {
    const params = argPointer(call, 2);
    const paramsLength = argU32(call, 3);
    // struct bpf_redir_neigh: nh_family and a 16-byte address.
    if ((paramsLength && paramsLength < 20) || argNumber(call, 4) !== 0) return setReturnNumber(call, TC_ACT_SHOT);
    checkMemory(call, params, paramsLength, false);
    call.env.redirect = { ifindex: argU32(call, 1), flags: 0 };
    setReturnNumber(call, TC_ACT_REDIRECT);
  },
  redirect_peer: (call) => {
    if (argNumber(call, 2) !== 0) return setReturnNumber(call, TC_ACT_SHOT);
    call.env.redirect = { ifindex: argU32(call, 1), flags: 0 };
    setReturnNumber(call, TC_ACT_REDIRECT);
  },
  clone_redirect: (call) => {
    const flags = argNumber(call, 3);
    if (flags & ~BPF_F_INGRESS) return setReturnNumber(call, -Errno.EINVAL);
    call.env.redirect = { ifindex: argU32(call, 2), flags };
    setReturnNumber(call, 0);
  },
  skb_vlan_push: (call) => {
    const proto = argU32(call, 2) & 0xffff;
    const tci = argU32(call, 3) & 0xffff;
    // The protocol comes in network byte order (bpf_htons(ETH_P_8021Q)); anything else means 802.1Q.
    let host = swap16(proto);
    if (host !== ETH_P_8021Q && host !== ETH_P_8021AD) host = ETH_P_8021Q;
    const packet = packetOf(call);
    const skb = skbFields(call);
    // Like the kernel: a tag already held out of band is pushed into the payload first (and
    // skb->protocol becomes its TPID); the new tag is then held out of band.
    if (skb.vlanPresent()) {
      if (!makeRoom(call, packet, 0, 4)) return setReturnNumber(call, -Errno.ENOMEM);
      const mac = packet.data - skb.macOffset();
      resizeAtAddress(call, packet, mac + 12, 4);
      const view = call.space.view;
      view.setUint16(mac + 12, skb.vlanProtoHost(), false);
      view.setUint16(mac + 14, skb.vlanTci(), false);
      skb.setProtocolHost(skb.vlanProtoHost());
    }
    skb.setVlan(true, tci, host);
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_vlan_pop: (call) => {
    const packet = packetOf(call);
    const skb = skbFields(call);
    const view = call.space.view;
    const mac = () => packet.data - skb.macOffset();
    /** Remove the tag after the MAC addresses; skb->protocol becomes what it encapsulated. */
    const popPayloadTag = (): number => {
      if (packet.dataEnd - mac() < ETH_HLEN + 4) return -Errno.ENOMEM;
      const tci = view.getUint16(mac() + 14, false);
      skb.setProtocolHost(view.getUint16(mac() + 16, false));
      resizeAtAddress(call, packet, mac() + 12, -4);
      return tci;
    };
    if (skb.vlanPresent()) skb.setVlan(false, 0, 0);
    else {
      if (!isVlan(skb.protocolHost())) return setReturnNumber(call, 0);
      const popped = popPayloadTag();
      if (popped < 0) return setReturnNumber(call, popped);
    }
    // The next tag in the payload, if any, moves out of band.
    if (isVlan(skb.protocolHost())) {
      const proto = skb.protocolHost();
      const tci = popPayloadTag();
      if (tci < 0) return setReturnNumber(call, tci);
      skb.setVlan(true, tci, proto);
    }
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_change_proto: (call) => {
    const host = swap16(argU32(call, 2) & 0xffff);
    if (argNumber(call, 3) !== 0) return setReturnNumber(call, -Errno.EINVAL);
    const packet = packetOf(call);
    const skb = skbFields(call);
    const current = skb.protocolHost();
    // Only IPv4 <-> IPv6 translations exist (the same protocol is not one either).
    const delta = current === ETH_P_IP && host === ETH_P_IPV6 ? 20 : current === ETH_P_IPV6 && host === ETH_P_IP ? -20 : 0;
    if (delta === 0) return setReturnNumber(call, -Errno.ENOTSUPP);
    if (!makeRoom(call, packet, 0, Math.max(delta, 0))) return setReturnNumber(call, -Errno.ENOMEM);
    resizeAtAddress(call, packet, packet.data - skb.macOffset() + ETH_HLEN, delta);
    skb.setProtocolHost(host);
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_change_head: (call) => {
    const packet = packetOf(call);
    const headroom = argU32(call, 2);
    const length = packet.dataEnd - packet.data;
    if (argNumber(call, 3) !== 0 || length + headroom > SKB_MAX_LEN) return setReturnNumber(call, -Errno.EINVAL);
    if (!makeRoom(call, packet, headroom, 0)) return setReturnNumber(call, -Errno.ENOMEM);
    packet.data -= headroom;
    packet.meta = packet.data;
    call.space.u8.fill(0, packet.data, packet.data + headroom);
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_adjust_room: (call) => setReturnNumber(call, adjustRoom(call)),
  skb_ecn_set_ce: (call) => setReturnNumber(call, ecnSetCe(call)),
  skb_change_type: (call) => {
    const type = argU32(call, 2);
    if (type > 3) return setReturnNumber(call, -Errno.EINVAL);
    skbFields(call).setPktType(type);
    setReturnNumber(call, 0);
  },
  skb_change_tail: (call) => {
    const packet = packetOf(call);
    const newLength = argU32(call, 2);
    if (argNumber(call, 3) !== 0) return setReturnNumber(call, -Errno.EINVAL);
    const length = packet.dataEnd - packet.data;
    if (newLength < ETH_HLEN || newLength > SKB_MAX_LEN) return setReturnNumber(call, -Errno.EINVAL);
    if (!makeRoom(call, packet, 0, Math.max(0, newLength - length))) return setReturnNumber(call, -Errno.ENOMEM);
    resizeAtAddress(call, packet, packet.dataEnd, newLength - length);
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_pull_data: (call) => {
    const packet = packetOf(call);
    setReturnNumber(call, argU32(call, 2) > packet.dataEnd - packet.data ? -Errno.ENOMEM : 0);
  },
  get_hash_recalc: (call) => {
    const packet = packetOf(call);
    const hash = flowHash(call.space.u8, packet.data, packet.dataEnd);
    skbFields(call).setHash(hash);
    setReturnNumber(call, hash);
  },
  set_hash_invalid: (call) => {
    skbFields(call).setHash(0);
    setReturnNumber(call, 0);
  },
  set_hash: (call) => {
    skbFields(call).setHash(argU32(call, 2));
    setReturnNumber(call, 0);
  },
  get_socket_cookie: (call) => setReturnNumber(call, socketCookie(call.env)),
  // A test run's skb belongs to a socket of the calling task.
  get_socket_uid: (call) => setReturnNumber(call, call.env.services.task.uid),
  get_cgroup_classid: (call) => setReturnNumber(call, 0),
  get_route_realm: (call) => setReturnNumber(call, 0),
  // A test run's skb belongs to a socket the task made, in the task's cgroup; net_cls gives it no class.
  skb_cgroup_id: (call) => setReturnNumber(call, taskCgroupId(call)),
  skb_cgroup_classid: (call) => setReturnNumber(call, 0),
  check_mtu: checkMtu,
  skb_ancestor_cgroup_id: (call) => setReturnNumber(call, taskCgroupId(call, argU32(call, 2))),
};

/**
 * A test run's skb belongs to a socket made for that run, whose cookie the kernel draws from one
 * increasing counter when first asked: non-zero, the same within a run (repeats included), new
 * for the next run.
 */
let lastSocketCookie = 0;
const socketCookies = new WeakMap<ExecEnv, number>();
function socketCookie(env: ExecEnv): number {
  let cookie = socketCookies.get(env);
  if (cookie === undefined) {
    cookie = ++lastSocketCookie;
    socketCookies.set(env, cookie);
  }
  return cookie;
}

const isTc = (call: Call): boolean => call.env.progType.name === 'sched_cls' || call.env.progType.name === 'sched_act';

/** The __sk_buff fields packet helpers maintain (offsets per the UAPI layout). */
function skbFields(call: Call) {
  const view = call.space.view;
  const ctx = call.env.ctx;
  return {
    vlanPresent: () => view.getUint32(ctx + 20, true) !== 0,
    vlanTci: () => view.getUint32(ctx + 24, true) & 0xffff,
    /** vlan_proto is stored in network byte order. */
    vlanProtoHost: () => {
      const be = view.getUint32(ctx + 28, true) & 0xffff;
      return ((be & 0xff) << 8) | (be >> 8);
    },
    setVlan(present: boolean, tci: number, protoHost: number) {
      view.setUint32(ctx + 20, present ? 1 : 0, true);
      view.setUint32(ctx + 24, present ? tci : 0, true);
      view.setUint32(ctx + 28, present ? ((protoHost & 0xff) << 8) | (protoHost >> 8) : 0, true);
    },
    protocolHost: () => {
      const be = view.getUint32(ctx + 16, true) & 0xffff;
      return ((be & 0xff) << 8) | (be >> 8);
    },
    setProtocolHost: (p: number) => view.setUint32(ctx + 16, ((p & 0xff) << 8) | (p >> 8), true),
    setPktType: (t: number) => view.setUint32(ctx + 4, t, true),
    setHash: (h: number) => view.setUint32(ctx + 68, h >>> 0, true),
    /** Offset of the network header from data: 14 when data is at the MAC header (tc), else 0. */
    networkOffset: () => (isTc(call) ? ETH_HLEN : 0),
    /** How far before data the MAC header starts: 0 for tc, ETH_HLEN where data is at L3. */
    macOffset: () => (isTc(call) ? 0 : ETH_HLEN),
  };
}

/** A stable flow hash over the IPv4/IPv6 addresses and ports (the kernel's is seeded randomly). */
function flowHash(u8: Uint8Array, start: number, end: number): number {
  let h = 0x9747b28c;
  const n = Math.min(end - start, 54);
  for (let i = 12; i < n; i++) h = Math.imul(h ^ u8[start + i]!, 0x5bd1e995) >>> 0;
  return (h ^ (h >>> 13)) >>> 0 || 1;
}
