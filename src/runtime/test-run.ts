import { TsbpfError } from '../errors.js';
import type { ExecEnv, PacketState, RuntimeServices } from '../helpers/env.js';
import { ETH_HLEN, XDP_FRAME_SIZE, XDP_TAILROOM, setXdpFragments, xdpFragments, type XdpFragment } from '../helpers/packet.js';
import { Errno } from '../maps/spec.js';
import type { ProgTypeInfo } from '../progtypes/table.js';
import type { AddressSpace, Region, RegionKind } from '../vm/memory.js';

/**
 * BPF_PROG_TEST_RUN's input preparation and output collection, per program family, with the kernel's
 * layout: XDP data after 256 bytes of headroom, data_out starting at data_meta, an xdp_md ctx;
 * skb programs with __sk_buff, the MAC header pulled for non-tc types (socket filters see L3 at
 * data and get the Ethernet header back zeroed in data_out, as the kernel does).
 */

export interface TestRunInput {
  /** Packet bytes (data_in). */
  data?: Uint8Array;
  /** Context bytes (ctx_in): xdp_md, __sk_buff, or the raw context of other types. */
  ctx?: Uint8Array;
  /** Space for data_out, like data_size_out (default: everything). */
  dataSizeOut?: number;
  /**
   * Size the frame to the packet instead of BPF_PROG_TEST_RUN's one-page limit: packet hooks over
   * captures see jumbo frames, as generic XDP on a real interface does.
   */
  anySize?: boolean;
  /** The attach cookie bpf_get_attach_cookie returns, as a link's cookie sets it (the kernel's test run has none: 0). */
  cookie?: bigint;
}

export interface PreparedRun {
  env: ExecEnv;
  /** r1. */
  ctx: number;
  /** LD_ABS/LD_IND window. */
  packet?: { start: number; length: number };
  /** data_out and ctx_out after the run. */
  finish(): { data?: Uint8Array; ctx?: Uint8Array };
  release(): void;
}

export class TestRunError extends TsbpfError {
  override name = 'TestRunError';
  readonly errno: number;
  constructor(errno: number, message: string) {
    super('test-run/invalid', message);
    this.errno = errno;
  }
}

export const XDP_PACKET_HEADROOM = 256;
const XDP_FRAME = 4096;
/** NET_SKB_PAD + NET_IP_ALIGN (0 on x86 and arm64), the skb headroom test runs get. */
const SKB_HEADROOM = 64;
const SKB_TAILROOM = 1024;
const PAGE = 4096;
/** MAX_SKB_FRAGS: fragments a multi-buffer XDP frame may have. */
const MAX_SKB_FRAGS = 17;

const PACKET_HOST = 0;
const PACKET_MULTICAST = 2;
const PACKET_OTHERHOST = 3;
/** GSO_LEGACY_MAX_SIZE and GSO_MAX_SEGS: the bounds ctx_in's wire_len and gso_segs must respect. */
const GSO_LEGACY_MAX_SIZE = 65536;
const GSO_MAX_SEGS = 65535;
const LOOPBACK_IFINDEX = 1;
/** Not in the maps' Errno table: only test runs report a missing device. */
const ENODEV = 19;
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;

const TC_TYPES = new Set(['sched_cls', 'sched_act']);
/** __sk_buff fields a test run may set through ctx_in (everything else must be zero). */
const SKB_CTX_IN: ReadonlyArray<[number, number]> = [
  [8, 4], [32, 4], [36, 4], [40, 4], [48, 20], [152, 8], [160, 4], [164, 4], [176, 4], [184, 8],
];

/**
 * Regions finished test runs gave back, per address space, for the next run needing the same size
 * and kind: as the kernel resets data, not allocations, between runs (hooks over captures make a test
 * run per packet). A region taken again is zeroed, as a new one is.
 */
const spareRegions = new WeakMap<AddressSpace, Region[]>();
const MAX_SPARE_REGIONS = 6;

function takeRegion(space: AddressSpace, size: number, kind: RegionKind, name: string): Region {
  const spares = spareRegions.get(space);
  for (let i = (spares?.length ?? 0) - 1; i >= 0; i--) {
    const region = spares![i]!;
    if (region.size !== size || region.kind !== kind || region.name !== name) continue;
    spares!.splice(i, 1);
    // Still ours (nothing released it since)?
    if (space.regionAt(region.start) !== region) continue;
    space.u8.fill(0, region.start, region.start + size);
    return region;
  }
  return space.allocate(size, kind, name);
}

