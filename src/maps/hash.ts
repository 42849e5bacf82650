import { HASH_INDEX } from '../vm/abi.js';
import type { Region } from '../vm/memory.js';
import { KeyTable } from './key-table.js';
import { BpfMap, bytesOfKey, keyAt, keyOfBytes, type MapContext } from './map.js';
import { Errno, UpdateFlag, round8, type MapSpec } from './spec.js';
import { ValueLayout } from './value-fields.js';

/**
 * BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH. Each element's value is its own region
 * (so checked mode catches overruns between elements, and a value's address stays put while its
 * element lives); the index hashes the raw key bytes where the program keeps them (KeyTable). Its
 * insertion order is the iteration order and doubles as the LRU order (a hit moves the key to the back).
 * Updates leave a value's special fields alone (a new element's are zero).
 *
 * A plain hash map (not LRU: a lookup changes nothing; not per-CPU: no CPU to pick; no special fields:
 * the JIT's in-place update copies whole values) writes its index's descriptor address into its
 * handle, so code that knows the layout (the JIT) may search it in place.
 */
export class HashMap extends BpfMap {
  override readonly perCpu: boolean;
  readonly lru: boolean;
  private readonly table: KeyTable;
  /** Value regions by entry number. */
  private readonly regions: (Region | undefined)[] = [];
  private readonly slot: number;
  private readonly elemSize: number;
  private readonly layout: ValueLayout;
  /** Where an update that evicts copies its key and value first: either may live in the evicted element. */
  private readonly scratch: Uint8Array;

  constructor(spec: MapSpec, ctx: MapContext, options: { perCpu?: boolean; lru?: boolean } = {}) {
    super(spec, ctx);
    this.perCpu = options.perCpu ?? false;
    this.lru = options.lru ?? false;
    this.layout = new ValueLayout(spec);
    this.slot = round8(spec.valueSize);
    this.elemSize = this.perCpu ? this.slot * ctx.cpus : Math.max(1, spec.valueSize);
    this.table = new KeyTable(ctx.space, spec.keySize, spec.maxEntries, `map ${spec.name}`);
    this.scratch = new Uint8Array(spec.keySize + spec.valueSize);
    if (!this.lru && !this.perCpu && this.layout.plain) {
      const view = ctx.space.view;
      view.setUint32(this.table.descriptor.start + HASH_INDEX.valueSize, spec.valueSize, true);
      view.setUint32(this.handle, this.table.descriptor.start, true);
    }
  }

  get size(): number {
    return this.table.size;
  }

  lookupElem(keyAddr: number, cpu: number): number {
    const entry = this.table.find(this.space.view, keyAddr);
    if (entry < 0) return 0;
    if (this.lru) this.table.touch(entry);
    return this.valueAt(entry, cpu);
  }

  /** The address of an element's value (this CPU's slot for per-CPU maps). */
  private valueAt(entry: number, cpu: number): number {
    return this.regions[entry]!.start + (this.perCpu ? cpu * this.slot : 0);
  }

  /** Find or insert the element for the key at `at` in `view`: its entry number, or -errno. */
  private upsert(view: DataView, at: number, flags: number): number {
    if ((flags & ~(UpdateFlag.F_LOCK | 3)) !== 0 || (flags & 3) === 3) return -Errno.EINVAL;
    if ((flags & UpdateFlag.F_LOCK) !== 0 && !this.layout.hasSpinLock) return -Errno.EINVAL;
    const existing = this.table.find(view, at);
    if (existing >= 0) {
      if ((flags & 3) === UpdateFlag.NOEXIST) return -Errno.EEXIST;
      if (this.lru) this.table.touch(existing);
      return existing;
    }
    if ((flags & 3) === UpdateFlag.EXIST) return -Errno.ENOENT;
    if (this.table.size >= this.spec.maxEntries) {
      if (!this.lru || this.table.head < 0) return -Errno.E2BIG;
      this.remove(this.table.head);
    }
    const region = this.space.allocate(this.elemSize, 'map', `map ${this.spec.name} element`);
    const entry = this.table.insert(view, at);
    this.regions[entry] = region;
    this.table.setValue(entry, region.start);
    return entry;
  }

  private remove(entry: number): void {
    this.table.remove(entry);
    this.space.release(this.regions[entry]!);
    this.regions[entry] = undefined;
  }

  override updateElem(keyAddr: number, valueAddr: number, flags: number, cpu: number): number {
    const keySize = this.spec.keySize;
    const valueSize = this.spec.valueSize;
    if (this.lru && this.table.size >= this.spec.maxEntries) {
      // An eviction frees an element, and the key or the value may live in it: copy both aside.
      const scratch = this.scratch;
      scratch.set(this.space.u8.subarray(keyAddr, keyAddr + keySize));
      scratch.set(this.space.u8.subarray(valueAddr, valueAddr + valueSize), keySize);
      const entry = this.upsert(new DataView(scratch.buffer), 0, flags);
      if (entry < 0) return entry;
      this.layout.write(this.space.u8, this.valueAt(entry, cpu), scratch.subarray(keySize));
      return 0;
    }
    const entry = this.upsert(this.space.view, keyAddr, flags);
    if (entry < 0) return entry;
    this.layout.copy(this.space.view, this.space.u8, this.valueAt(entry, cpu), valueAddr, valueSize);
    return 0;
  }

