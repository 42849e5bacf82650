import { ObjectArrayMap } from '../maps/array.js';
import { ObjectHashMap } from '../maps/hash.js';
import { Errno } from '../maps/spec.js';
import type { HelperIdName } from '../uapi/helper-ids.js';
import { argNumber, argPointer, argU32, setReturnNumber, type HelperCall } from '../vm/abi.js';
import { ExecutionError } from '../vm/engine.js';
import { checkMemory, mapArg, type HelperImpl } from './base.js';
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
/** Sum memory as little-endian u32 words (what x86's csum_partial computes), seeded. */
function csumPartial(u8: Uint8Array, start: number, length: number, seed: number): number {
  let sum = seed >>> 0;
  for (let i = 0; i + 4 <= length; i += 4) {
    const p = start + i;
    sum = csumAdd(sum, (u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24)) >>> 0);
  }
  return sum;
}

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

/** Insert (len > 0) or remove (len < 0) bytes at `offset` from data, keeping the region bounds. */
function resizeAt(call: Call, packet: PacketState, offset: number, len: number): boolean {
  const u8 = call.space.u8;
  const regionEnd = packet.region.start + packet.region.size;
  if (len > 0) {
    if (packet.dataEnd + len > regionEnd) return false;
    u8.copyWithin(packet.data + offset + len, packet.data + offset, packet.dataEnd);
    u8.fill(0, packet.data + offset, packet.data + offset + len);
  } else {
    u8.copyWithin(packet.data + offset, packet.data + offset - len, packet.dataEnd);
  }
  packet.dataEnd += len;
  return true;
}