function giveBack(space: AddressSpace, ...regions: Region[]): void {
  let spares = spareRegions.get(space);
  if (spares === undefined) spareRegions.set(space, (spares = []));
  for (const region of regions) {
    spares.push(region);
    if (spares.length > MAX_SPARE_REGIONS) space.release(spares.shift()!);
  }
}

export function prepareRun(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  const prepared = type.name === 'xdp' ? prepareXdp(space, services, type, input, cpu)
    : type.name === 'flow_dissector' ? prepareFlowDissector(space, services, type, input, cpu)
    : type.context?.struct === '__sk_buff' ? prepareSkb(space, services, type, input, cpu)
    : prepareRaw(space, services, type, input, cpu);
  if (input.cookie !== undefined) prepared.env.attachCookie = input.cookie;
  return prepared;
}

function newEnv(services: RuntimeServices, type: ProgTypeInfo, ctx: number, cpu: number, packet?: PacketState): ExecEnv {
  return { services, cpu, progType: type, ctx, tailCalls: 0, ...(packet ? { packet } : {}) };
}

function prepareXdp(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  const data = input.data ?? new Uint8Array(0);
  const frameSize = input.anySize ? Math.max(XDP_FRAME, XDP_PACKET_HEADROOM + data.length + XDP_TAILROOM) : XDP_FRAME;
  const maxLinear = frameSize - XDP_PACKET_HEADROOM - XDP_TAILROOM;
  if (data.length < ETH_HLEN) throw new TestRunError(Errno.EINVAL, `XDP test data must be at least ${ETH_HLEN} bytes, got ${data.length}`);
  let metaLength = 0;
  let ingressIfindex = 0;
  let rxQueue = 0;
  // ctx_in's data_end chooses where the linear part ends (the rest goes to fragments).
  let linearEnd = data.length;
  if (input.ctx) {
    const view = new DataView(input.ctx.buffer, input.ctx.byteOffset, input.ctx.byteLength);
    const field = (off: number) => (input.ctx!.length >= off + 4 ? view.getUint32(off, true) : 0);
    // ctx_in: data = metadata length, data_meta = 0, data_end = end of the linear part; no egress ifindex.
    metaLength = field(0);
    linearEnd = field(4);
    if (field(8) !== 0 || linearEnd > data.length || metaLength > linearEnd || metaLength % 4 || metaLength > XDP_PACKET_HEADROOM - XDP_FRAME_SIZE || field(20) !== 0) {
      throw new TestRunError(Errno.EINVAL, `xdp_md ctx_in: data must be the metadata length (multiple of 4, <= ${XDP_PACKET_HEADROOM - XDP_FRAME_SIZE}), data_meta 0, data_end at most the data size, egress_ifindex 0`);
    }
    ingressIfindex = field(12);
    rxQueue = field(16);
    if (ingressIfindex > LOOPBACK_IFINDEX) throw new TestRunError(ENODEV, `xdp_md ctx_in ingress_ifindex ${ingressIfindex}: no such device (only lo exists in user space)`);
    // A queue needs a device, and lo has one receive queue.
    if (rxQueue >= 1) throw new TestRunError(Errno.EINVAL, `xdp_md ctx_in rx_queue_index ${rxQueue}: ${ingressIfindex ? 'lo has one receive queue' : 'no ingress_ifindex'}`);
  }
  if (data.length - metaLength < ETH_HLEN) throw new TestRunError(Errno.EINVAL, `XDP test data after ${metaLength} bytes of metadata is shorter than an Ethernet header`);
  // The metadata sits in the headroom, right before data; what does not fit in the page goes to
  // page-sized fragments (a multi-buffer frame), at most MAX_SKB_FRAGS of them.
  const linear = Math.min(linearEnd, maxLinear + metaLength);
  const fragments: XdpFragment[] = [];
  for (let at = linear; at < data.length; at += PAGE) {
    if (fragments.length === MAX_SKB_FRAGS) throw new TestRunError(Errno.ENOMEM, `XDP test data of ${data.length} bytes needs more than ${MAX_SKB_FRAGS} fragments`);
    const bytes = new Uint8Array(PAGE);
    const chunk = data.subarray(at, Math.min(at + PAGE, data.length));
    bytes.set(chunk);
    fragments.push({ bytes, size: chunk.length });
  }
  // The frame arrives on lo's queue 0 unless ctx_in says otherwise: programs read ingress_ifindex 1.
  const seenIfindex = ingressIfindex || LOOPBACK_IFINDEX;
  const frame = takeRegion(space, frameSize, 'packet', 'packet');
  const meta = frame.start + XDP_PACKET_HEADROOM - metaLength;
  space.u8.set(data.subarray(0, linear), meta);
  const packet: PacketState = { region: frame, meta, data: meta + metaLength, dataEnd: meta + linear };
  if (fragments.length) setXdpFragments(packet, fragments);
  const ctxRegion = takeRegion(space, 24, 'ctx', 'xdp_md');
  const env = newEnv(services, type, ctxRegion.start, cpu, packet);
  const sync = () => {
    const v = space.view;
    v.setUint32(ctxRegion.start, packet.data, true);
    v.setUint32(ctxRegion.start + 4, packet.dataEnd, true);
    v.setUint32(ctxRegion.start + 8, packet.meta, true);
  };
  sync();
  space.view.setUint32(ctxRegion.start + 12, seenIfindex, true);
  space.view.setUint32(ctxRegion.start + 16, rxQueue, true);
  env.syncPacket = sync;
  return {
    env,
    ctx: ctxRegion.start,
    finish() {
      const out = new Uint8Array(24);
      const v = new DataView(out.buffer);
      v.setUint32(0, packet.data - packet.meta, true);
      v.setUint32(4, packet.dataEnd - packet.meta, true);
      v.setUint32(12, ingressIfindex, true);
      v.setUint32(16, rxQueue, true);
      return { data: withFragments(space.u8.subarray(packet.meta, packet.dataEnd), xdpFragments(packet)), ctx: out };
    },
    release() {
      giveBack(space, frame, ctxRegion);
    },
  };
}

