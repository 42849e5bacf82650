import { HASH_INDEX, HASH_INDEX_DELETED as DELETED, HASH_INDEX_KIND, HASH_INDEX_EMPTY as EMPTY, HASH_INDEX_ENTRY_BYTES as ENTRY_BYTES, hashKey } from '../vm/abi.js';
import type { AddressSpace, Region } from '../vm/memory.js';

/**
 * The index of the hash maps: fixed-size keys found by hashing their raw bytes (open addressing,
 * linear probing), so a lookup allocates nothing and builds no string. Entries are numbered (numbers
 * are reused after a removal) and chained in insertion order on a doubly-linked list, which LRU maps
 * reorder on use: iteration and eviction follow that list.
 *
 * The probing arrays live in the address space, in read-only regions (programs cannot change them,
 * checked or not), described by a descriptor region, so that code in WebAssembly (the JIT's map
 * lookups) can search the same index: HASH_INDEX and hashKey (src/vm/abi.ts) are the layout and hash.
 */

const MIN_TABLE = 16;
/** The index is rebuilt when live plus deleted slots pass this share of it (short probe runs). */
const MAX_LOAD = 0.5;

export class KeyTable {
  readonly keySize: number;
  private readonly maxEntries: number;
  private readonly space: AddressSpace;
  private readonly name: string;
  /** Where the index is described (HASH_INDEX), for code outside JS. */
  readonly descriptor: Region;
  /** Entries the arrays have room for (grows by doubling up to maxEntries). */
  private capacity = 0;
  private entries: Region | undefined;
  private keys: Region | undefined;
  private slots: Region;
  private mask = MIN_TABLE - 1;
  private prevOf: Int32Array = new Int32Array(0);
  private nextOf: Int32Array = new Int32Array(0);
  /** Slots not EMPTY (live and deleted): what the load factor counts. */
  private occupied = 0;
  private readonly freeEntries: number[] = [];
  private fresh = 0;
  size = 0;
  /** Oldest entry (first in iteration order), or -1. */
  head = -1;
  private tail = -1;

  constructor(space: AddressSpace, keySize: number, maxEntries: number, name: string) {
    this.space = space;
    this.keySize = keySize;
    this.maxEntries = maxEntries;
    this.name = name;
    this.descriptor = space.allocate(HASH_INDEX.bytes, 'map', `${name} index`, false);
    space.view.setUint32(this.descriptor.start + HASH_INDEX.kind, HASH_INDEX_KIND.hash, true);
    this.slots = this.emptySlots(MIN_TABLE);
    this.describe();
  }

