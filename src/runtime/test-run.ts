import { TsbpfError } from '../errors.js';
import type { ExecEnv, PacketState, RuntimeServices } from '../helpers/env.js';
import { ETH_HLEN, XDP_TAILROOM } from '../helpers/packet.js';
import { Errno } from '../maps/spec.js';
import type { ProgTypeInfo } from '../progtypes/table.js';
import type { AddressSpace, Region } from '../vm/memory.js';

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
/** NET_SKB_PAD + NET_IP_ALIGN, the skb headroom test runs get. */
const SKB_HEADROOM = 64 + 2;
const SKB_TAILROOM = 1024;
const PAGE = 4096;

const TC_TYPES = new Set(['sched_cls', 'sched_act']);
/** __sk_buff fields a test run may set through ctx_in (everything else must be zero). */
const SKB_CTX_IN: ReadonlyArray<[number, number]> = [
  [8, 4], [32, 4], [36, 4], [40, 4], [48, 20], [152, 8], [160, 4], [164, 4], [176, 4], [184, 8],
];

export function prepareRun(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  if (type.name === 'xdp') return prepareXdp(space, services, type, input, cpu);
  if (type.context?.struct === '__sk_buff') return prepareSkb(space, services, type, input, cpu);
  return prepareRaw(space, services, type, input, cpu);
}

function newEnv(services: RuntimeServices, type: ProgTypeInfo, ctx: number, cpu: number, packet?: PacketState): ExecEnv {
  return { services, cpu, progType: type, ctx, tailCalls: 0, ...(packet ? { packet } : {}) };
}

function prepareXdp(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  const data = input.data ?? new Uint8Array(0);
  const frameSize = input.anySize ? Math.max(XDP_FRAME, XDP_PACKET_HEADROOM + data.length + XDP_TAILROOM) : XDP_FRAME;
  const maxData = frameSize - XDP_PACKET_HEADROOM - XDP_TAILROOM;
  if (data.length < ETH_HLEN || data.length > maxData) {
    throw new TestRunError(Errno.EINVAL, `XDP test data must be ${ETH_HLEN}..${maxData} bytes, got ${data.length}`);
  }
  let metaLength = 0;
  let ingressIfindex = 0;
  let rxQueue = 0;
  if (input.ctx) {
    const view = new DataView(input.ctx.buffer, input.ctx.byteOffset, input.ctx.byteLength);
    const field = (off: number) => (input.ctx!.length >= off + 4 ? view.getUint32(off, true) : 0);
    // ctx_in: data = metadata length, data_meta = 0, data_end = size; no egress ifindex.
    metaLength = field(0);
    if (field(8) !== 0 || (input.ctx.length >= 8 && field(4) !== data.length) || metaLength > data.length || metaLength % 4 || metaLength > 32 || field(20) !== 0) {
      throw new TestRunError(Errno.EINVAL, 'xdp_md ctx_in: data must be the metadata length (multiple of 4, <= 32), data_meta 0, data_end the data size, egress_ifindex 0');
    }
    ingressIfindex = field(12);
    rxQueue = field(16);
  }
  const frame = space.allocate(frameSize, 'packet', 'packet');
  const meta = frame.start + XDP_PACKET_HEADROOM;
  space.u8.set(data, meta);
  const packet: PacketState = { region: frame, meta, data: meta + metaLength, dataEnd: meta + data.length };
  const ctxRegion = space.allocate(24, 'ctx', 'xdp_md');
  const env = newEnv(services, type, ctxRegion.start, cpu, packet);
  const sync = () => {
    const v = space.view;
    v.setUint32(ctxRegion.start, packet.data, true);
    v.setUint32(ctxRegion.start + 4, packet.dataEnd, true);
    v.setUint32(ctxRegion.start + 8, packet.meta, true);
  };
  sync();
  space.view.setUint32(ctxRegion.start + 12, ingressIfindex, true);
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
      return { data: space.u8.slice(packet.meta, packet.dataEnd), ctx: out };
    },
    release() {
      space.release(frame);
      space.release(ctxRegion);
    },
  };
}

function packetType(dst: Uint8Array): number {
  if ((dst[0]! & 1) === 0) return dst.every((b) => b === 0) ? 0 : 3; // lo's address is all zeros
  return dst.every((b) => b === 0xff) ? 1 : 2;
}

function prepareSkb(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
  const data = input.data ?? new Uint8Array(0);
  const maxData = input.anySize ? Infinity : PAGE - SKB_HEADROOM - 320;
  if (data.length < ETH_HLEN || data.length > maxData) {
    throw new TestRunError(Errno.EINVAL, `skb test data must be ${ETH_HLEN}..${maxData} bytes, got ${data.length}`);
  }
  const isL2 = TC_TYPES.has(type.name);
  const ctxSize = 192;
  const ctxRegion: Region = space.allocate(ctxSize, 'ctx', '__sk_buff');
  const c = ctxRegion.start;
  const view = space.view;
  if (input.ctx) {
    if (input.ctx.length > ctxSize) throw new TestRunError(Errno.EINVAL, `__sk_buff ctx_in is ${input.ctx.length} bytes, more than ${ctxSize}`);
    const allowed = new Uint8Array(ctxSize);
    for (const [off, size] of SKB_CTX_IN) allowed.fill(1, off, off + size);
    for (let i = 0; i < input.ctx.length; i++) {
      if (input.ctx[i] !== 0 && !allowed[i]) {
        space.release(ctxRegion);
        throw new TestRunError(Errno.EINVAL, `__sk_buff ctx_in sets byte ${i}, which a test run does not accept (allowed: mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp)`);
      }
    }
    space.u8.set(input.ctx, c);
  }
  const region = space.allocate(SKB_HEADROOM + data.length + SKB_TAILROOM, 'packet', 'packet');
  const mac = region.start + SKB_HEADROOM;
  space.u8.set(data, mac);
  const start = isL2 ? mac : mac + ETH_HLEN;
  const packet: PacketState = { region, meta: start, data: start, dataEnd: mac + data.length };
  const ethType = view.getUint16(mac + 12, true); // as stored: network byte order
  view.setUint32(c + 4, packetType(data.subarray(0, 6)), true);
  view.setUint32(c + 16, ethType, true);
  if (view.getUint32(c + 40, true) === 0) view.setUint32(c + 40, 1, true); // ifindex: lo
  if (view.getUint32(c + 160, true) === 0) view.setUint32(c + 160, data.length, true); // wire_len
  const env = newEnv(services, type, c, cpu, packet);
  const sync = () => {
    view.setUint32(c + 0, packet.dataEnd - packet.data, true);
    view.setUint32(c + 76, packet.data, true);
    view.setUint32(c + 80, packet.dataEnd, true);
    view.setUint32(c + 140, packet.meta, true);
  };
  sync();
  env.syncPacket = sync;
  return {
    env,
    ctx: c,
    packet: { start: packet.data, get length() { return packet.dataEnd - packet.data; } },
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
      space.release(region);
      space.release(ctxRegion);
    },
  };
}

function prepareRaw(space: AddressSpace, services: RuntimeServices, type: ProgTypeInfo, input: TestRunInput, cpu: number): PreparedRun {
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
        ctx: space.u8.slice(ctxRegion.start, ctxRegion.start + size),
        ...(dataRegion ? { data: space.u8.slice(dataRegion.start, dataRegion.start + dataRegion.size) } : {}),
      };
    },
    release() {
      space.release(ctxRegion);
      if (dataRegion) space.release(dataRegion);
    },
  };
}
