import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { MapType } from './constants.js';
import { parseCpuList } from './cpus.js';
import { BpfSyscallError } from './errors.js';
import { closeFd, lastErrno, libc, syscallNumbers } from './libc.js';
import type { BpfMap } from './map.js';
import { ReadableWaiter } from './ringbuf.js';

/**
 * Reader of a BPF_MAP_TYPE_PERF_EVENT_ARRAY (what bpf_perf_event_output writes to): one
 * PERF_COUNT_SW_BPF_OUTPUT event per online CPU, each with its own mmap'd ring, its fd stored in the
 * map at the CPU's index. The ring is a header page (data_head written by the kernel, data_tail by
 * us) followed by 2^n data pages; records may wrap around the end of the data area.
 */
const PAGE_SIZE = 4096;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_BPF_OUTPUT = 10;
const PERF_SAMPLE_RAW = 1 << 10;
const PERF_ATTR_SIZE = 128;
const PERF_FLAG_FD_CLOEXEC = 1 << 3;
const PERF_EVENT_IOC_ENABLE = 0x2400;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;
/** Offsets of data_head / data_tail in struct perf_event_mmap_page, in u64 units (1024, 1032 bytes). */
const DATA_HEAD_INDEX = 128;
const DATA_TAIL_INDEX = 129;
/** struct perf_event_header: u32 type, u16 misc, u16 size. */
const RECORD_HEADER_SIZE = 8;

export interface PerfBufferOptions {
  /** Data pages per CPU: a power of two (default 8). */
  pages?: number;
}

/** `data`: the raw sample as the kernel reports it (its u32 size includes padding to 8 bytes). */
export type SampleHandler = (cpu: number, data: Uint8Array) => void;
export type LostHandler = (cpu: number, lost: number) => void;

/** A sample as the async iterator yields it. */
export interface PerfSample {
  cpu: number;
  data: Uint8Array;
}

/** One CPU's event and ring. */
class CpuRing {
  readonly #header: BigUint64Array;
  readonly #data: Uint8Array;
  readonly #mask: number;

  constructor(readonly cpu: number, readonly fd: number, readonly ptr: unknown, readonly mappedSize: number) {
    const area = libc().view(ptr, mappedSize);
    this.#header = new BigUint64Array(area, 0, PAGE_SIZE / 8);
    this.#data = new Uint8Array(area, PAGE_SIZE, mappedSize - PAGE_SIZE);
    this.#mask = mappedSize - PAGE_SIZE - 1;
  }

