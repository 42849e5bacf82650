import { TsbpfError } from '../errors.js';
import { MapFlag, MapType } from './constants.js';
import { BpfSyscallError } from './errors.js';
import { lastErrno, libc } from './libc.js';
import { BpfMap } from './map.js';

/**
 * The values of a BPF_F_MMAPABLE array map mapped into this process (what libbpf does for global
 * data): reads and writes go straight to the memory the programs use. Closing replaces the mapping
 * with private anonymous pages at the same address, so a view kept past close() touches harmless
 * memory instead of whatever is mapped there next; those pages are freed once the view is collected.
 */
const PAGE_SIZE = 4096;
const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;

const placeholders = new FinalizationRegistry<{ ptr: unknown; length: number }>(({ ptr, length }) => {
  libc().munmap(ptr, length);
});

export class MappedArray implements Disposable {
  /** The values of every entry, each rounded up to 8 bytes (the kernel's array element stride). */
  readonly bytes: Uint8Array;
  readonly writable: boolean;
  readonly #ptr: unknown;
  readonly #length: number;
  #closed = false;

  /** Maps `map`'s values; read-only for frozen or userspace-read-only maps. The map stays the caller's. */
  constructor(readonly map: BpfMap, options: { writable: boolean }) {
    if (map.type !== MapType.ARRAY || (map.spec.flags & MapFlag.MMAPABLE) === 0) {
      throw new TsbpfError('linux/not-mmapable', `map ${map.name || '(unnamed)'} is not an ARRAY created with BPF_F_MMAPABLE`);
    }
    const used = map.maxEntries * roundUp(map.valueSize, 8);
    this.#length = roundUp(used, PAGE_SIZE);
    this.writable = options.writable;
    const prot = options.writable ? PROT_READ | PROT_WRITE : PROT_READ;
    const ptr = libc().mmap(null, this.#length, prot, MAP_SHARED, map.fd, 0);
    if (isMapFailed(ptr)) throw new BpfSyscallError(`mmap(map ${map.name || '(unnamed)'})`, lastErrno(), options.writable ? 'read-write' : 'read-only');
    this.#ptr = ptr;
    this.bytes = new Uint8Array(libc().view(ptr, this.#length), 0, used);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const prot = this.writable ? PROT_READ | PROT_WRITE : PROT_READ;
    const placeholder = libc().mmap(this.#ptr, this.#length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (isMapFailed(placeholder)) libc().munmap(this.#ptr, this.#length);
    else placeholders.register(this.bytes.buffer, { ptr: this.#ptr, length: this.#length });
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** mmap returns MAP_FAILED ((void *)-1) on error. */
function isMapFailed(ptr: unknown): boolean {
  if (ptr === null) return true;
  return libc().pointerValue(ptr) === 0xffffffffffffffffn;
}

let mmapableProbe: boolean | undefined;

/** Whether this kernel creates BPF_F_MMAPABLE arrays (5.5+); probed once. */
export function mmapableArraysSupported(): boolean {
  if (mmapableProbe !== undefined) return mmapableProbe;
  try {
    BpfMap.create({ type: 'ARRAY', keySize: 4, valueSize: 4, maxEntries: 1, flags: MapFlag.MMAPABLE }).close();
    mmapableProbe = true;
  } catch (e) {
    if (!(e instanceof BpfSyscallError)) throw e;
    mmapableProbe = false;
  }
  return mmapableProbe;
}