/** data_out of a multi-buffer frame: the linear part, then each fragment. */
function withFragments(linear: Uint8Array, fragments: readonly XdpFragment[]): Uint8Array {
  const out = new Uint8Array(linear.length + fragments.reduce((n, f) => n + f.size, 0));
  out.set(linear);
  let at = linear.length;
  for (const f of fragments) {
    out.set(f.bytes.subarray(0, f.size), at);
    at += f.size;
  }
  return out;
}

/**
 * eth_type_trans on lo, the device test runs use: lo's address and its "broadcast" address are all
 * zeros, so ff:ff:ff:ff:ff:ff counts as multicast, 00:..:00 as to-us, anything else as otherhost.
 */
function packetType(dst: Uint8Array): number {
  if (dst[0]! & 1) return PACKET_MULTICAST;
  return dst.every((b) => b === 0) ? PACKET_HOST : PACKET_OTHERHOST;
}

function prepareSkb(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  const data = input.data ?? new Uint8Array(0);
  const maxData = input.anySize ? Infinity : PAGE - SKB_HEADROOM - 320;
  if (data.length < ETH_HLEN || data.length > maxData) {
    throw new TestRunError(Errno.EINVAL, `skb test data must be ${ETH_HLEN}..${maxData} bytes, got ${data.length}`);
  }
  const isL2 = TC_TYPES.has(type.name);
  const ctxSize = 192;
  const etherType = (data[12]! << 8) | data[13]!;
  const networkHeader = etherType === ETH_P_IP ? 20 : etherType === ETH_P_IPV6 ? 40 : 0;
  if (!input.anySize && data.length < ETH_HLEN + networkHeader) {
    // The kernel reads the addresses of an IPv4/IPv6 packet into the test socket: the header must be
    // there. Hooks over captures (anySize) see truncated captures as they are.
    throw new TestRunError(Errno.EINVAL, `skb test data of EtherType 0x${etherType.toString(16)} needs ${ETH_HLEN + networkHeader} bytes, got ${data.length}`);
  }
  if (input.ctx) checkSkbCtxIn(input.ctx, ctxSize, isL2 ? data.length : data.length - ETH_HLEN);
  const ctxRegion = takeRegion(space, ctxSize, 'ctx', '__sk_buff');
  const c = ctxRegion.start;
  if (input.ctx) space.u8.set(input.ctx.subarray(0, ctxSize), c);
  const region = takeRegion(space, SKB_HEADROOM + data.length + SKB_TAILROOM, 'packet', 'packet');
  // Read after the allocations (a growing memory replaces the views).
  const view = space.view;
  const mac = region.start + SKB_HEADROOM;
  space.u8.set(data, mac);
  const start = isL2 ? mac : mac + ETH_HLEN;
  const packet: PacketState = { region, meta: start, data: start, dataEnd: mac + data.length };
  const ethType = view.getUint16(mac + 12, true); // as stored: network byte order
  view.setUint32(c + 4, packetType(data.subarray(0, 6)), true);
  view.setUint32(c + 16, ethType, true);
  view.setUint32(c + 40, LOOPBACK_IFINDEX, true);
  // wire_len defaults to skb->len when the context is converted: after the MAC header was pulled
  // for non-tc types.
  if (view.getUint32(c + 160, true) === 0) view.setUint32(c + 160, packet.dataEnd - packet.data, true);
  const env = newEnv(services, type, c, cpu, packet);
  // The skb's data for LD_ABS/LD_IND (and skb_load_bytes in the JIT), a plain object kept current here.
  const window = { start: packet.data, length: packet.dataEnd - packet.data };
  const sync = () => {
    // Helpers that move the packet may have grown the memory.
    const v = space.view;
    v.setUint32(c + 0, packet.dataEnd - packet.data, true);
    v.setUint32(c + 76, packet.data, true);
    v.setUint32(c + 80, packet.dataEnd, true);
    v.setUint32(c + 140, packet.meta, true);
    window.start = packet.data;
    window.length = packet.dataEnd - packet.data;
  };
  sync();
  env.syncPacket = sync;
  return {
    env,
    ctx: c,
    packet: window,
    finish() {
      let out: Uint8Array;
      if (isL2) out = space.u8.slice(packet.data, packet.dataEnd);
      else {
        // The kernel pushes the MAC header back, zeroed, before copying data_out.
        out = new Uint8Array(ETH_HLEN + packet.dataEnd - packet.data);
        out.set(space.u8.subarray(packet.data, packet.dataEnd), ETH_HLEN);
      }
      const ctxOut = new Uint8Array(ctxSize);
      for (const [off, size] of SKB_CTX_IN) ctxOut.set(space.u8.subarray(c + off, c + off + size), off);
      return { data: out, ctx: ctxOut };
    },
    release() {
      // Helpers that grow the packet (change_head, adjust_room ...) may have moved it to a new region.
      giveBack(space, packet.region, ctxRegion);
    },
  };
}

