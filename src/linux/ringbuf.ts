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

export class RingBuffer implements Disposable {
  readonly map: BpfMap;
  #consumerPtr: unknown;
  #producerPtr: unknown;
  #consumerPos: BigUint64Array;
  #producerPos: BigUint64Array;
  #data: Uint8Array;
  #dataWords: Int32Array;
  #mask: number;
  #poller: koffiNode.PollHandle | undefined;
  #closed = false;

  /** The map stays owned by the caller; close the reader before the map. */
  constructor(map: BpfMap) {
    if (map.type !== MapType.RINGBUF) throw new TsbpfError('linux/not-ringbuf', `map ${map.name || '(unnamed)'} is ${map.typeName}, not RINGBUF`);
    const size = map.maxEntries;
    const { mmap } = libc();
    this.map = map;
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
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.#poller?.stop();
        resolve(this.#closed ? 0 : this.consume(onRecord));
      };
      const timer = setTimeout(finish, timeoutMs);
      this.#poller ??= koffi.node.poll(this.map.fd, { readable: true }, finish);
      this.#poller.start({ readable: true }, finish);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller?.close();
    this.#poller = undefined;
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