  get pending(): number {
    return Number(Atomics.load(this.#header, DATA_HEAD_INDEX) - Atomics.load(this.#header, DATA_TAIL_INDEX));
  }

  /** Reads records up to data_head (at most `limit` samples), then releases their space by advancing data_tail. */
  consume(onSample: SampleHandler, onLost: LostHandler | undefined, limit = Infinity): number {
    const head = Atomics.load(this.#header, DATA_HEAD_INDEX); // before reading any data
    let tail = Atomics.load(this.#header, DATA_TAIL_INDEX);
    let samples = 0;
    while (tail < head && samples < limit) {
      const offset = Number(tail & BigInt(this.#mask));
      const header = this.#read(offset, RECORD_HEADER_SIZE);
      const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
      const type = view.getUint32(0, true);
      const size = view.getUint16(6, true);
      if (size < RECORD_HEADER_SIZE) break; // a corrupt header: stop rather than spin
      const record = this.#read(offset, size);
      const body = new DataView(record.buffer, record.byteOffset, record.byteLength);
      if (type === PERF_RECORD_SAMPLE) {
        const rawSize = body.getUint32(RECORD_HEADER_SIZE, true);
        const start = RECORD_HEADER_SIZE + 4;
        onSample(this.cpu, record.slice(start, Math.min(start + rawSize, size)));
        samples++;
      } else if (type === PERF_RECORD_LOST) {
        onLost?.(this.cpu, Number(body.getBigUint64(RECORD_HEADER_SIZE + 8, true)));
      }
      tail += BigInt(size);
    }
    Atomics.store(this.#header, DATA_TAIL_INDEX, tail); // after the data is read
    return samples;
  }

  /** `length` bytes at `offset` in the data area, copied into one span when they wrap around the end. */
  #read(offset: number, length: number): Uint8Array {
    const size = this.#mask + 1;
    if (offset + length <= size) return this.#data.subarray(offset, offset + length);
    const out = new Uint8Array(length);
    const first = size - offset;
    out.set(this.#data.subarray(offset, size), 0);
    out.set(this.#data.subarray(0, length - first), first);
    return out;
  }
}

export class PerfBuffer implements Disposable, AsyncIterable<PerfSample> {
  readonly map: BpfMap;
  readonly #rings: CpuRing[];
  readonly #waiter: ReadableWaiter;
  /** Where the async iterator looks first, so a busy CPU does not starve the others. */
  #nextRing = 0;
  #closed = false;

  private constructor(map: BpfMap, rings: CpuRing[]) {
    this.map = map;
    this.#rings = rings;
    this.#waiter = new ReadableWaiter(() => rings.map((ring) => ring.fd));
  }

  /** Opens one event and ring per online CPU below the map's max_entries. The map stays the caller's. */
  static open(map: BpfMap, options: PerfBufferOptions = {}): PerfBuffer {
    if (map.type !== MapType.PERF_EVENT_ARRAY) {
      throw new TsbpfError('linux/not-perf-event-array', `map ${map.name || '(unnamed)'} is ${map.typeName}, not PERF_EVENT_ARRAY`);
    }
    const pages = options.pages ?? 8;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) {
      throw new TsbpfError('linux/bad-perf-pages', `perf buffer pages must be a power of two, got ${pages}`);
    }
    const cpus = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8')).filter((cpu) => cpu < map.maxEntries);
    const rings: CpuRing[] = [];
    const reader = new PerfBuffer(map, rings);
    try {
      for (const cpu of cpus) rings.push(openCpuRing(map, cpu, pages));
    } catch (error) {
      reader.close();
      throw error;
    }
    return reader;
  }

  /** The CPUs read, in order. */
  get cpus(): number[] {
    return this.#rings.map((ring) => ring.cpu);
  }

  /** Bytes written but not yet consumed, over all CPUs. */
  get pending(): number {
    this.#checkOpen();
    return this.#rings.reduce((sum, ring) => sum + ring.pending, 0);
  }

  /** Hands every available record to the handlers, CPU by CPU; returns the number of samples. */
  consume(onSample: SampleHandler, onLost?: LostHandler): number {
    this.#checkOpen();
    let samples = 0;
    for (const ring of this.#rings) samples += ring.consume(onSample, onLost);
    return samples;
  }

  /**
   * Waits (epoll through libuv) until some CPU's ring has data or `timeoutMs` passes. Resolves with
   * the number of bytes pending (0 on timeout); read them with consume().
   */
  poll(timeoutMs: number): Promise<number> {
    this.#checkOpen();
    const ready = this.pending;
    if (ready > 0) return Promise.resolve(ready);
    return this.#waiter.wait(undefined, timeoutMs).then(() => (this.#closed ? 0 : this.pending));
  }

  /**
   * Samples as they arrive from any CPU, waiting on epoll in between: `for await (const { cpu, data }
   * of reader)`. Lost-record counts go to `onLost`. The loop ends when the reader is closed and
   * throws `signal.reason` when `signal` aborts; samples are taken one at a time, so leaving the
   * loop early loses none.
   */
  async *samples(options: { signal?: AbortSignal; onLost?: LostHandler } = {}): AsyncGenerator<PerfSample, void, undefined> {
    const { signal, onLost } = options;
    for (;;) {
      signal?.throwIfAborted();
      if (this.#closed) return;
      const sample = this.#takeOne(onLost);
      if (sample) yield sample;
      else await this.#waiter.wait(signal);
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<PerfSample, void, undefined> {
    return this.samples();
  }

  /** One sample from the first ring that has one, starting after the ring that gave the last. */
  #takeOne(onLost: LostHandler | undefined): PerfSample | undefined {
    let sample: PerfSample | undefined;
    for (let i = 0; i < this.#rings.length && !sample; i++) {
      const index = (this.#nextRing + i) % this.#rings.length;
      if (this.#rings[index]!.consume((cpu, data) => (sample = { cpu, data }), onLost, 1) > 0) this.#nextRing = index + 1;
    }
    return sample;
  }

  /** Removes our events from the map, unmaps the rings and closes the events. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    for (const ring of this.#rings) {
      if (!this.map.closed) {
        try {
          this.map.delete(cpuKey(ring.cpu));
        } catch {
          // Already removed or replaced: nothing of ours left there.
        }
      }
      libc().munmap(ring.ptr, ring.mappedSize);
      closeFd(ring.fd);
    }
    this.#rings.length = 0;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new TsbpfError('linux/closed', 'perf buffer reader is closed');
  }
}

function cpuKey(cpu: number): Uint8Array {
  return new Uint8Array(new Uint32Array([cpu]).buffer);
}

/** perf_event_open + ENABLE + mmap + map update for one CPU; undoes its own steps when one fails. */
function openCpuRing(map: BpfMap, cpu: number, pages: number): CpuRing {
  const fd = openBpfOutputEvent(cpu);
  const mappedSize = (pages + 1) * PAGE_SIZE;
  let ptr: unknown;
  try {
    if (libc().ioctlInt(fd, PERF_EVENT_IOC_ENABLE, 0) < 0) throw new BpfSyscallError('ioctl(perf, ENABLE)', lastErrno());
    ptr = libc().mmap(null, mappedSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (isMapFailed(ptr)) throw new BpfSyscallError(`mmap(perf ring, cpu ${cpu})`, lastErrno());
    map.update(cpuKey(cpu), new Uint8Array(new Uint32Array([fd]).buffer));
    return new CpuRing(cpu, fd, ptr, mappedSize);
  } catch (error) {
    if (ptr !== undefined && !isMapFailed(ptr)) libc().munmap(ptr, mappedSize);
    closeFd(fd);
    throw error;
  }
}

/** A PERF_COUNT_SW_BPF_OUTPUT event on `cpu` (any process), one sample per output, wakeup on each. */
function openBpfOutputEvent(cpu: number): number {
  const attr = new Uint8Array(PERF_ATTR_SIZE);
  const view = new DataView(attr.buffer);
  view.setUint32(0, PERF_TYPE_SOFTWARE, true);
  view.setUint32(4, PERF_ATTR_SIZE, true);
  view.setBigUint64(8, BigInt(PERF_COUNT_SW_BPF_OUTPUT), true);
  view.setBigUint64(16, 1n, true); // sample_period
  view.setBigUint64(24, BigInt(PERF_SAMPLE_RAW), true); // sample_type
  view.setUint32(48, 1, true); // wakeup_events
  const fd = libc().syscall5(syscallNumbers().perfEventOpen, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) throw new BpfSyscallError('perf_event_open(BPF_OUTPUT)', lastErrno(), `cpu ${cpu}`);
  return fd;
}

/** mmap returns MAP_FAILED ((void *)-1) on error. */
function isMapFailed(ptr: unknown): boolean {
  if (ptr === null) return true;
  return libc().pointerValue(ptr) === 0xffffffffffffffffn;
}