/**
 * BPF_PROG_TEST_RUN's checks of an __sk_buff ctx_in: only the settable fields may be non-zero (a
 * longer ctx_in only with a zero tail), wire_len between len and GSO_LEGACY_MAX_SIZE, gso_segs at
 * most GSO_MAX_SEGS, and ifindex naming a device (only lo exists here).
 */
function checkSkbCtxIn(ctx: Uint8Array, ctxSize: number, len: number): void {
  const allowed = new Uint8Array(ctxSize);
  for (const [off, size] of SKB_CTX_IN) allowed.fill(1, off, off + size);
  for (let i = ctxSize; i < ctx.length; i++) {
    if (ctx[i] !== 0) throw new TestRunError(Errno.E2BIG, `__sk_buff ctx_in is ${ctx.length} bytes and byte ${i}, past the ${ctxSize} the kernel knows, is not zero`);
  }
  for (let i = 0; i < Math.min(ctx.length, ctxSize); i++) {
    if (ctx[i] !== 0 && !allowed[i]) {
      throw new TestRunError(Errno.EINVAL, `__sk_buff ctx_in sets byte ${i}, which a test run does not accept (allowed: mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp)`);
    }
  }
  const full = new Uint8Array(ctxSize);
  full.set(ctx.subarray(0, ctxSize));
  const view = new DataView(full.buffer);
  const ifindex = view.getUint32(40, true);
  if (ifindex > LOOPBACK_IFINDEX) throw new TestRunError(ENODEV, `__sk_buff ctx_in ifindex ${ifindex}: no such device (only lo exists in user space)`);
  const wireLen = view.getUint32(160, true);
  if (wireLen !== 0 && (wireLen < len || wireLen > GSO_LEGACY_MAX_SIZE)) {
    throw new TestRunError(Errno.EINVAL, `__sk_buff ctx_in wire_len ${wireLen} is outside ${len}..${GSO_LEGACY_MAX_SIZE}`);
  }
  const gsoSegs = view.getUint32(164, true);
  if (gsoSegs > GSO_MAX_SEGS) throw new TestRunError(Errno.EINVAL, `__sk_buff ctx_in gso_segs ${gsoSegs} is more than ${GSO_MAX_SEGS}`);
}