  override deleteElem(keyAddr: number): number {
    const entry = this.table.find(this.space.view, keyAddr);
    if (entry < 0) return -Errno.ENOENT;
    this.remove(entry);
    return 0;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const entry = this.table.find(viewOf(key), 0);
    if (entry < 0) return undefined;
    const start = this.regions[entry]!.start;
    if (!this.perCpu) return this.layout.clearFields(this.space.u8.slice(start, start + this.spec.valueSize));
    const copy = this.space.u8.slice(start, start + this.elemSize);
    for (let cpu = 0; cpu < this.cpus; cpu++) this.layout.clearFields(copy, cpu * this.slot);
    return copy;
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    this.checkValue(value);
    const entry = this.upsert(viewOf(key), 0, flags);
    if (entry < 0) this.fail(-entry, 'update failed');
    const start = this.regions[entry]!.start;
    if (!this.perCpu) this.layout.write(this.space.u8, start, value);
    else for (let cpu = 0; cpu < this.cpus; cpu++) {
      this.layout.write(this.space.u8, start + cpu * this.slot, value.subarray(cpu * this.slot, cpu * this.slot + this.spec.valueSize));
    }
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    const entry = this.table.find(viewOf(key), 0);
    if (entry < 0) this.fail(Errno.ENOENT, 'no such key');
    this.remove(entry);
  }

  /** Direct iteration over a snapshot of the keys (deleting while iterating is fine). */
  override *keys(): IterableIterator<Uint8Array> {
    const keys: Uint8Array[] = [];
    for (let entry = this.table.head; entry >= 0; entry = this.table.after(entry)) keys.push(this.table.keyOf(entry));
    yield* keys;
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    // Kernel semantics: an unknown (or absent) key restarts from the first key.
    const found = key === undefined ? -1 : this.table.find(viewOf(key), 0);
    const next = found < 0 ? this.table.head : this.table.after(found);
    return next < 0 ? undefined : this.table.keyOf(next);
  }

  override dispose(): void {
    for (const region of this.regions) if (region !== undefined) this.space.release(region);
    this.regions.length = 0;
    this.table.dispose();
    super.dispose();
  }
}

const viewOf = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** hash_of_maps / devmap_hash: hash-keyed kernel objects, user side speaks in u32 ids. */
export class ObjectHashMap<T> extends BpfMap {
  private readonly objects = new Map<number | string, { object: T; id: number }>();
  resolve: (id: number) => T | undefined;

  constructor(spec: MapSpec, ctx: MapContext, resolve: (id: number) => T | undefined) {
    super(spec, ctx);
    this.resolve = resolve;
  }

  getAt(keyAddr: number): T | undefined {
    return this.objects.get(keyAt(this.space.u8, keyAddr, this.spec.keySize))?.object;
  }

  /** Map-in-map: the inner map as a program holds maps (its handle); other objects: NULL. */
  lookupElem(keyAddr: number): number {
    const object = this.getAt(keyAddr);
    return object instanceof BpfMap ? object.handle : 0;
  }

  override deleteElem(keyAddr: number): number {
    return this.objects.delete(keyAt(this.space.u8, keyAddr, this.spec.keySize)) ? 0 : -Errno.ENOENT;
  }

  lookup(key: Uint8Array): Uint8Array | undefined {
    this.checkKey(key);
    const entry = this.objects.get(keyOfBytes(key));
    return entry === undefined ? undefined : new Uint8Array(new Uint32Array([entry.id]).buffer);
  }

  update(key: Uint8Array, value: Uint8Array, flags: number = UpdateFlag.ANY): void {
    this.checkKey(key);
    const k = keyOfBytes(key);
    if ((flags & 3) === UpdateFlag.NOEXIST && this.objects.has(k)) this.fail(Errno.EEXIST, 'key exists');
    if ((flags & 3) === UpdateFlag.EXIST && !this.objects.has(k)) this.fail(Errno.ENOENT, 'no such key');
    if (!this.objects.has(k) && this.objects.size >= this.spec.maxEntries) this.fail(Errno.E2BIG, 'map is full');
    const id = new DataView(value.buffer, value.byteOffset, value.byteLength).getUint32(0, true);
    const object = this.resolve(id);
    if (object === undefined) this.fail(Errno.EBADF, `no object with id ${id}`);
    this.objects.set(k, { object, id });
  }

  set(key: Uint8Array, object: T, id = 0): void {
    this.objects.set(keyOfBytes(key), { object, id });
  }

  delete(key: Uint8Array): void {
    this.checkKey(key);
    if (!this.objects.delete(keyOfBytes(key))) this.fail(Errno.ENOENT, 'no such key');
  }

  override *keys(): IterableIterator<Uint8Array> {
    for (const key of [...this.objects.keys()]) yield bytesOfKey(key, this.spec.keySize);
  }

  nextKey(key?: Uint8Array): Uint8Array | undefined {
    const keys = [...this.objects.keys()];
    const at = key === undefined ? -1 : keys.indexOf(keyOfBytes(key));
    const next = keys[at + 1];
    return next === undefined ? undefined : bytesOfKey(next, this.spec.keySize);
  }
}
