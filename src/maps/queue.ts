import { BpfMap, type MapContext } from './map.js';
import { Errno, UpdateFlag, type MapSpec } from './spec.js';

/**
 * BPF_MAP_TYPE_QUEUE (FIFO) and STACK (LIFO): no keys; push/pop/peek. A push onto a full map fails
 * with -E2BIG unless BPF_EXIST is given, which drops the oldest element to make room.
 */
export class QueueStackMap extends BpfMap {
  readonly lifo: boolean;
  private readonly items: Uint8Array[] = [];

  constructor(spec: MapSpec, ctx: MapContext, lifo: boolean) {
    super(spec, ctx);
    this.lifo = lifo;
  }

  get length(): number {
    return this.items.length;
  }

  private push(value: Uint8Array, flags: number): number {
    if (flags !== UpdateFlag.ANY && flags !== UpdateFlag.EXIST) return -Errno.EINVAL;
    if (this.items.length >= this.spec.maxEntries) {
      if (flags !== UpdateFlag.EXIST) return -Errno.E2BIG;
      this.items.shift();
    }
    this.items.push(value);
    return 0;
  }

  private take(remove: boolean): Uint8Array | undefined {
    if (this.items.length === 0) return undefined;
    if (!remove) return this.lifo ? this.items[this.items.length - 1] : this.items[0];
    return this.lifo ? this.items.pop() : this.items.shift();
  }

  lookupElem(): number {
    return 0;
  }
  override pushElem(valueAddr: number, flags: number): number {
    return this.push(this.space.u8.slice(valueAddr, valueAddr + this.spec.valueSize), flags);
  }
  override popElem(valueAddr: number): number {
    const v = this.take(true);
    if (v === undefined) return -Errno.ENOENT;
    this.space.u8.set(v, valueAddr);
    return 0;
  }
  override peekElem(valueAddr: number): number {
    const v = this.take(false);
    if (v === undefined) return -Errno.ENOENT;
    this.space.u8.set(v, valueAddr);
    return 0;
  }

  /** User side: BPF_MAP_LOOKUP_ELEM with no key peeks. */
  lookup(): Uint8Array | undefined {
    return this.take(false)?.slice();
  }
  /** User side: BPF_MAP_UPDATE_ELEM with no key pushes. */
  update(_key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkValue(value);
    const r = this.push(value.slice(), flags);
    if (r < 0) this.fail(-r, 'push failed');
  }
  /** User side: BPF_MAP_LOOKUP_AND_DELETE_ELEM pops. */
  override lookupAndDelete(): Uint8Array | undefined {
    return this.take(true);
  }
  delete(): void {
    this.fail(Errno.EINVAL, 'queue and stack maps have no keys');
  }
  nextKey(): Uint8Array | undefined {
    return undefined;
  }
}

/**
 * BPF_MAP_TYPE_BLOOM_FILTER: push adds a value, peek answers "maybe present" (0) or "absent"
 * (-ENOENT). `mapExtra` low 4 bits: number of hash functions (default 5), as the kernel's.
 */
export class BloomFilterMap extends BpfMap {
  private readonly bits: Uint32Array;
  private readonly hashes: number;
  private readonly bitMask: number;

  constructor(spec: MapSpec, ctx: MapContext) {
    super(spec, ctx);
    this.hashes = (spec.mapExtra ?? 0) & 0xf || 5;
    // Enough bits for a low false-positive rate, a power of two for cheap masking.
    let n = 64;
    while (n < spec.maxEntries * this.hashes * 2) n *= 2;
    this.bits = new Uint32Array(n / 32);
    this.bitMask = n - 1;
  }

  private hash(u8: Uint8Array, at: number, index: number): number {
    // FNV-1a seeded per hash function; any well-mixed hash keeps the filter's guarantee.
    let h = (0x811c9dc5 ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
    for (let i = 0; i < this.spec.valueSize; i++) h = Math.imul(h ^ u8[at + i]!, 0x01000193);
    h ^= h >>> 15;
    return Math.imul(h, 0x2c1b3c6d) >>> 0;
  }

  private add(u8: Uint8Array, at: number): void {
    for (let i = 0; i < this.hashes; i++) {
      const bit = this.hash(u8, at, i) & this.bitMask;
      this.bits[bit >>> 5]! |= 1 << (bit & 31);
    }
  }

  private has(u8: Uint8Array, at: number): boolean {
    for (let i = 0; i < this.hashes; i++) {
      const bit = this.hash(u8, at, i) & this.bitMask;
      if ((this.bits[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  lookupElem(): number {
    return 0;
  }
  override pushElem(valueAddr: number, flags: number): number {
    if (flags !== UpdateFlag.ANY) return -Errno.EINVAL;
    this.add(this.space.u8, valueAddr);
    return 0;
  }
  override peekElem(valueAddr: number): number {
    return this.has(this.space.u8, valueAddr) ? 0 : -Errno.ENOENT;
  }
  /** User side: `contains(value)`. */
  contains(value: Uint8Array): boolean {
    return this.has(value, 0);
  }
  lookup(): Uint8Array | undefined {
    return undefined;
  }
  update(_key: Uint8Array, value: Uint8Array): void {
    this.checkValue(value);
    this.add(value, 0);
  }
  delete(): void {
    this.fail(Errno.EOPNOTSUPP, 'bloom filters cannot delete');
  }
  nextKey(): Uint8Array | undefined {
    return undefined;
  }
}