/** sizeof(struct bpf_flow_keys), what a flow dissector run takes as ctx_in and gives as data_out. */
const FLOW_KEYS_SIZE = 56;

/**
 * A flow dissector run: the program sees the frame from its Ethernet header (data, data_end) and a
 * zeroed bpf_flow_keys with nhoff = thoff = ETH_HLEN, n_proto and the flags of ctx_in; data_out is
 * the flow keys, nhoff and thoff clamped into the packet as the kernel does after the program.
 */
function prepareFlowDissector(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  const data = input.data ?? new Uint8Array(0);
  if (data.length < ETH_HLEN || data.length > PAGE) throw new TestRunError(Errno.EINVAL, `flow dissector test data must be ${ETH_HLEN}..${PAGE} bytes, got ${data.length}`);
  const ctxIn = new Uint8Array(FLOW_KEYS_SIZE);
  if (input.ctx) {
    if (input.ctx.subarray(FLOW_KEYS_SIZE).some((b) => b !== 0)) throw new TestRunError(Errno.E2BIG, `bpf_flow_keys ctx_in has non-zero bytes past ${FLOW_KEYS_SIZE}`);
    ctxIn.set(input.ctx.subarray(0, FLOW_KEYS_SIZE));
  }
  // The kernel hands ctx_in's flags over as they are, known or not.
  const flags = new DataView(ctxIn.buffer).getUint32(48, true);
  const region = space.allocateWith(data, 'packet', 'packet');
  const keys = space.allocate(FLOW_KEYS_SIZE, 'ctx', 'bpf_flow_keys');
  const ctxRegion = space.allocate(192, 'ctx', '__sk_buff');
  const view = space.view;
  view.setUint16(keys.start + 0, ETH_HLEN, true);
  view.setUint16(keys.start + 2, ETH_HLEN, true);
  space.u8.set(data.subarray(12, 14), keys.start + 10); // n_proto, network byte order
  view.setUint32(keys.start + 48, flags, true);
  const c = ctxRegion.start;
  view.setUint32(c + 76, region.start, true);
  view.setUint32(c + 80, region.start + data.length, true);
  view.setBigUint64(c + 144, BigInt(keys.start), true);
  const packet: PacketState = { region, meta: region.start, data: region.start, dataEnd: region.start + data.length };
  return {
    env: newEnv(services, type, c, cpu, packet),
    ctx: c,
    finish() {
      const out = space.u8.slice(keys.start, keys.start + FLOW_KEYS_SIZE);
      const keysOut = new DataView(out.buffer);
      const clamp = (v: number, low: number, high: number) => Math.min(Math.max(v, low), high);
      keysOut.setUint16(0, clamp(keysOut.getUint16(0, true), ETH_HLEN, data.length), true);
      keysOut.setUint16(2, clamp(keysOut.getUint16(2, true), keysOut.getUint16(0, true), data.length), true);
      return { data: out, ...(input.ctx ? { ctx: ctxIn.slice() } : {}) };
    },
    release() {
      space.release(region);
      space.release(keys);
      space.release(ctxRegion);
    },
  };
}

/** raw_tracepoint test runs: up to MAX_BPF_FUNC_ARGS u64 arguments as ctx_in, nothing else. */
const RAW_TP_MAX_CTX = 12 * 8;
const RAW_TP_TYPES = new Set(['raw_tracepoint', 'raw_tracepoint_writable']);