  /** The entry holding the key at `at` in `key` (the address space's view or a user key's), or -1. */
  find(key: DataView, at: number): number {
    const hash = hashKey(key, at, this.keySize);
    const view = this.space.view;
    const slots = this.slots.start;
    const entries = this.entries?.start ?? 0;
    const mask = this.mask;
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const entry = view.getInt32(slots + 4 * i, true);
      if (entry === EMPTY) return -1;
      if (entry >= 0 && view.getInt32(entries + ENTRY_BYTES * entry, true) === hash && this.equals(entry, view, key, at)) return entry;
    }
  }

  /** Add the key at `at` (the caller checked it is absent and that size < maxEntries); its entry number. */
  insert(key: DataView, at: number): number {
    // An allocation (the caller's, or growing here) may have grown the memory, detaching the buffer
    // under the address space's old view.
    const hash = hashKey(this.current(key), at, this.keySize);
    const entry = this.takeEntry();
    const view = this.space.view;
    key = this.current(key);
    const base = this.keys!.start + entry * this.keySize;
    for (let i = 0; i < this.keySize; i++) view.setUint8(base + i, key.getUint8(at + i));
    view.setInt32(this.entries!.start + ENTRY_BYTES * entry, hash, true);
    view.setUint32(this.entries!.start + ENTRY_BYTES * entry + 4, 0, true);
    this.prevOf[entry] = this.tail;
    this.nextOf[entry] = -1;
    if (this.tail >= 0) this.nextOf[this.tail] = entry;
    else this.head = entry;
    this.tail = entry;
    this.size++;
    this.place(entry, hash);
    if (this.occupied > (this.mask + 1) * MAX_LOAD) this.rebuild();
    return entry;
  }

  remove(entry: number): void {
    const view = this.space.view;
    const slots = this.slots.start;
    const mask = this.mask;
    for (let i = this.hashOf(entry) & mask; ; i = (i + 1) & mask) {
      if (view.getInt32(slots + 4 * i, true) === entry) {
        view.setInt32(slots + 4 * i, DELETED, true);
        break;
      }
    }
    this.unlink(entry);
    this.freeEntries.push(entry);
    this.size--;
  }

  /** The value address stored with an entry. */
  valueOf(entry: number): number {
    return this.space.view.getUint32(this.entries!.start + ENTRY_BYTES * entry + 4, true);
  }

  setValue(entry: number, address: number): void {
    this.space.view.setUint32(this.entries!.start + ENTRY_BYTES * entry + 4, address, true);
  }

  /** Move an entry to the end of the order (most recently used). */
  touch(entry: number): void {
    if (entry === this.tail) return;
    this.unlink(entry);
    this.prevOf[entry] = this.tail;
    this.nextOf[entry] = -1;
    this.nextOf[this.tail] = entry;
    this.tail = entry;
  }

  /** The entry after `entry` in iteration order, or -1. */
  after(entry: number): number {
    return this.nextOf[entry]!;
  }

  keyOf(entry: number): Uint8Array {
    const start = this.keys!.start + entry * this.keySize;
    return this.space.u8.slice(start, start + this.keySize);
  }

  dispose(): void {
    for (const region of [this.descriptor, this.slots, this.entries, this.keys]) if (region !== undefined) this.space.release(region);
  }

  private current(key: DataView): DataView {
    return key.buffer.byteLength === 0 ? this.space.view : key;
  }

  private hashOf(entry: number): number {
    return this.space.view.getInt32(this.entries!.start + ENTRY_BYTES * entry, true);
  }

  private equals(entry: number, view: DataView, key: DataView, at: number): boolean {
    const size = this.keySize;
    const base = this.keys!.start + entry * size;
    let i = 0;
    for (; i + 4 <= size; i += 4) if (view.getUint32(base + i, true) !== key.getUint32(at + i, true)) return false;
    for (; i < size; i++) if (view.getUint8(base + i) !== key.getUint8(at + i)) return false;
    return true;
  }

  private unlink(entry: number): void {
    const prev = this.prevOf[entry]!;
    const next = this.nextOf[entry]!;
    if (prev >= 0) this.nextOf[prev] = next;
    else this.head = next;
    if (next >= 0) this.prevOf[next] = prev;
    else this.tail = prev;
  }

  private takeEntry(): number {
    const reused = this.freeEntries.pop();
    if (reused !== undefined) return reused;
    if (this.fresh === this.capacity) this.grow();
    return this.fresh++;
  }

  /** Room for twice the entries: new key and entry arrays (the old ones copied, then freed). */
  private grow(): void {
    const capacity = Math.min(this.maxEntries, Math.max(8, this.capacity * 2));
    const entries = this.space.allocate(capacity * ENTRY_BYTES, 'map', `${this.name} entries`, false);
    const keys = this.space.allocate(capacity * this.keySize, 'map', `${this.name} keys`, false);
    const u8 = this.space.u8;
    if (this.entries !== undefined) {
      u8.copyWithin(entries.start, this.entries.start, this.entries.start + this.capacity * ENTRY_BYTES);
      u8.copyWithin(keys.start, this.keys!.start, this.keys!.start + this.capacity * this.keySize);
      this.space.release(this.entries);
      this.space.release(this.keys!);
    }
    this.entries = entries;
    this.keys = keys;
    this.prevOf = resized(this.prevOf, capacity);
    this.nextOf = resized(this.nextOf, capacity);
    this.capacity = capacity;
    this.describe();
  }

  private place(entry: number, hash: number): void {
    const view = this.space.view;
    const slots = this.slots.start;
    const mask = this.mask;
    let i = hash & mask;
    while (view.getInt32(slots + 4 * i, true) >= 0) i = (i + 1) & mask;
    if (view.getInt32(slots + 4 * i, true) === EMPTY) this.occupied++;
    view.setInt32(slots + 4 * i, entry, true);
  }

  /** A new index sized for the live entries (drops the deleted slots). */
  private rebuild(): void {
    let tableSize = MIN_TABLE;
    while (tableSize * MAX_LOAD < this.size * 2) tableSize *= 2;
    this.space.release(this.slots);
    this.slots = this.emptySlots(tableSize);
    this.mask = tableSize - 1;
    this.occupied = 0;
    for (let entry = this.head; entry >= 0; entry = this.nextOf[entry]!) this.place(entry, this.hashOf(entry));
    this.describe();
  }

  private emptySlots(count: number): Region {
    const region = this.space.allocate(count * 4, 'map', `${this.name} slots`, false);
    this.space.u8.fill(0xff, region.start, region.start + count * 4);
    return region;
  }

  private describe(): void {
    const view = this.space.view;
    const at = this.descriptor.start;
    view.setUint32(at + HASH_INDEX.keySize, this.keySize, true);
    view.setUint32(at + HASH_INDEX.mask, this.mask, true);
    view.setUint32(at + HASH_INDEX.slots, this.slots.start, true);
    view.setUint32(at + HASH_INDEX.entries, this.entries?.start ?? 0, true);
    view.setUint32(at + HASH_INDEX.keys, this.keys?.start ?? 0, true);
  }
}

function resized(array: Int32Array, length: number): Int32Array {
  const out = new Int32Array(length);
  out.set(array);
  return out;
}
