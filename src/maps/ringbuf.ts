import type { Region } from '../vm/memory.js';
import { BpfMap, type MapContext } from './map.js';
import { Errno, type MapSpec } from './spec.js';

/** Record header bits, as the kernel's (BPF_RINGBUF_BUSY_BIT, BPF_RINGBUF_DISCARD_BIT). */
export const RINGBUF_BUSY = 0x80000000;
export const RINGBUF_DISCARD = 0x40000000;
export const RINGBUF_HEADER = 8;
/** bpf_ringbuf_query flags. */
export const RingbufQuery = { AVAIL_DATA: 0, RING_SIZE: 1, CONS_POS: 2, PROD_POS: 3 } as const;

const owners = new WeakMap<Region, RingBufMap>();

/**
 * BPF_MAP_TYPE_RINGBUF with the kernel's record format: an 8-byte header (length with busy/discard
 * bits, page offset) before each 8-byte-aligned record, consumer and producer positions that only
 * grow. The kernel maps the data pages twice so a record that wraps is contiguous; here the data
 * region is twice the ring size and records are written contiguously from (pos & mask), which gives
 * readers the same view.
 */
export class RingBufMap extends BpfMap {
  readonly data: Region;
  readonly size: number;
  private readonly mask: number;
  /** Positions (the kernel's consumer_pos/producer_pos), kept as doubles: 2^53 bytes is enough. */
  consumerPos = 0;
  producerPos = 0;
  /** Records reserved but not yet submitted or discarded, by header position. */
  private readonly pending = new Set<number>();

  constructor(spec: MapSpec, ctx: MapContext) {
    super(spec, ctx);
    this.size = spec.maxEntries;
    this.mask = this.size - 1;
    this.data = ctx.space.allocate(this.size * 2, 'ringbuf', `ringbuf ${spec.name}`);
    owners.set(this.data, this);
  }

  /** The ring buffer a record pointer belongs to (bpf_ringbuf_submit takes only the pointer). */
  static owning(space: BpfMap['space'], recordAddr: number): RingBufMap | undefined {
    const region = space.regionAt(recordAddr);
    return region ? owners.get(region) : undefined;
  }

  /** bpf_ringbuf_reserve: address of the record's data, or 0. */
  reserve(size: number): number {
    if (size > this.size - RINGBUF_HEADER) return 0;
    const length = (size + RINGBUF_HEADER + 7) & ~7;
    const oldest = this.pending.size ? Math.min(this.consumerPos, ...this.pending) : this.consumerPos;
    if (this.producerPos + length - oldest > this.size) return 0;
    const header = this.data.start + (this.producerPos & this.mask);
    const view = this.space.view;
    view.setUint32(header, (size | RINGBUF_BUSY) >>> 0, true);
    view.setUint32(header + 4, 0, true);
    this.pending.add(this.producerPos);
    this.producerPos += length;
    return header + RINGBUF_HEADER;
  }

  /** bpf_ringbuf_submit / discard. Returns false for a pointer that is not a pending record. */
  commit(recordAddr: number, discard: boolean): boolean {
    const header = recordAddr - RINGBUF_HEADER;
    const offset = header - this.data.start;
    const position = [...this.pending].find((p) => (p & this.mask) === offset);
    if (position === undefined) return false;
    this.pending.delete(position);
    const view = this.space.view;
    const length = view.getUint32(header, true) & ~RINGBUF_BUSY;
    view.setUint32(header, (length | (discard ? RINGBUF_DISCARD : 0)) >>> 0, true);
    return true;
  }

  /** bpf_ringbuf_output: reserve, copy, submit. 0 or -errno. */
  output(dataAddr: number, size: number): number {
    const record = this.reserve(size);
    if (record === 0) return -Errno.EAGAIN;
    this.space.u8.copyWithin(record, dataAddr, dataAddr + size);
    this.commit(record, false);
    return 0;
  }

  query(flag: number): number {
    switch (flag) {
      case RingbufQuery.AVAIL_DATA: return this.producerPos - this.consumerPos;
      case RingbufQuery.RING_SIZE: return this.size;
      case RingbufQuery.CONS_POS: return this.consumerPos;
      case RingbufQuery.PROD_POS: return this.producerPos;
      default: return 0;
    }
  }

  /**
   * Read submitted records in order, as a user-space consumer does: stops at the first record still
   * being written; skips discarded ones. Returns how many records were delivered.
   */
  consume(onRecord: (record: Uint8Array) => void): number {
    let delivered = 0;
    const view = this.space.view;
    while (this.consumerPos < this.producerPos) {
      const header = this.data.start + (this.consumerPos & this.mask);
      const word = view.getUint32(header, true);
      if (word & RINGBUF_BUSY) break;
      const length = word & ~(RINGBUF_BUSY | RINGBUF_DISCARD);
      if (!(word & RINGBUF_DISCARD)) {
        onRecord(this.space.u8.slice(header + RINGBUF_HEADER, header + RINGBUF_HEADER + length));
        delivered++;
      }
      this.consumerPos += (length + RINGBUF_HEADER + 7) & ~7;
    }
    return delivered;
  }

  /** All submitted records, consumed. */
  drain(): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.consume((r) => out.push(r));
    return out;
  }

  lookupElem(): number {
    return 0;
  }
  lookup(): Uint8Array | undefined {
    this.fail(Errno.ENOTSUPP, 'ring buffers have no keys');
  }
  update(): void {
    this.fail(Errno.ENOTSUPP, 'ring buffers have no keys');
  }
  delete(): void {
    this.fail(Errno.ENOTSUPP, 'ring buffers have no keys');
  }
  nextKey(): Uint8Array | undefined {
    return undefined;
  }

  override dispose(): void {
    this.space.release(this.data);
    super.dispose();
  }
}

/** One bpf_perf_event_output record. */
export interface PerfEvent {
  cpu: number;
  data: Uint8Array;
}

/**
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY in user space: every index counts as an open perf buffer (there is no
 * perf subsystem to open one), and records queue in memory until read.
 */
export class PerfEventArrayMap extends BpfMap {
  private readonly events: PerfEvent[] = [];
  /** Records beyond this many are dropped and counted, like a full perf buffer. */
  capacity = 1 << 16;
  lost = 0;

  output(index: number, dataAddr: number, size: number): number {
    if (index >= this.spec.maxEntries) return -Errno.E2BIG;
    if (this.events.length >= this.capacity) {
      this.lost++;
      return -Errno.ENOSPC;
    }
    this.events.push({ cpu: index, data: this.space.u8.slice(dataAddr, dataAddr + size) });
    return 0;
  }

  /** Take every queued record. */
  drain(): PerfEvent[] {
    return this.events.splice(0, this.events.length);
  }

  lookupElem(): number {
    return 0;
  }
  lookup(): Uint8Array | undefined {
    return undefined;
  }
  update(): void {
    /* perf buffers are always open in user space */
  }
  delete(): void {
    /* nothing to close */
  }
  nextKey(key?: Uint8Array): Uint8Array | undefined {
    const next = key === undefined ? 0 : new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true) + 1;
    return next < this.spec.maxEntries ? new Uint8Array(new Uint32Array([next]).buffer) : undefined;
  }
}

export type { MapContext };