/** What BPF_PROG_TEST_RUN refuses for context-only program types before running anything. */
function checkRawInput(type: ProgTypeInfo, input: TestRunInput): void {
  const takesNoData = RAW_TP_TYPES.has(type.name) || type.name === 'syscall';
  if (takesNoData && input.data?.length) throw new TestRunError(Errno.EINVAL, `${type.name} test runs take no data_in`);
  const ctxLength = input.ctx?.length ?? 0;
  if (RAW_TP_TYPES.has(type.name) && ctxLength > RAW_TP_MAX_CTX) {
    throw new TestRunError(Errno.EINVAL, `${type.name} ctx_in is ${ctxLength} bytes, more than ${RAW_TP_MAX_CTX} (12 arguments)`);
  }
  if (type.name === 'syscall' && ctxLength > 0xffff) throw new TestRunError(Errno.E2BIG, `syscall ctx_in is ${ctxLength} bytes, more than 65535`);
}

const AF_INET = 2;
const AF_INET6 = 10;
/** Errno for an address family sk_lookup does not know. */
const EAFNOSUPPORT = 97;
const ERANGE = 34;

/**
 * The bpf_sk_lookup a test run gives the program, from ctx_in: no data, no selected socket, no
 * ingress_ifindex, a port that fits 16 bits and family AF_INET or AF_INET6. The kernel keeps only
 * 16 bits of family, protocol and ports, and only the addresses of the family.
 */
function skLookupContext(input: TestRunInput): Uint8Array {
  if (input.data?.length) throw new TestRunError(Errno.EINVAL, 'sk_lookup test runs take no data_in');
  if (input.ctx?.subarray(72).some((b) => b !== 0)) throw new TestRunError(Errno.E2BIG, 'bpf_sk_lookup ctx_in has non-zero bytes past its 72');
  const ctx = new Uint8Array(72);
  if (input.ctx) ctx.set(input.ctx.subarray(0, 72));
  const view = new DataView(ctx.buffer);
  if (view.getBigUint64(0, true) !== 0n) throw new TestRunError(Errno.EINVAL, 'bpf_sk_lookup ctx_in selects a socket (sk/cookie must be 0)');
  if (ctx.subarray(64).some((b) => b !== 0)) throw new TestRunError(Errno.EINVAL, 'bpf_sk_lookup ctx_in sets ingress_ifindex, which a test run does not take');
  if (view.getUint32(60, true) > 0xffff) throw new TestRunError(ERANGE, `bpf_sk_lookup ctx_in local_port ${view.getUint32(60, true)} does not fit 16 bits`);
  const family = view.getUint32(8, true) & 0xffff;
  if (family !== AF_INET && family !== AF_INET6) throw new TestRunError(EAFNOSUPPORT, `bpf_sk_lookup ctx_in family ${family} is neither AF_INET nor AF_INET6`);
  view.setUint32(8, family, true);
  view.setUint32(12, view.getUint32(12, true) & 0xffff, true);
  view.setUint16(38, 0, true);
  if (family === AF_INET) {
    ctx.fill(0, 20, 36);
    ctx.fill(0, 44, 60);
  } else {
    view.setUint32(16, 0, true);
    view.setUint32(40, 0, true);
  }
  return ctx;
}

function prepareRaw(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  checkRawInput(type, input);
  // sk_lookup: the program sees the normalised context; ctx_out gives ctx_in back (no socket selected).
  let ctxOut: Uint8Array | undefined;
  if (type.name === 'sk_lookup') {
    const seen = skLookupContext(input);
    ctxOut = new Uint8Array(seen.length);
    ctxOut.set(input.ctx?.subarray(0, seen.length) ?? []);
    input = { ...input, ctx: seen };
  }
  const size = Math.max(input.ctx?.length ?? 0, type.context?.size ?? type.rawContextSize ?? 0, 8);
  const ctxRegion = space.allocate(size, 'ctx', type.context?.struct ?? `${type.name} context`);
  if (input.ctx) space.u8.set(input.ctx, ctxRegion.start);
  let dataRegion: Region | undefined;
  if (input.data && input.data.length) dataRegion = space.allocateWith(input.data, 'packet', 'data');
  return {
    env: newEnv(services, type, ctxRegion.start, cpu),
    ctx: ctxRegion.start,
    finish() {
      return {
        ctx: ctxOut ?? space.u8.slice(ctxRegion.start, ctxRegion.start + size),
        ...(dataRegion ? { data: space.u8.slice(dataRegion.start, dataRegion.start + dataRegion.size) } : {}),
      };
    },
    release() {
      space.release(ctxRegion);
      if (dataRegion) space.release(dataRegion);
    },
  };
}