function loadBytes(call: Call, base: 'data' | 'mac'): void {
  const packet = packetOf(call);
  const offset = argU32(call, 2);
  const to = argPointer(call, 3);
  const len = argU32(call, 4);
  checkMemory(call, to, len, true);
  const start = base === 'data' ? packet.data : packet.data;
  if (offset + len > packet.dataEnd - start || len === 0) {
    call.space.u8.fill(0, to, to + len);
    return setReturnNumber(call, -Errno.EFAULT);
  }
  call.space.u8.copyWithin(to, start + offset, start + offset + len);
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

export const PACKET_HELPERS: Partial<Record<HelperIdName, HelperImpl>> = {
  skb_load_bytes: (call) => loadBytes(call, 'data'),
  skb_load_bytes_relative: (call) => loadBytes(call, argNumber(call, 5) === 0 ? 'mac' : 'data'),
  xdp_load_bytes: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const to = argPointer(call, 3);
    const len = argU32(call, 4);
    checkMemory(call, to, len, true);
    if (offset + len > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EINVAL);
    call.space.u8.copyWithin(to, packet.data + offset, packet.data + offset + len);
    setReturnNumber(call, 0);
  },
  skb_store_bytes: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const from = argPointer(call, 3);
    const len = argU32(call, 4);
    const flags = argNumber(call, 5);
    if (flags & ~(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH)) return setReturnNumber(call, -Errno.EINVAL);
    checkMemory(call, from, len, false);
    if (offset + len > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EFAULT);
    call.space.u8.copyWithin(packet.data + offset, from, from + len);
    setReturnNumber(call, 0);
  },
  xdp_store_bytes: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const from = argPointer(call, 3);
    const len = argU32(call, 4);
    checkMemory(call, from, len, false);
    if (offset + len > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EINVAL);
    call.space.u8.copyWithin(packet.data + offset, from, from + len);
    setReturnNumber(call, 0);
  },
  xdp_get_buff_len: (call) => {
    const packet = packetOf(call);
    setReturnNumber(call, packet.dataEnd - packet.data);
  },
  l3_csum_replace: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const flags = argNumber(call, 5);
    const size = flags & BPF_F_HDR_FIELD_MASK;
    if (flags & ~BPF_F_HDR_FIELD_MASK || (size !== 0 && size !== 2 && size !== 4)) return setReturnNumber(call, -Errno.EINVAL);
    if (offset + 2 > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EFAULT);
    setReturnNumber(call, csumReplace(call, packet.data + offset, argNumber(call, 3), argNumber(call, 4), size, false));
  },
  l4_csum_replace: (call) => {
    const packet = packetOf(call);
    const offset = argU32(call, 2);
    const flags = argNumber(call, 5);
    const size = flags & BPF_F_HDR_FIELD_MASK;
    const allowed = BPF_F_HDR_FIELD_MASK | BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_IPV6;
    if (flags & ~allowed || (size !== 0 && size !== 2 && size !== 4)) return setReturnNumber(call, -Errno.EINVAL);
    if (offset + 2 > packet.dataEnd - packet.data) return setReturnNumber(call, -Errno.EFAULT);
    const mangled = (flags & BPF_F_MARK_MANGLED_0) !== 0;
    setReturnNumber(call, csumReplace(call, packet.data + offset, argNumber(call, 3), argNumber(call, 4), size, mangled));
  },
  csum_diff: (call) => {
    const from = argPointer(call, 1);
    const fromSize = argU32(call, 2);
    const to = argPointer(call, 3);
    const toSize = argU32(call, 4);
    const seed = argU32(call, 5);
    if (fromSize % 4 || toSize % 4 || fromSize + toSize > 512) return setReturnNumber(call, -Errno.EINVAL);
    checkMemory(call, from, fromSize, false);
    checkMemory(call, to, toSize, false);
    // csum_partial over [~from..., to...]: adding the complement of a word subtracts it.
    let sum = seed >>> 0;
    const u8 = call.space.u8;
    for (let i = 0; i < fromSize; i += 4) {
      const p = from + i;
      sum = csumAdd(sum, ~(u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24)) >>> 0);
    }
    sum = csumPartial(u8, to, toSize, sum);
    setReturnNumber(call, sum);
  },
  csum_update: (call) => setReturnNumber(call, -Errno.ENOTSUPP),
  csum_level: (call) => setReturnNumber(call, 0),
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
    if (length % 4 !== 0 || length > 32) return setReturnNumber(call, -Errno.EACCES);
    packet.meta = meta;
    moved(call);
    setReturnNumber(call, 0);
  },
  xdp_adjust_tail: (call) => {
    const packet = packetOf(call);
    const delta = argNumber(call, 2) | 0;
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
  clone_redirect: (call) => {
    const flags = argNumber(call, 3);
    if (flags & ~BPF_F_INGRESS) return setReturnNumber(call, -Errno.EINVAL);
    call.env.redirect = { ifindex: argU32(call, 2), flags };
    setReturnNumber(call, 0);
  },
  skb_vlan_push: (call) => {
    const proto = argU32(call, 2) & 0xffff;
    const tci = argU32(call, 3) & 0xffff;
    // The protocol comes in network byte order (bpf_htons(ETH_P_8021Q)).
    const host = ((proto & 0xff) << 8) | (proto >> 8);
    if (host !== ETH_P_8021Q && host !== ETH_P_8021AD) return setReturnNumber(call, -Errno.EINVAL);
    const packet = packetOf(call);
    const skb = skbFields(call);
    // Like the kernel: a tag already held out of band is pushed into the payload first; the new tag is
    // then held out of band (vlan_present/vlan_tci/vlan_proto).
    if (skb.vlanPresent()) {
      if (!resizeAt(call, packet, 12, 4)) return setReturnNumber(call, -Errno.ENOMEM);
      const view = call.space.view;
      view.setUint16(packet.data + 12, skb.vlanProtoHost(), false);
      view.setUint16(packet.data + 14, skb.vlanTci(), false);
    }
    skb.setVlan(true, tci, host);
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_vlan_pop: (call) => {
    const packet = packetOf(call);
    const skb = skbFields(call);
    const view = call.space.view;
    const isVlan = (type: number) => type === ETH_P_8021Q || type === ETH_P_8021AD;
    if (skb.vlanPresent()) skb.setVlan(false, 0, 0);
    else {
      if (packet.dataEnd - packet.data < ETH_HLEN + 4 || !isVlan(view.getUint16(packet.data + 12, false))) return setReturnNumber(call, 0);
      resizeAt(call, packet, 12, -4);
    }
    // The next tag in the payload, if any, moves out of band.
    if (packet.dataEnd - packet.data >= ETH_HLEN + 4 && isVlan(view.getUint16(packet.data + 12, false))) {
      const proto = view.getUint16(packet.data + 12, false);
      const tci = view.getUint16(packet.data + 14, false);
      resizeAt(call, packet, 12, -4);
      skb.setVlan(true, tci, proto);
    }
    moved(call);
    setReturnNumber(call, 0);
  },
  skb_change_proto: (call) => {
    const proto = argU32(call, 2) & 0xffff;
    const host = ((proto & 0xff) << 8) | (proto >> 8);
    if (argNumber(call, 3) !== 0) return setReturnNumber(call, -Errno.EINVAL);
    const packet = packetOf(call);
    const skb = skbFields(call);
    const current = skb.protocolHost();
    if (current === host) return setReturnNumber(call, 0);
    const delta = current === ETH_P_IP && host === ETH_P_IPV6 ? 20 : current === ETH_P_IPV6 && host === ETH_P_IP ? -20 : 0;
    if (delta === 0) return setReturnNumber(call, -Errno.ENOTSUPP);
    if (!resizeAt(call, packet, skb.networkOffset(), delta)) return setReturnNumber(call, -Errno.ENOMEM);
    skb.setProtocolHost(host);
    moved(call);
    setReturnNumber(call, 0);
  },
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
    if (newLength < ETH_HLEN || !resizeAt(call, packet, length, newLength - length)) return setReturnNumber(call, -Errno.EINVAL);
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
  // No socket exists in user space: the kernel returns 0 for an skb without one.
  get_socket_cookie: (call) => setReturnNumber(call, 0),
  get_socket_uid: (call) => setReturnNumber(call, 65534),
  get_cgroup_classid: (call) => setReturnNumber(call, 0),
  get_route_realm: (call) => setReturnNumber(call, 0),
  skb_cgroup_id: (call) => setReturnNumber(call, 0),
};

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
    networkOffset: () => (call.env.progType.name === 'sched_cls' || call.env.progType.name === 'sched_act' ? ETH_HLEN : 0),
  };
}

/** A stable flow hash over the IPv4/IPv6 addresses and ports (the kernel's is seeded randomly). */
function flowHash(u8: Uint8Array, start: number, end: number): number {
  let h = 0x9747b28c;
  const n = Math.min(end - start, 54);
  for (let i = 12; i < n; i++) h = Math.imul(h ^ u8[start + i]!, 0x5bd1e995) >>> 0;
  return (h ^ (h >>> 13)) >>> 0 || 1;
}
