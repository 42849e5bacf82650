import koffi, { type node as koffiNode } from 'koffi';
import { TsbpfError } from '../errors.js';
import { BpfSyscallError } from './errors.js';
import { lastErrno, libc } from './libc.js';
import { MapType } from './constants.js';
import type { BpfMap } from './map.js';

/**
 * Reader of a BPF_MAP_TYPE_RINGBUF over mmap: the consumer page (ours, read-write) holds consumer_pos;
 * the producer page (read-only) holds producer_pos and is followed by the data area mapped twice in a
 * row, so a record that wraps around still reads as one contiguous span.
 */
const PAGE_SIZE = 4096;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const HEADER_SIZE = 8;
const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;

/**
 * Promises that settle when one of some descriptors becomes readable (epoll through libuv poll
 * handles, watched only while someone waits), when a timeout passes, when a signal aborts, or when
 * the owner closes. Shared by poll() and the async iterators, so both may wait at once.
 */
export class ReadableWaiter {
  #handles: koffiNode.PollHandle[] = [];
  readonly #waiters = new Set<() => void>();
  #closed = false;

  constructor(private readonly fds: () => readonly number[]) {}

  /** Resolves (never rejects) on readiness, timeout, abort or close; the caller checks which. */
  wait(signal?: AbortSignal, timeoutMs?: number): Promise<void> {
    if (this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        this.#waiters.delete(wake);
        clearTimeout(timer);
        signal?.removeEventListener('abort', wake);
        if (this.#waiters.size === 0) for (const handle of this.#handles) handle.stop();
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(wake, timeoutMs);
      signal?.addEventListener('abort', wake, { once: true });
      this.#waiters.add(wake);
      const onReadable = (): void => this.#wakeAll();
      if (this.#handles.length === 0) this.#handles = this.fds().map((fd) => koffi.node.poll(fd, { readable: true }, onReadable));
      for (const handle of this.#handles) handle.start({ readable: true }, onReadable);
    });
  }

  /** Wakes every waiter and releases the poll handles. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#wakeAll();
    for (const handle of this.#handles) handle.close();
    this.#handles = [];
  }

  #wakeAll(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

export class RingBuffer implements Disposable, AsyncIterable<Uint8Array> {
  readonly map: BpfMap;
  #consumerPtr: unknown;
  #producerPtr: unknown;
  #consumerPos: BigUint64Array;
  #producerPos: BigUint64Array;
  #data: Uint8Array;
  #dataWords: Int32Array;
  #mask: number;
  readonly #waiter: ReadableWaiter;
  #closed = false;

  /** The map stays owned by the caller; close the reader before the map. */
  constructor(map: BpfMap) {
    if (map.type !== MapType.RINGBUF) throw new TsbpfError('linux/not-ringbuf', `map ${map.name || '(unnamed)'} is ${map.typeName}, not RINGBUF`);
    const size = map.maxEntries;
    const { mmap } = libc();
    this.map = map;
    this.#waiter = new ReadableWaiter(() => [map.fd]);
    this.#mask = size - 1;
    this.#consumerPtr = mmap(null, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, map.fd, 0);
    if (isMapFailed(this.#consumerPtr)) throw new BpfSyscallError('mmap(ringbuf consumer page)', lastErrno());
    this.#producerPtr = mmap(null, PAGE_SIZE + 2 * size, PROT_READ, MAP_SHARED, map.fd, PAGE_SIZE);
    if (isMapFailed(this.#producerPtr)) {
      const errno = lastErrno();
      libc().munmap(this.#consumerPtr, PAGE_SIZE);
      throw new BpfSyscallError('mmap(ringbuf data)', errno);
    }
    this.#consumerPos = new BigUint64Array(libc().view(this.#consumerPtr, PAGE_SIZE), 0, 1);
    const producerArea = libc().view(this.#producerPtr, PAGE_SIZE + 2 * size);
    this.#producerPos = new BigUint64Array(producerArea, 0, 1);
    this.#data = new Uint8Array(producerArea, PAGE_SIZE, 2 * size);
    this.#dataWords = new Int32Array(producerArea, PAGE_SIZE, (2 * size) / 4);
  }

  /** Records available now, each handed to `onRecord` (a copy); returns how many were read. */
  consume(onRecord: (record: Uint8Array) => void, limit = Infinity): number {
    this.#checkOpen();
    let count = 0;
    let consumer = Atomics.load(this.#consumerPos, 0);
    while (count < limit) {
      const producer = Atomics.load(this.#producerPos, 0);
      if (consumer >= producer) break;
      const offset = Number(consumer & BigInt(this.#mask));
      const header = Atomics.load(this.#dataWords, offset / 4) >>> 0;
      if (header & BUSY_BIT) break; // reserved but not yet committed
      const length = header & ~(BUSY_BIT | DISCARD_BIT);
      if (!(header & DISCARD_BIT)) {
        onRecord(this.#data.slice(offset + HEADER_SIZE, offset + HEADER_SIZE + length));
        count++;
      }
      consumer += BigInt((length + HEADER_SIZE + 7) & ~7);
      Atomics.store(this.#consumerPos, 0, consumer);
    }
    return count;
  }

  /** Bytes written but not yet consumed. */
  get pending(): number {
    this.#checkOpen();
    return Number(Atomics.load(this.#producerPos, 0) - Atomics.load(this.#consumerPos, 0));
  }

  /**
   * Waits (epoll through libuv) until records arrive or `timeoutMs` passes, then consumes them.
   * Resolves with the number of records read.
   */
  poll(onRecord: (record: Uint8Array) => void, timeoutMs: number): Promise<number> {
    this.#checkOpen();
    const ready = this.consume(onRecord);
    if (ready > 0) return Promise.resolve(ready);
    return this.#waiter.wait(undefined, timeoutMs).then(() => (this.#closed ? 0 : this.consume(onRecord)));
  }

  /**
   * Records as they arrive, waiting on epoll in between: `for await (const record of reader)`.
   * The loop ends when the reader is closed and throws `signal.reason` when `signal` aborts.
   * Records are taken one at a time, so leaving the loop early loses none.
   */
  async *records(options: { signal?: AbortSignal } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const { signal } = options;
    for (;;) {
      signal?.throwIfAborted();
      if (this.#closed) return;
      let record: Uint8Array | undefined;
      this.consume((r) => (record = r), 1);
      if (record) yield record;
      else await this.#waiter.wait(signal);
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array, void, undefined> {
    return this.records();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    libc().munmap(this.#producerPtr, PAGE_SIZE + 2 * this.map.maxEntries);
    libc().munmap(this.#consumerPtr, PAGE_SIZE);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new TsbpfError('linux/closed', 'ring buffer reader is closed');
  }
}

/** mmap returns MAP_FAILED ((void *)-1) on error. */
function isMapFailed(ptr: unknown): boolean {
  if (ptr === null) return true;
  return libc().pointerValue(ptr) === 0xffffffffffffffffn;
}
